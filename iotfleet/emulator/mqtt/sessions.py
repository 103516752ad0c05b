"""Who a connection is (its certificate's account, region and permissions) and what outlives it (its session).

:func:`authenticate` finds the certificate a client presented in the registries of the emulator's
accounts (a dictionary read per account) and compiles its permissions; :class:`Identity` answers
``allows(action, resource)`` for the connection and knows when the registry changed under it.

A :class:`Session` holds a client's subscriptions. With a clean start it ends with the connection; a
persistent session (MQTT 3.1.1 ``cleanSession=0``, or an MQTT 5 session expiry interval) keeps them, and up
to :data:`MAX_QUEUED` QoS 1 messages, for :data:`PERSISTENT_SESSION_SECONDS` (AWS IoT Core's default of one
hour; MQTT 5 clients may ask for less) after the client goes away, so the next connection with the same
client id carries on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509

from iotfleet.emulator.identity.authorization import Authorizer, ConnectionFacts
from iotfleet.emulator.identity.models import ACTIVE
from iotfleet.emulator.identity.registry import STORE as IDENTITY_STORE
from iotfleet.emulator.identity.registry import IdentityRegistry
from iotfleet.emulator.moto_patches import accessors
from iotfleet.emulator.mqtt.packets import Subscription

if TYPE_CHECKING:
    from iotfleet.emulator.mqtt.connection import Connection
    from iotfleet.emulator.state import EmulatorState

PERSISTENT_SESSION_SECONDS = 3600.0
MAX_QUEUED = 100


@dataclass
class Identity:
    """An authenticated connection's principal and its compiled permissions."""

    account_id: str
    region: str
    certificate_id: str
    certificate_arn: str
    registry: IdentityRegistry
    facts: ConnectionFacts
    authorizer: Authorizer
    generation: int

    @property
    def thing_name(self) -> str | None:
        """The thing this connection acts as: the client id, when the certificate is attached to that thing."""
        return self.facts.thing_name if self.facts.is_attached else None

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:iot:{self.region}:{self.account_id}:{kind}/{name}"

    def allows(self, action: str, resource: str) -> bool:
        return self.authorizer.allows(action, resource)

    @property
    def stale(self) -> bool:
        return self.registry.generation != self.generation


def _group_arns(account_id: str, region: str, thing: accessors.ThingRecord) -> list[str]:
    """The thing's groups and their ancestors (policies attached to a group apply to its things)."""
    arns: list[str] = []
    seen: set[str] = set()
    for name in thing.thing_group_names:
        current: str | None = name
        while current is not None and current not in seen:
            seen.add(current)
            group = accessors.thing_group(account_id, region, current)
            if group is None:
                break
            arns.append(group.arn)
            current = group.parent_name
    return arns


def authenticate(state: EmulatorState, der: bytes | None, client_id: str) -> Identity | None:
    """The identity of a client that presented ``der``, or None when AWS IoT would not let it in (an unknown
    or inactive certificate, or one whose CA is inactive). Call under the emulator's lock."""
    if der is None:
        return None
    for _, _, registry in state.stores(IDENTITY_STORE):
        certificate = registry.certificate_by_der(der)
        if certificate is not None:
            break
    else:
        return None
    account_id, region = registry.account_id, registry.region
    if certificate.status != ACTIVE:
        return None
    if certificate.ca_certificate_id is not None:
        ca = registry.ca_of(certificate)
        if ca is None or ca.status != ACTIVE:
            return None
    thing = accessors.thing(account_id, region, client_id) if client_id else None
    attached = thing is not None and client_id in registry.things_of(certificate.arn)
    facts = ConnectionFacts(
        client_id=client_id,
        certificate=x509.load_der_x509_certificate(der),
        thing_name=thing.name if thing else None,
        thing_type=thing.thing_type_name if thing else None,
        attributes=dict(thing.attributes) if thing else None,
        is_attached=attached,
    )
    targets = [certificate.arn]
    if thing is not None and attached:
        targets += _group_arns(account_id, region, thing)
    documents = [policy.default.parsed for target in targets for policy in registry.policies_of(target)]
    return Identity(
        account_id, region, certificate.certificate_id, certificate.arn, registry, facts,
        Authorizer(documents, facts), registry.generation,
    )  # fmt: skip


@dataclass(eq=False)
class Session:
    """A client's subscriptions (and, for a persistent session, what it missed while away)."""

    account_id: str
    region: str
    client_id: str
    persistent: bool
    expiry_seconds: float = 0.0
    connection: Connection | None = None
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    queued: deque[tuple[str, bytes, int, bool, dict[int, Any]]] = field(default_factory=lambda: deque(maxlen=MAX_QUEUED))
    expires_at: float | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.account_id, self.region, self.client_id

"""Lifecycle events and connectivity: what AWS IoT says when a client connects and disconnects.

Each connect publishes ``$aws/events/presence/connected/<clientId>`` and each disconnect
``$aws/events/presence/disconnected/<clientId>``, with AWS's payload (``clientId``, ``timestamp`` in epoch
milliseconds, ``eventType``, ``sessionIdentifier``, ``principalIdentifier``, ``ipAddress``,
``versionNumber``; a disconnect also ``clientInitiatedDisconnect`` and ``disconnectReason``). The version
number counts the connects and disconnects of one client id, so a subscriber can order events that arrive
out of order.

When the client id names a thing, fleet indexing's connectivity data follows the live connection
(``connectivity.connected``, ``timestamp``, ``disconnectReason``): the thing index and dynamic groups see it
as they see any change to a thing.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.indexing import set_connectivity
from iotfleet.emulator.mqtt.connection import CLIENT_INITIATED

if TYPE_CHECKING:
    from iotfleet.emulator.mqtt.connection import Connection
    from iotfleet.emulator.mqtt.sessions import Identity
    from iotfleet.emulator.state import EmulatorState

CONNECTED_TOPIC = "$aws/events/presence/connected/{}"
DISCONNECTED_TOPIC = "$aws/events/presence/disconnected/{}"

Message = tuple[str, bytes]


class Presence:
    """Builds the lifecycle events of one emulator and keeps connectivity indexing current."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._versions: dict[tuple[str, str, str], int] = {}

    def _event(self, connection: Connection, identity: Identity, kind: str, **extra: Any) -> dict[str, Any]:
        key = (identity.account_id, identity.region, connection.client_id)
        version = self._versions.get(key, 0) + 1
        self._versions[key] = version
        session_id = getattr(connection, "session_identifier", None)
        if session_id is None:
            session_id = connection.session_identifier = str(uuid.uuid4())  # type: ignore[attr-defined]
        return {
            "clientId": connection.client_id,
            "timestamp": int(self.state.clock.now() * 1000),
            "eventType": kind,
            "sessionIdentifier": session_id,
            "principalIdentifier": identity.certificate_id,
            "ipAddress": connection.peer,
            "versionNumber": version,
            **extra,
        }

    def connected(self, connection: Connection, identity: Identity) -> list[Message]:
        self._connectivity(identity, connection.client_id, True, None)
        event = self._event(connection, identity, "connected")
        return [(CONNECTED_TOPIC.format(connection.client_id), _json(event))]

    def disconnected(self, connection: Connection, identity: Identity, reason: str) -> list[Message]:
        self._connectivity(identity, connection.client_id, False, reason)
        event = self._event(
            connection, identity, "disconnected",
            clientInitiatedDisconnect=reason == CLIENT_INITIATED, disconnectReason=reason,
        )  # fmt: skip
        return [(DISCONNECTED_TOPIC.format(connection.client_id), _json(event))]

    def _connectivity(self, identity: Identity, client_id: str, connected: bool, reason: str | None) -> None:
        if identity.facts.thing_name is None:
            return  # connectivity indexing follows client ids that name things
        with self.state.lock:
            set_connectivity(self.state, identity.account_id, identity.region, client_id, connected, reason)


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()

"""What a provisioning plan holds: the actions and resource kinds, and the work planned for each resource.

:func:`~iotfleet.fleet.provision.plan.plan_provision` builds a :class:`ProvisionPlan` from one round of reads
and :func:`~iotfleet.fleet.provision.apply.apply_provision` carries it out; both, and the CLI that shows the
plan, speak in these terms. Each resource is missing (create), present, differing (update), used as is (an
account-wide thing type that iotfleet does not own but that fits), or in conflict (a resource with our name
that belongs to someone else, which is never adopted). With certificates, :attr:`ProvisionPlan.identity` holds
the identity's part (see :mod:`iotfleet.fleet.identity.plan`) and :attr:`ProvisionPlan.problems` the devices
whose identity cannot be completed as it is (a missing key, a revoked certificate), each reported, none
repaired by force.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iotfleet.aws.errors import ResourceFailure
from iotfleet.fleet import fleet_state, roles, storage
from iotfleet.fleet.provision.inventory import Device
from iotfleet.fleet.spec import FleetSpec

if TYPE_CHECKING:
    from iotfleet.fleet.identity.devices import DeviceIdentity
    from iotfleet.fleet.identity.plan import IdentityPlan
    from iotfleet.fleet.provision.thing_plan import ThingPlan

# Plan actions.
CREATE = "create"
UPDATE = "update"
PRESENT = "present"
USED = "used"
CONFLICT = "conflict"

# Resource kinds, in the order the summary lists them.
BUCKET = "bucket"
ROLE = "role"
THING_TYPE = "thing type"
INDEXING = "fleet indexing"
PACKAGE = "package"
PACKAGE_VERSION = "package version"
PACKAGE_CONFIGURATION = "package configuration"
KEY_STORE = "key store"
CA_CERTIFICATE = "CA certificate"
POLICY = "IoT policy"
THING_GROUP = "thing group"
THING = "thing"
MEMBERSHIP = "group membership"
SHADOW = "shadow"
CERTIFICATE = "certificate"
KINDS = (
    BUCKET, ROLE, THING_TYPE, INDEXING, PACKAGE, PACKAGE_VERSION, PACKAGE_CONFIGURATION, KEY_STORE, CA_CERTIFICATE,
    POLICY, THING_GROUP, THING, MEMBERSHIP, SHADOW, CERTIFICATE,
)  # fmt: skip


@dataclass(frozen=True)
class PlanItem:
    """One resource (or setting) in the plan and what apply will do with it."""

    kind: str
    name: str
    action: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "action": self.action, "detail": self.detail}


@dataclass
class PlanNotes:
    """Plan items, counts and warnings, gathered by one planning step."""

    items: list[PlanItem] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {kind: Counter() for kind in KINDS})
    warnings: list[str] = field(default_factory=list)

    def note(self, kind: str, name: str, action: str, detail: str = "") -> None:
        self.items.append(PlanItem(kind, name, action, detail))
        self.counts[kind][action] += 1

    @classmethod
    def merged(cls, parts: list[PlanNotes]) -> PlanNotes:
        """All parts, in the given order (so the plan reads the same whatever finished first)."""
        whole = cls()
        for part in parts:
            whole.items += part.items
            whole.warnings += part.warnings
            for kind, counter in part.counts.items():
                whole.counts[kind].update(counter)
        return whole


@dataclass
class ThingWork:
    """What one thing needs, made when asked for (see :mod:`.thing_plan`); a thing that needs nothing is only
    counted."""

    device: Device
    create: bool = False
    thing_type: str | None = None  # the type to set on an existing thing
    attributes: dict[str, str] = field(default_factory=dict)  # attributes to set on an existing thing
    add_to: str | None = None
    remove_from: list[str] = field(default_factory=list)
    classic: dict[str, Any] | None = None  # reported keys to write, or None
    classic_exists: bool = False
    package: dict[str, Any] | None = None
    package_exists: bool = False
    identity: DeviceIdentity | None = None

    @property
    def update(self) -> bool:
        return not self.create and (self.thing_type is not None or bool(self.attributes))

    @property
    def pending(self) -> bool:
        return (
            self.create or self.update or self.add_to is not None or bool(self.remove_from)
            or self.classic is not None or self.package is not None
            or (self.identity is not None and self.identity.pending)
        )  # fmt: skip


@dataclass
class PackagePlan:
    name: str
    exists: bool
    new_versions: list[str] = field(default_factory=list)
    to_publish: list[str] = field(default_factory=list)
    set_default: str | None = None

    @property
    def pending(self) -> bool:
        return not self.exists or bool(self.new_versions or self.to_publish or self.set_default)


@dataclass
class GroupPlan:
    name: str
    kind: str  # COUNTRY_GROUP or CONTINENT_GROUP
    parent: str | None
    action: str


@dataclass
class ProvisionPlan:
    """Everything :func:`apply_provision` needs, from one round of reads."""

    spec: FleetSpec
    account: str
    region: str
    partition: str
    bucket: storage.BucketStatus
    state: fleet_state.FleetState
    roles: list[tuple[roles.RoleSpec, roles.RoleStatus]]
    thing_types: dict[str, str]  # name -> action
    indexing_current: dict[str, Any]
    indexing_changes: list[str]
    package_configuration: dict[str, Any]
    packages: list[PackagePlan]
    groups: list[GroupPlan]
    things: ThingPlan  # every thing, a few bytes each; iterating yields the ones with work to do
    items: list[PlanItem]
    counts: dict[str, Counter[str]]  # kind -> action -> count, things, memberships and shadows included
    warnings: list[str] = field(default_factory=list)
    identity: IdentityPlan | None = None
    problems: list[ResourceFailure] = field(default_factory=list)

    @property
    def conflicts(self) -> list[PlanItem]:
        return [item for item in self.items if item.action == CONFLICT]

    @property
    def changes(self) -> bool:
        """True when applying would make at least one mutating call."""
        return any(counter[CREATE] or counter[UPDATE] for counter in self.counts.values())

    def role_arn(self, purpose: str) -> str:
        name = roles.role_name(self.spec.fleet, purpose)
        return f"arn:{self.partition}:iam::{self.account}:role/{name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet": self.spec.fleet,
            "account": self.account,
            "region": self.region,
            "spec": self.spec.to_dict(),
            "bucket": self.bucket.name,
            "changes": self.changes,
            "counts": {
                kind: dict(self.counts.get(kind, Counter())) for kind in KINDS if self.counts.get(kind)
            },
            "items": [item.as_dict() for item in self.items],
            "conflicts": [item.as_dict() for item in self.conflicts],
            "warnings": list(self.warnings),
            "identity": self.identity.as_dict() if self.identity else None,
            "problems": [{"kind": p.kind, "name": p.name, "error": p.error} for p in self.problems],
        }

"""The cleanup plan: what a cleanup of one fleet will delete, in which order, what it leaves alone and why.

Planning only reads (``--dry-run`` prints the plan and stops), so the plan is also what a person confirms. A
resource is in the plan only when AWS records it as the fleet's; anything that merely looks like the fleet's
is listed as skipped with the reason. Some of the fleet's own resources are skipped too, when deleting them
would touch something the fleet does not own: a static group holding another fleet's things or child groups,
a thing type other things still use.

Re-planning after an interrupted cleanup finds only what is left, which is what makes cleanup resumable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.fleet.cleanup import scan as scans
from iotfleet.fleet.cleanup.account_settings import SettingChange, plan_settings
from iotfleet.fleet.cleanup.identity import IdentityScan, scan_identity
from iotfleet.fleet.cleanup.kinds import (
    ALL,
    BUCKET,
    CA_CERTIFICATE,
    CERTIFICATE,
    DYNAMIC_GROUP,
    JOB,
    JOB_TEMPLATE,
    KEY_STORE,
    PACKAGE,
    POLICY,
    ROLE,
    STATIC_GROUP,
    STEPS,
    THING,
    THING_TYPE,
    Step,
    parse_only,
    steps_for,
)
from iotfleet.fleet.cleanup.rollout_records import scan_rollout_records
from iotfleet.fleet.cleanup.scan import Resource, Skipped
from iotfleet.fleet.identity.keystore import KeyStore, default_root
from iotfleet.fleet.naming import check_fleet_name

# How many member or user names a skip reason quotes.
EXAMPLES = 3


@dataclass(frozen=True)
class PlannedStep:
    step: Step
    resources: tuple[Resource, ...]
    settings: tuple[SettingChange, ...] = ()

    @property
    def count(self) -> int:
        return len(self.resources) + sum(1 for change in self.settings if change.needed)


@dataclass
class CleanupPlan:
    """Everything a cleanup will do, before it does anything."""

    fleet: str
    only: frozenset[str]
    steps: list[PlannedStep]
    skipped: list[Skipped] = field(default_factory=list)
    other_fleets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The fleet's resources that other iotfleet fleets still use: their ownership tag passes to one of those.
    handovers: list[Resource] = field(default_factory=list)

    def resources(self, kind: str) -> list[Resource]:
        return [resource for planned in self.steps for resource in planned.resources if resource.kind == kind]

    def step(self, key: str) -> PlannedStep | None:
        return next((planned for planned in self.steps if planned.step.key == key), None)

    @property
    def settings(self) -> list[SettingChange]:
        return [change for planned in self.steps for change in planned.settings]

    def counts(self) -> dict[str, int]:
        """Resources to delete per kind, and account settings to restore, in dependency order."""
        counts: dict[str, int] = {}
        for planned in self.steps:
            for kind in planned.step.kinds:
                counts[kind] = sum(1 for resource in planned.resources if resource.kind == kind)
            if planned.settings:
                for change in planned.settings:
                    counts[change.kind] = counts.get(change.kind, 0) + (1 if change.needed else 0)
        return counts

    @property
    def empty(self) -> bool:
        """True when there is nothing left to delete or restore."""
        return not self.handovers and not any(planned.count for planned in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet": self.fleet,
            "only": sorted(self.only - {ALL}) if ALL not in self.only else [ALL],
            "empty": self.empty,
            "counts": self.counts(),
            "order": [
                {
                    "step": planned.step.key,
                    "kinds": list(planned.step.kinds),
                    "action": planned.step.action,
                    "count": planned.count,
                    "resources": [_resource_dict(resource) for resource in planned.resources],
                    "settings": [change.as_dict() for change in planned.settings],
                }
                for planned in self.steps
            ],
            "handovers": [_resource_dict(resource) for resource in self.handovers],
            "skipped": [{"kind": s.kind, "name": s.name, "reason": s.reason} for s in self.skipped],
            "other_fleets": self.other_fleets,
            "notes": self.notes,
        }


def _resource_dict(resource: Resource) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": resource.kind, "name": resource.name}
    if resource.arn:
        data["arn"] = resource.arn
    data.update({key: value for key, value in resource.info.items() if value not in (None, [], {})})
    return data


def _quote(names: Iterable[str]) -> str:
    names = sorted(names)
    shown = ", ".join(names[:EXAMPLES])
    return shown + (f" and {len(names) - EXAMPLES} more" if len(names) > EXAMPLES else "")


def plan_cleanup(
    ctx: AwsContext,
    fleet: str,
    only: Iterable[str] | str | None = None,
    *,
    keys_dir: Path | str | None = None,
    keep_keys: bool = False,
) -> CleanupPlan:
    """Scan the account (read calls only) and plan the cleanup of ``fleet`` for the ``only`` kinds.

    The fleet's key store is at ``keys_dir`` (default: the fleet's under iotfleet's home); ``keep_keys``
    leaves it in place.
    """
    fleet = check_fleet_name(fleet)
    chosen = only if isinstance(only, frozenset) else parse_only(only)
    whole = ALL in chosen

    def wanted(*kinds: str) -> bool:
        return whole or any(kind in chosen for kind in kinds)

    empty = scans.Found()
    things = scans.scan_things(ctx, fleet) if wanted("things", "groups", "types", "identity") else scans.ThingScan()
    groups = scans.scan_groups(ctx, fleet) if wanted("groups") else scans.GroupScan()
    jobs = scans.scan_jobs(ctx, fleet) if wanted("jobs") else scans.JobScan()
    rollouts = scan_rollout_records(ctx, fleet) if wanted("jobs") else empty
    packages = scans.scan_packages(ctx, fleet) if wanted("packages") else empty
    buckets = scans.scan_buckets(ctx, fleet) if wanted("storage") else empty
    roles = scans.scan_roles(ctx, fleet) if wanted("roles") else empty
    types = scans.scan_thing_types(ctx, fleet) if wanted("types") else empty
    identity = IdentityScan()
    if wanted("things", "identity"):
        identity = scan_identity(
            ctx, fleet, [r for r in things.owned if r.kind == THING],
            KeyStore(keys_dir if keys_dir is not None else default_root(fleet)),
            deleting_certificates=wanted("things"), keep_keys=keep_keys,
        )  # fmt: skip

    other_fleets = sorted(
        set().union(
            *(scan.other_fleets for scan in (things, groups, jobs, packages, buckets, roles, types, identity))
        )
    )
    skipped: list[Skipped] = []
    selected = {step.key for step in steps_for(chosen)}

    static_groups, group_skips = _deletable_static_groups(ctx, groups, things.names)
    thing_types, handovers, type_skips = _deletable_thing_types(
        types.owned, things, "things" in chosen or whole
    )
    settings = plan_settings(ctx, fleet, chosen, other_fleets, groups.foreign_dynamic)
    role_list, role_skips = _deletable_roles(roles.owned, settings.roles_in_use)
    bucket_list = [r for r in buckets.owned if r.kind == BUCKET]
    if settings.keep_bucket and "bucket" in selected:
        skipped += [Skipped(BUCKET, r.name, settings.keep_bucket) for r in bucket_list]
        bucket_list = []
    skipped += group_skips + type_skips + role_skips

    by_step: dict[str, list[Resource]] = {
        "jobs": [r for r in jobs.owned if r.kind in (JOB, JOB_TEMPLATE)],
        "rollouts": list(rollouts.owned),
        "dynamic-groups": [r for r in groups.owned if r.kind == DYNAMIC_GROUP],
        "certificates": [r for r in identity.owned if r.kind == CERTIFICATE],
        "things": [_with_principals(r, identity) for r in things.owned if r.kind == THING],
        "static-groups": static_groups,
        "packages": [r for r in packages.owned if r.kind == PACKAGE],
        "package-configuration": [],
        "bucket": bucket_list,
        "roles": role_list,
        "thing-types": thing_types,
        "account-settings": [],
        "policy": [r for r in identity.owned if r.kind == POLICY],
        "ca-certificate": [r for r in identity.owned if r.kind == CA_CERTIFICATE],
        "key-store": [r for r in identity.owned if r.kind == KEY_STORE],
    }
    settings_by_step = {
        "package-configuration": tuple(settings.package_configuration),
        "account-settings": tuple(settings.account),
    }
    planned = [
        PlannedStep(step, tuple(by_step[step.key]), settings_by_step.get(step.key, ()))
        for step in STEPS
        if step.key in selected
    ]
    for scan, kinds in (
        (jobs, (JOB, JOB_TEMPLATE)),
        (groups, (DYNAMIC_GROUP, STATIC_GROUP)),
        (things, (THING,)),
        (packages, (PACKAGE,)),
        (buckets, (BUCKET,)),
        (roles, (ROLE,)),
        (types, (THING_TYPE,)),
        (identity, (CERTIFICATE, POLICY, CA_CERTIFICATE, KEY_STORE)),
    ):
        skipped += [s for s in scan.skipped if s.kind in kinds and _selected_kind(s.kind, selected)]
    skipped += settings.skipped
    notes: list[str] = []
    if jobs.deleting:
        notes.append(f"{len(jobs.deleting)} of the fleet's jobs are already being deleted by AWS")
    return CleanupPlan(fleet, chosen, planned, skipped, other_fleets, notes, handovers)


def _with_principals(thing: Resource, identity: IdentityScan) -> Resource:
    """A thing, with the principals its deletion detaches (those the certificates step does not delete)."""
    if not identity.scanned or thing.name not in identity.other_principals:
        return thing
    info = {**thing.info, "principals": identity.other_principals[thing.name]}
    return Resource(thing.kind, thing.name, thing.arn, info)


def _selected_kind(kind: str, selected: set[str]) -> bool:
    return any(kind in step.kinds and step.key in selected for step in STEPS)


def _deletable_static_groups(
    ctx: AwsContext, groups: scans.GroupScan, owned_things: set[str]
) -> tuple[list[Resource], list[Skipped]]:
    """The fleet's static groups that can go, deepest first; a group holding what the fleet does not own stays.

    A group with another fleet's things, or with a child group the fleet does not own, is skipped, and so is
    every group above it (AWS refuses to delete a group that still has child groups).
    """
    owned = {r.name: r for r in groups.owned if r.kind == STATIC_GROUP}
    blocked: dict[str, str] = {}
    for name in owned:
        foreign_children = [
            child
            for child, parent in groups.parents.items()
            if parent == name and not _is_owned(child, groups)
        ]
        if foreign_children:
            blocked[name] = f"has child groups this fleet does not own: {_quote(foreign_children)}"
            continue
        members = scans.group_members(ctx, name)
        foreign = [thing for thing in members if thing not in owned_things]
        if foreign:
            blocked[name] = f"holds {len(foreign)} thing(s) this fleet does not own: {_quote(foreign)}"
    for name, reason in list(blocked.items()):
        parent = groups.parents.get(name)
        while parent in owned and parent not in blocked:
            blocked[parent] = f"its child group {name} is kept ({reason})"
            name, parent = parent, groups.parents.get(parent)
    depth = {name: _depth(name, groups.parents) for name in owned}
    deletable = sorted(
        (r for name, r in owned.items() if name not in blocked), key=lambda r: (-depth[r.name], r.name)
    )
    ordered = [Resource(r.kind, r.name, r.arn, {**r.info, "depth": depth[r.name]}) for r in deletable]
    return ordered, [Skipped(STATIC_GROUP, name, reason) for name, reason in sorted(blocked.items())]


def _is_owned(name: str, groups: scans.GroupScan) -> bool:
    return any(r.name == name for r in groups.owned)


def _depth(name: str, parents: dict[str, str | None]) -> int:
    depth, seen = 0, {name}
    parent = parents.get(name)
    while parent and parent not in seen:
        depth += 1
        seen.add(parent)
        parent = parents.get(parent)
    return depth


def _deletable_thing_types(
    types: list[Resource], things: scans.ThingScan, deleting_things: bool
) -> tuple[list[Resource], list[Resource], list[Skipped]]:
    """The fleet's thing types no other thing uses (AWS refuses to delete a type things still have).

    A type that only other iotfleet fleets' things use (provisioning lets a fleet use a fitting type another
    fleet owns) is handed over to one of them, so the last fleet using it deletes it; a type any other thing
    uses is skipped.
    """
    deletable: list[Resource] = []
    handovers: list[Resource] = []
    skipped: list[Skipped] = []
    for thing_type in types:
        users = things.type_users.get(thing_type.name, [])
        foreign = [(name, owner) for name, owner in users if name not in things.names]
        own = [name for name, owner in users if name in things.names]
        owners = {owner for _, owner in foreign}
        if foreign and None not in owners:
            heir = sorted(str(owner) for owner in owners)[0]
            handovers.append(
                Resource(
                    THING_TYPE, thing_type.name, thing_type.arn, {"hand_over_to": heir, "users": len(foreign)}
                )
            )
        elif foreign:
            names = [name for name, _ in foreign]
            skipped.append(
                Skipped(
                    THING_TYPE,
                    thing_type.name,
                    f"used by {len(names)} thing(s) this fleet does not own: {_quote(names)}",
                )
            )
        elif own and not deleting_things:
            skipped.append(
                Skipped(
                    THING_TYPE,
                    thing_type.name,
                    f"still used by {len(own)} of the fleet's things; add --only things",
                )
            )
        else:
            deletable.append(thing_type)
    return deletable, handovers, skipped


def _deletable_roles(roles: list[Resource], in_use: dict[str, str]) -> tuple[list[Resource], list[Skipped]]:
    """The fleet's roles, except one an account setting this cleanup leaves in place still points to."""
    deletable = [role for role in roles if role.arn not in in_use]
    skipped = [Skipped(ROLE, role.name, in_use[role.arn]) for role in roles if role.arn in in_use]
    return deletable, skipped

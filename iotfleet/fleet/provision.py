"""Provisioning: plan what a fleet needs against what exists, then apply only the difference.

:func:`plan_provision` only reads. It finds the fleet's resources by ownership and compares each with the
spec: missing (create), present, differing (update), used as is (an account-wide thing type that iotfleet
does not own but that fits), or in conflict (a resource with our name that belongs to someone else, which is
never adopted). :func:`apply_provision` refuses a plan with conflicts before any mutating call, then makes
exactly the changes the plan lists, so re-running with the same spec makes no mutating call, and a run
stopped at any point is completed by running it again.

Order of apply:

1. two setup chains at once:

   * the firmware bucket (created and tagged, then its settings) and the fleet's state record in it; the IAM
     roles, then a wait until IAM shows them; the fleet indexing configuration (merged) and the package
     configuration, each recorded in the state first;
   * thing types, then the static groups, continents before countries;

2. one parallel run: a task per firmware package (versions generated, uploaded, registered, published,
   default set) and a task per thing (create or update, group membership, classic and ``$package`` shadows).
   Thing calls are paced by the access layer at their quotas, so the run takes about as long as the slowest
   operation's calls at its quota.

Shadows are initialised, not enforced: a key already reported (a battery level, an installed version) is
device state and is left alone; only missing keys are written. Thing attributes and types are
configuration and are converged to the spec.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import OperationFailed, ResourceFailure, UsageError, is_error
from iotfleet.fleet import fleet_state, indexing, inventory, roles, storage
from iotfleet.fleet.firmware import FIRMWARE_FILE_NAME, generate_firmware
from iotfleet.fleet.inventory import Device
from iotfleet.fleet.ownership import (
    CONTINENT_GROUP,
    COUNTRY_GROUP,
    GROUP_KIND_TAG,
    owned_by,
    tag_dict,
    tag_list,
)
from iotfleet.fleet.packages.catalog import DRAFT, create_package, publish_version, set_default_version
from iotfleet.fleet.packages.configuration import get_configuration
from iotfleet.fleet.packages.upload import upload_version
from iotfleet.fleet.resources import fleet_things, resource_tags
from iotfleet.fleet.runner import Progress, run_parallel
from iotfleet.fleet.spec import FleetSpec
from iotfleet.query.fields import PACKAGE_SHADOW

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
THING_GROUP = "thing group"
THING = "thing"
MEMBERSHIP = "group membership"
SHADOW = "shadow"
KINDS = (
    BUCKET, ROLE, THING_TYPE, INDEXING, PACKAGE, PACKAGE_VERSION, PACKAGE_CONFIGURATION, THING_GROUP, THING,
    MEMBERSHIP, SHADOW,
)  # fmt: skip

# Errors UpdatePackageConfiguration may give while IAM has not yet propagated a new role.
_ROLE_NOT_READY = ("ValidationException", "InvalidRequestException")


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
class ThingWork:
    """What one thing needs; a thing that needs nothing is only counted."""

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

    @property
    def update(self) -> bool:
        return not self.create and (self.thing_type is not None or bool(self.attributes))

    @property
    def pending(self) -> bool:
        return (
            self.create or self.update or self.add_to is not None or bool(self.remove_from)
            or self.classic is not None or self.package is not None
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
    things: list[ThingWork]  # only the ones with work to do
    items: list[PlanItem]
    counts: dict[str, Counter[str]]  # kind -> action -> count, things, memberships and shadows included
    warnings: list[str] = field(default_factory=list)

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
        }


@dataclass
class KindResult:
    created: int = 0
    present: int = 0
    updated: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "present": self.present,
            "updated": self.updated,
            "failed": self.failed,
        }


@dataclass
class ProvisionResult:
    """Counts per kind (created, already present, updated, failed) and every failure by name."""

    fleet: str
    bucket: str
    counts: dict[str, KindResult] = field(default_factory=lambda: {kind: KindResult() for kind in KINDS})
    failures: list[ResourceFailure] = field(default_factory=list)
    elapsed: float = 0.0
    # Setup steps run in parallel and count as they go.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.failures

    def count(self, kind: str, action: str, n: int = 1) -> None:
        if action not in (CREATE, UPDATE, PRESENT, USED):
            raise ValueError(f"unknown action {action!r}")
        with self._lock:
            entry = self.counts[kind]
            if action == CREATE:
                entry.created += n
            elif action == UPDATE:
                entry.updated += n
            else:
                entry.present += n

    def fail(self, failure: ResourceFailure) -> None:
        with self._lock:
            self.failures.append(failure)
            self.counts[failure.kind].failed += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet": self.fleet,
            "bucket": self.bucket,
            "ok": self.ok,
            "elapsedSeconds": round(self.elapsed, 3),
            "counts": {kind: self.counts[kind].as_dict() for kind in KINDS},
            "failures": [
                {"kind": f.kind, "name": f.name, "error": f.error, "code": f.code} for f in self.failures
            ],
        }

    def raise_for_failures(self) -> None:
        if self.failures:
            raise OperationFailed(
                f"provisioning fleet {self.fleet!r}: {len(self.failures)} resource(s) failed", self.failures
            )


# =============================================================================================== planning


def plan_provision(ctx: AwsContext, spec: FleetSpec, progress: Progress | None = None) -> ProvisionPlan:
    """Read what exists and compare it with ``spec`` (validated here first). Makes no mutating call.

    The reads of independent kinds run at once (each paced at its own quota); the things, which can be many,
    are read last, with ``progress``.
    """
    spec = spec.validated()
    account, region, partition = ctx.account_id, ctx.region, ctx.iot.meta.partition
    bucket_notes, type_notes, setting_notes, package_notes, group_notes = (_Notes() for _ in range(5))

    def bucket_and_roles() -> tuple[storage.BucketStatus, fleet_state.FleetState, list[Any]]:
        bucket, state = _plan_bucket(ctx, spec, account, region, bucket_notes.note, bucket_notes.warnings)
        role_plans = _plan_roles(ctx, spec, bucket.name, account, region, partition, bucket_notes.note)
        return bucket, state, role_plans

    def settings() -> tuple[dict[str, Any], list[str], dict[str, Any]]:
        current = indexing.read_configuration(ctx)
        changes = indexing.changes_needed(current)
        setting_notes.note(INDEXING, "thing indexing", UPDATE if changes else PRESENT, "; ".join(changes))
        configuration = get_configuration(ctx)
        wanted = f"arn:{partition}:iam::{account}:role/{roles.role_name(spec.fleet, roles.PACKAGE_CONFIG)}"
        if configuration["enabled"] and configuration.get("roleArn") == wanted:
            setting_notes.note(
                PACKAGE_CONFIGURATION, "version updates by jobs", PRESENT, f"enabled with {wanted}"
            )
        else:
            found = f"enabled with {configuration.get('roleArn')}" if configuration["enabled"] else "off"
            setting_notes.note(
                PACKAGE_CONFIGURATION,
                "version updates by jobs",
                UPDATE,
                f"{found} -> enabled with the fleet's role",
            )
        return current, changes, configuration

    (
        (bucket, state, role_plans),
        thing_types,
        (current_indexing, indexing_changes, configuration),
        package_plans,
        group_plans,
    ) = _together(
        ctx,
        [
            bucket_and_roles,
            lambda: _plan_thing_types(ctx, spec, type_notes.note),
            settings,
            lambda: _plan_packages(
                ctx, spec, account, region, partition, package_notes.note, package_notes.warnings
            ),
            lambda: _plan_groups(ctx, spec, group_notes.note, group_notes.warnings),
        ],
    )
    notes = _Notes.merged([bucket_notes, type_notes, setting_notes, package_notes, group_notes])
    things = _plan_things(ctx, spec, group_plans, notes.counts, notes.warnings, progress)
    return ProvisionPlan(
        spec=spec,
        account=account,
        region=region,
        partition=partition,
        bucket=bucket,
        state=state,
        roles=role_plans,
        thing_types=thing_types,
        indexing_current=current_indexing,
        indexing_changes=indexing_changes,
        package_configuration=configuration,
        packages=package_plans,
        groups=group_plans,
        things=things,
        items=notes.items,
        counts=notes.counts,
        warnings=notes.warnings,
    )


@dataclass
class _Notes:
    """Plan items, counts and warnings gathered by one planning step."""

    items: list[PlanItem] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {kind: Counter() for kind in KINDS})
    warnings: list[str] = field(default_factory=list)

    def note(self, kind: str, name: str, action: str, detail: str = "") -> None:
        self.items.append(PlanItem(kind, name, action, detail))
        self.counts[kind][action] += 1

    @classmethod
    def merged(cls, parts: list[_Notes]) -> _Notes:
        """All parts, in the given order (so the plan reads the same whatever finished first)."""
        whole = cls()
        for part in parts:
            whole.items += part.items
            whole.warnings += part.warnings
            for kind, counter in part.counts.items():
                whole.counts[kind].update(counter)
        return whole


def _together(ctx: AwsContext, steps: list[Callable[[], Any]]) -> list[Any]:
    """Run a few short, independent steps at once; their results in order, or the first error as raised."""
    result = run_parallel(steps, lambda step: step(), concurrency=max(1, min(len(steps), ctx.concurrency)))
    for outcome in result.outcomes:
        if outcome.error is not None:
            raise outcome.error
    return [outcome.value for outcome in result.outcomes]


_Note = Callable[..., None]


def _plan_bucket(
    ctx: AwsContext, spec: FleetSpec, account: str, region: str, note: _Note, warnings: list[str]
) -> tuple[storage.BucketStatus, fleet_state.FleetState]:
    candidates = storage.list_candidates(ctx)
    owned = [c for c in candidates if owned_by(c.tags, spec.fleet)]
    look_alike = f"{storage.BUCKET_PREFIX}{spec.fleet}-{account}-"
    for candidate in candidates:
        if candidate.name.startswith(look_alike) and not candidate.tags:
            warnings.append(
                f"bucket {candidate.name} is named like this fleet's but has no ownership tag (perhaps an "
                "interrupted first run); it is not used. Delete it if it is not someone else's."
            )
    if not owned:
        name = storage.bucket_name(spec.fleet, account, region)
        status = storage.BucketStatus(name, exists=False, missing=list(storage.SETTINGS))
        note(BUCKET, name, CREATE, "versioned, encrypted, public access blocked, TLS only")
        return status, fleet_state.FleetState(spec.fleet)
    if len(owned) > 1:
        others = ", ".join(c.name for c in owned[1:])
        warnings.append(
            f"fleet {spec.fleet!r} owns more than one bucket; using the oldest, {owned[0].name} ({others} unused)"
        )
    chosen = owned[0]
    status = storage.inspect_bucket(ctx, chosen.name, spec.fleet, chosen.tags)
    if status.missing:
        note(BUCKET, chosen.name, UPDATE, "missing: " + ", ".join(status.missing))
    else:
        note(BUCKET, chosen.name, PRESENT)
    return status, fleet_state.read_state(ctx, chosen.name, spec.fleet)


def _plan_roles(
    ctx: AwsContext, spec: FleetSpec, bucket: str, account: str, region: str, partition: str, note: _Note
) -> list[tuple[roles.RoleSpec, roles.RoleStatus]]:
    plans = []
    for role in roles.fleet_role_specs(spec.fleet, bucket, region, account, partition):
        status = roles.inspect_role(ctx, role, spec.fleet)
        if not status.exists:
            note(ROLE, role.name, CREATE, role.purpose)
        elif not status.owned:
            note(
                ROLE,
                role.name,
                CONFLICT,
                f"exists without fleet {spec.fleet!r}'s ownership tag; it is never changed",
            )
        elif status.differs:
            note(ROLE, role.name, UPDATE, "differs: " + ", ".join(status.differs))
        else:
            note(ROLE, role.name, PRESENT, role.purpose)
        plans.append((role, status))
    return plans


def _plan_thing_types(ctx: AwsContext, spec: FleetSpec, note: _Note) -> dict[str, str]:
    actions: dict[str, str] = {}
    wanted = set(spec.searchable_attributes)
    for name in spec.thing_types:
        try:
            found = ctx.iot.describe_thing_type(thingTypeName=name)
        except ClientError as err:
            if not is_error(err, "ResourceNotFoundException"):
                raise
            actions[name] = CREATE
            note(THING_TYPE, name, CREATE, "searchable: " + ", ".join(spec.searchable_attributes))
            continue
        owned = owned_by(resource_tags(ctx, str(found["thingTypeArn"])), spec.fleet)
        searchable = set((found.get("thingTypeProperties") or {}).get("searchableAttributes") or [])
        deprecated = bool((found.get("thingTypeMetadata") or {}).get("deprecated"))
        if not wanted <= searchable:
            action, detail = (
                CONFLICT,
                (
                    f"exists with searchable attributes {sorted(searchable)}, not {sorted(wanted)}; thing types "
                    "cannot change them (pick other type names, or other --searchable-attributes)"
                ),
            )
        elif owned and deprecated:
            action, detail = UPDATE, "deprecated; will be un-deprecated"
        elif owned:
            action, detail = PRESENT, ""
        elif deprecated:
            action, detail = (
                CONFLICT,
                "deprecated and not owned by this fleet; things cannot be created with it",
            )
        else:
            action, detail = USED, "used, not owned: cleanup will leave it"
        actions[name] = action
        note(THING_TYPE, name, action, detail)
    return actions


def _plan_packages(
    ctx: AwsContext,
    spec: FleetSpec,
    account: str,
    region: str,
    partition: str,
    note: _Note,
    warnings: list[str],
) -> list[PackagePlan]:
    plans: list[PackagePlan] = []
    for name in spec.packages:
        try:
            found = ctx.iot.get_package(packageName=name)
        except ClientError as err:
            if not is_error(err, "ResourceNotFoundException"):
                raise
            note(PACKAGE, name, CREATE)
            for version in spec.versions:
                note(PACKAGE_VERSION, f"{name}/{version}", CREATE, "generated, uploaded, published")
            plans.append(PackagePlan(name, False, list(spec.versions), [], spec.installed_version))
            continue
        arn = f"arn:{partition}:iot:{region}:{account}:package/{name}"
        if not owned_by(resource_tags(ctx, arn), spec.fleet):
            note(
                PACKAGE,
                name,
                CONFLICT,
                f"exists without fleet {spec.fleet!r}'s ownership tag; it is never changed",
            )
            continue
        plan = PackagePlan(name, True)
        for version in spec.versions:
            try:
                status = str(ctx.iot.get_package_version(packageName=name, versionName=version)["status"])
            except ClientError as err:
                if not is_error(err, "ResourceNotFoundException"):
                    raise
                plan.new_versions.append(version)
                note(PACKAGE_VERSION, f"{name}/{version}", CREATE, "generated, uploaded, published")
                continue
            if status == DRAFT:
                plan.to_publish.append(version)
                note(PACKAGE_VERSION, f"{name}/{version}", UPDATE, "DRAFT -> PUBLISHED")
            else:
                note(PACKAGE_VERSION, f"{name}/{version}", PRESENT, status)
        default = found.get("defaultVersionName")
        if default is None:
            plan.set_default = spec.installed_version
            note(PACKAGE, name, UPDATE, f"default version -> {spec.installed_version}")
        else:
            note(PACKAGE, name, PRESENT, f"default version {default}")
            if default != spec.installed_version:
                warnings.append(
                    f"package {name}'s default version is {default}, not {spec.installed_version}; left as is"
                )
        plans.append(plan)
    return plans


def _plan_groups(ctx: AwsContext, spec: FleetSpec, note: _Note, warnings: list[str]) -> list[GroupPlan]:
    wanted: list[tuple[str, str, str | None]] = [
        (name, CONTINENT_GROUP, None) for name in spec.continent_group_names()
    ]
    wanted += [(spec.country_group(c), COUNTRY_GROUP, spec.parent_group(c)) for c in spec.countries]
    plans: list[GroupPlan] = []
    for name, kind, parent in wanted:
        try:
            found = ctx.iot.describe_thing_group(thingGroupName=name)
        except ClientError as err:
            if not is_error(err, "ResourceNotFoundException"):
                raise
            note(THING_GROUP, name, CREATE, f"under {parent}" if parent else kind)
            plans.append(GroupPlan(name, kind, parent, CREATE))
            continue
        tags = resource_tags(ctx, str(found["thingGroupArn"]))
        if not owned_by(tags, spec.fleet):
            action, detail = (
                CONFLICT,
                (
                    f"exists without fleet {spec.fleet!r}'s ownership tag; a job on it could reach devices of others "
                    "(use --group-prefix to give this fleet's groups other names)"
                ),
            )
        elif found.get("queryString"):
            action, detail = CONFLICT, "is a dynamic group; a static group is needed"
        else:
            action, detail = PRESENT, ""
            found_parent = (found.get("thingGroupMetadata") or {}).get("parentGroupName")
            if found_parent != parent:
                warnings.append(
                    f"group {name} sits under {found_parent or 'no parent'}, not {parent or 'no parent'}; AWS cannot "
                    "move a group, so it is left as is"
                )
        note(THING_GROUP, name, action, detail)
        plans.append(GroupPlan(name, kind, parent, action))
    return plans


def _plan_things(
    ctx: AwsContext,
    spec: FleetSpec,
    groups: list[GroupPlan],
    counts: dict[str, Counter[str]],
    warnings: list[str],
    progress: Progress | None,
) -> list[ThingWork]:
    existing = {str(thing["thingName"]): thing for thing in fleet_things(ctx, spec.fleet)}
    wanted_names = set()
    works: list[ThingWork] = []
    for device in inventory.devices(spec):
        wanted_names.add(device.name)
        work = ThingWork(device)
        found = existing.get(device.name)
        if found is None:
            work.create = True
        else:
            if found.get("thingTypeName") != device.thing_type:
                work.thing_type = device.thing_type
            attributes = found.get("attributes") or {}
            work.attributes = {
                key: value
                for key, value in device.attributes(spec.fleet).items()
                if attributes.get(key) != value
            }
        works.append(work)
    extra = len(set(existing) - wanted_names)
    if extra:
        warnings.append(
            f"{extra} thing(s) of fleet {spec.fleet!r} are not in this spec (a smaller fleet, or another prefix); "
            "they are left as they are (cleanup removes them)"
        )

    country_groups = {spec.country_group(c) for c in spec.countries}
    members = _group_members(ctx, [g.name for g in groups if g.kind == COUNTRY_GROUP and g.action == PRESENT])
    for work in works:
        wanted_group = spec.country_group(work.device.country)
        if work.create or work.device.name not in members.get(wanted_group, set()):
            work.add_to = wanted_group
        work.remove_from = sorted(
            g for g in country_groups - {wanted_group} if work.device.name in members.get(g, set())
        )

    to_read = [work for work in works if not work.create]
    if to_read:
        result = run_parallel(
            to_read, lambda w: _read_shadows(ctx, w), concurrency=ctx.concurrency, progress=progress,
            label="checking shadows",
        )  # fmt: skip
        result.raise_for_failures("read the shadows of the fleet's things", SHADOW, lambda w: w.device.name)
    for work in works:
        if work.create:
            work.classic = work.device.classic_reported()
            work.package = work.device.package_reported()

    for work in works:
        counts[THING][CREATE if work.create else UPDATE if work.update else PRESENT] += 1
        if work.add_to and work.remove_from:
            counts[MEMBERSHIP][UPDATE] += 1
        elif work.add_to:
            counts[MEMBERSHIP][CREATE] += 1
        elif work.remove_from:
            counts[MEMBERSHIP][UPDATE] += 1
        else:
            counts[MEMBERSHIP][PRESENT] += 1
        for wanted, exists in ((work.classic, work.classic_exists), (work.package, work.package_exists)):
            counts[SHADOW][PRESENT if wanted is None else UPDATE if exists else CREATE] += 1
    return [work for work in works if work.pending]


def _group_members(ctx: AwsContext, groups: list[str]) -> dict[str, set[str]]:
    """The direct members of each group (all pages)."""

    def members(group: str) -> set[str]:
        names: set[str] = set()
        paginator = ctx.iot.get_paginator("list_things_in_thing_group")
        for page in paginator.paginate(thingGroupName=group, PaginationConfig={"PageSize": 250}):
            names.update(page.get("things", []))
        return names

    result = run_parallel(groups, members, concurrency=ctx.concurrency)
    result.raise_for_failures("list the members of the fleet's groups", THING_GROUP)
    return {o.item: o.value or set() for o in result.outcomes}


def _reported(ctx: AwsContext, thing: str, shadow: str | None) -> dict[str, Any] | None:
    """A shadow's reported state, or None when the shadow does not exist."""
    request: dict[str, Any] = {"thingName": thing}
    if shadow:
        request["shadowName"] = shadow
    try:
        payload = ctx.iot_data.get_thing_shadow(**request)["payload"].read()
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            return None
        raise
    document = json.loads(payload or b"{}")
    return dict((document.get("state") or {}).get("reported") or {})


def _read_shadows(ctx: AwsContext, work: ThingWork) -> None:
    """Which initial shadow keys an existing thing still lacks (reported keys are never overwritten)."""
    device = work.device
    classic = _reported(ctx, device.name, None)
    missing = {k: v for k, v in device.classic_reported().items() if classic is None or k not in classic}
    work.classic_exists = classic is not None
    work.classic = missing or None
    package = _reported(ctx, device.name, PACKAGE_SHADOW)
    missing = {k: v for k, v in device.package_reported().items() if package is None or k not in package}
    work.package_exists = package is not None
    work.package = missing or None


# =============================================================================================== applying


def apply_provision(
    ctx: AwsContext, plan: ProvisionPlan, progress: Progress | None = None
) -> ProvisionResult:
    """Make the changes ``plan`` lists. Refuses (exit 2) a plan with conflicts before any mutating call.

    Setup failures (bucket, roles, types, indexing, groups) stop the run with the AWS error; per-package and
    per-thing failures are retried by the access layer, then collected in the result (see
    :meth:`ProvisionResult.raise_for_failures`).
    """
    conflicts = plan.conflicts
    if conflicts:
        lines = "; ".join(f"{c.kind} {c.name}: {c.detail}" for c in conflicts)
        raise UsageError(
            f"fleet {plan.spec.fleet!r} cannot be provisioned, nothing was changed: {lines}", "--fleet"
        )
    started = time.monotonic()
    spec = plan.spec
    result = ProvisionResult(spec.fleet, plan.bucket.name)
    for item in plan.items:
        if item.action in (PRESENT, USED):
            result.count(item.kind, item.action)
    for kind in (THING, MEMBERSHIP, SHADOW):
        result.count(kind, PRESENT, plan.counts[kind][PRESENT])

    def account_settings() -> None:
        _apply_bucket(ctx, plan, result)
        _apply_state(ctx, plan)
        _apply_roles(ctx, plan, result)
        if plan.indexing_changes:
            indexing.update_configuration(ctx, indexing.merged_configuration(plan.indexing_current))
            result.count(INDEXING, UPDATE)
        _apply_package_configuration(ctx, plan, result)

    def registry() -> None:
        _apply_thing_types(ctx, plan, result)
        _apply_groups(ctx, plan, result)

    _together(ctx, [account_settings, registry])
    _apply_packages_and_things(ctx, plan, result, progress)
    result.elapsed = time.monotonic() - started
    return result


def _apply_bucket(ctx: AwsContext, plan: ProvisionPlan, result: ProvisionResult) -> None:
    status = plan.bucket
    if not status.exists:
        storage.create_bucket(ctx, status.name, plan.spec.fleet)
        status.tags = tag_dict(tag_list(plan.spec.fleet))
        storage.apply_settings(
            ctx, status, plan.spec.fleet, [s for s in storage.SETTINGS if s != storage.TAGS]
        )
        result.count(BUCKET, CREATE)
    elif status.missing:
        storage.apply_settings(ctx, status, plan.spec.fleet)
        result.count(BUCKET, UPDATE)


def _apply_state(ctx: AwsContext, plan: ProvisionPlan) -> None:
    """Record the account settings about to change, once, before changing them."""
    state = plan.state
    changed = False
    if plan.indexing_changes:
        changed |= state.record_indexing(plan.indexing_current, plan.indexing_changes)
    if plan.counts[PACKAGE_CONFIGURATION][UPDATE]:
        changed |= state.record_package_configuration(plan.package_configuration)
    if changed:
        fleet_state.write_state(ctx, plan.bucket.name, state)


def _apply_roles(ctx: AwsContext, plan: ProvisionPlan, result: ProvisionResult) -> None:
    touched: list[str] = []
    for role, status in plan.roles:
        if not status.exists:
            roles.create_role(ctx, role, plan.spec.fleet)
            result.count(ROLE, CREATE)
            touched.append(role.name)
        elif status.differs:
            roles.repair_role(ctx, role, status, plan.spec.fleet)
            result.count(ROLE, UPDATE)
            touched.append(role.name)
    if touched:
        roles.wait_until_visible(ctx, touched)


def _apply_thing_types(ctx: AwsContext, plan: ProvisionPlan, result: ProvisionResult) -> None:
    spec = plan.spec
    for name, action in plan.thing_types.items():
        if action == CREATE:
            ctx.iot.create_thing_type(
                thingTypeName=name,
                thingTypeProperties={
                    "thingTypeDescription": f"iotfleet fleet {spec.fleet}: {name}",
                    "searchableAttributes": list(spec.searchable_attributes),
                },
                tags=tag_list(spec.fleet),
            )
        elif action == UPDATE:
            ctx.iot.deprecate_thing_type(thingTypeName=name, undoDeprecate=True)
        else:
            continue
        result.count(THING_TYPE, action)


def _apply_package_configuration(ctx: AwsContext, plan: ProvisionPlan, result: ProvisionResult) -> None:
    if not plan.counts[PACKAGE_CONFIGURATION][UPDATE]:
        return
    role_arn = plan.role_arn(roles.PACKAGE_CONFIG)
    update = {"enabled": True, "roleArn": role_arn}
    new_role = any(r.purpose == roles.PACKAGE_CONFIG and not s.exists for r, s in plan.roles)
    if new_role:
        roles.retry_while_propagating(
            ctx,
            lambda: ctx.iot.update_package_configuration(versionUpdateByJobsConfig=update),
            codes=_ROLE_NOT_READY,
        )
    else:
        ctx.iot.update_package_configuration(versionUpdateByJobsConfig=update)
    result.count(PACKAGE_CONFIGURATION, UPDATE)


def _apply_groups(ctx: AwsContext, plan: ProvisionPlan, result: ProvisionResult) -> None:
    """Continent groups first (they are parents), then the country groups, each level in parallel."""
    for kind in (CONTINENT_GROUP, COUNTRY_GROUP):
        level = [g for g in plan.groups if g.kind == kind and g.action == CREATE]
        outcome = run_parallel(level, lambda g: _create_group(ctx, plan.spec, g), concurrency=ctx.concurrency)
        outcome.raise_for_failures("create the fleet's thing groups", THING_GROUP, lambda g: g.name)
        result.count(THING_GROUP, CREATE, len(level))


def _create_group(ctx: AwsContext, spec: FleetSpec, group: GroupPlan) -> None:
    request: dict[str, Any] = {
        "thingGroupName": group.name,
        "thingGroupProperties": {"thingGroupDescription": f"iotfleet fleet {spec.fleet}: {group.kind} group"},
        "tags": tag_list(spec.fleet, {GROUP_KIND_TAG: group.kind}),
    }
    if group.parent:
        request["parentGroupName"] = group.parent
    ctx.iot.create_thing_group(**request)


@dataclass
class _PackageTask:
    plan: PackagePlan


@dataclass
class _ThingProgress:
    """How far one thing's work got, so a failure is counted against the step that failed."""

    work: ThingWork
    step: str = THING
    done: list[tuple[str, str]] = field(default_factory=list)


def _apply_packages_and_things(
    ctx: AwsContext, plan: ProvisionPlan, result: ProvisionResult, progress: Progress | None
) -> None:
    """One parallel run: package tasks first (a few, long), then every thing (many, short)."""
    package_tasks: list[Any] = [_PackageTask(p) for p in plan.packages if p.pending]
    thing_tasks: list[Any] = [_ThingProgress(w) for w in plan.things]
    if not package_tasks and not thing_tasks:
        return
    with tempfile.TemporaryDirectory(prefix="iotfleet-firmware-") as scratch:
        package_results: dict[str, list[tuple[str, str]]] = {}

        def work(task: Any) -> None:
            if isinstance(task, _PackageTask):
                package_results[task.plan.name] = []
                _apply_package(ctx, plan, task.plan, Path(scratch), package_results[task.plan.name])
            else:
                _apply_thing(ctx, plan.spec, task)

        outcome = run_parallel(
            package_tasks + thing_tasks,
            work,
            concurrency=ctx.concurrency,
            progress=progress,
            label="provisioning",
        )
    for task in package_tasks:
        for kind, action in package_results.get(task.plan.name, []):
            result.count(kind, action)
    for task in thing_tasks:
        for kind, action in task.done:
            result.count(kind, action)
    for failed in outcome.failed:
        assert failed.error is not None
        task = failed.item
        if isinstance(task, _PackageTask):
            result.fail(ResourceFailure.from_exception(PACKAGE, task.plan.name, failed.error))
        else:
            result.fail(ResourceFailure.from_exception(task.step, task.work.device.name, failed.error))


def _apply_package(
    ctx: AwsContext, plan: ProvisionPlan, package: PackagePlan, scratch: Path, done: list[tuple[str, str]]
) -> None:
    spec = plan.spec
    if not package.exists:
        create_package(
            ctx, spec.fleet, package.name, f"iotfleet fleet {spec.fleet}: firmware for {package.name}"
        )
        done.append((PACKAGE, CREATE))
    for version in package.new_versions:
        folder = scratch / package.name / version
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / FIRMWARE_FILE_NAME
        generate_firmware(path, package.name, version, spec.firmware_size)
        upload_version(
            ctx, fleet=spec.fleet, bucket=plan.bucket.name, package=package.name, version=version, path=path,
            description=f"iotfleet generated firmware {package.name} {version}", publish=True,
        )  # fmt: skip
        done.append((PACKAGE_VERSION, CREATE))
    for version in package.to_publish:
        publish_version(ctx, package.name, version)
        done.append((PACKAGE_VERSION, UPDATE))
    if package.set_default:
        set_default_version(ctx, package.name, package.set_default)
        if package.exists:
            done.append((PACKAGE, UPDATE))


def _apply_thing(ctx: AwsContext, spec: FleetSpec, task: _ThingProgress) -> None:
    work = task.work
    device = work.device
    name = device.name
    if work.create:
        task.step = THING
        ctx.iot.create_thing(
            thingName=name,
            thingTypeName=device.thing_type,
            attributePayload={"attributes": device.attributes(spec.fleet)},
        )
        task.done.append((THING, CREATE))
    elif work.update:
        task.step = THING
        request: dict[str, Any] = {"thingName": name}
        if work.thing_type:
            request["thingTypeName"] = work.thing_type
        if work.attributes:
            request["attributePayload"] = {"attributes": work.attributes, "merge": True}
        ctx.iot.update_thing(**request)
        task.done.append((THING, UPDATE))
    if work.add_to or work.remove_from:
        task.step = MEMBERSHIP
        if work.add_to:
            ctx.iot.add_thing_to_thing_group(thingGroupName=work.add_to, thingName=name)
        for group in work.remove_from:
            ctx.iot.remove_thing_from_thing_group(thingGroupName=group, thingName=name)
        task.done.append((MEMBERSHIP, CREATE if work.add_to and not work.remove_from else UPDATE))
    for reported, exists, shadow in (
        (work.classic, work.classic_exists, None),
        (work.package, work.package_exists, PACKAGE_SHADOW),
    ):
        if reported is None:
            continue
        task.step = SHADOW
        request = {"thingName": name, "payload": json.dumps({"state": {"reported": reported}}).encode()}
        if shadow:
            request["shadowName"] = shadow
        ctx.iot_data.update_thing_shadow(**request)
        task.done.append((SHADOW, UPDATE if exists else CREATE))


def provision(ctx: AwsContext, spec: FleetSpec, progress: Progress | None = None) -> ProvisionResult:
    """Plan and apply in one call (the library's shortcut for ``iotfleet provision --yes``)."""
    return apply_provision(ctx, plan_provision(ctx, spec, progress), progress)

"""Planning a fleet: read what exists, find the fleet's resources by ownership, compare each with the spec.

:func:`plan_provision` only reads; the :class:`~iotfleet.fleet.provision.model.ProvisionPlan` it returns
lists every resource with its action (see :mod:`.model`), and applying it makes exactly those changes.
Shadows are initialised, not enforced: only the keys a shadow does not report yet are planned.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import is_error
from iotfleet.fleet import fleet_state, indexing, roles, storage
from iotfleet.fleet.identity import plan as identity
from iotfleet.fleet.identity.keystore import KeyStore, default_root
from iotfleet.fleet.ownership import CONTINENT_GROUP, COUNTRY_GROUP, owned_by
from iotfleet.fleet.packages.catalog import DRAFT
from iotfleet.fleet.packages.configuration import get_configuration
from iotfleet.fleet.provision import inventory, model
from iotfleet.fleet.provision.model import (
    GroupPlan,
    PackagePlan,
    PlanItem,
    ProvisionPlan,
    ThingWork,
)
from iotfleet.fleet.provision.steps import run_together
from iotfleet.fleet.resources import fleet_things, resource_tags
from iotfleet.fleet.runner import Progress, run_parallel
from iotfleet.fleet.spec import FleetSpec
from iotfleet.query.fields import PACKAGE_SHADOW


def plan_provision(
    ctx: AwsContext, spec: FleetSpec, progress: Progress | None = None, keys_dir: Path | str | None = None
) -> ProvisionPlan:
    """Read what exists and compare it with ``spec`` (validated here first). Makes no mutating call.

    The reads of independent kinds run at once (each paced at its own quota); the things, which can be many,
    are read last, with ``progress``. With ``spec.certificates`` the device identity is planned too, with the
    key store at ``keys_dir`` (default: :func:`~iotfleet.fleet.identity.keystore.default_root`).
    """
    spec = spec.validated()
    account, region, partition = ctx.account_id, ctx.region, ctx.iot.meta.partition
    bucket_notes, type_notes, setting_notes, package_notes, group_notes, identity_notes = (
        _Notes() for _ in range(6)
    )
    store = KeyStore(keys_dir if keys_dir is not None else default_root(spec.fleet))

    def bucket_and_roles() -> tuple[storage.BucketStatus, fleet_state.FleetState, list[Any]]:
        bucket, state = _plan_bucket(ctx, spec, account, region, bucket_notes.note, bucket_notes.warnings)
        role_plans = _plan_roles(ctx, spec, bucket.name, account, region, partition, bucket_notes.note)
        return bucket, state, role_plans

    def settings() -> tuple[dict[str, Any], list[str], dict[str, Any]]:
        current = indexing.read_configuration(ctx)
        changes = indexing.changes_needed(current)
        setting_notes.note(model.INDEXING, "thing indexing", model.UPDATE if changes else model.PRESENT, "; ".join(changes))
        configuration = get_configuration(ctx)
        wanted = f"arn:{partition}:iam::{account}:role/{roles.role_name(spec.fleet, roles.PACKAGE_CONFIG)}"
        if configuration["enabled"] and configuration.get("roleArn") == wanted:
            setting_notes.note(
                model.PACKAGE_CONFIGURATION, "version updates by jobs", model.PRESENT, f"enabled with {wanted}"
            )
        else:
            found = f"enabled with {configuration.get('roleArn')}" if configuration["enabled"] else "off"
            setting_notes.note(
                model.PACKAGE_CONFIGURATION,
                "version updates by jobs",
                model.UPDATE,
                f"{found} -> enabled with the fleet's role",
            )
        return current, changes, configuration

    def fleet_identity() -> identity.IdentityPlan | None:
        if not spec.certificates:
            return None
        return identity.plan_fleet_identity(ctx, spec, store, account, region, partition, identity_notes.note)

    (
        (bucket, state, role_plans),
        thing_types,
        (current_indexing, indexing_changes, configuration),
        package_plans,
        group_plans,
        identity_plan,
    ) = run_together(
        ctx,
        [
            bucket_and_roles,
            lambda: _plan_thing_types(ctx, spec, type_notes.note),
            settings,
            lambda: _plan_packages(
                ctx, spec, account, region, partition, package_notes.note, package_notes.warnings
            ),
            lambda: _plan_groups(ctx, spec, group_notes.note, group_notes.warnings),
            fleet_identity,
        ],
    )
    notes = _Notes.merged([bucket_notes, type_notes, setting_notes, package_notes, identity_notes, group_notes])
    things = _plan_things(ctx, spec, group_plans, notes, progress, identity_plan, (account, region, partition))
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
        identity=identity_plan,
        problems=list(identity_plan.problems) if identity_plan else [],
    )


@dataclass
class _Notes:
    """Plan items, counts and warnings gathered by one planning step."""

    items: list[PlanItem] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {kind: Counter() for kind in model.KINDS})
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



_Note = Callable[..., None]


def _plan_bucket(
    ctx: AwsContext, spec: FleetSpec, account: str, region: str, note: _Note, warnings: list[str]
) -> tuple[storage.BucketStatus, fleet_state.FleetState]:
    candidates = storage.list_candidates(ctx)
    owned = [c for c in candidates if owned_by(c.tags, spec.fleet)]
    look_alike = f"{storage.BUCKET_PREFIX}{spec.fleet}-{account}-"
    fixed = storage.bucket_name(spec.fleet, account, region)
    for candidate in candidates:
        # A bucket with the fleet's own name is this account's (S3 names have one owner): an untagged one
        # is a first run's, interrupted before its tags, and creating the bucket takes it over.
        if candidate.name.startswith(look_alike) and not candidate.tags and candidate.name != fixed:
            warnings.append(
                f"bucket {candidate.name} is named like this fleet's but has no ownership tag (perhaps an "
                "interrupted first run); it is not used. Delete it if it is not someone else's."
            )
    if not owned:
        status = storage.BucketStatus(fixed, exists=False, missing=list(storage.SETTINGS))
        note(model.BUCKET, fixed, model.CREATE, "versioned, encrypted, public access blocked, TLS only")
        return status, fleet_state.FleetState(spec.fleet)
    chosen, extras = _one_bucket(ctx, spec, account, region, owned)
    for extra, empty in extras:
        if empty:
            note(model.BUCKET, extra, model.UPDATE, f"an empty second bucket of the fleet: deleted, {chosen.name} kept")
        else:
            warnings.append(
                f"fleet {spec.fleet!r} owns a second bucket, {extra}, that holds objects; {chosen.name} is used "
                "(move what is needed and delete it, or let cleanup remove both)"
            )
    status = storage.inspect_bucket(ctx, chosen.name, spec.fleet, chosen.tags)
    status.duplicates = [extra for extra, empty in extras if empty]
    if status.missing:
        note(model.BUCKET, chosen.name, model.UPDATE, "missing: " + ", ".join(status.missing))
    else:
        note(model.BUCKET, chosen.name, model.PRESENT)
    return status, fleet_state.read_state(ctx, chosen.name, spec.fleet)


def _one_bucket(
    ctx: AwsContext, spec: FleetSpec, account: str, region: str, owned: list[storage.BucketCandidate]
) -> tuple[storage.BucketCandidate, list[tuple[str, bool]]]:
    """The bucket to use when the fleet owns several (two runs raced before names were fixed), and the
    others with whether each is empty. A bucket that holds objects wins over an empty one (firmware and the
    fleet's state live there), then the fleet's fixed name, then the oldest."""
    if len(owned) == 1:
        return owned[0], []
    fixed = storage.bucket_name(spec.fleet, account, region)
    filled = {c.name: storage.has_objects(ctx, c.name) for c in owned}
    ranked = sorted(owned, key=lambda c: (not filled[c.name], c.name != fixed))  # sorted is stable: oldest first
    return ranked[0], [(c.name, not filled[c.name]) for c in ranked[1:]]


def _plan_roles(
    ctx: AwsContext, spec: FleetSpec, bucket: str, account: str, region: str, partition: str, note: _Note
) -> list[tuple[roles.RoleSpec, roles.RoleStatus]]:
    plans = []
    for role in roles.fleet_role_specs(spec.fleet, bucket, region, account, partition, thing_prefix=spec.prefix):
        status = roles.inspect_role(ctx, role, spec.fleet)
        if not status.exists:
            note(model.ROLE, role.name, model.CREATE, role.purpose)
        elif not status.owned:
            note(
                model.ROLE,
                role.name,
                model.CONFLICT,
                f"exists without fleet {spec.fleet!r}'s ownership tag; it is never changed",
            )
        elif status.differs:
            note(model.ROLE, role.name, model.UPDATE, "differs: " + ", ".join(status.differs))
        else:
            note(model.ROLE, role.name, model.PRESENT, role.purpose)
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
            actions[name] = model.CREATE
            note(model.THING_TYPE, name, model.CREATE, "searchable: " + ", ".join(spec.searchable_attributes))
            continue
        owned = owned_by(resource_tags(ctx, str(found["thingTypeArn"])), spec.fleet)
        searchable = set((found.get("thingTypeProperties") or {}).get("searchableAttributes") or [])
        deprecated = bool((found.get("thingTypeMetadata") or {}).get("deprecated"))
        if not wanted <= searchable:
            action, detail = (
                model.CONFLICT,
                (
                    f"exists with searchable attributes {sorted(searchable)}, not {sorted(wanted)}; thing types "
                    "cannot change them (pick other type names, or other --searchable-attributes)"
                ),
            )
        elif owned and deprecated:
            action, detail = model.UPDATE, "deprecated; will be un-deprecated"
        elif owned:
            action, detail = model.PRESENT, ""
        elif deprecated:
            action, detail = (
                model.CONFLICT,
                "deprecated and not owned by this fleet; things cannot be created with it",
            )
        else:
            action, detail = model.USED, "used, not owned: cleanup will leave it"
        actions[name] = action
        note(model.THING_TYPE, name, action, detail)
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
            note(model.PACKAGE, name, model.CREATE)
            for version in spec.versions:
                note(model.PACKAGE_VERSION, f"{name}/{version}", model.CREATE, "generated, uploaded, published")
            plans.append(PackagePlan(name, False, list(spec.versions), [], spec.installed_version))
            continue
        arn = f"arn:{partition}:iot:{region}:{account}:package/{name}"
        if not owned_by(resource_tags(ctx, arn), spec.fleet):
            note(
                model.PACKAGE,
                name,
                model.CONFLICT,
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
                note(model.PACKAGE_VERSION, f"{name}/{version}", model.CREATE, "generated, uploaded, published")
                continue
            if status == DRAFT:
                plan.to_publish.append(version)
                note(model.PACKAGE_VERSION, f"{name}/{version}", model.UPDATE, "DRAFT -> PUBLISHED")
            else:
                note(model.PACKAGE_VERSION, f"{name}/{version}", model.PRESENT, status)
        default = found.get("defaultVersionName")
        if default is None:
            plan.set_default = spec.installed_version
            note(model.PACKAGE, name, model.UPDATE, f"default version -> {spec.installed_version}")
        else:
            note(model.PACKAGE, name, model.PRESENT, f"default version {default}")
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
            note(model.THING_GROUP, name, model.CREATE, f"under {parent}" if parent else kind)
            plans.append(GroupPlan(name, kind, parent, model.CREATE))
            continue
        tags = resource_tags(ctx, str(found["thingGroupArn"]))
        if not owned_by(tags, spec.fleet):
            action, detail = (
                model.CONFLICT,
                (
                    f"exists without fleet {spec.fleet!r}'s ownership tag; a job on it could reach devices of others "
                    "(use --group-prefix to give this fleet's groups other names)"
                ),
            )
        elif found.get("queryString"):
            action, detail = model.CONFLICT, "is a dynamic group; a static group is needed"
        else:
            action, detail = model.PRESENT, ""
            found_parent = (found.get("thingGroupMetadata") or {}).get("parentGroupName")
            if found_parent != parent:
                warnings.append(
                    f"group {name} sits under {found_parent or 'no parent'}, not {parent or 'no parent'}; AWS cannot "
                    "move a group, so it is left as is"
                )
        note(model.THING_GROUP, name, action, detail)
        plans.append(GroupPlan(name, kind, parent, action))
    return plans


def _plan_things(
    ctx: AwsContext,
    spec: FleetSpec,
    groups: list[GroupPlan],
    notes: _Notes,
    progress: Progress | None,
    identity_plan: identity.IdentityPlan | None,
    where: tuple[str, str, str],
) -> list[ThingWork]:
    counts, warnings = notes.counts, notes.warnings
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
    members = _group_members(ctx, [g.name for g in groups if g.kind == COUNTRY_GROUP and g.action == model.PRESENT])
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
        result.raise_for_failures("read the shadows of the fleet's things", model.SHADOW, lambda w: w.device.name)
    for work in works:
        if work.create:
            work.classic = work.device.classic_reported()
            work.package = work.device.package_reported()
    if identity_plan is not None:
        _plan_identities(ctx, identity_plan, works, notes, where, progress)

    for work in works:
        counts[model.THING][model.CREATE if work.create else model.UPDATE if work.update else model.PRESENT] += 1
        if work.add_to and work.remove_from:
            counts[model.MEMBERSHIP][model.UPDATE] += 1
        elif work.add_to:
            counts[model.MEMBERSHIP][model.CREATE] += 1
        elif work.remove_from:
            counts[model.MEMBERSHIP][model.UPDATE] += 1
        else:
            counts[model.MEMBERSHIP][model.PRESENT] += 1
        for wanted, exists in ((work.classic, work.classic_exists), (work.package, work.package_exists)):
            counts[model.SHADOW][model.PRESENT if wanted is None else model.UPDATE if exists else model.CREATE] += 1
        if work.identity is not None:
            counts[model.CERTIFICATE][work.identity.action] += 1
    return [work for work in works if work.pending]


def _plan_identities(
    ctx: AwsContext,
    plan: identity.IdentityPlan,
    works: list[ThingWork],
    notes: _Notes,
    where: tuple[str, str, str],
    progress: Progress | None,
) -> None:
    """Each thing's certificate work; a fleet CA whose key is missing here blocks new certificates."""
    account, region, partition = where
    things = [(work.device.name, not work.create) for work in works]
    identity.plan_devices(ctx, plan, things, account, region, partition, notes.warnings, progress)
    for work in works:
        work.identity = plan.devices.get(work.device.name)
    ca = plan.ca
    if ca is not None and ca.keyless_arn and identity.needs_ca_key(plan):
        new = sum(1 for device in plan.devices.values() if device.new_certificate)
        notes.note(
            model.CA_CERTIFICATE,
            ca.keyless_arn.rsplit("/", 1)[1],
            model.CONFLICT,
            f"{new} device(s) need a new certificate, and the key of the fleet's CA is not in {plan.store.root} "
            "(use --keys-dir with the fleet's key store, or --cert-source aws)",
        )


def _group_members(ctx: AwsContext, groups: list[str]) -> dict[str, set[str]]:
    """The direct members of each group (all pages)."""

    def members(group: str) -> set[str]:
        names: set[str] = set()
        paginator = ctx.iot.get_paginator("list_things_in_thing_group")
        for page in paginator.paginate(thingGroupName=group, PaginationConfig={"PageSize": 250}):
            names.update(page.get("things", []))
        return names

    result = run_parallel(groups, members, concurrency=ctx.concurrency)
    result.raise_for_failures("list the members of the fleet's groups", model.THING_GROUP)
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

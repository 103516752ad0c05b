"""Planning a fleet: read what exists, find the fleet's resources by ownership, compare each with the spec.

:func:`plan_provision` only reads; the :class:`~iotfleet.fleet.provision.model.ProvisionPlan` it returns
lists every resource with its action (see :mod:`.model`), and applying it makes exactly those changes.
Shadows are initialised, not enforced: only the keys a shadow does not report yet are planned.
"""

from __future__ import annotations

from collections.abc import Callable
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
from iotfleet.fleet.provision import model
from iotfleet.fleet.provision.model import GroupPlan, PackagePlan, PlanNotes, ProvisionPlan
from iotfleet.fleet.provision.plan_things import plan_things
from iotfleet.fleet.provision.steps import run_together
from iotfleet.fleet.resources import resource_tags
from iotfleet.fleet.runner import Progress
from iotfleet.fleet.spec import FleetSpec


def plan_provision(
    ctx: AwsContext, spec: FleetSpec, progress: Progress | None = None, keys_dir: Path | str | None = None
) -> ProvisionPlan:
    """Read what exists and compare it with ``spec`` (validated here first). Makes no mutating call.

    The reads of independent kinds run at once (each paced at its own quota); the things, which can be many,
    are read last, with ``progress``, in a few bytes per thing (see :mod:`.plan_things`). With
    ``spec.certificates`` the device identity is planned too, with the key store at ``keys_dir`` (default:
    :func:`~iotfleet.fleet.identity.keystore.default_root`).
    """
    spec = spec.validated()
    account, region, partition = ctx.account_id, ctx.region, ctx.iot.meta.partition
    bucket_notes, type_notes, setting_notes, package_notes, group_notes, identity_notes = (
        PlanNotes() for _ in range(6)
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
    notes = PlanNotes.merged([bucket_notes, type_notes, setting_notes, package_notes, identity_notes, group_notes])
    things = plan_things(ctx, spec, group_plans, notes, progress, identity_plan, (account, region, partition))
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

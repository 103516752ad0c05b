"""Applying a provisioning plan: exactly the changes it lists, in dependency order.

:func:`apply_provision` refuses a plan with conflicts before any mutating call, then makes exactly the changes
the plan lists, so re-running with the same spec makes no mutating call, and a run stopped at any point is
completed by running it again. Order of apply:

1. setup chains at once:

   * the firmware bucket (created and tagged, then its settings) and the fleet's state record in it; the IAM
     roles, then a wait until IAM shows them; the fleet indexing configuration (merged) and the package
     configuration, each recorded in the state first;
   * thing types, then the static groups, continents before countries;

   * with certificates, the key store record, the fleet CA and the fleet's IoT policy
     (:func:`~iotfleet.fleet.identity.apply.apply_fleet_identity`);

2. one parallel run: a task per firmware package (versions generated, uploaded, registered, published,
   default set) and a task per thing (create or update, group membership, classic and ``$package`` shadows,
   and with certificates its certificate: see :mod:`iotfleet.fleet.identity.apply`).
   Thing calls are paced by the access layer at their quotas, so the run takes about as long as the slowest
   operation's calls at its quota.

Shadows are initialised, not enforced: a key already reported (a battery level, an installed version) is
device state and is left alone; only missing keys are written. Thing attributes and types are
configuration and are converged to the spec.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import ResourceFailure, UsageError, is_error
from iotfleet.fleet import fleet_state, indexing, roles, storage
from iotfleet.fleet.firmware import FIRMWARE_FILE_NAME, generate_firmware
from iotfleet.fleet.identity.apply import apply_device_identity, apply_fleet_identity
from iotfleet.fleet.ownership import CONTINENT_GROUP, COUNTRY_GROUP, GROUP_KIND_TAG, tag_dict, tag_list
from iotfleet.fleet.packages.catalog import create_package, publish_version, set_default_version
from iotfleet.fleet.packages.upload import upload_version
from iotfleet.fleet.provision import model
from iotfleet.fleet.provision.model import (
    GroupPlan,
    PackagePlan,
    ProvisionPlan,
    ThingWork,
)
from iotfleet.fleet.provision.plan import plan_provision
from iotfleet.fleet.provision.result import ProvisionResult
from iotfleet.fleet.provision.steps import run_together
from iotfleet.fleet.runner import Progress, run_parallel
from iotfleet.fleet.spec import FleetSpec
from iotfleet.query.fields import PACKAGE_SHADOW

# Errors UpdatePackageConfiguration may give while IAM has not yet propagated a new role.
_ROLE_NOT_READY = ("ValidationException", "InvalidRequestException")


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
        if item.action in (model.PRESENT, model.USED):
            result.count(item.kind, item.action)
    for kind in (model.THING, model.MEMBERSHIP, model.SHADOW, model.CERTIFICATE):
        result.count(kind, model.PRESENT, plan.counts[kind][model.PRESENT])
    for problem in plan.problems:
        result.fail(problem)

    def account_settings() -> None:
        _apply_bucket(ctx, plan, result)
        _apply_state(ctx, plan)
        _apply_roles(ctx, plan, result)
        if plan.indexing_changes:
            indexing.update_configuration(ctx, indexing.merged_configuration(plan.indexing_current))
            result.count(model.INDEXING, model.UPDATE)
        _apply_package_configuration(ctx, plan, result)

    def registry() -> None:
        _apply_thing_types(ctx, plan, result)
        _apply_groups(ctx, plan, result)

    def identity() -> None:
        if plan.identity is not None:
            for kind, action in apply_fleet_identity(ctx, spec.fleet, plan.account, plan.region, plan.identity):
                result.count(kind, action)

    run_together(ctx, [account_settings, registry, identity])
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
        result.count(model.BUCKET, model.CREATE)
    elif status.missing:
        storage.apply_settings(ctx, status, plan.spec.fleet)
        result.count(model.BUCKET, model.UPDATE)
    for duplicate in status.duplicates:
        ctx.s3.delete_bucket(Bucket=duplicate)  # empty when planned; S3 refuses (BucketNotEmpty) otherwise
        result.count(model.BUCKET, model.UPDATE)


def _apply_state(ctx: AwsContext, plan: ProvisionPlan) -> None:
    """Record the account settings about to change, once, before changing them."""
    state = plan.state
    changed = False
    if plan.indexing_changes:
        changed |= state.record_indexing(plan.indexing_current, plan.indexing_changes)
    if plan.counts[model.PACKAGE_CONFIGURATION][model.UPDATE]:
        changed |= state.record_package_configuration(plan.package_configuration)
    if changed:
        fleet_state.write_state(ctx, plan.bucket.name, state)


def _apply_roles(ctx: AwsContext, plan: ProvisionPlan, result: ProvisionResult) -> None:
    touched: list[str] = []
    for role, status in plan.roles:
        if not status.exists:
            roles.create_role(ctx, role, plan.spec.fleet)
            result.count(model.ROLE, model.CREATE)
            touched.append(role.name)
        elif status.differs:
            roles.repair_role(ctx, role, status, plan.spec.fleet)
            result.count(model.ROLE, model.UPDATE)
            touched.append(role.name)
    if touched:
        roles.wait_until_visible(ctx, touched)


def _apply_thing_types(ctx: AwsContext, plan: ProvisionPlan, result: ProvisionResult) -> None:
    spec = plan.spec
    for name, action in plan.thing_types.items():
        if action == model.CREATE:
            ctx.iot.create_thing_type(
                thingTypeName=name,
                thingTypeProperties={
                    "thingTypeDescription": f"iotfleet fleet {spec.fleet}: {name}",
                    "searchableAttributes": list(spec.searchable_attributes),
                },
                tags=tag_list(spec.fleet),
            )
        elif action == model.UPDATE:
            ctx.iot.deprecate_thing_type(thingTypeName=name, undoDeprecate=True)
        else:
            continue
        result.count(model.THING_TYPE, action)


def _apply_package_configuration(ctx: AwsContext, plan: ProvisionPlan, result: ProvisionResult) -> None:
    if not plan.counts[model.PACKAGE_CONFIGURATION][model.UPDATE]:
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
    result.count(model.PACKAGE_CONFIGURATION, model.UPDATE)


def _apply_groups(ctx: AwsContext, plan: ProvisionPlan, result: ProvisionResult) -> None:
    """Continent groups first (they are parents), then the country groups, each level in parallel."""
    for kind in (CONTINENT_GROUP, COUNTRY_GROUP):
        level = [g for g in plan.groups if g.kind == kind and g.action == model.CREATE]
        outcome = run_parallel(level, lambda g: _create_group(ctx, plan.spec, g), concurrency=ctx.concurrency)
        outcome.raise_for_failures("create the fleet's thing groups", model.THING_GROUP, lambda g: g.name)
        result.count(model.THING_GROUP, model.CREATE, len(level))


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
    step: str = model.THING
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
                _apply_thing(ctx, plan, task)

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
            result.fail(ResourceFailure.from_exception(model.PACKAGE, task.plan.name, failed.error))
        else:
            result.fail(ResourceFailure.from_exception(task.step, task.work.device.name, failed.error))
            for kind, n in _steps_left(task).items():
                result.skip(kind, n)


def _steps_left(task: _ThingProgress) -> dict[str, int]:
    """The steps of a failed thing's work that never ran, per kind (the failed step itself is not one)."""
    work = task.work
    planned = Counter({
        model.THING: int(work.create or work.update),
        model.MEMBERSHIP: int(work.add_to is not None or bool(work.remove_from)),
        model.SHADOW: int(work.classic is not None) + int(work.package is not None),
        model.CERTIFICATE: int(work.identity is not None and work.identity.pending),
    })  # fmt: skip
    planned.subtract(kind for kind, _ in task.done)
    planned[task.step] -= 1
    return {kind: n for kind, n in planned.items() if n > 0}


def _apply_package(
    ctx: AwsContext, plan: ProvisionPlan, package: PackagePlan, scratch: Path, done: list[tuple[str, str]]
) -> None:
    spec = plan.spec
    if not package.exists:
        create_package(
            ctx, spec.fleet, package.name, f"iotfleet fleet {spec.fleet}: firmware for {package.name}"
        )
        done.append((model.PACKAGE, model.CREATE))
    for version in package.new_versions:
        folder = scratch / package.name / version
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / FIRMWARE_FILE_NAME
        generate_firmware(path, package.name, version, spec.firmware_size)
        upload_version(
            ctx, fleet=spec.fleet, bucket=plan.bucket.name, package=package.name, version=version, path=path,
            description=f"iotfleet generated firmware {package.name} {version}", publish=True,
        )  # fmt: skip
        done.append((model.PACKAGE_VERSION, model.CREATE))
    for version in package.to_publish:
        publish_version(ctx, package.name, version)
        done.append((model.PACKAGE_VERSION, model.UPDATE))
    if package.set_default:
        set_default_version(ctx, package.name, package.set_default)
        if package.exists:
            done.append((model.PACKAGE, model.UPDATE))


def _create_thing(ctx: AwsContext, name: str, thing_type: str, attributes: dict[str, str]) -> None:
    """CreateThing; a thing that appeared meanwhile exactly as wanted (a run killed with its create in
    flight, a reply lost after AWS made the thing) counts as created. Any other conflict is raised."""
    try:
        ctx.iot.create_thing(thingName=name, thingTypeName=thing_type, attributePayload={"attributes": attributes})
    except ClientError as err:
        if not is_error(err, "ResourceAlreadyExistsException"):
            raise
        found = ctx.iot.describe_thing(thingName=name)
        if found.get("thingTypeName") != thing_type or (found.get("attributes") or {}) != attributes:
            raise


def _apply_thing(ctx: AwsContext, plan: ProvisionPlan, task: _ThingProgress) -> None:
    spec = plan.spec
    work = task.work
    device = work.device
    name = device.name
    if work.create:
        task.step = model.THING
        _create_thing(ctx, name, device.thing_type, device.attributes(spec.fleet))
        task.done.append((model.THING, model.CREATE))
    elif work.update:
        task.step = model.THING
        request: dict[str, Any] = {"thingName": name}
        if work.thing_type:
            request["thingTypeName"] = work.thing_type
        if work.attributes:
            request["attributePayload"] = {"attributes": work.attributes, "merge": True}
        ctx.iot.update_thing(**request)
        task.done.append((model.THING, model.UPDATE))
    if work.add_to or work.remove_from:
        task.step = model.MEMBERSHIP
        if work.add_to:
            ctx.iot.add_thing_to_thing_group(thingGroupName=work.add_to, thingName=name)
        for group in work.remove_from:
            ctx.iot.remove_thing_from_thing_group(thingGroupName=group, thingName=name)
        task.done.append((model.MEMBERSHIP, model.CREATE if work.add_to and not work.remove_from else model.UPDATE))
    for reported, exists, shadow in (
        (work.classic, work.classic_exists, None),
        (work.package, work.package_exists, PACKAGE_SHADOW),
    ):
        if reported is None:
            continue
        task.step = model.SHADOW
        request = {"thingName": name, "payload": json.dumps({"state": {"reported": reported}}).encode()}
        if shadow:
            request["shadowName"] = shadow
        ctx.iot_data.update_thing_shadow(**request)["payload"].read()  # read: the connection is reused
        task.done.append((model.SHADOW, model.UPDATE if exists else model.CREATE))
    if work.identity is not None and work.identity.pending and plan.identity is not None:
        task.step = model.CERTIFICATE
        task.done.append((model.CERTIFICATE, apply_device_identity(ctx, plan.identity, name, work.identity)))


def provision(
    ctx: AwsContext, spec: FleetSpec, progress: Progress | None = None, keys_dir: Path | str | None = None
) -> ProvisionResult:
    """Plan and apply in one call (the library's shortcut for ``iotfleet provision --yes``)."""
    return apply_provision(ctx, plan_provision(ctx, spec, progress, keys_dir), progress)

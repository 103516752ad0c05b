"""Applying a cleanup plan: the deletions, in dependency order, in parallel, resumably.

    result = apply_cleanup(ctx, plan, progress=...)  # the deletions
    result.failures                                  # one ResourceFailure per resource that failed

The plan (:mod:`iotfleet.fleet.cleanup.plan`) holds only resources AWS records as the fleet's. The steps run in
the order of :data:`~iotfleet.fleet.cleanup.kinds.STEPS`; within a step every resource is handled by its own
worker through :func:`run_parallel`, and the access layer paces each operation to its quota.

Resumable: every deletion treats "not found" as already deleted, and re-planning after an interruption finds
only what is left. Thoroughness per kind is in each worker's docstring.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import Interrupted, IotFleetError, ResourceFailure, is_error
from iotfleet.fleet.cleanup import identity, thing_types
from iotfleet.fleet.cleanup.account_settings import SettingChange, restore_setting
from iotfleet.fleet.cleanup.kinds import (
    ACCOUNT_SETTING,
    PACKAGE_CONFIGURATION,
    STATIC_GROUP,
    STEPS,
    THING_TYPE,
)
from iotfleet.fleet.cleanup.objects import NotDeleted, delete_versions
from iotfleet.fleet.cleanup.plan import CleanupPlan
from iotfleet.fleet.cleanup.rollout_records import delete_rollout_record
from iotfleet.fleet.cleanup.scan import Resource, bucket_versions
from iotfleet.fleet.ownership import FLEET_TAG
from iotfleet.fleet.runner import NoProgress, Progress, RunResult, run_parallel

DELETED = "deleted"
ALREADY_GONE = "already gone"
RESTORED = "restored"
HANDED_OVER = "handed over"
SKIPPED = "skipped"
FAILED = "failed"
DONE = (DELETED, ALREADY_GONE, RESTORED)

NOT_FOUND = "ResourceNotFoundException"
JOB_ACTIVE = ("IN_PROGRESS", "SCHEDULED")
# DeleteJob: AWS allows 10 jobs in DELETION_IN_PROGRESS at once and answers LimitExceededException beyond.
JOB_DELETE_PATIENCE = 600.0
JOB_DELETE_MAX_DELAY = 30.0
# DetachThingPrincipal takes a few seconds to propagate; DeleteThing is retried that long.
DETACH_PATIENCE = 30.0
BUCKET_ROUNDS = 5


@dataclass(frozen=True)
class Outcome:
    """What happened to one resource: its status, and the reason, error or what was removed with it."""

    kind: str
    name: str
    status: str
    detail: str = ""
    code: str | None = None
    removed: tuple[tuple[str, int], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "name": self.name, "status": self.status}
        if self.detail:
            data["detail"] = self.detail
        if self.code:
            data["code"] = self.code
        if self.removed:
            data["removed"] = dict(self.removed)
        return data


@dataclass
class CleanupResult:
    """Every resource's outcome, in the order handled; skipped ones (with their reasons) included."""

    plan: CleanupPlan
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failures(self) -> list[ResourceFailure]:
        return [
            ResourceFailure(o.kind, o.name, o.detail, o.code) for o in self.outcomes if o.status == FAILED
        ]

    @property
    def ok(self) -> bool:
        return not self.interrupted and not any(o.status == FAILED for o in self.outcomes)

    def summary(self) -> dict[str, dict[str, int]]:
        """Per kind, in dependency order: how many were deleted (or restored), skipped, failed."""
        order = [kind for step in STEPS for kind in step.kinds]
        table: dict[str, dict[str, int]] = {}
        for outcome in sorted(
            self.outcomes, key=lambda o: order.index(o.kind) if o.kind in order else len(order)
        ):
            row = table.setdefault(outcome.kind, {"deleted": 0, "skipped": 0, "failed": 0})
            column = (
                "deleted" if outcome.status in DONE else "failed" if outcome.status == FAILED else "skipped"
            )
            row[column] += 1
        return table

    def removed(self) -> dict[str, int]:
        """What went with the resources: shadows, principals detached, package versions, object versions, ..."""
        totals: Counter[str] = Counter()
        for outcome in self.outcomes:
            totals.update(dict(outcome.removed))
        return dict(totals)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "interrupted": self.interrupted,
            "summary": self.summary(),
            "removed": self.removed(),
            "outcomes": [outcome.as_dict() for outcome in self.outcomes],
        }


# A worker deletes one resource and says what went with it; it returns None when the resource was already gone.
Removed = dict[str, int]
Worker = Callable[[AwsContext, Resource], "Removed | None"]


def apply_cleanup(
    ctx: AwsContext,
    plan: CleanupPlan,
    *,
    wait_for_types: bool = True,
    progress: Progress | None = None,
) -> CleanupResult:
    """Carry out ``plan``. Failures are recorded per resource, never raised; Ctrl-C raises :class:`Interrupted`
    with the :class:`CleanupResult` so far as its ``partial``."""
    progress = progress or NoProgress()
    result = CleanupResult(plan)
    result.outcomes += [Outcome(s.kind, s.name, SKIPPED, s.reason) for s in plan.skipped]
    try:
        _apply(ctx, plan, result, wait_for_types, progress)
    except Interrupted as stop:
        result.interrupted = True
        partial = stop.partial
        if isinstance(partial, RunResult) and all(isinstance(o.item, Resource) for o in partial.outcomes):
            result.outcomes += _outcomes_of(partial)
        raise Interrupted(stop.message, partial=result) from None
    except KeyboardInterrupt:
        # Ctrl-C outside a parallel run (during the thing-type countdown, or between steps).
        result.interrupted = True
        raise Interrupted("interrupted; run the same cleanup again to finish it", partial=result) from None
    return result


def _apply(ctx: AwsContext, plan: CleanupPlan, result: CleanupResult, wait: bool, progress: Progress) -> None:
    types = plan.step("thing-types")
    started: dict[str, float] = {}
    if types is not None and types.resources:
        # First, so that AWS's 5-minute wait before deleting a deprecated type runs during the other steps.
        started, failures = thing_types.deprecate(ctx, types.resources, progress)
        result.outcomes += [Outcome(THING_TYPE, f.name, FAILED, f.error, f.code) for f in failures]
    for planned in plan.steps:
        key = planned.step.key
        if key == "bucket" and _settings_failed(result):
            reason = "holds the fleet's record of account settings, and putting some back failed (see above)"
            result.outcomes += [Outcome(r.kind, r.name, SKIPPED, reason) for r in planned.resources]
        elif key == "key-store" and any(o.status == FAILED and o.kind in identity.AWS_KINDS for o in result.outcomes):
            reason = "the fleet's certificates, policy or CA could not all be deleted (see above); the keys are kept"
            result.outcomes += [Outcome(r.kind, r.name, SKIPPED, reason) for r in planned.resources]
        elif key == "static-groups":
            _delete_static_groups(ctx, list(planned.resources), result, progress)
        elif key == "thing-types":
            _hand_over(ctx, plan.handovers, result, progress)
            _delete_thing_types(ctx, started, wait, result, progress)
        elif planned.resources:
            _run(ctx, key, list(planned.resources), WORKERS[key], result, progress)
        for change in planned.settings:
            result.outcomes.append(_restore(ctx, change))


def _settings_failed(result: CleanupResult) -> bool:
    return any(
        o.status == FAILED and o.kind in (ACCOUNT_SETTING, PACKAGE_CONFIGURATION) for o in result.outcomes
    )


def _run(
    ctx: AwsContext,
    label: str,
    resources: list[Resource],
    worker: Worker,
    result: CleanupResult,
    progress: Progress,
) -> list[Outcome]:
    run = run_parallel(
        resources,
        lambda resource: worker(ctx, resource),
        concurrency=ctx.concurrency,
        progress=progress,
        label=f"Deleting {label.replace('-', ' ')}",
    )
    outcomes = _outcomes_of(run)
    result.outcomes += outcomes
    return outcomes


def _outcomes_of(run: RunResult[Resource, Removed | None]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for item in run.outcomes:
        resource = item.item
        if item.ok:
            removed = item.value
            status = ALREADY_GONE if removed is None else DELETED
            outcomes.append(
                Outcome(resource.kind, resource.name, status, removed=tuple(sorted((removed or {}).items())))
            )
        else:
            assert item.error is not None
            failure = ResourceFailure.from_exception(resource.kind, resource.name, item.error)
            outcomes.append(Outcome(resource.kind, resource.name, FAILED, failure.error, failure.code))
    return outcomes


def _restore(ctx: AwsContext, change: SettingChange) -> Outcome:
    if not change.needed:
        return Outcome(change.kind, change.name, ALREADY_GONE, change.reason)
    try:
        restore_setting(ctx, change)
    except (ClientError, IotFleetError) as err:
        failure = ResourceFailure.from_exception(change.kind, change.name, err)
        return Outcome(change.kind, change.name, FAILED, failure.error, failure.code)
    return Outcome(change.kind, change.name, RESTORED, change.reason)


# --- workers ----------------------------------------------------------------------------------------------------


def _gone(err: ClientError, *codes: str) -> bool:
    return is_error(err, NOT_FOUND, *codes)


def delete_job(ctx: AwsContext, job: Resource) -> Removed | None:
    """Cancel an active job with force (in-progress executions too), then delete it with force.

    AWS keeps at most 10 jobs in DELETION_IN_PROGRESS and answers LimitExceededException beyond; the
    deletion then waits (on the context's clock) for room, up to :data:`JOB_DELETE_PATIENCE` seconds.
    """
    if job.info.get("status") in JOB_ACTIVE:
        try:
            ctx.iot.cancel_job(jobId=job.name, force=True, comment="iotfleet cleanup")
        except ClientError as err:
            if _gone(err):
                return None
            # Ended since the plan (COMPLETED, or already being deleted): the deletion below settles it.
            if not is_error(err, "InvalidRequestException"):
                raise
    deadline = ctx.clock.monotonic() + JOB_DELETE_PATIENCE
    delay = 1.0
    while True:
        try:
            ctx.iot.delete_job(jobId=job.name, force=True)
            return {}
        except ClientError as err:
            if _gone(err):
                return None
            if is_error(err, "LimitExceededException") and ctx.clock.monotonic() < deadline:
                ctx.clock.sleep(delay)
                delay = min(delay * 2, JOB_DELETE_MAX_DELAY)
                continue
            if is_error(err, "InvalidRequestException") and _job_status(ctx, job.name) in (
                None,
                "DELETION_IN_PROGRESS",
            ):
                return {}
            raise


def _job_status(ctx: AwsContext, job_id: str) -> str | None:
    try:
        return str(ctx.iot.describe_job(jobId=job_id)["job"].get("status"))
    except ClientError as err:
        if _gone(err):
            return None
        raise


def delete_job_template(ctx: AwsContext, template: Resource) -> Removed | None:
    try:
        ctx.iot.delete_job_template(jobTemplateId=template.name)
    except ClientError as err:
        if _gone(err):
            return None
        raise
    return {}


def delete_job_or_template(ctx: AwsContext, resource: Resource) -> Removed | None:
    if resource.kind == "job template":
        return delete_job_template(ctx, resource)
    return delete_job(ctx, resource)


def delete_dynamic_group(ctx: AwsContext, group: Resource) -> Removed | None:
    try:
        ctx.iot.delete_dynamic_thing_group(thingGroupName=group.name)
    except ClientError as err:
        if _gone(err):
            return None
        raise
    return {}


def _pages(
    call: Callable[..., dict[str, Any]],
    member: str,
    token_in: str = "nextToken",
    token_out: str = "nextToken",
    **request: Any,
) -> list[Any]:
    """Every item of a paged list call (iot-data has no boto3 paginator for named shadows)."""
    items: list[Any] = []
    while True:
        answer = call(**request)
        items += answer.get(member) or []
        token = answer.get(token_out)
        if not token:
            return items
        request[token_in] = token


def delete_thing(ctx: AwsContext, thing: Resource) -> Removed | None:
    """Detach its principals, delete the classic and every named shadow, then delete the thing.

    The fleet's certificates went in the step before (:mod:`.identity`), which then tells the plan the
    principals left (``info["principals"]``); others' certificates are only detached. Without that, the
    principals are listed here. Deleting a thing does not delete its shadows on AWS, hence the shadows first.
    """
    name = thing.name
    try:
        listed = thing.info.get("principals")
        principals = list(listed) if listed is not None else _pages(ctx.iot.list_thing_principals, "principals", thingName=name)
    except ClientError as err:
        if _gone(err):
            return None
        raise
    for principal in principals:
        try:
            ctx.iot.detach_thing_principal(thingName=name, principal=principal)
        except ClientError as err:
            if not _gone(err):
                raise
    named = _pages(ctx.iot_data.list_named_shadows_for_thing, "results", thingName=name, pageSize=100)
    shadows = 0
    for shadow in [None, *named]:
        request = {"thingName": name} if shadow is None else {"thingName": name, "shadowName": shadow}
        try:
            ctx.iot_data.delete_thing_shadow(**request)
            shadows += 1
        except ClientError as err:
            if not _gone(err):
                raise
    _delete_thing_record(ctx, name, patient=bool(principals) or listed is not None)
    return {"shadows": shadows, "principals detached": len(principals)}


def _delete_thing_record(ctx: AwsContext, name: str, *, patient: bool) -> None:
    deadline = ctx.clock.monotonic() + (DETACH_PATIENCE if patient else 0.0)
    delay = 1.0
    while True:
        try:
            ctx.iot.delete_thing(thingName=name)
            return
        except ClientError as err:
            if _gone(err):
                return
            # Detached principals can take seconds to let go of the thing.
            if is_error(err, "InvalidRequestException") and ctx.clock.monotonic() < deadline:
                ctx.clock.sleep(delay)
                delay = min(delay * 2, 8.0)
                continue
            raise


def delete_static_group(ctx: AwsContext, group: Resource) -> Removed | None:
    try:
        ctx.iot.delete_thing_group(thingGroupName=group.name)
    except ClientError as err:
        if _gone(err):
            return None
        raise
    return {}


def delete_package(ctx: AwsContext, package: Resource) -> Removed | None:
    """Unset the default version, delete every version (listed afresh), then the package."""
    name = package.name
    try:
        default = ctx.iot.get_package(packageName=name).get("defaultVersionName")
    except ClientError as err:
        if _gone(err):
            return None
        raise
    if default:
        ctx.iot.update_package(packageName=name, unsetDefaultVersion=True)
    versions = [
        str(summary["versionName"])
        for page in ctx.iot.get_paginator("list_package_versions").paginate(packageName=name)
        for summary in page.get("packageVersionSummaries", [])
    ]
    for version in versions:
        try:
            ctx.iot.delete_package_version(packageName=name, versionName=version)
        except ClientError as err:
            if not _gone(err):
                raise
    try:
        ctx.iot.delete_package(packageName=name)
    except ClientError as err:
        if not _gone(err):
            raise
    return {"package versions": len(versions)}


def delete_bucket(ctx: AwsContext, bucket: Resource) -> Removed | None:
    """Delete every object version and delete marker (batches of 1000, in parallel), then the bucket."""
    name = bucket.name
    removed = 0
    for _ in range(BUCKET_ROUNDS):
        try:
            entries = bucket_versions(ctx, name)
        except ClientError as err:
            if _gone(err, "NoSuchBucket"):
                return None
            raise
        if not entries:
            break
        delete_versions(ctx, name, entries)
        removed += len(entries)
    else:
        raise NotDeleted(
            f"bucket {name} still holds object versions after {BUCKET_ROUNDS} rounds of deletion"
        )
    try:
        ctx.s3.delete_bucket(Bucket=name)
    except ClientError as err:
        if not _gone(err, "NoSuchBucket"):
            raise
    return {"object versions and delete markers": removed}


def delete_role(ctx: AwsContext, role: Resource) -> Removed | None:
    """Delete the inline policies, detach the managed ones, leave instance profiles, then delete the role."""
    name = role.name
    try:
        inline = [
            policy
            for page in ctx.iam.get_paginator("list_role_policies").paginate(RoleName=name)
            for policy in page.get("PolicyNames", [])
        ]
    except ClientError as err:
        if is_error(err, "NoSuchEntity"):
            return None
        raise
    for policy in inline:
        _ignore_missing(partial(ctx.iam.delete_role_policy, RoleName=name, PolicyName=policy))
    attached = [
        policy["PolicyArn"]
        for page in ctx.iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
        for policy in page.get("AttachedPolicies", [])
    ]
    for arn in attached:
        _ignore_missing(partial(ctx.iam.detach_role_policy, RoleName=name, PolicyArn=arn))
    profiles = [
        profile["InstanceProfileName"]
        for page in ctx.iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=name)
        for profile in page.get("InstanceProfiles", [])
    ]
    for profile in profiles:
        _ignore_missing(
            partial(ctx.iam.remove_role_from_instance_profile, InstanceProfileName=profile, RoleName=name)
        )
    _ignore_missing(partial(ctx.iam.delete_role, RoleName=name))
    return {"inline policies": len(inline), "managed policies detached": len(attached)}


def _ignore_missing(call: Callable[[], Any]) -> None:
    try:
        call()
    except ClientError as err:
        if not is_error(err, "NoSuchEntity"):
            raise


WORKERS: dict[str, Worker] = {
    "jobs": delete_job_or_template,
    "rollouts": delete_rollout_record,
    "dynamic-groups": delete_dynamic_group,
    "things": delete_thing,
    "packages": delete_package,
    "bucket": delete_bucket,
    "roles": delete_role,
    **identity.WORKERS,
}


# --- steps with an order inside ---------------------------------------------------------------------------------


def _delete_static_groups(
    ctx: AwsContext, groups: list[Resource], result: CleanupResult, progress: Progress
) -> None:
    """Deepest groups first, one level at a time; a group whose child could not be deleted is skipped."""
    failed: set[str] = set()
    for depth in sorted({int(g.info.get("depth", 0)) for g in groups}, reverse=True):
        level: list[Resource] = []
        for group in (g for g in groups if int(g.info.get("depth", 0)) == depth):
            stuck = [g.name for g in groups if g.info.get("parent") == group.name and g.name in failed]
            if stuck:
                failed.add(group.name)
                result.outcomes.append(
                    Outcome(
                        STATIC_GROUP, group.name, SKIPPED, f"its child group {stuck[0]} could not be deleted"
                    )
                )
            else:
                level.append(group)
        if level:
            for outcome in _run(ctx, "static groups", level, delete_static_group, result, progress):
                if outcome.status == FAILED:
                    failed.add(outcome.name)


def _delete_thing_types(
    ctx: AwsContext, started: dict[str, float], wait: bool, result: CleanupResult, progress: Progress
) -> None:
    if not started:
        return
    deletion = thing_types.delete_types(ctx, started, wait=wait, progress=progress)
    for name, verdict in sorted(deletion.deleted.items()):
        result.outcomes.append(
            Outcome(THING_TYPE, name, ALREADY_GONE if verdict == thing_types.GONE else DELETED)
        )
    for name, reason in sorted(deletion.waiting.items()):
        result.outcomes.append(Outcome(THING_TYPE, name, SKIPPED, reason))
    result.outcomes += [Outcome(THING_TYPE, f.name, FAILED, f.error, f.code) for f in deletion.failed]


def _hand_over(ctx: AwsContext, resources: list[Resource], result: CleanupResult, progress: Progress) -> None:
    """Pass the ownership tag of resources other iotfleet fleets still use to one of those fleets."""

    def retag(resource: Resource) -> None:
        heir = str(resource.info["hand_over_to"])
        ctx.iot.tag_resource(resourceArn=resource.arn, tags=[{"Key": FLEET_TAG, "Value": heir}])

    run = run_parallel(resources, retag, concurrency=ctx.concurrency, progress=progress, label="Handing over")
    for item in run.outcomes:
        resource = item.item
        if item.ok:
            detail = (
                f"used by {resource.info['users']} thing(s) of other iotfleet fleets: now owned by fleet "
                f"{resource.info['hand_over_to']!r}, whose cleanup deletes it"
            )
            result.outcomes.append(Outcome(resource.kind, resource.name, HANDED_OVER, detail))
        else:
            assert item.error is not None
            failure = ResourceFailure.from_exception(resource.kind, resource.name, item.error)
            result.outcomes.append(Outcome(resource.kind, resource.name, FAILED, failure.error, failure.code))

"""Creating OTA and custom jobs, with every AWS limit checked before the first call.

Three steps, so that bad input changes nothing and a dry run shows exactly what would be sent:

1. :func:`check_job_spec` (no call at all): names, document, placeholders, package references, every
   numeric range AWS enforces, the number of targets, tags.
2. :func:`prepare_job` (reads only): the package versions must be PUBLISHED or DEPRECATED, groups and things
   are resolved to ARNs (an unknown one is a usage error), a scheduled start must be at least 30 minutes
   ahead of the target's clock, and the fleet's jobs role is found for presigned URLs. The result holds the
   exact ``CreateJob`` request.
3. :func:`submit_job` makes the one ``CreateJob`` call.

How the job runs (rollout, abort, retries, schedule) is :class:`~iotfleet.fleet.jobs.settings.JobSettings`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, is_error
from iotfleet.fleet.jobs import documents as docs
from iotfleet.fleet.jobs.checks import check_deployable, check_tags, fleet_jobs_role_arn
from iotfleet.fleet.jobs.documents import CheckedDocument, PackageVersionRef
from iotfleet.fleet.jobs.settings import SNAPSHOT, JobSettings
from iotfleet.fleet.jobs.templates import describe_template
from iotfleet.fleet.naming import (
    JOB_ID,
    JOB_TEMPLATE_ID,
    check_description,
    check_group_name,
    check_job_id,
    check_package_name,
    check_thing_name,
    check_version_name,
)
from iotfleet.fleet.ownership import tag_list
from iotfleet.fleet.runner import run_parallel

# AWS limits (CreateJob).
MAX_TARGETS = 100
MAX_DESTINATION_VERSIONS = 25


@dataclass(frozen=True)
class JobSpec:
    """A job as the user asks for it, by names. Exactly one of: ``package``+``version`` (OTA),
    ``document`` (custom JSON text) or ``template`` (a job template's document and settings)."""

    fleet: str
    groups: tuple[str, ...] = ()
    things: tuple[str, ...] = ()
    package: str | None = None
    version: str | None = None
    document: str | None = None
    document_name: str | None = None  # where a custom document came from (a file name), for the job id
    template: str | None = None
    settings: JobSettings = field(default_factory=JobSettings)
    job_id: str | None = None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # Extra package versions a custom document deploys; those its placeholders name are added.
    destinations: tuple[PackageVersionRef, ...] = ()
    # The role AWS uses to presign artifact URLs; by default the fleet's jobs role.
    presign_role_arn: str | None = None
    kind: str | None = None  # "ota", "custom", "template" or "rollback" (derived when None)

    @property
    def job_kind(self) -> str:
        if self.kind:
            return self.kind
        if self.template:
            return "template"
        if self.document is not None:
            return "custom"
        return "ota"


@dataclass(frozen=True)
class CheckedJob:
    """A :class:`JobSpec` that passed every local check."""

    spec: JobSpec
    job_id: str
    document: CheckedDocument | None
    destinations: tuple[PackageVersionRef, ...]
    tags: list[dict[str, str]]


@dataclass
class PreparedJob:
    """The exact CreateJob request, after the reads; ``notes`` say what was decided on the way."""

    request: dict[str, Any]
    targets: dict[str, str]  # name -> ARN
    notes: list[str] = field(default_factory=list)

    @property
    def job_id(self) -> str:
        return str(self.request["jobId"])


def slug(text: str, limit: int) -> str:
    """``text`` as id characters (letters, digits, ``_``, ``-``), at most ``limit`` of them."""
    cleaned = re.sub(r"[^a-zA-Z0-9_-]+", "_", text).strip("_-") or "x"
    return cleaned[:limit].rstrip("_-") or "x"


def default_job_id(kind: str, *parts: str, now: dt.datetime | None = None, suffix: str | None = None) -> str:
    """A readable, unique job id: ``<kind>-<parts...>-<yyyymmddThhmmss>-<4 hex>``, at most 64 characters.

    Dots in versions become underscores (``ota-fw-main-1_2_0-20300131T220000-a3f9``).
    """
    moment = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    stamp = moment.strftime("%Y%m%dT%H%M%S")
    tail = f"{stamp}-{suffix or secrets.token_hex(2)}"
    budget = JOB_ID.max_len - len(kind) - len(tail) - 2 - len(parts)
    pieces = [slug(part, max(4, budget // max(1, len(parts)))) for part in parts if part]
    middle = "-".join(pieces)
    job_id = f"{kind}-{middle}-{tail}" if middle else f"{kind}-{tail}"
    if len(job_id) > JOB_ID.max_len:
        job_id = f"{kind}-{middle[: JOB_ID.max_len - len(kind) - len(tail) - 2].rstrip('_-')}-{tail}"
    return check_job_id(job_id)


def check_targets(groups: Sequence[str], things: Sequence[str]) -> None:
    for group in groups:
        check_group_name(group, "--group")
    for thing in things:
        check_thing_name(thing, "--thing")
    count = len(set(groups)) + len(set(things))
    if count == 0:
        raise UsageError("a job needs at least one target: --group NAME or --thing NAME", "--group")
    if count > MAX_TARGETS:
        raise UsageError(
            f"a job takes at most {MAX_TARGETS} targets, got {count}: target thing groups instead of things",
            "--thing",
        )


def check_job_spec(
    spec: JobSpec, *, now: dt.datetime | None = None, require_targets: bool = True
) -> CheckedJob:
    """Every check that needs no call. Raises :class:`UsageError` (exit 2) naming the flag at fault.

    ``require_targets=False`` checks everything else, for callers that find the targets afterwards.
    """
    has_ota = spec.package is not None or spec.version is not None
    has_document = spec.document is not None
    has_template = spec.template is not None
    if has_template and (has_ota or has_document):
        raise UsageError(
            "--template brings its own document: drop --package/--version and --document", "--template"
        )
    if not (has_ota or has_document or has_template):
        raise UsageError(
            "give one of --package P --version V, --document FILE or --template NAME", "--package"
        )
    if has_ota and (spec.package is None or spec.version is None):
        raise UsageError("--package and --version go together", "--version" if spec.package else "--package")
    if spec.job_id is not None:
        check_job_id(spec.job_id, "--job-id")
    if spec.template is not None:
        JOB_TEMPLATE_ID.check(spec.template, "--template")
    destinations: list[PackageVersionRef] = list(spec.destinations)
    if spec.package is not None and spec.version is not None:
        check_package_name(spec.package, "--package")
        check_version_name(spec.version, "--version")
        destinations.insert(0, PackageVersionRef(spec.package, spec.version))
    if require_targets or spec.groups or spec.things:
        check_targets(spec.groups, spec.things)
    check_description(spec.description)
    user_tags = check_tags(spec.tags)

    document: CheckedDocument | None = None
    if spec.document is not None:
        document = docs.check_document(spec.document, "--document")
        if spec.package is None:
            # Without --package, the document's named versions are what the job deploys.
            destinations.extend(document.package_refs)
    elif spec.package is not None and spec.version is not None:
        document = docs.check_document(docs.render(docs.ota_document(spec.package, spec.version)))
    destinations = list(dict.fromkeys(destinations))
    if document is not None:
        docs.check_package_references(document, destinations, "--document")
    if len(destinations) > MAX_DESTINATION_VERSIONS:
        raise UsageError(
            f"a job deploys at most {MAX_DESTINATION_VERSIONS} package versions, got {len(destinations)}",
            "--document",
        )

    job_id = spec.job_id or _default_id_for(spec, now)
    tags = tag_list(spec.fleet, {**user_tags, "iotfleet:job-kind": spec.job_kind})
    return CheckedJob(spec, job_id, document, tuple(destinations), tags)


def _default_id_for(spec: JobSpec, now: dt.datetime | None) -> str:
    kind = spec.job_kind
    if spec.package and spec.version:
        return default_job_id(kind, spec.package, spec.version, now=now)
    if spec.template:
        return default_job_id(kind, spec.template, now=now)
    stem = os.path.splitext(os.path.basename(spec.document_name))[0] if spec.document_name else ""
    return default_job_id(kind, stem, now=now)


@dataclass(frozen=True)
class ResolvedTarget:
    """A target found by name: its ARN, and for a group whether it is dynamic."""

    kind: str  # "group" or "thing"
    name: str
    arn: str
    dynamic: bool = False


def resolve_targets(ctx: AwsContext, groups: Sequence[str], things: Sequence[str]) -> list[ResolvedTarget]:
    """Group and thing names to ARNs (``describe_*`` reads, in parallel); an unknown name is a usage error."""
    wanted = [("group", g) for g in dict.fromkeys(groups)] + [("thing", t) for t in dict.fromkeys(things)]

    def describe(item: tuple[str, str]) -> ResolvedTarget:
        kind, name = item
        if kind == "group":
            group = ctx.iot.describe_thing_group(thingGroupName=name)
            return ResolvedTarget(kind, name, str(group["thingGroupArn"]), bool(group.get("queryString")))
        return ResolvedTarget(kind, name, str(ctx.iot.describe_thing(thingName=name)["thingArn"]))

    result = run_parallel(wanted, describe, concurrency=ctx.concurrency)
    missing = [
        f"{kind} {name}"
        for (kind, name), error in ((o.item, o.error) for o in result.failed)
        if error is not None and is_error(error, "ResourceNotFoundException")
    ]
    if missing:
        flag = "--group" if missing[0].startswith("group") else "--thing"
        raise UsageError(f"unknown target(s): {', '.join(missing)}", flag)
    result.raise_for_failures("resolve job targets", "target", lambda item: f"{item[0]} {item[1]}")
    return [o.value for o in result.succeeded if o.value is not None]


def _check_job_id_free(ctx: AwsContext, job_id: str) -> None:
    """A job id given on purpose must not name a job that exists (one ``DescribeJob``), before any change."""
    try:
        ctx.iot.describe_job(jobId=job_id)
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            return
        raise
    raise UsageError(f"a job with id {job_id!r} already exists: pick another --job-id", "--job-id")


def prepare_job(
    ctx: AwsContext,
    spec: JobSpec | CheckedJob,
    *,
    targets: Mapping[str, str] | None = None,
) -> PreparedJob:
    """Check locally, then read what the request needs; returns the exact CreateJob request.

    ``targets`` (name -> ARN) skips resolving names, for callers that already hold ARNs (rollback).
    """
    checked = spec if isinstance(spec, CheckedJob) else check_job_spec(spec)
    spec = checked.spec
    settings = spec.settings
    notes: list[str] = []
    if settings.schedule is not None and (settings.schedule.start or settings.schedule.end):
        # Against the target's clock (one read), before any other read and before the create call.
        settings.schedule.check_against(ctx.service_time())
    if spec.job_id is not None:
        _check_job_id_free(ctx, checked.job_id)
    template: dict[str, Any] | None = None
    if spec.template is not None:
        template = describe_template(ctx, spec.template)
    destination_arns = check_deployable(ctx, checked.destinations)
    if template is not None:
        template_refs = [
            PackageVersionRef.from_arn(a) for a in template.get("destinationPackageVersions") or []
        ]
        check_deployable(ctx, template_refs)
    if targets is not None:
        resolved = dict(targets)
    else:
        found = resolve_targets(ctx, spec.groups, spec.things)
        resolved = {f"{t.kind}:{t.name}": t.arn for t in found}
        dynamic = [t.name for t in found if t.dynamic]
        if dynamic and settings.target_selection == SNAPSHOT:
            notes.append(
                f"dynamic group(s) {', '.join(dynamic)}: a SNAPSHOT job reaches the members at its start only; "
                "--continuous also reaches devices that join later"
            )

    request: dict[str, Any] = {"jobId": checked.job_id, "targets": list(dict.fromkeys(resolved.values()))}
    if template is not None:
        request["jobTemplateArn"] = template["jobTemplateArn"]
    if checked.document is not None:
        request["document"] = checked.document.text
    if spec.description:
        request["description"] = spec.description
    needs_presigning = checked.document.needs_presigning if checked.document is not None else False
    if template is not None and not template.get("presignedUrlConfig"):
        template_needs = docs.check_document(template.get("document") or "{}").needs_presigning
        if template_needs:
            notes.append(f"job template {spec.template} has no presignedUrlConfig: the job brings the fleet's")
        needs_presigning = needs_presigning or template_needs
    if needs_presigning:
        role = spec.presign_role_arn or fleet_jobs_role_arn(ctx, spec.fleet)
        request["presignedUrlConfig"] = {"roleArn": role, "expiresInSec": settings.presigned_expiry_seconds}
    request.update(settings.to_api())
    if destination_arns:
        request["destinationPackageVersions"] = list(destination_arns.values())
    request["tags"] = checked.tags
    return PreparedJob(request, dict(resolved), notes)


def submit_job(ctx: AwsContext, prepared: PreparedJob) -> dict[str, Any]:
    """The one mutating call: ``CreateJob`` with the prepared request. Returns jobId, jobArn, description."""
    try:
        answer = ctx.iot.create_job(**prepared.request)
    except ClientError as err:
        if not is_error(err, "ResourceAlreadyExistsException"):
            raise
        answer = _our_earlier_attempt(ctx, prepared)
        if answer is None:
            raise UsageError(
                f"a job with id {prepared.job_id!r} already exists: pick another --job-id", "--job-id"
            ) from None
    return {key: answer.get(key) for key in ("jobId", "jobArn", "description") if answer.get(key) is not None}


def _our_earlier_attempt(ctx: AwsContext, prepared: PreparedJob) -> dict[str, Any] | None:
    """The job with our id, when it is this request's own: an earlier attempt whose reply was lost.

    The id was free when the job was prepared (a given id is checked, a generated one ends in a random
    part), so a job with it and with the same targets and document is ours; anything else is a conflict.
    """
    request = prepared.request
    job = ctx.iot.describe_job(jobId=prepared.job_id)["job"]
    if sorted(job.get("targets") or []) != sorted(request["targets"]):
        return None
    if "document" in request and ctx.iot.get_job_document(jobId=prepared.job_id).get("document") != request["document"]:
        return None
    return dict(job)


def create_job(ctx: AwsContext, spec: JobSpec) -> tuple[PreparedJob, dict[str, Any]]:
    """Check, prepare and submit; returns the request sent and AWS's answer."""
    prepared = prepare_job(ctx, spec)
    return prepared, submit_job(ctx, prepared)

"""Job templates: a document (from a package version, a document file, or an existing job) and the
settings that do not belong to one run. Checked locally, then prepared with reads, then one
``CreateJobTemplate`` call, like jobs; also listing, describing and deleting them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, is_error
from iotfleet.fleet.jobs import documents as docs
from iotfleet.fleet.jobs.checks import check_deployable, check_tags, fleet_jobs_role_arn
from iotfleet.fleet.jobs.documents import CheckedDocument, PackageVersionRef
from iotfleet.fleet.jobs.settings import SNAPSHOT, JobSettings
from iotfleet.fleet.naming import (
    JOB_TEMPLATE_ID,
    check_description,
    check_job_id,
    check_package_name,
    check_version_name,
)
from iotfleet.fleet.ownership import tag_list


@dataclass(frozen=True)
class TemplateSpec:
    """A custom job template: from a package version, a document, or an existing job (``from_job``)."""

    fleet: str
    template_id: str
    description: str | None = None
    package: str | None = None
    version: str | None = None
    document: str | None = None
    from_job: str | None = None
    settings: JobSettings = field(default_factory=JobSettings)
    tags: Mapping[str, str] = field(default_factory=dict)
    presign_role_arn: str | None = None


def check_template_spec(spec: TemplateSpec) -> tuple[CheckedDocument | None, list[PackageVersionRef]]:
    """Local checks of a template; returns its checked document and package versions."""
    JOB_TEMPLATE_ID.check(spec.template_id, "NAME")
    sources = [
        flag
        for flag, given in (
            ("--package/--version", spec.package is not None or spec.version is not None),
            ("--document", spec.document is not None),
            ("--from-job", spec.from_job is not None),
        )
        if given
    ]
    if len(sources) != 1:
        raise UsageError(
            "give exactly one of --package P --version V, --document FILE or --from-job JOB"
            + (f" (got {', '.join(sources)})" if sources else ""),
            "--package",
        )
    if spec.from_job is not None:
        check_job_id(spec.from_job, "--from-job")
    check_description(spec.description)
    check_tags(spec.tags)
    schedule = spec.settings.schedule
    if schedule is not None and (schedule.start or schedule.end):
        raise UsageError(
            "a job template keeps maintenance windows only, not a start or end time", "--schedule-start"
        )
    if spec.settings.target_selection != SNAPSHOT:
        raise UsageError("target selection belongs to the job, not to the template", "--continuous")
    refs: list[PackageVersionRef] = []
    document: CheckedDocument | None = None
    if spec.package is not None or spec.version is not None:
        if spec.package is None or spec.version is None:
            raise UsageError("--package and --version go together", "--package")
        check_package_name(spec.package, "--package")
        check_version_name(spec.version, "--version")
        refs.append(PackageVersionRef(spec.package, spec.version))
        document = docs.check_document(docs.render(docs.ota_document(spec.package, spec.version)))
    elif spec.document is not None:
        document = docs.check_document(spec.document)
        refs.extend(document.package_refs)
        if document.uses_default_package and len(refs) != 1:
            docs.check_package_references(document, refs)
    return document, refs


def prepare_template(ctx: AwsContext, spec: TemplateSpec) -> dict[str, Any]:
    """Check locally, then read (versions, source job, role); returns the exact CreateJobTemplate request."""
    document, refs = check_template_spec(spec)
    request: dict[str, Any] = {
        "jobTemplateId": spec.template_id,
        "description": spec.description or _template_description(spec),
    }
    if spec.from_job is not None:
        try:
            job = ctx.iot.describe_job(jobId=spec.from_job)["job"]
        except ClientError as err:
            if is_error(err, "ResourceNotFoundException"):
                raise UsageError(f"job {spec.from_job!r} does not exist", "--from-job") from None
            raise
        request["jobArn"] = job["jobArn"]
    arns = check_deployable(ctx, refs)
    if document is not None:
        request["document"] = document.text
        if document.needs_presigning:
            role = spec.presign_role_arn or fleet_jobs_role_arn(ctx, spec.fleet)
            request["presignedUrlConfig"] = {
                "roleArn": role,
                "expiresInSec": spec.settings.presigned_expiry_seconds,
            }
    settings = spec.settings.to_api(with_target_selection=False)
    scheduling = settings.pop("schedulingConfig", None)
    request.update(settings)
    if scheduling and scheduling.get("maintenanceWindows"):
        request["maintenanceWindows"] = scheduling["maintenanceWindows"]
    if arns:
        request["destinationPackageVersions"] = list(arns.values())
    request["tags"] = tag_list(spec.fleet, dict(spec.tags))
    return request


def _template_description(spec: TemplateSpec) -> str:
    if spec.package:
        return f"OTA update of {spec.package} to {spec.version}"
    if spec.from_job:
        return f"Copied from job {spec.from_job}"
    return "Custom job template"


def submit_template(ctx: AwsContext, request: dict[str, Any]) -> dict[str, Any]:
    """The one mutating call: ``CreateJobTemplate``. Returns jobTemplateId and jobTemplateArn."""
    try:
        answer = ctx.iot.create_job_template(**request)
    except ClientError as err:
        if is_error(err, "ConflictException", "ResourceAlreadyExistsException"):
            raise UsageError(f"job template {request['jobTemplateId']!r} already exists", "NAME") from None
        raise
    return {k: answer.get(k) for k in ("jobTemplateId", "jobTemplateArn")}


def create_template(ctx: AwsContext, spec: TemplateSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check, prepare and create a job template; returns the request and AWS's answer."""
    request = prepare_template(ctx, spec)
    return request, submit_template(ctx, request)


def list_templates(ctx: AwsContext) -> list[dict[str, Any]]:
    """Every job template (all pages)."""
    found: list[dict[str, Any]] = []
    for page in ctx.iot.get_paginator("list_job_templates").paginate():
        found.extend(page.get("jobTemplates", []))
    return found


def describe_template(ctx: AwsContext, template_id: str, param: str = "--template") -> dict[str, Any]:
    """``DescribeJobTemplate``; a missing template is a usage error naming ``param``."""
    JOB_TEMPLATE_ID.check(template_id, param)
    try:
        answer: dict[str, Any] = ctx.iot.describe_job_template(jobTemplateId=template_id)
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            raise UsageError(f"job template {template_id!r} does not exist", param) from None
        raise
    return answer


def delete_template(ctx: AwsContext, template_id: str) -> None:
    describe_template(ctx, template_id, "NAME")
    ctx.iot.delete_job_template(jobTemplateId=template_id)

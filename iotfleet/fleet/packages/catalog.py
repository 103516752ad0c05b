"""The Software Package Catalog: packages and their versions, the version lifecycle, and deletion.

* Lifecycle: DRAFT -> PUBLISHED -> DEPRECATED (and back to PUBLISHED), and the package's default version. The
  rules are checked locally from one read, so a refused action makes no mutating call.
* Deleting a version, or a package with its versions, is refused while an IN_PROGRESS or SCHEDULED job
  deploys it (its ``destinationPackageVersions`` or its document's package placeholders), unless forced.

Versions are made from firmware files by :mod:`iotfleet.fleet.packages.upload`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, is_error
from iotfleet.fleet import naming
from iotfleet.fleet.jobs.documents import PackageVersionRef, referenced_versions
from iotfleet.fleet.naming import MAX_PACKAGE_DESCRIPTION, check_package_name, check_version_name
from iotfleet.fleet.ownership import tag_dict, tag_list
from iotfleet.fleet.runner import run_parallel

DRAFT = "DRAFT"
PUBLISHED = "PUBLISHED"
DEPRECATED = "DEPRECATED"
DEPLOYABLE = (PUBLISHED, DEPRECATED)
ACTIVE_JOB_STATUSES = ("IN_PROGRESS", "SCHEDULED")


def check_description(text: str | None, param: str = "--description") -> str | None:
    """A package or package-version description: 1 to 1,024 printable characters."""
    return naming.check_description(text, param, MAX_PACKAGE_DESCRIPTION)


def _not_found(err: ClientError) -> bool:
    return is_error(err, "ResourceNotFoundException")


def get_package(ctx: AwsContext, package: str) -> dict[str, Any]:
    """``GetPackage``; a missing package is a usage error with the command that creates it."""
    try:
        answer: dict[str, Any] = ctx.iot.get_package(packageName=package)
    except ClientError as err:
        if _not_found(err):
            raise UsageError(
                f"package {package!r} does not exist (iotfleet packages create {package})", "PACKAGE"
            ) from None
        raise
    return answer


def find_version(ctx: AwsContext, package: str, version: str) -> dict[str, Any] | None:
    """``GetPackageVersion``; None when the package or the version does not exist."""
    try:
        answer: dict[str, Any] = ctx.iot.get_package_version(packageName=package, versionName=version)
    except ClientError as err:
        if _not_found(err):
            return None
        raise
    return answer


def get_version(ctx: AwsContext, package: str, version: str, param: str = "VERSION") -> dict[str, Any]:
    """``GetPackageVersion``; a missing version is a usage error naming ``param``."""
    answer = find_version(ctx, package, version)
    if answer is None:
        raise UsageError(f"package version {package}/{version} does not exist", param)
    return answer


# --- packages -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageResult:
    name: str
    arn: str
    created: bool


def create_package(
    ctx: AwsContext, fleet: str, package: str, description: str | None = None
) -> PackageResult:
    """Create a package tagged with the fleet; an existing one is reported, not an error (re-runs are safe)."""
    check_package_name(package, "PACKAGE")
    check_description(description)
    request: dict[str, Any] = {"packageName": package, "tags": tag_dict(tag_list(fleet))}
    if description:
        request["description"] = description
    try:
        answer = ctx.iot.create_package(**request)
    except ClientError as err:
        if not is_error(err, "ConflictException", "ResourceAlreadyExistsException"):
            raise
        existing = get_package(ctx, package)
        return PackageResult(package, str(existing["packageArn"]), created=False)
    return PackageResult(package, str(answer["packageArn"]), created=True)


def list_packages(ctx: AwsContext) -> list[dict[str, Any]]:
    """Every package summary (all pages)."""
    found: list[dict[str, Any]] = []
    for page in ctx.iot.get_paginator("list_packages").paginate():
        found.extend(page.get("packageSummaries", []))
    return found


def list_versions(ctx: AwsContext, package: str, status: str | None = None) -> list[dict[str, Any]]:
    """Every version summary of ``package`` (all pages), oldest first; a missing package is a usage error."""
    get_package(ctx, package)
    kwargs: dict[str, Any] = {"packageName": package}
    if status:
        kwargs["status"] = status
    found: list[dict[str, Any]] = []
    for page in ctx.iot.get_paginator("list_package_versions").paginate(**kwargs):
        found.extend(page.get("packageVersionSummaries", []))
    return sorted(found, key=_creation_order)


def _creation_order(summary: Mapping[str, Any]) -> tuple[float, str]:
    created = summary.get("creationDate")
    return (
        created.timestamp() if isinstance(created, dt.datetime) else 0.0,
        str(summary.get("versionName", "")),
    )


def describe_package(ctx: AwsContext, package: str) -> dict[str, Any]:
    """The package and all its versions."""
    check_package_name(package, "PACKAGE")
    answer = get_package(ctx, package)
    versions = list_versions(ctx, package)
    info = {k: answer.get(k) for k in ("packageName", "packageArn", "description", "defaultVersionName",
                                          "creationDate", "lastModifiedDate")}  # fmt: skip
    info["versions"] = versions
    return info


def describe_version(ctx: AwsContext, package: str, version: str) -> dict[str, Any]:
    check_package_name(package, "PACKAGE")
    check_version_name(version, "VERSION")
    answer = get_version(ctx, package, version)
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


# --- lifecycle --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LifecycleResult:
    package: str
    version: str
    status: str
    changed: bool
    message: str


def update_status(ctx: AwsContext, package: str, version: str, action: str) -> str:
    """``UpdatePackageVersion`` with ``action`` (PUBLISH or DEPRECATE); returns the new status."""
    ctx.iot.update_package_version(packageName=package, versionName=version, action=action)
    return PUBLISHED if action == "PUBLISH" else DEPRECATED


def publish_version(ctx: AwsContext, package: str, version: str) -> LifecycleResult:
    """DRAFT or DEPRECATED -> PUBLISHED; already PUBLISHED changes nothing."""
    check_package_name(package, "PACKAGE")
    check_version_name(version, "VERSION")
    status = get_version(ctx, package, version)["status"]
    if status == PUBLISHED:
        return LifecycleResult(package, version, status, False, f"{package}/{version} is already PUBLISHED")
    update_status(ctx, package, version, "PUBLISH")
    return LifecycleResult(package, version, PUBLISHED, True, f"{package}/{version}: {status} -> PUBLISHED")


def deprecate_version(ctx: AwsContext, package: str, version: str) -> LifecycleResult:
    """PUBLISHED -> DEPRECATED; a DRAFT version cannot be deprecated (publish or delete it)."""
    check_package_name(package, "PACKAGE")
    check_version_name(version, "VERSION")
    status = get_version(ctx, package, version)["status"]
    if status == DRAFT:
        raise UsageError(
            f"{package}/{version} is DRAFT: only a PUBLISHED version can be deprecated (publish or delete it)",
            "VERSION",
        )
    if status == DEPRECATED:
        return LifecycleResult(package, version, status, False, f"{package}/{version} is already DEPRECATED")
    update_status(ctx, package, version, "DEPRECATE")
    return LifecycleResult(
        package, version, DEPRECATED, True, f"{package}/{version}: PUBLISHED -> DEPRECATED"
    )


def set_default_version(ctx: AwsContext, package: str, version: str | None) -> dict[str, Any]:
    """Make ``version`` the package's default (it must be PUBLISHED or DEPRECATED), or unset it (None)."""
    check_package_name(package, "PACKAGE")
    current = get_package(ctx, package).get("defaultVersionName")
    if version is None:
        if current is None:
            return {"package": package, "defaultVersion": None, "changed": False}
        ctx.iot.update_package(packageName=package, unsetDefaultVersion=True)
        return {"package": package, "defaultVersion": None, "previous": current, "changed": True}
    check_version_name(version, "VERSION")
    status = get_version(ctx, package, version)["status"]
    if status not in DEPLOYABLE:
        raise UsageError(
            f"{package}/{version} is {status}: only a PUBLISHED or DEPRECATED version can be the default",
            "VERSION",
        )
    if current == version:
        return {"package": package, "defaultVersion": version, "changed": False}
    ctx.iot.update_package(packageName=package, defaultVersionName=version)
    return {"package": package, "defaultVersion": version, "previous": current, "changed": True}


# --- deletion ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveJob:
    """An IN_PROGRESS or SCHEDULED job that deploys some of the versions asked about."""

    job_id: str
    status: str
    versions: tuple[str, ...]


def _job_refs(ctx: AwsContext, job_id: str) -> set[PackageVersionRef]:
    job = ctx.iot.describe_job(jobId=job_id)["job"]
    refs = {PackageVersionRef.from_arn(arn) for arn in job.get("destinationPackageVersions") or []}
    document = ctx.iot.get_job_document(jobId=job_id).get("document") or ""
    refs.update(referenced_versions(document))
    return refs


def active_jobs_referencing(
    ctx: AwsContext, package: str, versions: Iterable[str] | None = None
) -> list[ActiveJob]:
    """The IN_PROGRESS and SCHEDULED jobs deploying ``package`` (any version, or one of ``versions``)."""
    wanted = set(versions) if versions is not None else None
    candidates: list[tuple[str, str]] = []
    for status in ACTIVE_JOB_STATUSES:
        for page in ctx.iot.get_paginator("list_jobs").paginate(status=status):
            candidates.extend((job["jobId"], status) for job in page.get("jobs", []))
    candidates = list(dict.fromkeys(candidates))
    result = run_parallel(candidates, lambda item: _job_refs(ctx, item[0]), concurrency=ctx.concurrency)
    # A job deleted between the list and the describe no longer references anything.
    failures = [
        o for o in result.failed if o.error is not None and not is_error(o.error, "ResourceNotFoundException")
    ]
    if failures:
        result.outcomes = failures
        result.raise_for_failures("check active jobs", "job", lambda item: item[0])
    found: list[ActiveJob] = []
    for outcome in result.succeeded:
        refs = outcome.value or set()
        hits = sorted(
            r.version for r in refs if r.package == package and (wanted is None or r.version in wanted)
        )
        if hits:
            found.append(ActiveJob(outcome.item[0], outcome.item[1], tuple(hits)))
    return found


def _refuse_if_active(
    ctx: AwsContext, package: str, versions: Iterable[str] | None, force: bool
) -> list[ActiveJob]:
    active = active_jobs_referencing(ctx, package, versions)
    if active and not force:
        listed = ", ".join(f"{job.job_id} ({job.status}: {', '.join(job.versions)})" for job in active)
        raise UsageError(
            f"active job(s) deploy {package}: {listed}; wait for them, cancel them, or pass --force",
            "--force",
        )
    return active


@dataclass(frozen=True)
class DeleteResult:
    package: str
    deleted_versions: tuple[str, ...]
    package_deleted: bool
    unset_default: str | None
    active_jobs: tuple[ActiveJob, ...]
    message: str


def delete_version(ctx: AwsContext, package: str, version: str, *, force: bool = False) -> DeleteResult:
    """Delete one version (unsetting it as the default first). Refused while an active job deploys it."""
    check_package_name(package, "PACKAGE")
    check_version_name(version, "VERSION")
    current_default = get_package(ctx, package).get("defaultVersionName")
    if find_version(ctx, package, version) is None:
        return DeleteResult(
            package, (), False, None, (), f"{package}/{version} does not exist; nothing deleted"
        )
    active = _refuse_if_active(ctx, package, [version], force)
    unset = None
    if current_default == version:
        ctx.iot.update_package(packageName=package, unsetDefaultVersion=True)
        unset = version
    ctx.iot.delete_package_version(packageName=package, versionName=version)
    return DeleteResult(package, (version,), False, unset, tuple(active), f"deleted {package}/{version}")


def delete_package(ctx: AwsContext, package: str, *, force: bool = False) -> DeleteResult:
    """Delete a package and all its versions. Refused while an active job deploys any of them."""
    check_package_name(package, "PACKAGE")
    try:
        answer = ctx.iot.get_package(packageName=package)
    except ClientError as err:
        if _not_found(err):
            return DeleteResult(
                package, (), False, None, (), f"package {package} does not exist; nothing deleted"
            )
        raise
    names = [v["versionName"] for v in list_versions(ctx, package)]
    active = _refuse_if_active(ctx, package, None, force)
    unset = answer.get("defaultVersionName")
    if unset:
        ctx.iot.update_package(packageName=package, unsetDefaultVersion=True)
    result = run_parallel(
        names,
        lambda name: ctx.iot.delete_package_version(packageName=package, versionName=name),
        concurrency=ctx.concurrency,
    )
    result.raise_for_failures(f"delete the versions of {package}", "package version")
    ctx.iot.delete_package(packageName=package)
    return DeleteResult(
        package, tuple(names), True, unset, tuple(active),
        f"deleted package {package} and {len(names)} version(s)",
    )  # fmt: skip

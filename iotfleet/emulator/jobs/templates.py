"""Custom job templates: stored documents and settings that ``CreateJob(jobTemplateArn=...)`` applies.

A template is created from its own document and settings, or copied from an existing job
(``jobArn``). A job created from a template takes the template's document and settings; any setting
given in the CreateJob request itself wins. Template maintenance windows become the job's
``schedulingConfig.maintenanceWindows``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iotfleet.emulator.errors import ConflictException, InvalidRequestException, ResourceNotFoundException
from iotfleet.emulator.jobs import validation
from iotfleet.emulator.jobs.models import Job, JobTemplate
from iotfleet.emulator.jobs.registry import arn
from iotfleet.emulator.jobs.rollout import RolloutRate
from iotfleet.emulator.jobs.schedule import parse_windows

# CreateJob request field -> template attribute, for the settings a template carries.
_SETTINGS = {
    "presignedUrlConfig": "presigned_url_config",
    "jobExecutionsRolloutConfig": "rollout_config",
    "abortConfig": "abort_config",
    "timeoutConfig": "timeout_config",
    "jobExecutionsRetryConfig": "retry_config",
}


class TemplateStore:
    """The job templates of one account and region."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._templates: dict[str, JobTemplate] = {}

    def template_arn(self, template_id: str) -> str:
        return arn(self.region, self.account_id, f"jobtemplate/{template_id}")

    def create(
        self,
        params: dict[str, Any],
        now: float,
        *,
        find_job: Callable[[str], Job],
        load_document: Callable[[str], str],
    ) -> JobTemplate:
        template_id = validation.check_id(params.get("jobTemplateId"), "jobTemplateId")
        if template_id in self._templates:
            raise ConflictException(f"Job template {template_id} already exists", resourceId=template_id)
        description = validation.check_text(params.get("description"), "description", validation.MAX_DESCRIPTION)
        if description is None:
            raise InvalidRequestException("description is required")
        template = JobTemplate(
            job_template_id=template_id,
            job_template_arn=self.template_arn(template_id),
            description=description,
            created_at=now,
            tags=validation.tags_to_dict(params.get("tags")),
        )
        source_job_arn = params.get("jobArn")
        if source_job_arn is not None:
            if params.get("document") is not None or params.get("documentSource") is not None:
                raise InvalidRequestException("Give either jobArn or a document, not both")
            self._copy_job(template, find_job(source_job_arn.rsplit("/", 1)[-1]))
        else:
            document, source = params.get("document"), params.get("documentSource")
            if (document is None) == (source is None):
                raise InvalidRequestException("A job template needs exactly one of document and documentSource")
            template.document = str(document) if document is not None else load_document(str(source))
            template.document_source = source
        self._apply_settings(template, params)
        self._templates[template_id] = template
        return template

    @staticmethod
    def _copy_job(template: JobTemplate, job: Job) -> None:
        template.document = job.document
        template.document_source = job.document_source
        template.presigned_url_config = job.presigned_url_config
        template.rollout_config = job.rollout_config
        template.abort_config = job.abort_config
        template.timeout_config = job.timeout_config
        template.retry_config = job.retry_config
        template.destination_package_versions = list(job.destination_package_versions)
        if job.scheduling_config and job.scheduling_config.get("maintenanceWindows"):
            template.maintenance_windows = list(job.scheduling_config["maintenanceWindows"])

    @staticmethod
    def _apply_settings(template: JobTemplate, params: dict[str, Any]) -> None:
        if params.get("presignedUrlConfig") is not None:
            template.presigned_url_config = validation.check_presigned_url_config(params["presignedUrlConfig"])
        if params.get("jobExecutionsRolloutConfig") is not None:
            RolloutRate.from_config(params["jobExecutionsRolloutConfig"])
            template.rollout_config = dict(params["jobExecutionsRolloutConfig"])
        if params.get("abortConfig") is not None:
            template.abort_config = validation.check_abort_config(params["abortConfig"])
        if params.get("timeoutConfig") is not None:
            template.timeout_config = validation.check_timeout_config(params["timeoutConfig"])
        if params.get("jobExecutionsRetryConfig") is not None:
            template.retry_config = validation.check_retry_config(params["jobExecutionsRetryConfig"])
        if params.get("maintenanceWindows") is not None:
            parse_windows(params["maintenanceWindows"])
            template.maintenance_windows = [dict(w) for w in params["maintenanceWindows"]]
        if params.get("destinationPackageVersions") is not None:
            template.destination_package_versions = validation.check_destination_package_versions(
                params["destinationPackageVersions"]
            )

    def get(self, template_id: str) -> JobTemplate:
        template = self._templates.get(template_id)
        if template is None:
            raise ResourceNotFoundException(f"Job template {template_id} does not exist")
        return template

    def by_arn(self, template_arn: str) -> JobTemplate:
        prefix = self.template_arn("")
        if not template_arn.startswith(prefix):
            raise ResourceNotFoundException(f"Job template {template_arn} does not exist")
        return self.get(template_arn[len(prefix) :])

    def list(self) -> list[JobTemplate]:
        return sorted(self._templates.values(), key=lambda t: (t.created_at, t.job_template_id))

    def delete(self, template_id: str) -> None:
        self.get(template_id)
        del self._templates[template_id]


def merge_template(template: JobTemplate, params: dict[str, Any]) -> dict[str, Any]:
    """CreateJob parameters with the template's document and settings filling what the request omits."""
    merged = dict(params)
    if merged.get("document") is None and merged.get("documentSource") is None:
        merged["document"] = template.document
    for request_field, attribute in _SETTINGS.items():
        value = getattr(template, attribute)
        if merged.get(request_field) is None and value is not None:
            merged[request_field] = value
    if merged.get("destinationPackageVersions") is None and template.destination_package_versions:
        merged["destinationPackageVersions"] = list(template.destination_package_versions)
    if template.maintenance_windows:
        scheduling = dict(merged.get("schedulingConfig") or {})
        scheduling.setdefault("maintenanceWindows", template.maintenance_windows)
        merged["schedulingConfig"] = scheduling
    return merged

"""The jobs engine of one account and region: the jobs API over the jobs' lifecycle.

It is plain Python with an injected clock and an injected :class:`RegistryView`, so every rule can be
tested without HTTP. The HTTP handlers are thin translations onto the methods here. Each operation
validates its request, then changes jobs and executions through :class:`~.lifecycle.JobLifecycle`,
which holds them and says what time, device reports and group membership do to them (the rules of
time, timeouts, continuous jobs and deletion are in its module, those of abort, retries and completion
in :mod:`.policies`). Targets are resolved by :mod:`.targets`, documents read and checked by
:mod:`.job_documents`, templates kept by :mod:`.templates`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from iotfleet.emulator.errors import (
    InvalidRequestException,
    InvalidStateTransitionException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from iotfleet.emulator.jobs import validation
from iotfleet.emulator.jobs.documents import check_document
from iotfleet.emulator.jobs.job_documents import JobDocuments
from iotfleet.emulator.jobs.lifecycle import JobLifecycle
from iotfleet.emulator.jobs.models import (
    CANCELED,
    CONTINUOUS,
    EXECUTION_STATUSES,
    IN_PROGRESS,
    JOB_CANCELED,
    JOB_COMPLETED,
    JOB_DELETION_IN_PROGRESS,
    JOB_IN_PROGRESS,
    JOB_SCHEDULED,
    JOB_STATUSES,
    QUEUED,
    SNAPSHOT,
    Job,
    JobExecution,
    JobTemplate,
    validate_status_details,
    validate_step_timeout,
)
from iotfleet.emulator.jobs.registry import arn
from iotfleet.emulator.jobs.rollout import RolloutRate
from iotfleet.emulator.jobs.schedule import Schedule
from iotfleet.emulator.jobs.templates import TemplateStore, merge_template

NEXT = "$next"


class JobsEngine(JobLifecycle):
    """Jobs, executions and templates of one account and region: ``JobsEngine(registry, clock)``."""

    @cached_property
    def documents(self) -> JobDocuments:
        return JobDocuments(self.registry)

    @cached_property
    def templates(self) -> TemplateStore:
        return TemplateStore(self.account_id, self.region)

    def document_for_device(self, job: Job) -> str:
        """The job document as a device reads it: placeholders substituted, URLs freshly minted."""
        return self.documents.substitution(job).apply(job.document)

    # ---------------------------------------------------------- control plane

    def job_arn(self, job_id: str) -> str:
        return arn(self.region, self.account_id, f"job/{job_id}")

    def thing_arn(self, thing: str) -> str:
        return arn(self.region, self.account_id, f"thing/{thing}")

    def get_job(self, job_id: str) -> Job:
        self.advance()
        job = self._jobs.get(job_id)
        if job is None:
            raise ResourceNotFoundException(f"Job {job_id} does not exist")
        return job

    def create_job(self, params: dict[str, Any]) -> Job:
        now = self.advance()
        if params.get("jobTemplateArn"):
            params = merge_template(self.templates.by_arn(params["jobTemplateArn"]), params)
        job_id = validation.check_id(params.get("jobId"), "jobId")
        if job_id in self._jobs:
            raise ResourceAlreadyExistsException(
                f"Job {job_id} already exists", resourceId=job_id, resourceArn=self.job_arn(job_id)
            )
        targets = validation.check_targets(params.get("targets"))
        self.targets.check(targets)
        selection = params.get("targetSelection") or SNAPSHOT
        if selection not in (SNAPSHOT, CONTINUOUS):
            raise InvalidRequestException("targetSelection must be SNAPSHOT or CONTINUOUS")
        if params.get("documentParameters"):
            raise InvalidRequestException("documentParameters can only be used with AWS managed job templates")
        description = validation.check_text(params.get("description"), "description", validation.MAX_DESCRIPTION)
        document = self.documents.load(params)
        placeholders = check_document(document)
        presigned = validation.check_presigned_url_config(params.get("presignedUrlConfig"))
        rate = RolloutRate.from_config(params.get("jobExecutionsRolloutConfig"))
        abort = validation.check_abort_config(params.get("abortConfig"))
        timeout = validation.check_timeout_config(params.get("timeoutConfig"))
        retry = validation.check_retry_config(params.get("jobExecutionsRetryConfig"))
        schedule = Schedule.from_config(params.get("schedulingConfig"), now)
        destinations = validation.check_destination_package_versions(params.get("destinationPackageVersions"))
        destination_names = self.documents.check_package_versions(destinations)
        self.documents.check_placeholders(placeholders, presigned, destination_names)

        job = Job(
            job_id=job_id,
            job_arn=self.job_arn(job_id),
            targets=targets,
            target_selection=selection,
            document=document,
            created_at=now,
            description=description,
            document_source=params.get("documentSource"),
            presigned_url_config=presigned,
            rollout_config=params.get("jobExecutionsRolloutConfig"),
            abort_config=abort,
            timeout_config=timeout,
            retry_config=retry,
            scheduling_config=params.get("schedulingConfig"),
            destination_package_versions=destinations,
            job_template_arn=params.get("jobTemplateArn"),
            namespace_id=params.get("namespaceId"),
            tags=validation.tags_to_dict(params.get("tags")),
            seq=next(self._sequence),
            rate=rate,
            schedule=schedule,
        )
        self._jobs[job_id] = job
        if schedule.start is not None:
            job.status = JOB_SCHEDULED
        else:
            self._start(job, now)
        self.advance(now)
        return job

    def list_jobs(
        self,
        status: str | None = None,
        target_selection: str | None = None,
        thing_group_name: str | None = None,
        thing_group_id: str | None = None,
    ) -> list[Job]:
        self.advance()
        if status is not None and status not in JOB_STATUSES:
            raise InvalidRequestException(f"status must be one of {', '.join(JOB_STATUSES)}")
        jobs = []
        for job in sorted(self._jobs.values(), key=lambda j: j.seq):
            if status is not None and job.status != status:
                continue
            if target_selection is not None and job.target_selection != target_selection:
                continue
            groups = self.targets.group_names(job.targets)
            if thing_group_name is not None and thing_group_name not in groups:
                continue
            if thing_group_id is not None and thing_group_id not in {self.registry.group_id(g) for g in groups}:
                continue
            jobs.append(job)
        return jobs

    def update_job(self, job_id: str, params: dict[str, Any]) -> Job:
        job = self.get_job(job_id)
        now = self._now
        if job.status == JOB_DELETION_IN_PROGRESS:
            raise InvalidRequestException(f"Job {job_id} is being deleted")
        description = validation.check_text(params.get("description"), "description", validation.MAX_DESCRIPTION)
        presigned = validation.check_presigned_url_config(params.get("presignedUrlConfig"))
        rollout = params.get("jobExecutionsRolloutConfig")
        rate = RolloutRate.from_config(rollout) if rollout is not None else None
        abort = validation.check_abort_config(params.get("abortConfig"))
        timeout = validation.check_timeout_config(params.get("timeoutConfig"))
        retry = validation.check_retry_config(params.get("jobExecutionsRetryConfig"))
        if description is not None:
            job.description = description
        if presigned is not None:
            job.presigned_url_config = presigned
        if rate is not None:
            job.rollout_config, job.rate = rollout, rate
        if abort is not None:
            job.abort_config = abort
        if timeout is not None:
            job.timeout_config = timeout
        if retry is not None:
            job.retry_config = retry
        job.last_updated_at = now
        self._check_abort(job, now)
        return job

    def cancel_job(self, job_id: str, *, reason_code: str | None, comment: str | None, force: bool) -> Job:
        job = self.get_job(job_id)
        reason_code = validation.check_reason_code(reason_code)
        comment = validation.check_text(comment, "comment", validation.MAX_COMMENT)
        if job.status in (JOB_COMPLETED, JOB_DELETION_IN_PROGRESS):
            raise InvalidRequestException(f"Job {job_id} is {job.status} and cannot be canceled")
        if job.status == JOB_CANCELED and not force:
            return job
        self._cancel(job, self._now, force=force, reason_code=reason_code, comment=comment)
        return job

    def delete_job(self, job_id: str, *, force: bool) -> None:
        job = self.get_job(job_id)
        if job.status == JOB_DELETION_IN_PROGRESS:
            return
        if job.status in (JOB_IN_PROGRESS, JOB_SCHEDULED) and not force:
            raise InvalidStateTransitionException(
                f"Job {job_id} is {job.status}; only COMPLETED or CANCELED jobs can be deleted without force"
            )
        now = self._now
        job.status = JOB_DELETION_IN_PROGRESS
        job.last_updated_at = now
        job.pending.clear()
        job.pending_now.clear()
        job.next_tick = None
        job.deletion_due = now + self._deletion_seconds
        self.touched.update(job.executions)
        self.advance(now)

    def associate_targets(self, job_id: str, targets: Any) -> Job:
        job = self.get_job(job_id)
        if job.target_selection != CONTINUOUS:
            raise InvalidRequestException("Targets can be added only to CONTINUOUS jobs")
        if job.status != JOB_IN_PROGRESS:
            raise InvalidRequestException(f"Job {job_id} is {job.status}; targets can be added only while IN_PROGRESS")
        new_targets = validation.check_targets(targets)
        self.targets.check(new_targets)
        combined = list(dict.fromkeys(job.targets + new_targets))
        if len(combined) > validation.MAX_TARGETS:
            raise InvalidRequestException(f"A job can have at most {validation.MAX_TARGETS} targets")
        job.targets = combined
        job.last_updated_at = self._now
        if self._follows_membership(job):
            for thing in self.targets.resolve(new_targets):
                if thing not in job.members:
                    self._join(job, thing, self._now)
        return job

    # ------------------------------------------------------------ executions

    def describe_execution(self, job_id: str, thing: str, execution_number: int | None = None) -> JobExecution:
        job = self.get_job(job_id)
        execution = job.find_execution(thing, execution_number)
        if execution is None:
            raise ResourceNotFoundException(f"No execution of job {job_id} on thing {thing}")
        return execution

    def list_executions_for_job(self, job_id: str, status: str | None = None) -> list[JobExecution]:
        job = self.get_job(job_id)
        _check_execution_status(status)
        executions = sorted(job.current_executions(), key=lambda e: e.thing_name)
        return [e for e in executions if status is None or e.status == status]

    def list_executions_for_thing(
        self, thing: str, status: str | None = None, job_id: str | None = None
    ) -> list[tuple[Job, JobExecution]]:
        self.advance()
        _check_execution_status(status)
        found = []
        for candidate in self._thing_jobs.get(thing, ()):
            job = self._jobs[candidate]
            if job_id is not None and job.job_id != job_id:
                continue
            execution = job.current(thing)
            if execution is not None and (status is None or execution.status == status):
                found.append((job, execution))
        return sorted(found, key=lambda pair: (pair[1].queued_at, pair[0].seq))

    def cancel_execution(
        self,
        job_id: str,
        thing: str,
        *,
        force: bool,
        expected_version: int | None,
        status_details: dict[str, str] | None,
    ) -> JobExecution:
        job = self.get_job(job_id)
        details = validate_status_details(status_details) if status_details is not None else None
        execution = job.current(thing)
        if execution is None:
            raise ResourceNotFoundException(f"No execution of job {job_id} on thing {thing}")
        if execution.is_terminal:
            raise InvalidStateTransitionException(
                f"The execution of job {job_id} on {thing} is already {execution.status}"
            )
        execution.check_version(expected_version)
        if execution.status == IN_PROGRESS and not force:
            raise InvalidStateTransitionException(
                f"The execution of job {job_id} on {thing} is IN_PROGRESS; cancel it with force"
            )
        if details is not None:
            execution.status_details = details
        execution.end_by_service(CANCELED, self._now, force=execution.status == IN_PROGRESS)
        self.touched.add(thing)
        self._check_completion(job, self._now)
        return execution

    def delete_execution(self, job_id: str, thing: str, execution_number: int, *, force: bool) -> None:
        job = self.get_job(job_id)
        execution = job.find_execution(thing, execution_number)
        if execution is None:
            raise ResourceNotFoundException(
                f"No execution {execution_number} of job {job_id} on thing {thing}"
            )
        if not execution.is_terminal and not force:
            raise InvalidStateTransitionException(
                f"The execution is {execution.status}; only terminal executions can be deleted without force"
            )
        attempts = job.executions[thing]
        attempts.remove(execution)
        self.touched.add(thing)
        if not attempts:
            del job.executions[thing]
            jobs = self._thing_jobs.get(thing)
            if jobs is not None:
                jobs.discard(job_id)
        self._check_completion(job, self._now)

    # ------------------------------------------------------------ data plane

    def _visible_job(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.status == JOB_DELETION_IN_PROGRESS:
            raise ResourceNotFoundException(f"Job {job_id} does not exist")
        return job

    def _pending_of_thing(self, thing: str) -> list[tuple[Job, JobExecution]]:
        pending = []
        for job_id in self._thing_jobs.get(thing, ()):
            job = self._jobs[job_id]
            if job.status == JOB_DELETION_IN_PROGRESS:
                continue
            execution = job.current(thing)
            if execution is not None and execution.is_pending:
                pending.append((job, execution))
        return sorted(pending, key=lambda p: (p[1].queued_at, p[1].execution_number))

    def pending_executions(self, thing: str) -> tuple[list[JobExecution], list[JobExecution]]:
        """GetPendingJobExecutions: (IN_PROGRESS, QUEUED), each oldest first."""
        self.advance()
        pending = [execution for _, execution in self._pending_of_thing(thing)]
        return (
            [e for e in pending if e.status == IN_PROGRESS],
            [e for e in pending if e.status == QUEUED],
        )

    def pending_of_thing(self, thing: str) -> list[tuple[Job, JobExecution]]:
        """Every pending execution of ``thing`` in ``$next`` order: IN_PROGRESS ones first, each oldest first
        (what the ``notify`` and ``notify-next`` topics announce). Reads only: no due event is processed."""
        pending = self._pending_of_thing(thing)
        return [p for p in pending if p[1].status == IN_PROGRESS] + [p for p in pending if p[1].status == QUEUED]

    def next_pending(self, thing: str) -> tuple[Job, JobExecution] | None:
        """The execution ``$next`` names: IN_PROGRESS ones first, then the oldest QUEUED one."""
        self.advance()
        pending = self._pending_of_thing(thing)
        in_progress = [p for p in pending if p[1].status == IN_PROGRESS]
        ordered = in_progress or pending
        return ordered[0] if ordered else None

    def start_next(
        self, thing: str, *, status_details: Any = None, step_timeout: Any = None
    ) -> tuple[Job, JobExecution] | None:
        """StartNextPendingJobExecution: start the next QUEUED execution (an IN_PROGRESS one is returned as is)."""
        details = validate_status_details(status_details) if status_details is not None else None
        step = validate_step_timeout(step_timeout)
        found = self.next_pending(thing)
        if found is None:
            return None
        job, execution = found
        if execution.status == QUEUED:
            execution.apply_device_update(
                IN_PROGRESS,
                self._now,
                status_details=details,
                step_timeout_minutes=step,
                expected_version=None,
                in_progress_timeout_minutes=job.in_progress_timeout_minutes,
            )
            self._after_device_update(job, execution, self._now)
        return job, execution

    def device_describe(
        self, thing: str, job_id: str, execution_number: int | None = None
    ) -> tuple[Job, JobExecution] | None:
        """DescribeJobExecution on the data plane; ``$next`` gives None when nothing is pending."""
        if job_id == NEXT:
            return self.next_pending(thing)
        self.advance()
        job = self._visible_job(job_id)
        execution = job.find_execution(thing, execution_number)
        if execution is None:
            raise ResourceNotFoundException(f"No execution of job {job_id} on thing {thing}")
        return job, execution

    def device_update(
        self,
        thing: str,
        job_id: str,
        status: str,
        *,
        status_details: Any = None,
        expected_version: int | None = None,
        step_timeout: Any = None,
        execution_number: int | None = None,
    ) -> tuple[Job, JobExecution]:
        """UpdateJobExecution: a device reports progress or its result."""
        self.advance()
        if status not in EXECUTION_STATUSES:
            raise InvalidRequestException(f"status must be one of {', '.join(EXECUTION_STATUSES)}")
        details = validate_status_details(status_details) if status_details is not None else None
        step = validate_step_timeout(step_timeout)
        job = self._visible_job(job_id)
        execution = job.find_execution(thing, execution_number)
        if execution is None:
            raise ResourceNotFoundException(f"No execution of job {job_id} on thing {thing}")
        execution.apply_device_update(
            status,
            self._now,
            status_details=details,
            step_timeout_minutes=step,
            expected_version=expected_version,
            in_progress_timeout_minutes=job.in_progress_timeout_minutes,
        )
        self._after_device_update(job, execution, self._now)
        return job, execution

    # ------------------------------------------------------------- templates

    def create_template(self, params: dict[str, Any]) -> JobTemplate:
        now = self.advance()

        def load(source: str) -> str:
            document = self.documents.fetch(source)
            check_document(document)
            return document

        if params.get("document") is not None:
            check_document(params["document"])
        if params.get("destinationPackageVersions"):
            self.documents.check_package_versions(
                validation.check_destination_package_versions(params["destinationPackageVersions"])
            )
        return self.templates.create(params, now, find_job=self.get_job, load_document=load)


def _check_execution_status(status: str | None) -> None:
    if status is not None and status not in EXECUTION_STATUSES:
        raise InvalidRequestException(f"status must be one of {', '.join(EXECUTION_STATUSES)}")

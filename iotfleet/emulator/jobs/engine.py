"""The jobs engine of one account and region: jobs, executions, and what time does to them.

It is plain Python with an injected clock and an injected :class:`RegistryView`, so every rule can be
tested without HTTP. The HTTP handlers are thin translations onto the methods here.

**Time.** Processing is lazy and exact. Every public method first calls :meth:`advance`, which runs
every due event in time order, each at its own due time: scheduled starts and ends, rollout steps
(see :mod:`.rollout`), execution timeouts and the end of job deletions. The emulator also calls
:meth:`advance` whenever its clock jumps, so a test moves an hour forward and sees exactly what an hour
of AWS would have done, in order.

**Abort** (``abortConfig``). A thing counts as *executed* once it has had an execution released
(AWS: "things which must receive job execution notifications"). A thing counts towards a failure type
once any of its attempts ended with that status (FAILED, REJECTED, TIMED_OUT; ALL is any of them), so a
percentage never exceeds 100. A criterion fires when ``executed >= minNumberOfExecutedThings`` and
``failed / executed * 100 >= thresholdPercentage``; it is evaluated after every failure and every
release. The job is then CANCELED with reasonCode ``ABORT_CRITERIA_MET`` and a comment naming the
criterion: QUEUED executions (retries included) are CANCELED, IN_PROGRESS ones continue.

**Timeouts.** ``inProgressTimeoutInMinutes`` starts when an execution goes IN_PROGRESS and is fixed
then (updating the job changes only executions started later). A step timer, set by
StartNextPendingJobExecution or by an IN_PROGRESS update with ``stepTimeoutInMinutes``, replaces the
previous step timer and never reaches past the in-progress deadline; -1 clears it; an update without it
keeps the running one. Whichever deadline comes first moves the execution to TIMED_OUT.

**Retries** (``jobExecutionsRetryConfig``). After a FAILED report or a TIMED_OUT, while the job is
IN_PROGRESS, a new QUEUED execution with a new executionNumber and ``retryAttempt + 1`` is created at
once, outside the rollout rate. A failure uses the criterion of its own type, else the ALL criterion
(which FAILED and TIMED_OUT then share). REJECTED is never retried. A thing that leaves and rejoins a
continuous job starts with a fresh retry count, as AWS documents.

**Continuous jobs.** Things that join a target group after the rollout started get an execution at
once; things that leave have their QUEUED or IN_PROGRESS execution REMOVED (and a pending release
dropped). A continuous job stays IN_PROGRESS until canceled, or until its scheduled end stops the
rollout and its executions finish.

**Completion and deletion.** A snapshot job is COMPLETED once its rollout has released everything and
every current execution is terminal. DeleteJob moves the job to DELETION_IN_PROGRESS, hides its
executions from devices, and removes it ``deletion_seconds`` later; its id cannot be reused until then.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from iotfleet.emulator.errors import (
    InvalidRequestException,
    InvalidStateTransitionException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from iotfleet.emulator.jobs import validation
from iotfleet.emulator.jobs.documents import (
    MAX_DOCUMENT_BYTES,
    Placeholder,
    Substitution,
    check_document,
    parse_s3_url,
)
from iotfleet.emulator.jobs.models import (
    CANCELED,
    CONTINUOUS,
    EXECUTION_STATUSES,
    FAILED,
    IN_PROGRESS,
    JOB_CANCELED,
    JOB_COMPLETED,
    JOB_DELETION_IN_PROGRESS,
    JOB_IN_PROGRESS,
    JOB_SCHEDULED,
    JOB_STATUSES,
    QUEUED,
    REJECTED,
    REMOVED,
    SNAPSHOT,
    SUCCEEDED,
    TIMED_OUT,
    Job,
    JobExecution,
    JobTemplate,
    validate_status_details,
    validate_step_timeout,
)
from iotfleet.emulator.jobs.registry import DEPLOYABLE_PACKAGE_STATUSES, RegistryView, arn, parse_target
from iotfleet.emulator.jobs.rollout import STEP_SECONDS, RolloutRate
from iotfleet.emulator.jobs.schedule import CANCEL, FORCE_CANCEL, STOP_ROLLOUT, Schedule
from iotfleet.emulator.jobs.templates import TemplateStore, merge_template

ABORT_REASON_CODE = "ABORT_CRITERIA_MET"
NEXT = "$next"
DEFAULT_DELETION_SECONDS = 1.0
_FAILURE_STATUSES = frozenset({FAILED, REJECTED, TIMED_OUT})

# Tie-breaks between events due at the same instant.
_DELETION, _START, _END, _TIMEOUT, _TICK = range(5)

Event = tuple[float, int, int, Callable[[float], None]]


class JobsEngine:
    """Jobs, executions and templates of one account and region."""

    def __init__(
        self,
        registry: RegistryView,
        clock: Callable[[], float],
        *,
        deletion_seconds: float = DEFAULT_DELETION_SECONDS,
    ) -> None:
        self.registry = registry
        self.account_id = registry.account_id
        self.region = registry.region
        self._clock = clock
        self._deletion_seconds = deletion_seconds
        self._jobs: dict[str, Job] = {}
        self._thing_jobs: dict[str, set[str]] = {}  # thing -> ids of jobs with executions on it
        self._timeouts: list[tuple[float, int, str, str, int]] = []
        self._sequence = itertools.count(1)
        self._execution_numbers = itertools.count(1)
        self._now = clock()
        self.templates = TemplateStore(self.account_id, self.region)

    # ------------------------------------------------------------------ time

    @property
    def now(self) -> float:
        """The time the engine has processed up to (the time of the current call)."""
        return self._now

    def advance(self, now: float | None = None) -> float:
        """Run every event due at or before ``now`` (default: the clock), in time order."""
        target = max(self._clock() if now is None else now, self._now)
        while True:
            event = self._next_event(target)
            if event is None:
                break
            when, _, _, action = event
            self._now = max(self._now, when)
            action(when)
        self._now = target
        return target

    def _next_event(self, limit: float) -> Event | None:
        best: Event | None = None
        timeout = self._next_timeout()
        if timeout is not None:
            best = timeout
        for job in self._jobs.values():
            for event in self._job_events(job):
                if best is None or event[:3] < best[:3]:
                    best = event
        if best is None or best[0] > limit:
            return None
        return best

    def _next_timeout(self) -> Event | None:
        while self._timeouts:
            deadline, seq, job_id, thing, number = self._timeouts[0]
            execution = self._timed_execution(deadline, job_id, thing, number)
            if execution is None:
                heapq.heappop(self._timeouts)
                continue
            return (deadline, _TIMEOUT, seq, self._pop_timeout)
        return None

    def _timed_execution(self, deadline: float, job_id: str, thing: str, number: int) -> JobExecution | None:
        job = self._jobs.get(job_id)
        if job is None or job.status == JOB_DELETION_IN_PROGRESS:
            return None
        execution = job.find_execution(thing, number)
        if execution is None or execution.deadline() != deadline:
            return None
        return execution

    def _pop_timeout(self, when: float) -> None:
        deadline, _, job_id, thing, number = heapq.heappop(self._timeouts)
        execution = self._timed_execution(deadline, job_id, thing, number)
        if execution is None:
            return
        execution.end_by_service(TIMED_OUT, when)
        self._after_failure(self._jobs[job_id], execution, when)

    def _job_events(self, job: Job) -> Iterable[Event]:
        if job.deletion_due is not None:
            yield (job.deletion_due, _DELETION, job.seq, partial(self._finish_deletion, job))
            return
        if job.status == JOB_SCHEDULED and job.schedule.start is not None:
            yield (job.schedule.start, _START, job.seq, partial(self._start, job))
        if job.status == JOB_IN_PROGRESS and job.schedule.end is not None and not job.end_applied:
            yield (job.schedule.end, _END, job.seq, partial(self._apply_end, job))
        if job.next_tick is not None:
            yield (job.next_tick, _TICK, job.seq, partial(self._tick, job))

    def _schedule_timeout(self, job: Job, execution: JobExecution) -> None:
        deadline = execution.deadline()
        if deadline is not None:
            entry = (deadline, next(self._sequence), job.job_id, execution.thing_name, execution.execution_number)
            heapq.heappush(self._timeouts, entry)

    # --------------------------------------------------------------- rollout

    def _start(self, job: Job, when: float) -> None:
        job.status = JOB_IN_PROGRESS
        job.started = True
        job.last_updated_at = when
        things = self._resolve(job.targets)
        job.members = set(things)
        job.pending = deque(things)
        job.next_tick = job.schedule.next_open(when)
        if job.next_tick is None:
            job.pending.clear()
        self._check_completion(job, when)

    def _tick(self, job: Job, when: float) -> None:
        job.next_tick = None
        if job.status != JOB_IN_PROGRESS or job.rollout_stopped:
            job.pending.clear()
            job.pending_now.clear()
            return
        if not job.schedule.is_open(when):
            self._wait_for_opening(job, when)
            return
        while job.pending_now:
            self._release(job, job.pending_now.popleft(), when)
        budget = job.rate.per_minute(len(job.notified), self._succeeded_things(job))
        for _ in range(min(budget, len(job.pending))):
            self._release(job, job.pending.popleft(), when)
        if job.rollout_pending:
            self._wait_for_opening(job, when + STEP_SECONDS)
        self._check_abort(job, when)
        self._check_completion(job, when)

    def _wait_for_opening(self, job: Job, when: float) -> None:
        """Set the next rollout step at or after ``when``; drop what can never be released."""
        job.next_tick = job.schedule.next_open(when)
        if job.next_tick is None:
            job.pending.clear()
            job.pending_now.clear()
            self._check_completion(job, when)

    def _release(self, job: Job, thing: str, when: float, retry_of: JobExecution | None = None) -> JobExecution:
        execution = JobExecution(
            job_id=job.job_id,
            thing_name=thing,
            execution_number=next(self._execution_numbers),
            queued_at=when,
            retry_attempt=0 if retry_of is None else retry_of.retry_attempt + 1,
        )
        job.executions.setdefault(thing, []).append(execution)
        job.notified.add(thing)
        self._thing_jobs.setdefault(thing, set()).add(job.job_id)
        return execution

    @staticmethod
    def _succeeded_things(job: Job) -> int:
        return sum(1 for execution in job.current_executions() if execution.status == SUCCEEDED)

    def _apply_end(self, job: Job, when: float) -> None:
        job.end_applied = True
        behavior = job.schedule.end_behavior or STOP_ROLLOUT
        if behavior == CANCEL:
            self._cancel(job, when, force=False, reason_code=None, comment="The scheduled end time was reached")
        elif behavior == FORCE_CANCEL:
            self._cancel(job, when, force=True, reason_code=None, comment="The scheduled end time was reached")
        else:
            job.rollout_stopped = True
            job.pending.clear()
            job.pending_now.clear()
            job.next_tick = None
            job.last_updated_at = when
            self._check_completion(job, when)

    # ------------------------------------------------------- abort, retry, end

    def _after_failure(self, job: Job, execution: JobExecution, when: float) -> None:
        job.failures_seen.setdefault(execution.thing_name, set()).add(execution.status)
        if execution.status in (FAILED, TIMED_OUT):
            self._maybe_retry(job, execution, when)
        self._check_abort(job, when)
        self._check_completion(job, when)

    def _maybe_retry(self, job: Job, execution: JobExecution, when: float) -> None:
        if job.status != JOB_IN_PROGRESS or not job.retry_config:
            return
        allowed = {c["failureType"]: c["numberOfRetries"] for c in job.retry_config["criteriaList"]}
        key = execution.status if execution.status in allowed else ("ALL" if "ALL" in allowed else None)
        if key is None:
            return
        used = job.retries_used.setdefault(execution.thing_name, {})
        if used.get(key, 0) >= allowed[key]:
            return
        used[key] = used.get(key, 0) + 1
        self._release(job, execution.thing_name, when, retry_of=execution)

    def _check_abort(self, job: Job, when: float) -> None:
        if job.status != JOB_IN_PROGRESS or not job.abort_config:
            return
        executed = len(job.notified)
        for criterion in job.abort_config["criteriaList"]:
            minimum = criterion["minNumberOfExecutedThings"]
            if executed < minimum:
                continue
            kind = criterion["failureType"]
            kinds = _FAILURE_STATUSES if kind == "ALL" else frozenset({kind})
            failed = sum(1 for seen in job.failures_seen.values() if seen & kinds)
            threshold = float(criterion["thresholdPercentage"])
            if failed * 100.0 >= threshold * executed - 1e-9:
                comment = (
                    f"Aborted: {failed} of {executed} executed things ended {kind} "
                    f"({failed * 100.0 / executed:.2f}% >= {threshold:g}%, minimum {minimum} executed things)"
                )
                self._cancel(job, when, force=False, reason_code=ABORT_REASON_CODE, comment=comment)
                return

    def _check_completion(self, job: Job, when: float) -> None:
        if job.status != JOB_IN_PROGRESS or not job.started or job.rollout_pending:
            return
        if job.target_selection == CONTINUOUS and not job.rollout_stopped:
            return
        # Newest first: the things still pending are usually the ones released last.
        if any(attempts[-1].is_pending for attempts in reversed(job.executions.values()) if attempts):
            return
        job.status = JOB_COMPLETED
        job.completed_at = when
        job.last_updated_at = when

    def _cancel(self, job: Job, when: float, *, force: bool, reason_code: str | None, comment: str | None) -> None:
        job.status = JOB_CANCELED
        job.force_canceled = job.force_canceled or force
        if reason_code is not None:
            job.reason_code = reason_code
        if comment is not None:
            job.comment = comment
        job.last_updated_at = when
        job.pending.clear()
        job.pending_now.clear()
        job.next_tick = None
        for execution in job.current_executions():
            if execution.status == QUEUED:
                execution.end_by_service(CANCELED, when)
            elif execution.status == IN_PROGRESS and force:
                execution.end_by_service(CANCELED, when, force=True)

    def _finish_deletion(self, job: Job, when: float) -> None:
        del self._jobs[job.job_id]
        for thing in job.executions:
            jobs = self._thing_jobs.get(thing)
            if jobs is not None:
                jobs.discard(job.job_id)
                if not jobs:
                    del self._thing_jobs[thing]

    # ------------------------------------------------------------- targets

    def _parse_targets(self, targets: list[str]) -> None:
        """Check that every target ARN is well formed and names an existing thing or group."""
        for target in (parse_target(a, self.account_id, self.region) for a in targets):
            exists = self.registry.group_exists if target.is_group else self.registry.thing_exists
            if not exists(target.name):
                raise ResourceNotFoundException(f"Target {target.arn} does not exist")

    def _resolve(self, targets: list[str]) -> list[str]:
        """The things the targets stand for, in target order, each once."""
        things: dict[str, None] = {}
        for target in (parse_target(a, self.account_id, self.region) for a in targets):
            if target.is_group:
                things.update(dict.fromkeys(sorted(self.registry.group_members(target.name))))
            else:
                things[target.name] = None
        return list(things)

    def _targets_thing(self, job: Job, thing: str, groups: set[str]) -> bool:
        for target in (parse_target(a, self.account_id, self.region) for a in job.targets):
            if (target.is_group and target.name in groups) or (not target.is_group and target.name == thing):
                return True
        return False

    def _follows_membership(self, job: Job) -> bool:
        return (
            job.target_selection == CONTINUOUS
            and job.status == JOB_IN_PROGRESS
            and job.started
            and not job.rollout_stopped
        )

    def thing_membership_changed(self, thing: str) -> None:
        """A thing joined or left a group (or was created or deleted): update continuous jobs."""
        now = self.advance()
        groups: set[str] | None = None
        for job in list(self._jobs.values()):
            if not self._follows_membership(job):
                continue
            if groups is None:
                groups = self.registry.groups_of_thing(thing) if self.registry.thing_exists(thing) else set()
            targeted = self.registry.thing_exists(thing) and self._targets_thing(job, thing, groups)
            if targeted and thing not in job.members:
                self._join(job, thing, now)
            elif not targeted and thing in job.members:
                self._leave(job, thing, now)

    def reconcile_memberships(self) -> None:
        """Bring every continuous job in step with its groups (after a group is deleted, say)."""
        now = self.advance()
        for job in list(self._jobs.values()):
            if not self._follows_membership(job):
                continue
            current = self._resolve_existing(job.targets)
            for thing in [t for t in current if t not in job.members]:
                self._join(job, thing, now)
            for thing in sorted(job.members - set(current)):
                self._leave(job, thing, now)

    def _resolve_existing(self, targets: list[str]) -> list[str]:
        """Like :meth:`_resolve`, skipping targets that no longer exist."""
        live = []
        for target_arn in targets:
            target = parse_target(target_arn, self.account_id, self.region)
            exists = self.registry.group_exists if target.is_group else self.registry.thing_exists
            if exists(target.name):
                live.append(target_arn)
        return self._resolve(live)

    def _join(self, job: Job, thing: str, when: float) -> None:
        job.members.add(thing)
        current = job.current(thing)
        if current is not None and current.is_pending:
            return
        job.retries_used.pop(thing, None)
        job.pending_now.append(thing)
        if job.schedule.is_open(when):
            while job.pending_now:
                self._release(job, job.pending_now.popleft(), when)
            self._check_abort(job, when)
        elif job.next_tick is None:
            self._wait_for_opening(job, when)

    def _leave(self, job: Job, thing: str, when: float) -> None:
        job.members.discard(thing)
        for queue in (job.pending, job.pending_now):
            if thing in queue:
                queue.remove(thing)
        job.retries_used.pop(thing, None)
        current = job.current(thing)
        if current is not None and current.is_pending:
            current.end_by_service(REMOVED, when)
        self._check_completion(job, when)

    # ------------------------------------------------------------ documents

    def _fetch_document(self, source: str) -> str:
        location = parse_s3_url(source)
        data = self.registry.read_object(location)
        if data is None:
            raise InvalidRequestException(f"The documentSource {source} does not exist")
        if len(data) > MAX_DOCUMENT_BYTES:
            raise InvalidRequestException(
                f"The job document exceeds the maximum size of {MAX_DOCUMENT_BYTES} bytes"
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestException(f"The documentSource {source} is not UTF-8 text") from None

    def _load_document(self, params: dict[str, Any]) -> str:
        document, source = params.get("document"), params.get("documentSource")
        if document is not None and source is not None:
            raise InvalidRequestException("Give either document or documentSource, not both")
        if document is not None:
            return str(document)
        if source is None:
            raise InvalidRequestException("A job needs a document, a documentSource or a jobTemplateArn")
        return self._fetch_document(str(source))

    def _check_package_versions(self, version_arns: list[str]) -> list[tuple[str, str]]:
        names = []
        for version_arn in version_arns:
            package, version = self.registry.parse_package_version_arn(version_arn)
            record = self.registry.package_version(package, version)
            if record is None:
                raise ResourceNotFoundException(f"Package version {version_arn} does not exist")
            if record.status not in DEPLOYABLE_PACKAGE_STATUSES:
                raise InvalidRequestException(
                    f"Package version {version_arn} is {record.status}; only PUBLISHED or DEPRECATED "
                    "versions can be deployed"
                )
            names.append((package, version))
        return names

    def _check_placeholders(
        self,
        placeholders: list[Placeholder],
        presigned_url_config: dict[str, Any] | None,
        destinations: list[tuple[str, str]],
    ) -> None:
        if any(p.needs_presigning for p in placeholders) and not presigned_url_config:
            raise InvalidRequestException(
                "The job document has presigned-URL placeholders, so presignedUrlConfig is required"
            )
        for placeholder in (p for p in placeholders if p.is_package):
            package, version = placeholder.package, placeholder.version
            if not package and not version:
                if len(destinations) != 1:
                    raise InvalidRequestException(
                        f"{placeholder.text} leaves the package out, which needs exactly one "
                        "destinationPackageVersions entry"
                    )
                continue
            if self.registry.package_version(package, version) is None:
                raise InvalidRequestException(f"{placeholder.text} names a package version that does not exist")

    def substitution(self, job: Job) -> Substitution:
        config = job.presigned_url_config or {}
        default_package = None
        if len(job.destination_package_versions) == 1:
            default_package = self.registry.parse_package_version_arn(job.destination_package_versions[0])
        return Substitution(
            presign=self.registry.presign_get,
            package_version=self.registry.package_version,
            expires_in=int(config.get("expiresInSec") or 3600),
            default_package=default_package,
        )

    def document_for_device(self, job: Job) -> str:
        """The job document as a device reads it: placeholders substituted, URLs freshly minted."""
        return self.substitution(job).apply(job.document)

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
        self._parse_targets(targets)
        selection = params.get("targetSelection") or SNAPSHOT
        if selection not in (SNAPSHOT, CONTINUOUS):
            raise InvalidRequestException("targetSelection must be SNAPSHOT or CONTINUOUS")
        if params.get("documentParameters"):
            raise InvalidRequestException("documentParameters can only be used with AWS managed job templates")
        description = validation.check_text(params.get("description"), "description", validation.MAX_DESCRIPTION)
        document = self._load_document(params)
        placeholders = check_document(document)
        presigned = validation.check_presigned_url_config(params.get("presignedUrlConfig"))
        rate = RolloutRate.from_config(params.get("jobExecutionsRolloutConfig"))
        abort = validation.check_abort_config(params.get("abortConfig"))
        timeout = validation.check_timeout_config(params.get("timeoutConfig"))
        retry = validation.check_retry_config(params.get("jobExecutionsRetryConfig"))
        schedule = Schedule.from_config(params.get("schedulingConfig"), now)
        destinations = validation.check_destination_package_versions(params.get("destinationPackageVersions"))
        destination_names = self._check_package_versions(destinations)
        self._check_placeholders(placeholders, presigned, destination_names)

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
            groups = self._target_group_names(job)
            if thing_group_name is not None and thing_group_name not in groups:
                continue
            if thing_group_id is not None and thing_group_id not in {self.registry.group_id(g) for g in groups}:
                continue
            jobs.append(job)
        return jobs

    def _target_group_names(self, job: Job) -> set[str]:
        parsed = (parse_target(a, self.account_id, self.region) for a in job.targets)
        return {t.name for t in parsed if t.is_group}

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
        self.advance(now)

    def associate_targets(self, job_id: str, targets: Any) -> Job:
        job = self.get_job(job_id)
        if job.target_selection != CONTINUOUS:
            raise InvalidRequestException("Targets can be added only to CONTINUOUS jobs")
        if job.status != JOB_IN_PROGRESS:
            raise InvalidRequestException(f"Job {job_id} is {job.status}; targets can be added only while IN_PROGRESS")
        new_targets = validation.check_targets(targets)
        self._parse_targets(new_targets)
        combined = list(dict.fromkeys(job.targets + new_targets))
        if len(combined) > validation.MAX_TARGETS:
            raise InvalidRequestException(f"A job can have at most {validation.MAX_TARGETS} targets")
        job.targets = combined
        job.last_updated_at = self._now
        if self._follows_membership(job):
            for thing in self._resolve(new_targets):
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

    def _after_device_update(self, job: Job, execution: JobExecution, when: float) -> None:
        if execution.status == IN_PROGRESS:
            self._schedule_timeout(job, execution)
        elif execution.status == SUCCEEDED:
            self._record_package_versions(job, execution.thing_name)
            self._check_completion(job, when)
        elif execution.status in (FAILED, REJECTED):
            self._after_failure(job, execution, when)

    def _record_package_versions(self, job: Job, thing: str) -> None:
        """With versionUpdateByJobsConfig enabled, a success is written into the ``$package`` shadow."""
        if not job.destination_package_versions:
            return
        config = self.registry.package_configuration().get("versionUpdateByJobsConfig") or {}
        if not config.get("enabled"):
            return
        reported: dict[str, Any] = {}
        for version_arn in job.destination_package_versions:
            package, version = self.registry.parse_package_version_arn(version_arn)
            record = self.registry.package_version(package, version)
            reported[package] = {"version": version, "attributes": dict(record.attributes) if record else {}}
        self.registry.merge_package_shadow(thing, reported)

    # ------------------------------------------------------------- templates

    def create_template(self, params: dict[str, Any]) -> JobTemplate:
        now = self.advance()

        def load(source: str) -> str:
            document = self._fetch_document(source)
            check_document(document)
            return document

        if params.get("document") is not None:
            check_document(params["document"])
        if params.get("destinationPackageVersions"):
            self._check_package_versions(
                validation.check_destination_package_versions(params["destinationPackageVersions"])
            )
        return self.templates.create(params, now, find_job=self.get_job, load_document=load)


def _check_execution_status(status: str | None) -> None:
    if status is not None and status not in EXECUTION_STATUSES:
        raise InvalidRequestException(f"status must be one of {', '.join(EXECUTION_STATUSES)}")

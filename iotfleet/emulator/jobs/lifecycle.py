"""What time, device reports and group membership do to the jobs of one account and region.

:class:`JobLifecycle` holds the jobs and their executions and moves them from state to state; the jobs
engine (:mod:`.engine`) puts the API operations on top of it. The decisions of the abort, retry and
completion settings are in :mod:`.policies`, the rollout rate in :mod:`.rollout`, the scheduling
window in :mod:`.schedule`.

**Time.** Processing is lazy and exact. Every public method first calls :meth:`advance`, which runs
every due event in time order, each at its own due time: scheduled starts and ends, rollout steps
(see :mod:`.rollout`), execution timeouts and the end of job deletions. The emulator also calls
:meth:`advance` whenever its clock jumps, so a test moves an hour forward and sees exactly what an hour
of AWS would have done, in order.

**Timeouts.** ``inProgressTimeoutInMinutes`` starts when an execution goes IN_PROGRESS and is fixed
then (updating the job changes only executions started later). A step timer, set by
StartNextPendingJobExecution or by an IN_PROGRESS update with ``stepTimeoutInMinutes``, replaces the
previous step timer and never reaches past the in-progress deadline; -1 clears it; an update without it
keeps the running one. Whichever deadline comes first moves the execution to TIMED_OUT.

**Continuous jobs.** Things that join a target group after the rollout started get an execution at
once; things that leave have their QUEUED or IN_PROGRESS execution REMOVED (and a pending release
dropped). A continuous job stays IN_PROGRESS until canceled, or until its scheduled end stops the
rollout and its executions finish.

**Deleted things.** A thing that is deleted is no longer scheduled to execute any job, whatever its
target selection: its QUEUED or IN_PROGRESS execution ends REMOVED (AWS counts it in
``numberOfRemovedThings``), a release still waiting for the rollout is dropped, and a snapshot job whose
other executions are done completes. A thing created again under the same name keeps that REMOVED
history and has nothing pending.

**Deletion.** DeleteJob moves the job to DELETION_IN_PROGRESS, hides its executions from devices, and
removes it ``deletion_seconds`` later; its id cannot be reused until then.

**What devices are told.** Every thing whose pending executions may have changed (one released, started,
ended, hidden) is added to :attr:`JobLifecycle.touched`; the MQTT endpoint takes that set to push the
jobs notifications (``notify``, ``notify-next``) of exactly those things.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from iotfleet.emulator.jobs.models import (
    CANCELED,
    CONTINUOUS,
    FAILED,
    IN_PROGRESS,
    JOB_CANCELED,
    JOB_COMPLETED,
    JOB_DELETION_IN_PROGRESS,
    JOB_IN_PROGRESS,
    JOB_SCHEDULED,
    QUEUED,
    REJECTED,
    REMOVED,
    SUCCEEDED,
    TIMED_OUT,
    Job,
    JobExecution,
)
from iotfleet.emulator.jobs.policies import ABORT_REASON_CODE, abort_comment, is_complete, take_retry
from iotfleet.emulator.jobs.registry import RegistryView
from iotfleet.emulator.jobs.rollout import STEP_SECONDS
from iotfleet.emulator.jobs.schedule import CANCEL, FORCE_CANCEL, STOP_ROLLOUT
from iotfleet.emulator.jobs.targets import JobTargets

DEFAULT_DELETION_SECONDS = 1.0

# Tie-breaks between events due at the same instant.
_DELETION, _START, _END, _TIMEOUT, _TICK = range(5)

Event = tuple[float, int, int, Callable[[float], None]]


class JobLifecycle:
    """The jobs and executions of one account and region, and the events that move them."""

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
        self.targets = JobTargets(registry)
        self._clock = clock
        self._deletion_seconds = deletion_seconds
        self._jobs: dict[str, Job] = {}
        self._thing_jobs: dict[str, set[str]] = {}  # thing -> ids of jobs with executions on it
        self._timeouts: list[tuple[float, int, str, str, int]] = []
        self.touched: set[str] = set()
        self._sequence = itertools.count(1)
        self._now = clock()

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
        self.touched.add(thing)
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
        things = self.targets.resolve_existing(job.targets)
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
            execution_number=job.next_execution_number(thing),
            queued_at=when,
            retry_attempt=0 if retry_of is None else retry_of.retry_attempt + 1,
        )
        job.executions.setdefault(thing, []).append(execution)
        job.notified.add(thing)
        self.touched.add(thing)
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

    # ------------------------------------------------- failures, abort, end

    def _after_failure(self, job: Job, execution: JobExecution, when: float) -> None:
        job.failures_seen.setdefault(execution.thing_name, set()).add(execution.status)
        if take_retry(job, execution):
            self._release(job, execution.thing_name, when, retry_of=execution)
        self._check_abort(job, when)
        self._check_completion(job, when)

    def _check_abort(self, job: Job, when: float) -> None:
        comment = abort_comment(job)
        if comment is not None:
            self._cancel(job, when, force=False, reason_code=ABORT_REASON_CODE, comment=comment)

    def _check_completion(self, job: Job, when: float) -> None:
        if is_complete(job):
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
                self.touched.add(execution.thing_name)
            elif execution.status == IN_PROGRESS and force:
                execution.end_by_service(CANCELED, when, force=True)
                self.touched.add(execution.thing_name)

    def _finish_deletion(self, job: Job, when: float) -> None:
        del self._jobs[job.job_id]
        for thing in job.executions:
            jobs = self._thing_jobs.get(thing)
            if jobs is not None:
                jobs.discard(job.job_id)
                if not jobs:
                    del self._thing_jobs[thing]

    # ------------------------------------------------------------ membership

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
            targeted = self.registry.thing_exists(thing) and self.targets.names_thing(job.targets, thing, groups)
            if targeted and thing not in job.members:
                self._join(job, thing, now)
            elif not targeted and thing in job.members:
                self._leave(job, thing, now)

    def thing_deleted(self, thing: str) -> None:
        """DeleteThing: end the thing's pending executions of every job REMOVED (see the module docstring)."""
        now = self.advance()
        for job in list(self._jobs.values()):
            if job.status != JOB_DELETION_IN_PROGRESS and (thing in job.members or thing in job.executions):
                self._leave(job, thing, now)

    def reconcile_memberships(self) -> None:
        """Bring every continuous job in step with its groups (after a group is deleted, say)."""
        now = self.advance()
        for job in list(self._jobs.values()):
            if not self._follows_membership(job):
                continue
            current = self.targets.resolve_existing(job.targets)
            for thing in [t for t in current if t not in job.members]:
                self._join(job, thing, now)
            for thing in sorted(job.members - set(current)):
                self._leave(job, thing, now)

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
            self.touched.add(thing)
        self._check_completion(job, when)

    # ---------------------------------------------------------- device reports

    def _after_device_update(self, job: Job, execution: JobExecution, when: float) -> None:
        self.touched.add(execution.thing_name)
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

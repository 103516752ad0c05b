"""What a job's abort and retry settings decide, and when a job is complete: rules over a :class:`Job` alone.

The lifecycle (:mod:`.lifecycle`) asks these after every release, failure and change, and acts on the
answer (cancels the job, releases a retry, marks it COMPLETED).

**Abort** (``abortConfig``). A thing counts as *executed* once it has had an execution released
(AWS: "things which must receive job execution notifications"). A thing counts towards a failure type
once any of its attempts ended with that status (FAILED, REJECTED, TIMED_OUT; ALL is any of them), so a
percentage never exceeds 100. A criterion fires when ``executed >= minNumberOfExecutedThings`` and
``failed / executed * 100 >= thresholdPercentage``; it is evaluated after every failure and every
release. The job is then CANCELED with reasonCode ``ABORT_CRITERIA_MET`` and a comment naming the
criterion: QUEUED executions (retries included) are CANCELED, IN_PROGRESS ones continue.

**Retries** (``jobExecutionsRetryConfig``). After a FAILED report or a TIMED_OUT, while the job is
IN_PROGRESS, a new QUEUED execution with a new executionNumber and ``retryAttempt + 1`` is created at
once, outside the rollout rate. A failure uses the criterion of its own type, else the ALL criterion
(which FAILED and TIMED_OUT then share). REJECTED is never retried. A thing that leaves and rejoins a
continuous job starts with a fresh retry count, as AWS documents.

**Completion.** A snapshot job is COMPLETED once its rollout has released everything and every current
execution is terminal. A continuous job stays IN_PROGRESS until canceled, or until its scheduled end
stops the rollout and its executions finish.
"""

from __future__ import annotations

from iotfleet.emulator.jobs.models import (
    CONTINUOUS,
    FAILED,
    JOB_IN_PROGRESS,
    REJECTED,
    TIMED_OUT,
    Job,
    JobExecution,
)

ABORT_REASON_CODE = "ABORT_CRITERIA_MET"
_FAILURE_STATUSES = frozenset({FAILED, REJECTED, TIMED_OUT})
_RETRIED_STATUSES = frozenset({FAILED, TIMED_OUT})


def abort_comment(job: Job) -> str | None:
    """The comment to cancel the job with when one of its abort criteria is met now, else None."""
    if job.status != JOB_IN_PROGRESS or not job.abort_config:
        return None
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
            return (
                f"Aborted: {failed} of {executed} executed things ended {kind} "
                f"({failed * 100.0 / executed:.2f}% >= {threshold:g}%, minimum {minimum} executed things)"
            )
    return None


def take_retry(job: Job, execution: JobExecution) -> bool:
    """Whether the ended ``execution`` gets a retry; if so, the retry is counted against its thing."""
    if execution.status not in _RETRIED_STATUSES or job.status != JOB_IN_PROGRESS or not job.retry_config:
        return False
    allowed = {c["failureType"]: c["numberOfRetries"] for c in job.retry_config["criteriaList"]}
    key = execution.status if execution.status in allowed else ("ALL" if "ALL" in allowed else None)
    if key is None:
        return False
    used = job.retries_used.setdefault(execution.thing_name, {})
    if used.get(key, 0) >= allowed[key]:
        return False
    used[key] = used.get(key, 0) + 1
    return True


def is_complete(job: Job) -> bool:
    """Whether an IN_PROGRESS job has nothing left to do (see the module docstring)."""
    if job.status != JOB_IN_PROGRESS or not job.started or job.rollout_pending:
        return False
    if job.target_selection == CONTINUOUS and not job.rollout_stopped:
        return False
    # Newest first: the things still pending are usually the ones released last.
    return not any(attempts[-1].is_pending for attempts in reversed(job.executions.values()) if attempts)

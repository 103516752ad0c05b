"""A job's statistics from its ``jobProcessDetails`` counters: counts per status, health, abort proximity.

Nothing here calls AWS: every value is computed from one ``DescribeJob`` answer, whatever the size of the
fleet, so listings, details, the watch and the report all use these.

**Counters.** ``jobProcessDetails`` counts *things* by the status of their current execution. A thing
whose retry succeeded counts as succeeded, although its failed attempt counted towards an abort
criterion when it happened; the proximity shown is therefore a lower bound on what the service counted.

**Health.** From the executions that finished with a result (succeeded, failed, rejected, timed out):
excellent at 95 % success or more, good from 80 %, poor from 50 %, critical below; "waiting" until one
finished. An abort criterion at 80 % or more of its threshold is flagged whatever the verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from iotfleet.fleet.explore.times import to_epoch

EXECUTION_STATUSES = ("QUEUED", "IN_PROGRESS", "SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED")
ABORT_WARNING_FRACTION = 0.8

# jobProcessDetails counter -> execution status.
COUNTERS = {
    "numberOfQueuedThings": "QUEUED",
    "numberOfInProgressThings": "IN_PROGRESS",
    "numberOfSucceededThings": "SUCCEEDED",
    "numberOfFailedThings": "FAILED",
    "numberOfRejectedThings": "REJECTED",
    "numberOfTimedOutThings": "TIMED_OUT",
    "numberOfCanceledThings": "CANCELED",
    "numberOfRemovedThings": "REMOVED",
}
RESULT_STATUSES = ("SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT")
FAILURE_STATUSES = ("FAILED", "REJECTED", "TIMED_OUT")
TERMINAL_EXECUTION_STATUSES = frozenset({"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "REMOVED"})

EXCELLENT, GOOD, POOR, CRITICAL, WAITING = "excellent", "good", "poor", "critical", "waiting"


@dataclass(frozen=True)
class ProcessCounts:
    """``jobProcessDetails`` as numbers of things per execution status."""

    by_status: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_details(cls, details: dict[str, Any] | None) -> ProcessCounts:
        details = details or {}
        return cls({status: int(details.get(name) or 0) for name, status in COUNTERS.items()})

    def __getitem__(self, status: str) -> int:
        return self.by_status.get(status, 0)

    @property
    def total(self) -> int:
        """Things that have an execution (released by the rollout)."""
        return sum(self.by_status.values())

    @property
    def finished(self) -> int:
        return sum(self[s] for s in TERMINAL_EXECUTION_STATUSES)

    @property
    def with_result(self) -> int:
        return sum(self[s] for s in RESULT_STATUSES)

    @property
    def failures(self) -> int:
        return sum(self[s] for s in FAILURE_STATUSES)

    @property
    def started(self) -> int:
        """Things whose execution is known to have started (in progress or finished with a result)."""
        return self["IN_PROGRESS"] + self.with_result

    @property
    def pending(self) -> int:
        return self["QUEUED"] + self["IN_PROGRESS"]

    @property
    def success_rate(self) -> float | None:
        """Succeeded among the executions that finished with a result, in percent."""
        return 100.0 * self["SUCCEEDED"] / self.with_result if self.with_result else None

    @property
    def failure_rate(self) -> float | None:
        return 100.0 * self.failures / self.with_result if self.with_result else None

    def as_dict(self) -> dict[str, int]:
        return {status: self[status] for status in EXECUTION_STATUSES}


def health(counts: ProcessCounts) -> str:
    rate = counts.success_rate
    if rate is None:
        return WAITING
    if rate >= 95.0:
        return EXCELLENT
    if rate >= 80.0:
        return GOOD
    if rate >= 50.0:
        return POOR
    return CRITICAL


@dataclass(frozen=True)
class AbortProximity:
    """How close one abort criterion is to firing, from the counters."""

    failure_type: str
    threshold: float  # percent
    min_executed: int
    executed: int
    failed: int

    @property
    def armed(self) -> bool:
        """Enough things received the job for the criterion to fire."""
        return self.executed >= self.min_executed

    @property
    def percentage(self) -> float:
        return 100.0 * self.failed / self.executed if self.executed else 0.0

    @property
    def fraction_of_threshold(self) -> float:
        return self.percentage / self.threshold if self.threshold > 0 else 1.0

    @property
    def failures_to_abort(self) -> int:
        """More failures that would meet the threshold at today's number of executed things."""
        return max(0, math.ceil(self.threshold * self.executed / 100.0 - 1e-9) - self.failed)

    @property
    def warning(self) -> bool:
        return self.fraction_of_threshold >= ABORT_WARNING_FRACTION

    def describe(self) -> str:
        text = (
            f"{self.failure_type} {self.percentage:.1f}% of {self.executed} executed "
            f"(threshold {self.threshold:g}%, {self.fraction_of_threshold * 100:.0f}% of the way)"
        )
        if not self.armed:
            return f"{text}; not armed until {self.min_executed} things received the job"
        return f"{text}; {self.failures_to_abort} more failure(s) would abort"

    def as_dict(self) -> dict[str, Any]:
        return {
            "failureType": self.failure_type,
            "thresholdPercentage": self.threshold,
            "minNumberOfExecutedThings": self.min_executed,
            "executedThings": self.executed,
            "failedThings": self.failed,
            "failurePercentage": round(self.percentage, 2),
            "fractionOfThreshold": round(self.fraction_of_threshold, 4),
            "armed": self.armed,
            "failuresToAbort": self.failures_to_abort,
        }


def abort_proximity(job: dict[str, Any], counts: ProcessCounts) -> list[AbortProximity]:
    found = []
    for criterion in (job.get("abortConfig") or {}).get("criteriaList") or []:
        failure_type = str(criterion.get("failureType", "ALL"))
        failed = counts.failures if failure_type == "ALL" else counts[failure_type]
        found.append(
            AbortProximity(
                failure_type=failure_type,
                threshold=float(criterion.get("thresholdPercentage") or 0.0),
                min_executed=int(criterion.get("minNumberOfExecutedThings") or 1),
                executed=counts.total,
                failed=failed,
            )
        )
    return found



@dataclass(frozen=True)
class JobStats:
    """The statistics of one job, from one DescribeJob call."""

    job_id: str
    status: str
    counts: ProcessCounts
    abort: list[AbortProximity]
    created_at: float | None
    completed_at: float | None

    @property
    def health(self) -> str:
        return health(self.counts)

    @property
    def abort_warning(self) -> bool:
        return any(a.warning for a in self.abort)

    def as_dict(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "jobId": self.job_id,
            "status": self.status,
            "counts": counts.as_dict(),
            "total": counts.total,
            "finished": counts.finished,
            "successRate": None if counts.success_rate is None else round(counts.success_rate, 2),
            "failureRate": None if counts.failure_rate is None else round(counts.failure_rate, 2),
            "health": self.health,
            "abortWarning": self.abort_warning,
            "abortProximity": [a.as_dict() for a in self.abort],
        }


def stats_from_job(job: dict[str, Any]) -> JobStats:
    counts = ProcessCounts.from_details(job.get("jobProcessDetails"))
    return JobStats(
        job_id=str(job.get("jobId")),
        status=str(job.get("status")),
        counts=counts,
        abort=abort_proximity(job, counts),
        created_at=to_epoch(job.get("createdAt")),
        completed_at=to_epoch(job.get("completedAt")),
    )

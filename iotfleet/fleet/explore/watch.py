"""Watching a job: one ``DescribeJob`` per refresh until the job is done, with how fast executions finish.

Each refresh is a :class:`WatchSnapshot` built from the counters (:mod:`.statistics`); the caller renders it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, error_code
from iotfleet.clock import SYSTEM_CLOCK, Clock
from iotfleet.fleet.explore.statistics import JobStats, stats_from_job
from iotfleet.fleet.explore.times import iso_time


@dataclass(frozen=True)
class WatchSnapshot:
    """One refresh of a watch: the job's counters now, and how fast executions are finishing."""

    at: float
    stats: JobStats
    refresh: int
    rate: float | None  # finished executions per second since the previous refresh
    average_rate: float | None  # since the watch started
    deleted: bool = False

    @property
    def done(self) -> bool:
        """The job will not change any more (or nobody is left running it)."""
        status = self.stats.status
        if self.deleted or status in ("COMPLETED", "DELETION_IN_PROGRESS"):
            return True
        return status == "CANCELED" and self.stats.counts["IN_PROGRESS"] == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.stats.as_dict(),
            "refresh": self.refresh,
            "at": iso_time(self.at),
            "finishedPerSecond": None if self.rate is None else round(self.rate, 2),
            "averageFinishedPerSecond": None if self.average_rate is None else round(self.average_rate, 2),
            "deleted": self.deleted,
        }


def job_snapshot(
    ctx: AwsContext, job_id: str, previous: WatchSnapshot | None = None, first: WatchSnapshot | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> WatchSnapshot:
    """One refresh: one DescribeJob call. A job deleted after the first refresh ends the watch."""
    try:
        job = ctx.iot.describe_job(jobId=job_id)["job"]
    except ClientError as err:
        if error_code(err) != "ResourceNotFoundException":
            raise
        if previous is None:
            raise UsageError(f"job {job_id!r} does not exist") from None
        return WatchSnapshot(clock.time(), previous.stats, previous.refresh + 1, None, previous.average_rate, True)
    now = clock.time()
    stats = stats_from_job(job)
    rate = average = None
    if previous is not None and now > previous.at:
        rate = (stats.counts.finished - previous.stats.counts.finished) / (now - previous.at)
    if first is not None and now > first.at:
        average = (stats.counts.finished - first.stats.counts.finished) / (now - first.at)
    refresh = 1 if previous is None else previous.refresh + 1
    return WatchSnapshot(now, stats, refresh, rate, average)


def watch_job(
    ctx: AwsContext,
    job_id: str,
    *,
    interval: float = 2.0,
    on_snapshot: Callable[[WatchSnapshot], None],
    clock: Clock = SYSTEM_CLOCK,
    max_refreshes: int | None = None,
) -> WatchSnapshot:
    """Refresh every ``interval`` seconds until the job is done (or ``max_refreshes``); one call per refresh.

    Ctrl-C propagates as ``KeyboardInterrupt`` after the current refresh; the caller decides what it means.
    """
    if not interval > 0:
        raise UsageError("the refresh interval must be positive", "--interval")
    first = previous = job_snapshot(ctx, job_id, clock=clock)
    on_snapshot(first)
    while not previous.done and (max_refreshes is None or previous.refresh < max_refreshes):
        clock.sleep(interval)
        previous = job_snapshot(ctx, job_id, previous, first, clock=clock)
        on_snapshot(previous)
    return previous

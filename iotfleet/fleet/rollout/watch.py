"""Looking at a rollout: its record and the counters of each started wave's job, once or live.

A snapshot costs one ``GetObject`` (the record, which stays small: the wave membership is kept apart) and one
``DescribeJob`` per started wave and for the rollback job, whatever the number of devices. During a watch, a
job that will not change any more (completed, or canceled with nothing in progress) is not asked again, so a
refresh costs at most one call per wave. Watching never changes anything: the controller (``rollout start
--wait``, ``rollout resume``) is what moves a rollout on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iotfleet.aws.errors import UsageError
from iotfleet.clock import SYSTEM_CLOCK, Clock
from iotfleet.fleet.explore.statistics import JobStats, stats_from_job
from iotfleet.fleet.explore.times import iso_time
from iotfleet.fleet.rollout.effects import find_job, job_done
from iotfleet.fleet.rollout.record import RolloutRecord, RolloutStore


@dataclass(frozen=True)
class RolloutSnapshot:
    """A rollout as it is now: the record, and the statistics of its jobs (by job id)."""

    record: RolloutRecord
    jobs: dict[str, JobStats | None]  # None: the job does not exist (any more)
    at: float
    refresh: int = 1

    def wave_stats(self, job_id: str) -> JobStats | None:
        return self.jobs.get(job_id)

    def as_dict(self) -> dict[str, Any]:
        record = self.record
        document = record.to_document()
        for key in ("waveRequest", "rollbackRequest", "waveTags"):
            document.pop(key, None)
        for wave in document["waves"]:
            stats = self.jobs.get(wave["jobId"])
            wave["job"] = None if stats is None else stats.as_dict()
        if record.stop is not None and record.stop.job_id:
            stats = self.jobs.get(record.stop.job_id)
            document["stop"]["job"] = None if stats is None else stats.as_dict()
        document["snapshotAt"] = iso_time(self.at)
        return document


@dataclass
class JobCache:
    """Statistics of jobs that will not change any more, kept for the rest of a watch."""

    final: dict[str, JobStats | None] = field(default_factory=dict)


def snapshot(
    store: RolloutStore, rollout_id: str, *, cache: JobCache | None = None, refresh: int = 1,
    clock: Clock = SYSTEM_CLOCK,
) -> RolloutSnapshot:  # fmt: skip
    """The record and each started job's counters (see the module docstring for the cost)."""
    record = store.load(rollout_id)
    cache = cache or JobCache()
    job_ids = [wave.job_id for wave in record.started_waves()]
    if record.stop is not None and record.stop.job_id:
        job_ids.append(record.stop.job_id)
    jobs: dict[str, JobStats | None] = {}
    for job_id in job_ids:
        if job_id in cache.final:
            jobs[job_id] = cache.final[job_id]
            continue
        job = find_job(store.ctx, job_id)
        jobs[job_id] = None if job is None else stats_from_job(job)
        if job_done(job):
            cache.final[job_id] = jobs[job_id]
    return RolloutSnapshot(record, jobs, clock.time(), refresh)


def watch_rollout(
    store: RolloutStore,
    rollout_id: str,
    *,
    interval: float,
    on_snapshot: Callable[[RolloutSnapshot], None],
    clock: Clock = SYSTEM_CLOCK,
    max_refreshes: int | None = None,
) -> RolloutSnapshot:
    """Refresh every ``interval`` seconds until the rollout ends (or ``max_refreshes``)."""
    if not interval > 0:
        raise UsageError("the refresh interval must be positive", "--interval")
    cache = JobCache()
    current = snapshot(store, rollout_id, cache=cache, clock=clock)
    on_snapshot(current)
    while not current.record.ended and (max_refreshes is None or current.refresh < max_refreshes):
        clock.sleep(interval)
        current = snapshot(store, rollout_id, cache=cache, refresh=current.refresh + 1, clock=clock)
        on_snapshot(current)
    return current

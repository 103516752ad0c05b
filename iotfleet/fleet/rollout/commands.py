"""What people do to a rollout: pause, resume, approve, abort, retry what failed; and listing rollouts.

Each command is one compare-and-swap on the record (see :mod:`.record`), refused with a usage error (exit 2,
nothing written) when the rollout's state does not allow it. The record names who did what and when (the
caller's ARN, the service's clock). The controller acts on what was recorded at its next pass; the CLI runs
one pass right after each command, so an abort cancels the wave jobs at once.

* **pause** (RUNNING or WAITING_APPROVAL): no further wave starts. The started wave's gate is still decided,
  and a failing one still rolls back.
* **resume**: a paused rollout goes back to where it was; any other rollout that has not ended simply
  continues (this is how a controller killed mid-wave is replaced).
* **approve** (WAITING_APPROVAL): the next wave may start.
* **abort** (not ended, not already stopping): cancel the wave jobs; with ``rollback``, also roll the updated
  devices back (ROLLED_BACK), else end ABORTED.
* **retry-failed**: a new job for exactly the devices whose execution of a wave job FAILED or TIMED_OUT
  (not once a rollback has begun: those devices are meant to stay on the old version).
"""

from __future__ import annotations

from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.fleet.jobs.retry import RetryPlan, apply_retry, plan_retry
from iotfleet.fleet.rollout.names import ROLLOUT_TAG
from iotfleet.fleet.rollout.record import (
    PAUSED,
    ROLLED_BACK,
    RUNNING,
    WAITING_APPROVAL,
    RolloutRecord,
    RolloutStore,
    StopRecord,
    to_iso,
)


def _caller(ctx: AwsContext) -> str:
    return ctx.caller_identity().get("Arn", "unknown")


def _not_ended(record: RolloutRecord, verb: str) -> None:
    if record.ended:
        raise UsageError(f"rollout {record.rollout_id} has ended {record.state}: nothing to {verb}", "ID")


def _not_stopping(record: RolloutRecord, verb: str) -> None:
    if record.stop is not None:
        doing = "rolling back" if record.stop.rollback else "stopping"
        raise UsageError(f"rollout {record.rollout_id} is {doing} ({record.stop.reason}): it cannot {verb}", "ID")


def pause(ctx: AwsContext, store: RolloutStore, rollout_id: str, now: float) -> RolloutRecord:
    by = _caller(ctx)

    def change(record: RolloutRecord) -> None:
        _not_ended(record, "pause")
        _not_stopping(record, "be paused")
        if record.state == PAUSED:
            return
        record.paused_from, record.state = record.state, PAUSED
        record.event(now, "paused", "paused: no further wave starts", by=by)

    return store.update(rollout_id, change, now)


def resume(ctx: AwsContext, store: RolloutStore, rollout_id: str, now: float) -> RolloutRecord:
    by = _caller(ctx)

    def change(record: RolloutRecord) -> None:
        _not_ended(record, "resume")
        if record.state != PAUSED:
            return
        record.state, record.paused_from = record.paused_from or RUNNING, None
        record.event(now, "resumed", f"resumed ({record.state})", by=by)

    return store.update(rollout_id, change, now)


def approve(ctx: AwsContext, store: RolloutStore, rollout_id: str, now: float) -> RolloutRecord:
    by = _caller(ctx)

    def change(record: RolloutRecord) -> None:
        _not_ended(record, "approve")
        if record.state == PAUSED and record.paused_from == WAITING_APPROVAL:
            raise UsageError(f"rollout {rollout_id} is paused: resume it first, then approve", "ID")
        if record.state != WAITING_APPROVAL:
            raise UsageError(f"rollout {rollout_id} is {record.state}: it is not waiting for an approval", "ID")
        wave = record.current
        assert wave is not None
        wave.approved_at = now
        record.state = RUNNING
        record.event(now, "approved", f"wave {wave.number} approved", wave=wave.number, by=by)

    return store.update(rollout_id, change, now)


def abort(ctx: AwsContext, store: RolloutStore, rollout_id: str, now: float, *, rollback: bool) -> RolloutRecord:
    by = _caller(ctx)

    def change(record: RolloutRecord) -> None:
        _not_ended(record, "abort")
        _not_stopping(record, "be aborted again")
        if rollback and record.rollback_request is None:
            raise UsageError(
                f"rollout {rollout_id} was started with --no-rollback: it has no version to roll back to; "
                "abort it without --rollback",
                "--rollback",
            )
        record.stop = StopRecord(
            cause="abort", reason=f"aborted by {by}", rollback=rollback, requested_at=now
        )
        record.state, record.paused_from = RUNNING, None
        record.event(now, "abort-requested", "abort" + (" with rollback" if rollback else ""), by=by)

    return store.update(rollout_id, change, now)


def plan_rollout_retry(
    ctx: AwsContext, store: RolloutStore, rollout_id: str, *, job_id: str | None = None
) -> RetryPlan:
    """The retry of a rollout's failed and timed-out devices, over every started wave's job (reads only)."""
    record = store.load(rollout_id)
    if record.state == ROLLED_BACK or (record.stop is not None and record.stop.rollback):
        raise UsageError(
            f"rollout {rollout_id} is rolled back: its devices are meant to stay on {record.rollback_version}",
            "ID",
        )
    jobs = [wave.job_id for wave in record.started_waves()]
    if not jobs:
        raise UsageError(f"rollout {rollout_id} has started no wave yet: nothing to retry", "ID")
    return plan_retry(
        ctx, fleet=record.fleet, jobs=jobs, job_id=job_id, id_base=rollout_id,
        description=f"Rollout {rollout_id}: retry of the failed and timed-out devices",
        owner_tags={ROLLOUT_TAG: rollout_id},
    )  # fmt: skip


def apply_rollout_retry(
    ctx: AwsContext, store: RolloutStore, rollout_id: str, plan: RetryPlan, now: float
) -> dict[str, Any]:
    """Create the retry job and note it in the record; {} when there is nothing to retry."""
    answer = apply_retry(ctx, plan, store.fleet)
    if not answer:
        return answer

    def change(record: RolloutRecord) -> None:
        if any(r.get("jobId") == plan.job_id for r in record.retries):
            return
        record.retries.append({"jobId": plan.job_id, "devices": len(plan.devices), "createdAt": to_iso(now),
                               "group": plan.group})  # fmt: skip
        record.event(now, "retry", f"retry job {plan.job_id} for {len(plan.devices)} device(s)", jobId=plan.job_id)

    store.update(rollout_id, change, now)
    return answer


def list_rollouts(store: RolloutStore) -> list[RolloutRecord]:
    """Every rollout of the fleet, newest first (one GetObject per rollout)."""
    records = [store.load(rollout_id) for rollout_id in store.rollout_ids()]
    return sorted(records, key=lambda r: (r.created_at or 0.0, r.rollout_id), reverse=True)

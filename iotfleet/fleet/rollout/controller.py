"""The rollout controller: a step function over the record in AWS, which any machine can run and re-run.

:meth:`Controller.advance` is one pass: read the record, decide the one step that is due, take it in AWS
(:mod:`.effects`, each action safe to repeat), write what happened back to the record as a fact
(:mod:`.record`, a compare-and-swap), and go on until nothing is due now. :meth:`Controller.run` repeats
passes until the rollout ends. Kill it at any point and ``rollout resume`` takes over: whatever the last
pass did in AWS is found again (fixed job ids, checked before creating), so no wave starts twice.

What is due, in order:

1. a decided gate not yet on its job's tags: tag it;
2. stopping (a failed gate, or an abort): cancel every wave job still active, then, with rollback, wait
   until no execution is in progress, find the devices of the started waves that report the new version,
   create the rollback job for exactly them, and wait for it to end: ROLLED_BACK. Without rollback:
   FAILED (a gate) or ABORTED;
3. the current wave, started: decide its gate (:mod:`.gates`): PASSED starts the bake's successor (or waits
   for approval, or ends COMPLETED after the last wave), FAILED stops the rollout; the first time it has
   enough executed devices, record when (the bake runs from then);
4. the current wave, not started, the rollout RUNNING: start it (its group, its job);
5. the rollout ended: delete its wave groups (the record keeps the membership), so rollouts do not use up a
   device's ten thing-group memberships.

A PAUSED rollout starts no wave, but its started wave's gate is still decided: a wave failing while paused
still rolls back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import AwsOperationError, OperationFailed
from iotfleet.clock import Clock
from iotfleet.fleet.explore.statistics import ProcessCounts
from iotfleet.fleet.jobs.create import MAX_TARGETS
from iotfleet.fleet.rollout import effects
from iotfleet.fleet.rollout.gates import FAILED, PASSED, Verdict
from iotfleet.fleet.rollout.names import rollback_group
from iotfleet.fleet.rollout.record import (
    ABORTED,
    CANCELING,
    COMPLETED,
    DRAINING,
    PAUSED,
    PENDING,
    ROLLED_BACK,
    ROLLING_BACK,
    RUNNING,
    STOP_DONE,
    STOPPED,
    WAITING_APPROVAL,
    WAVE_FAILED,
    WAVE_RUNNING,
    Mutation,
    RolloutRecord,
    RolloutStore,
    StopRecord,
    WaveRecord,
    to_iso,
)
from iotfleet.fleet.rollout.record import FAILED as ROLLOUT_FAILED
from iotfleet.fleet.rollout.record import PASSED as WAVE_PASSED
from iotfleet.fleet.rollout.spec import format_duration

MAX_STEPS_PER_PASS = 50
MAX_FAILED_PASSES = 5
GATE_REASON = "ROLLOUT_GATE_FAILED"
ABORT_REASON = "ROLLOUT_ABORTED"


@dataclass(frozen=True)
class Step:
    """One step the controller took, for the caller to show (and for the demo to start its devices on)."""

    kind: str
    message: str
    wave: int | None = None
    job_id: str | None = None


OnStep = Callable[[Step], None]


def _ignore(_step: Step) -> None:
    return None


class Controller:
    """Drives one rollout; see the module docstring."""

    def __init__(
        self, ctx: AwsContext, fleet: str, rollout_id: str, *, store: RolloutStore | None = None,
        on_step: OnStep | None = None,
    ) -> None:  # fmt: skip
        self.ctx = ctx
        self.rollout_id = rollout_id
        self.store = store or RolloutStore(ctx, fleet)
        self.on_step = on_step or _ignore

    def now(self) -> float:
        """The service's clock (bake times are measured on it, not on this machine's)."""
        return self.ctx.service_time().timestamp()

    def advance(self) -> RolloutRecord:
        """One pass: every step that is due now; returns the record as it is then."""
        record = self.store.load(self.rollout_id)
        for _ in range(MAX_STEPS_PER_PASS):
            now = self.now()
            due = self._next(record, now)
            if due is None:
                return record
            change, step = due
            record = self.store.update(self.rollout_id, change, now)
            self.on_step(step)
        return record

    def run(self, *, interval: float, clock: Clock) -> RolloutRecord:
        """Passes every ``interval`` seconds until the rollout has ended and let go of its groups.

        A pass that fails in AWS (after the access layer's own retries) is reported as an ``error`` step and
        taken again at the next interval, since every step is safe to repeat; after
        :data:`MAX_FAILED_PASSES` failures in a row the last error is raised. A usage error is raised at once.
        """
        failed = 0
        while True:
            try:
                record = self.advance()
            except (ClientError, BotoCoreError, AwsOperationError, OperationFailed) as err:
                failed += 1
                if failed >= MAX_FAILED_PASSES:
                    raise
                self.on_step(Step("error", f"this pass failed and is taken again in {interval:g}s: {err}"))
                clock.sleep(interval)
                continue
            failed = 0
            if record.ended and record.groups_released:
                return record
            clock.sleep(interval)

    # --- deciding ------------------------------------------------------------------------------------

    def _next(self, record: RolloutRecord, now: float) -> tuple[Mutation, Step] | None:
        untagged = next((w for w in record.waves if w.status in (WAVE_PASSED, WAVE_FAILED) and not w.tagged), None)
        if untagged is not None:
            effects.tag_decision(self.ctx, untagged)
            return _set_tagged(untagged.number), Step("tagged", f"wave {untagged.number}: gate {untagged.status} "
                                                                "recorded on its job", untagged.number)  # fmt: skip
        if record.ended:
            if record.groups_released:
                return None
            released = effects.release_groups(self.ctx, record)
            return _release, Step("released", f"deleted {released} target group(s); the record keeps the waves")
        if record.stop is not None:
            return self._stopping(record, record.stop, now)
        wave = record.current
        if wave is None:
            return _complete(now), Step("completed", "every gate passed")
        if wave.status == WAVE_RUNNING:
            return self._decide(record, wave, now)
        if wave.status == PENDING and record.state == RUNNING:
            if record.approve and wave.number > 1 and wave.approved_at is None:
                return _await_approval(wave.number, now), Step("waiting", f"wave {wave.number} waits for approval")
            job = effects.start_wave(self.ctx, self.store, record, wave)
            started = effects.created_at(job, now)
            message = f"wave {wave.number} started: {wave.size} device(s), job {wave.job_id}"
            return _wave_started(wave.number, started, message), Step("wave-started", message, wave.number, wave.job_id)
        return None

    def _decide(self, record: RolloutRecord, wave: WaveRecord, now: float) -> tuple[Mutation, Step] | None:
        verdict = effects.observe(self.ctx, record, wave, now)
        if verdict.decision == PASSED:
            message = f"wave {wave.number} passed its gate: {'; '.join(verdict.reasons)}"
            return _gate_passed(wave.number, verdict, now, message), Step("gate-passed", message, wave.number)
        if verdict.decision == FAILED:
            message = f"wave {wave.number} failed its gate: {'; '.join(verdict.reasons)}"
            return _gate_failed(wave.number, verdict, now, message), Step("gate-failed", message, wave.number)
        if verdict.ready and wave.ready_at is None:
            bake = format_duration(record.gate.bake_seconds)
            message = f"wave {wave.number} has enough executed devices; the bake ({bake}) starts"
            return _ready(wave.number, now, message), Step("baking", message, wave.number)
        return None

    def _stopping(self, record: RolloutRecord, stop: StopRecord, now: float) -> tuple[Mutation, Step] | None:
        if stop.phase == CANCELING:
            reason = GATE_REASON if stop.cause == "gate" else ABORT_REASON
            comment = f"iotfleet rollout {record.rollout_id}: {stop.reason}"
            canceled = [w.job_id for w in record.started_waves()
                        if effects.cancel_job(self.ctx, w.job_id, reason, comment)]  # fmt: skip
            message = (f"canceled {', '.join(canceled)}: their queued executions will not run" if canceled
                       else "every wave job had already ended: nothing to cancel")  # fmt: skip
            return _canceled(canceled, now), Step("canceled", message)
        if stop.phase == DRAINING:
            running = effects.in_progress(self.ctx, [w.job_id for w in record.started_waves()])
            if running:
                return None
            devices = effects.updated_devices(self.ctx, self.store, record)
            if not devices:
                return _nothing_to_roll_back(now), Step("rolled-back", f"no device reports {record.version}")
            group = rollback_group(record.rollout_id)
            job = effects.start_rollback(self.ctx, record, devices, group)
            started = effects.created_at(job, now)
            message = f"rollback job {job['jobId']}: {len(devices)} device(s) back to {record.rollback_version}"
            used_group = group if len(devices) > MAX_TARGETS else None
            change = _rollback_started(str(job["jobId"]), len(devices), used_group, started, message)
            return change, Step("rollback-started", message, job_id=str(job["jobId"]))
        if stop.phase == ROLLING_BACK:
            assert stop.job_id is not None
            job = effects.find_job(self.ctx, stop.job_id)
            if not effects.job_done(job):
                return None
            counts = ProcessCounts.from_details((job or {}).get("jobProcessDetails"))
            message = (
                f"rolled back: {counts['SUCCEEDED']} of {stop.devices} device(s) back on {record.rollback_version}"
                + (f", {counts.failures} failed" if counts.failures else "")
            )
            return _rolled_back(counts.as_dict(), now, message), Step("rolled-back", message)
        return None


# --- facts: each applies to the record as it is when written (see record.RolloutStore.update) ----------


def _set_tagged(number: int) -> Mutation:
    def change(record: RolloutRecord) -> None:
        record.wave(number).tagged = True

    return change


def _release(record: RolloutRecord) -> None:
    record.groups_released = True


def _complete(now: float) -> Mutation:
    def change(record: RolloutRecord) -> None:
        if not record.ended:
            record.end(COMPLETED, now, "every wave passed its gate")

    return change


def _await_approval(number: int, now: float) -> Mutation:
    def change(record: RolloutRecord) -> None:
        if record.state == RUNNING and record.wave(number).approved_at is None:
            record.state = WAITING_APPROVAL
            record.event(now, "waiting-approval", f"wave {number} waits for iotfleet rollout approve", wave=number)

    return change


def _wave_started(number: int, started: float, message: str) -> Mutation:
    def change(record: RolloutRecord) -> None:
        wave = record.wave(number)
        if wave.status == PENDING:
            wave.status = WAVE_RUNNING
            wave.started_at = started
            record.event(started, "wave-started", message, wave=number, jobId=wave.job_id)

    return change


def _ready(number: int, now: float, message: str) -> Mutation:
    def change(record: RolloutRecord) -> None:
        wave = record.wave(number)
        if wave.ready_at is None:
            wave.ready_at = now
            record.event(now, "baking", message, wave=number)

    return change


def _decided(record: RolloutRecord, number: int, verdict: Verdict, now: float, status: str) -> WaveRecord | None:
    wave = record.wave(number)
    if wave.status != WAVE_RUNNING:
        return None  # decided already (another pass wrote it first)
    wave.status = status
    wave.decided_at = now
    wave.ready_at = wave.ready_at if wave.ready_at is not None else (now if verdict.ready else None)
    wave.gate = {**verdict.as_dict(), "at": to_iso(now)}
    return wave


def _gate_passed(number: int, verdict: Verdict, now: float, message: str) -> Mutation:
    def change(record: RolloutRecord) -> None:
        if _decided(record, number, verdict, now, WAVE_PASSED) is None:
            return
        record.event(now, "gate-passed", message, wave=number, figures=verdict.figures)
        if number == len(record.waves):
            record.end(COMPLETED, now, "every wave passed its gate")
        elif record.approve:
            if record.state == PAUSED:
                record.paused_from = WAITING_APPROVAL
            elif record.state == RUNNING:
                record.state = WAITING_APPROVAL
            record.event(now, "waiting-approval", f"wave {number + 1} waits for iotfleet rollout approve",
                         wave=number + 1)  # fmt: skip

    return change


def _gate_failed(number: int, verdict: Verdict, now: float, message: str) -> Mutation:
    def change(record: RolloutRecord) -> None:
        if _decided(record, number, verdict, now, WAVE_FAILED) is None:
            return
        record.event(now, "gate-failed", message, wave=number, figures=verdict.figures)
        if record.stop is None:
            record.stop = StopRecord(
                cause="gate", reason=f"wave {number} failed its gate: {'; '.join(verdict.reasons)}",
                rollback=record.rollback_request is not None, requested_at=now,
            )  # fmt: skip
            record.state, record.paused_from = RUNNING, None

    return change


def _canceled(canceled: list[str], now: float) -> Mutation:
    def change(record: RolloutRecord) -> None:
        stop = record.stop
        if stop is None or stop.phase != CANCELING:
            return
        stop.canceled_jobs = sorted(set(stop.canceled_jobs) | set(canceled))
        for wave in record.waves:
            if wave.status == WAVE_RUNNING:
                wave.status = STOPPED
        record.event(now, "canceled", f"canceled {', '.join(canceled)}" if canceled else "no wave job was active")
        if stop.rollback:
            stop.phase = DRAINING
            return
        stop.phase, stop.ended_at = STOP_DONE, now
        if stop.cause == "gate":
            record.end(ROLLOUT_FAILED, now, f"{stop.reason}; no rollback (--no-rollback)")
        else:
            record.end(ABORTED, now, "aborted without rollback")

    return change


def _nothing_to_roll_back(now: float) -> Mutation:
    def change(record: RolloutRecord) -> None:
        stop = record.stop
        if stop is None or stop.phase != DRAINING:
            return
        stop.devices, stop.phase, stop.ended_at = 0, STOP_DONE, now
        record.end(ROLLED_BACK, now, f"no device reports {record.version}: nothing to roll back")

    return change


def _rollback_started(job_id: str, devices: int, group: str | None, started: float, message: str) -> Mutation:
    def change(record: RolloutRecord) -> None:
        stop = record.stop
        if stop is None or stop.phase != DRAINING:
            return
        stop.phase, stop.job_id, stop.devices, stop.group, stop.started_at = ROLLING_BACK, job_id, devices, group, started
        record.event(started, "rollback-started", message, jobId=job_id)

    return change


def _rolled_back(counts: dict[str, int], now: float, message: str) -> Mutation:
    def change(record: RolloutRecord) -> None:
        stop = record.stop
        if stop is None or stop.phase != ROLLING_BACK:
            return
        stop.counts, stop.phase, stop.ended_at = counts, STOP_DONE, now
        record.end(ROLLED_BACK, now, message)

    return change

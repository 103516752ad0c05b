"""Deciding a wave's gate from what AWS says about it: pass, fail, or wait. Nothing here calls AWS.

The figures come from one ``DescribeJob`` (the ``jobProcessDetails`` counters, whatever the wave's size) and,
with a health query, one ``GetStatistics``. For a wave of ``N`` devices of which ``E`` executed (their
execution ended SUCCEEDED, FAILED, REJECTED or TIMED_OUT) and ``P`` may still execute (queued, in progress,
or not yet released by the job's rollout), a measure now counting ``c`` things ends between
``c / (E + P)`` and ``(c + P) / (E + P)`` of the executed things, whatever the remaining devices do.

* **Fail** the moment a condition can no longer hold anywhere in that range, the health query matches more
  than ``max_unhealthy`` of the wave's updated devices, fewer devices than ``min_executed`` can still
  execute, or the wave's job was canceled (its abort criteria, the fast brake, or someone else) or deleted.
* **Pass** once at least ``min_executed`` executed (all of the wave by default), every condition holds on
  the figures now, and the bake time has run since the wave first had that many executed.
* **Wait** otherwise. Percentages are compared exactly (as fractions), so ``success>=95`` passes 19 of 20.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from iotfleet.fleet.explore.statistics import ProcessCounts
from iotfleet.fleet.explore.times import iso_time
from iotfleet.fleet.rollout.spec import Condition, GateSpec, format_duration

PASSED = "PASSED"
FAILED = "FAILED"
WAITING = "WAITING"
JOB_ENDED = ("COMPLETED",)
JOB_GONE = ("DELETION_IN_PROGRESS", "DELETED")


@dataclass(frozen=True)
class WaveObservation:
    """What one look at a wave found: its job's status and counters, and its unhealthy devices."""

    job_status: str
    counts: ProcessCounts
    wave_devices: int
    now: float
    ready_at: float | None = None  # when the wave first had enough executed things (from the record)
    unhealthy: int | None = None  # health query matches among its updated devices; None: no health query
    reason_code: str | None = None  # why its job was canceled, when it was
    comment: str | None = None


@dataclass(frozen=True)
class ConditionCheck:
    """One condition on the figures: its value now, the range it can still end in, and the verdict."""

    condition: str
    value: float | None  # percent of the executed things now; None before any executed
    low: float | None
    high: float | None
    holds: bool | None
    possible: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "value": None if self.value is None else round(self.value, 2),
            "finalRange": None if self.low is None else [round(self.low, 2), round(self.high or 0.0, 2)],
            "holds": self.holds,
            "canStillHold": self.possible,
        }


@dataclass(frozen=True)
class Verdict:
    """The gate's decision, why, and the figures it was taken on."""

    decision: str
    reasons: list[str]
    figures: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    bake_until: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": list(self.reasons), "figures": dict(self.figures)}


def _percent(part: int, whole: int) -> Fraction | None:
    return Fraction(100 * part, whole) if whole else None


def evaluate(gate: GateSpec, seen: WaveObservation) -> Verdict:
    """Pass, fail or wait (see the module docstring)."""
    counts = seen.counts
    executed = counts.with_result
    ended_otherwise = counts["CANCELED"] + counts["REMOVED"]
    if seen.job_status in JOB_ENDED:
        remaining = counts.pending  # nothing more will be released; queued or running ones may still end
    else:
        remaining = max(0, seen.wave_devices - executed - ended_otherwise)
    required = gate.required(seen.wave_devices)
    checks = [_check(condition.text, condition, counts[condition.status], executed, remaining)
              for condition in gate.conditions]  # fmt: skip
    figures: dict[str, Any] = {
        "waveDevices": seen.wave_devices,
        "executed": executed,
        "required": required,
        "mayStillExecute": remaining,
        "counts": counts.as_dict(),
        "conditions": [check.as_dict() for check in checks],
        "jobStatus": seen.job_status,
    }
    if seen.unhealthy is not None:
        figures["unhealthy"] = seen.unhealthy
        figures["maxUnhealthy"] = gate.max_unhealthy

    failures: list[str] = []
    if seen.job_status == "CANCELED":
        why = seen.reason_code or seen.comment or "no reason given"
        failures.append(f"the wave's job was canceled ({why}): its abort criteria or someone stopped it")
    if seen.job_status in JOB_GONE:
        failures.append("the wave's job was deleted")
    if executed + remaining < required:
        failures.append(
            f"only {executed + remaining} of the wave's devices can still execute, and the gate needs {required}"
        )
    for check in checks:
        if not check.possible:
            failures.append(f"{check.condition} can no longer hold: {_range_text(check)}")
    if seen.unhealthy is not None and seen.unhealthy > gate.max_unhealthy:
        failures.append(
            f"the health query matches {seen.unhealthy} updated device(s) of the wave, more than "
            f"{gate.max_unhealthy}"
        )
    if failures:
        return Verdict(FAILED, failures, figures)

    ready = executed >= required
    if not ready:
        return Verdict(WAITING, [f"{executed} of the {required} executed devices the gate needs"], figures)
    ready_at = seen.ready_at if seen.ready_at is not None else seen.now
    bake_until = ready_at + gate.bake_seconds
    figures["bakeUntil"] = iso_time(bake_until)
    unmet = [check.condition for check in checks if not check.holds]
    if unmet:
        return Verdict(
            WAITING,
            [f"{', '.join(unmet)} not met yet, but can still hold ({remaining} device(s) may still execute)"],
            figures, True, bake_until,
        )  # fmt: skip
    if seen.now < bake_until:
        left = format_duration(bake_until - seen.now)
        return Verdict(WAITING, [f"every condition holds; baking for {left} more"], figures, True, bake_until)
    reasons = [f"{check.condition}: {check.value:.1f}%" for check in checks if check.value is not None]
    reasons.append(f"{executed} of {seen.wave_devices} executed, baked {format_duration(gate.bake_seconds)}")
    return Verdict(PASSED, reasons, figures, True, bake_until)


def _check(text: str, condition: Condition, count: int, executed: int, remaining: int) -> ConditionCheck:
    value = _percent(count, executed)
    final = executed + remaining
    low = _percent(count, final)
    high = _percent(count + remaining, final)
    possible = True if low is None or high is None else condition.can_hold(low, high)
    holds = None if value is None else condition.holds(value)
    return ConditionCheck(
        text,
        None if value is None else float(value),
        None if low is None else float(low),
        None if high is None else float(high),
        holds,
        possible,
    )


def _range_text(check: ConditionCheck) -> str:
    now = "-" if check.value is None else f"{check.value:.1f}%"
    if check.low is None or check.high is None:
        return f"now {now}"
    if abs(check.low - check.high) < 1e-9:
        return f"it ends at {check.low:.1f}%"
    return f"now {now}, it can only end between {check.low:.1f}% and {check.high:.1f}%"

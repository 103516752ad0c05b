"""What a rollout is asked to do, checked before the first call: the release, the target, the waves, the gate
and the settings of each wave's job.

* **Waves** are cumulative percentages of the target, strictly increasing and ending at 100
  (``1%,10%,50%,100%``: the canary is 1 % of the devices, the second wave takes the total to 10 %, ...).
* **Gate conditions** are ``MEASURE OP PERCENT`` over the wave's executed things (those whose execution ended
  SUCCEEDED, FAILED, REJECTED or TIMED_OUT): ``success>=95``, ``failed<=2``, ``rejected<1``,
  ``timed_out<=5``. Operators ``>=``, ``>``, ``<=``, ``<``.
* **Bake** is a duration (``90s``, ``30m``, ``2h``, ``1d``, or a number of seconds): how long a wave's devices
  must stay healthy, once enough of them executed, before the next wave starts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from iotfleet.aws.errors import UsageError
from iotfleet.fleet.jobs.settings import JobSettings
from iotfleet.fleet.naming import (
    NameRule,
    check_fleet_name,
    check_group_name,
    check_package_name,
    check_version_name,
)

# Rollout ids stay short: wave job ids (``<id>-wave-<n>``) and retry job ids extend them within AWS's 64.
ROLLOUT_ID = NameRule("rollout id", r"[a-zA-Z0-9_-]+", 1, 40, "only letters, digits, '_' and '-' are allowed")
MAX_WAVES = 20
MAX_BAKE_SECONDS = 7 * 24 * 3600
DEFAULT_WAVES = (1.0, 10.0, 50.0, 100.0)
DEFAULT_GATE = ("success>=95",)

# Gate measures: the execution status each one counts, as a percentage of the executed things.
MEASURES = {"success": "SUCCEEDED", "failed": "FAILED", "rejected": "REJECTED", "timed_out": "TIMED_OUT"}
OPERATORS = (">=", "<=", ">", "<")
_CONDITION = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|>|<)\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*$")
_DURATION = re.compile(r"^\s*([0-9]+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*$")


def check_rollout_id(value: object, param: str | None = "--rollout-id") -> str:
    return ROLLOUT_ID.check(value, param)


def parse_waves(value: str | Iterable[float | str], param: str = "--waves") -> tuple[float, ...]:
    """``1%,10%,50%,100%`` (the ``%`` optional) to cumulative percentages, strictly increasing, ending at 100."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    waves: list[float] = []
    for part in parts:
        match = _PERCENT.match(str(part))
        if match is None:
            raise UsageError(f"wave {str(part).strip()!r} is not a percentage such as 10%", param)
        waves.append(float(match[1]))
    if not waves:
        raise UsageError("give at least one wave, e.g. --waves 1%,10%,50%,100%", param)
    if len(waves) > MAX_WAVES:
        raise UsageError(f"at most {MAX_WAVES} waves, got {len(waves)}", param)
    for before, after in zip(waves, waves[1:], strict=False):
        if after <= before:
            raise UsageError(
                f"waves are cumulative and must increase: {after:g}% comes after {before:g}%", param
            )
    if waves[0] <= 0:
        raise UsageError("the first wave must be above 0%", param)
    if waves[-1] != 100.0:
        raise UsageError(f"the last wave must be 100% (every device of the target), not {waves[-1]:g}%", param)
    return tuple(waves)


def parse_duration(value: str | int, param: str = "--bake") -> int:
    """Seconds from ``90s``, ``30m``, ``2h``, ``1d`` or a bare number of seconds (at most 7 days)."""
    if isinstance(value, bool):
        raise UsageError(f"{value!r} is not a duration", param)
    match = _DURATION.match(str(value))
    if match is None:
        raise UsageError(f"{value!r} is not a duration such as 90s, 30m, 2h or 1d", param)
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds > MAX_BAKE_SECONDS:
        raise UsageError(f"the bake time is at most 7 days, got {value}", param)
    return seconds


def format_duration(seconds: float) -> str:
    """``30m``, ``1h30m``, ``11m51s``, ``0s``: the largest units first, zero parts left out."""
    left = int(round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


@dataclass(frozen=True)
class Condition:
    """One gate condition: a measure (a percentage of the executed things), an operator and a threshold."""

    measure: str
    operator: str
    threshold: float

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise UsageError(
                f"unknown gate measure {self.measure!r}: choose from {', '.join(MEASURES)}", "--gate"
            )
        if self.operator not in OPERATORS:
            raise UsageError(f"unknown gate operator {self.operator!r}: choose from {', '.join(OPERATORS)}", "--gate")
        if not 0.0 <= float(self.threshold) <= 100.0:
            raise UsageError(f"a gate threshold is a percentage from 0 to 100, got {self.threshold:g}", "--gate")

    @classmethod
    def parse(cls, text: str) -> Condition:
        """``success>=95``, ``failed<=2``, ``rejected<1``, ``timed_out<=5%``."""
        match = _CONDITION.match(text.strip().lower())
        if match is None:
            raise UsageError(
                f"gate condition {text!r} must be MEASURE OP PERCENT, e.g. success>=95 or failed<=2 "
                f"(measures: {', '.join(MEASURES)})",
                "--gate",
            )
        return cls(match[1], match[2], float(match[3]))

    @property
    def status(self) -> str:
        """The execution status this condition counts."""
        return MEASURES[self.measure]

    @property
    def text(self) -> str:
        return f"{self.measure}{self.operator}{self.threshold:g}"

    def holds(self, value: Fraction) -> bool:
        """Whether a percentage ``value`` satisfies the condition."""
        limit = Fraction(str(self.threshold))
        return {
            ">=": value >= limit,
            ">": value > limit,
            "<=": value <= limit,
            "<": value < limit,
        }[self.operator]

    def can_hold(self, low: Fraction, high: Fraction) -> bool:
        """Whether some final percentage between ``low`` and ``high`` satisfies the condition."""
        return self.holds(high) if self.operator in (">=", ">") else self.holds(low)


@dataclass(frozen=True)
class GateSpec:
    """When a wave passes: every condition holds on its counters, at least ``min_executed`` of its things
    executed (None: all of them), its health query matches at most ``max_unhealthy`` of its updated devices,
    and ``bake_seconds`` have passed since it first had enough executed things."""

    conditions: tuple[Condition, ...] = field(default_factory=lambda: tuple(Condition.parse(c) for c in DEFAULT_GATE))
    min_executed: int | None = None
    bake_seconds: int = 0
    health_query: str | None = None
    max_unhealthy: int = 0

    def __post_init__(self) -> None:
        if not self.conditions:
            raise UsageError("a gate needs at least one condition, e.g. --gate success>=95", "--gate")
        if self.min_executed is not None and (isinstance(self.min_executed, bool) or self.min_executed < 1):
            raise UsageError(f"--min-executed must be at least 1, got {self.min_executed}", "--min-executed")
        if not 0 <= self.bake_seconds <= MAX_BAKE_SECONDS:
            raise UsageError("the bake time is 0 to 7 days", "--bake")
        if isinstance(self.max_unhealthy, bool) or self.max_unhealthy < 0:
            raise UsageError(f"--max-unhealthy must be 0 or more, got {self.max_unhealthy}", "--max-unhealthy")
        if self.health_query is not None and not self.health_query.strip():
            raise UsageError("the health query is empty", "--health-query")

    def required(self, wave_devices: int) -> int:
        """How many of a wave's things must have executed before its gate can pass."""
        wanted = wave_devices if self.min_executed is None else self.min_executed
        return max(1, min(wanted, wave_devices))

    def as_dict(self) -> dict[str, Any]:
        return {
            "conditions": [c.text for c in self.conditions],
            "minExecuted": self.min_executed,
            "bakeSeconds": self.bake_seconds,
            "healthQuery": self.health_query,
            "maxUnhealthy": self.max_unhealthy,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateSpec:
        return cls(
            conditions=tuple(Condition.parse(c) for c in data.get("conditions") or DEFAULT_GATE),
            min_executed=data.get("minExecuted"),
            bake_seconds=int(data.get("bakeSeconds") or 0),
            health_query=data.get("healthQuery"),
            max_unhealthy=int(data.get("maxUnhealthy") or 0),
        )


@dataclass(frozen=True)
class RolloutSpec:
    """A rollout as asked for: ``package``/``version`` to the devices of ``groups`` (or of ``query``), in
    ``waves``, each wave one job with ``settings``, passing ``gate`` before the next starts."""

    fleet: str
    package: str
    version: str
    groups: tuple[str, ...] = ()
    query: str | None = None
    waves: tuple[float, ...] = DEFAULT_WAVES
    gate: GateSpec = field(default_factory=GateSpec)
    approve: bool = False
    rollback: bool = True
    rollback_to: str | None = None
    settings: JobSettings = field(default_factory=JobSettings)
    rollout_id: str | None = None
    seed: int | None = None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    presign_role_arn: str | None = None

    def checked(self) -> RolloutSpec:
        """Every check that needs no call; raises :class:`UsageError` naming the flag at fault."""
        check_fleet_name(self.fleet)
        check_package_name(self.package, "--package")
        check_version_name(self.version, "--version")
        if bool(self.groups) == (self.query is not None):
            raise UsageError("give the target as --group G (repeatable) or as --query Q, one of the two", "--group")
        for group in self.groups:
            check_group_name(group, "--group")
        if self.query is not None and not self.query.strip():
            raise UsageError("the target query is empty", "--query")
        parse_waves(self.waves)
        if self.rollout_id is not None:
            check_rollout_id(self.rollout_id)
        if self.rollback_to is not None:
            check_version_name(self.rollback_to, "--rollback-to")
            if self.rollback_to == self.version:
                raise UsageError("--rollback-to names the version being rolled out", "--rollback-to")
            if not self.rollback:
                raise UsageError("--rollback-to and --no-rollback contradict each other", "--rollback-to")
        if self.settings.schedule is not None and (self.settings.schedule.start or self.settings.schedule.end):
            raise UsageError("a rollout starts each wave when the gate before it passes: no schedule", "--schedule-start")
        if self.settings.target_selection != "SNAPSHOT":
            raise UsageError("wave jobs are SNAPSHOT jobs: each wave is a fixed list of devices", "--continuous")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise UsageError(f"the seed must be a whole number, got {self.seed!r}", "--seed")
        return self


def percent_label(value: float) -> str:
    return f"{value:g}%"


def ceil_share(percent: float, total: int) -> int:
    """``percent`` of ``total`` devices, rounded up (exactly, so 10% of 30 is 3, not 4)."""
    return math.ceil(Fraction(str(percent)) * total / 100)

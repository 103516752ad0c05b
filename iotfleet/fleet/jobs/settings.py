"""How a job runs, apart from what it runs and where: rollout, abort, timeout, retries, schedule and
maintenance windows, and the presigned URL expiry, with the ranges AWS enforces on each.

Settings are small value objects (:class:`ConstantRollout`, :class:`ExponentialRollout`,
:class:`AbortCriterion`, :class:`RetryCriterion`, :class:`MaintenanceWindow`, :class:`Schedule`), each checked
against AWS's ranges when built, so an invalid one never exists. Their ``parse`` class methods read the CLI's
short forms (``FAILED:10:5``, ``TIMED_OUT:2``, ``cron=cron(0 2 ? * SUN *),duration=120``).
:class:`JobSettings` holds them all and gives the CreateJob / CreateJobTemplate fields they set.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from iotfleet.aws.errors import UsageError

# AWS limits (CreateJob / CreateJobTemplate).
MAX_PER_MINUTE = 1000
MAX_BASE_RATE = 1000
MIN_INCREMENT_FACTOR = 1.1
MAX_INCREMENT_FACTOR = 5.0
MAX_THRESHOLD_PERCENT = 100.0
MIN_TIMEOUT_MINUTES = 1
MAX_TIMEOUT_MINUTES = 10080
MAX_RETRIES_PER_CRITERION = 10
MAX_RETRIES_TOTAL = 10
MAX_RETRY_CRITERIA = 2
MIN_EXPIRES_IN_SEC = 60
MAX_EXPIRES_IN_SEC = 3600
DEFAULT_EXPIRES_IN_SEC = 3600
MIN_WINDOW_MINUTES = 1
MAX_WINDOW_MINUTES = 1430
MIN_SCHEDULE_LEAD = dt.timedelta(minutes=30)
MAX_START_AHEAD = dt.timedelta(days=366)
MAX_END_AHEAD = dt.timedelta(days=2 * 366)

SNAPSHOT = "SNAPSHOT"
CONTINUOUS = "CONTINUOUS"
TARGET_SELECTIONS = (SNAPSHOT, CONTINUOUS)
ABORT_FAILURE_TYPES = ("FAILED", "REJECTED", "TIMED_OUT", "ALL")
RETRY_FAILURE_TYPES = ("FAILED", "TIMED_OUT", "ALL")
END_BEHAVIORS = ("STOP_ROLLOUT", "CANCEL", "FORCE_CANCEL")

_CRON = re.compile(r"^\s*cron\((?P<body>[^()]*)\)\s*$", re.IGNORECASE)
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?,/#-]+$")


def _number(value: object, what: str, param: str | None, *, integer: bool) -> float:
    """A number from an int, float or decimal string; bools and other types are usage errors."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool):
        raise UsageError(f"{what} must be {kind}, got {value!r}", param)
    if isinstance(value, str):
        text = value.strip()
        pattern = r"[+-]?[0-9]+" if integer else r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
        if not re.fullmatch(pattern, text):
            raise UsageError(f"{what} must be {kind}, got {value!r}", param)
        return int(text) if integer else float(text)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and not integer:
        return value
    raise UsageError(f"{what} must be {kind}, got {value!r}", param)


def _int_in(value: object, what: str, low: int, high: int | None, param: str | None) -> int:
    number = int(_number(value, what, param, integer=True))
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UsageError(f"{what} must be {bound}, got {number}", param)
    return number


def _decimals(value: float) -> int:
    text = f"{value:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _criterion_fields(text: str, count: int, usage: str, param: str) -> list[str]:
    """The ``count`` colon-separated fields of a criterion's short form, its failure type upper-cased; a
    different number of fields is the usage error ``usage``."""
    parts = text.split(":")
    if len(parts) != count:
        raise UsageError(usage, param)
    return [parts[0].strip().upper(), *parts[1:]]


@dataclass(frozen=True)
class ConstantRollout:
    """Release at most ``maximum_per_minute`` executions a minute (1-1000)."""

    maximum_per_minute: int

    def __post_init__(self) -> None:
        number = _int_in(self.maximum_per_minute, "maximumPerMinute", 1, MAX_PER_MINUTE, "--max-per-minute")
        object.__setattr__(self, "maximum_per_minute", number)

    def to_api(self) -> dict[str, Any]:
        return {"maximumPerMinute": self.maximum_per_minute}


@dataclass(frozen=True)
class ExponentialRollout:
    """Start at ``base_rate_per_minute`` and multiply by ``increment_factor`` each time a criterion is met.

    The criteria are a number of notified things, a number of succeeded things, or both (AWS requires at
    least one); with both, the rate increases when either is met.
    """

    base_rate_per_minute: int
    increment_factor: float
    notified_things: int | None = None
    succeeded_things: int | None = None

    def __post_init__(self) -> None:
        base = _int_in(self.base_rate_per_minute, "baseRatePerMinute", 1, MAX_BASE_RATE, "--exp-base")
        object.__setattr__(self, "base_rate_per_minute", base)
        factor = _number(self.increment_factor, "incrementFactor", "--exp-factor", integer=False)
        if not MIN_INCREMENT_FACTOR <= factor <= MAX_INCREMENT_FACTOR:
            raise UsageError(
                f"incrementFactor must be between {MIN_INCREMENT_FACTOR} and {MAX_INCREMENT_FACTOR}, got {factor}",
                "--exp-factor",
            )
        if _decimals(factor) > 1:
            raise UsageError(
                f"incrementFactor takes one decimal place (e.g. 1.5), got {factor}", "--exp-factor"
            )
        object.__setattr__(self, "increment_factor", float(factor))
        if self.notified_things is None and self.succeeded_things is None:
            raise UsageError(
                "an exponential rollout needs rateIncreaseCriteria: --exp-notified N, --exp-succeeded N, "
                "or both (the rate then increases when either is met)",
                "--exp-notified",
            )
        if self.notified_things is not None:
            notified = _int_in(self.notified_things, "numberOfNotifiedThings", 1, None, "--exp-notified")
            object.__setattr__(self, "notified_things", notified)
        if self.succeeded_things is not None:
            succeeded = _int_in(self.succeeded_things, "numberOfSucceededThings", 1, None, "--exp-succeeded")
            object.__setattr__(self, "succeeded_things", succeeded)

    def to_api(self) -> dict[str, Any]:
        criteria: dict[str, int] = {}
        if self.notified_things is not None:
            criteria["numberOfNotifiedThings"] = self.notified_things
        if self.succeeded_things is not None:
            criteria["numberOfSucceededThings"] = self.succeeded_things
        return {
            "exponentialRate": {
                "baseRatePerMinute": self.base_rate_per_minute,
                "incrementFactor": self.increment_factor,
                "rateIncreaseCriteria": criteria,
            }
        }


Rollout = ConstantRollout | ExponentialRollout


@dataclass(frozen=True)
class AbortCriterion:
    """Cancel the job when ``threshold_percentage`` of executions end in ``failure_type``, once at least
    ``min_executed_things`` have run."""

    failure_type: str
    threshold_percentage: float
    min_executed_things: int

    def __post_init__(self) -> None:
        if self.failure_type not in ABORT_FAILURE_TYPES:
            raise UsageError(
                f"abort failure type must be one of {', '.join(ABORT_FAILURE_TYPES)}, got {self.failure_type!r}",
                "--abort",
            )
        pct = _number(self.threshold_percentage, "thresholdPercentage", "--abort", integer=False)
        if not 0 < pct <= MAX_THRESHOLD_PERCENT:
            raise UsageError(f"thresholdPercentage must be above 0 and at most 100, got {pct}", "--abort")
        if _decimals(pct) > 2:
            raise UsageError(f"thresholdPercentage takes at most two decimal places, got {pct}", "--abort")
        object.__setattr__(self, "threshold_percentage", float(pct))
        minimum = _int_in(self.min_executed_things, "minNumberOfExecutedThings", 1, None, "--abort")
        object.__setattr__(self, "min_executed_things", minimum)

    @classmethod
    def parse(cls, text: str) -> AbortCriterion:
        """``TYPE:PERCENT:MIN_EXECUTED``, e.g. ``FAILED:10:5``."""
        failure_type, percent, minimum = _criterion_fields(
            text, 3, f"abort criterion {text!r} must be TYPE:PERCENT:MIN_EXECUTED, e.g. FAILED:10:5", "--abort"
        )
        return cls(failure_type, percent, minimum)  # type: ignore[arg-type]

    def to_api(self) -> dict[str, Any]:
        return {
            "failureType": self.failure_type,
            "action": "CANCEL",
            "thresholdPercentage": self.threshold_percentage,
            "minNumberOfExecutedThings": self.min_executed_things,
        }


@dataclass(frozen=True)
class RetryCriterion:
    """Retry an execution up to ``retries`` times (0-10) when it ends in ``failure_type``."""

    failure_type: str
    retries: int

    def __post_init__(self) -> None:
        if self.failure_type not in RETRY_FAILURE_TYPES:
            raise UsageError(
                f"retry failure type must be one of {', '.join(RETRY_FAILURE_TYPES)} (REJECTED is never retried), "
                f"got {self.failure_type!r}",
                "--retry",
            )
        number = _int_in(self.retries, "numberOfRetries", 0, MAX_RETRIES_PER_CRITERION, "--retry")
        object.__setattr__(self, "retries", number)

    @classmethod
    def parse(cls, text: str) -> RetryCriterion:
        """``TYPE:N``, e.g. ``TIMED_OUT:2``."""
        failure_type, retries = _criterion_fields(
            text, 2, f"retry criterion {text!r} must be TYPE:N, e.g. FAILED:3", "--retry"
        )
        return cls(failure_type, retries)  # type: ignore[arg-type]

    def to_api(self) -> dict[str, Any]:
        return {"failureType": self.failure_type, "numberOfRetries": self.retries}


def check_cron(text: str, param: str | None = "--maintenance-window") -> str:
    """An AWS cron expression, ``cron(minutes hours day-of-month month day-of-week year)``."""
    match = _CRON.match(text)
    if match is None:
        raise UsageError(
            f"maintenance window start {text!r} must be cron(minutes hours dom month dow year)", param
        )
    fields = match["body"].split()
    if len(fields) != 6:
        raise UsageError(f"cron expression {text!r} must have six fields, has {len(fields)}", param)
    bad = [f for f in fields if not _CRON_FIELD.match(f)]
    if bad:
        raise UsageError(f"cron expression {text!r}: invalid field(s) {', '.join(bad)}", param)
    if (fields[2] == "?") == (fields[4] == "?"):
        raise UsageError(
            f"cron expression {text!r}: exactly one of day-of-month and day-of-week must be '?'", param
        )
    return text.strip()


@dataclass(frozen=True)
class MaintenanceWindow:
    """A recurring window (a cron start and a duration of 1-1430 minutes) in which the rollout may release."""

    cron: str
    duration_minutes: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "cron", check_cron(self.cron))
        minutes = _int_in(
            self.duration_minutes,
            "durationInMinutes",
            MIN_WINDOW_MINUTES,
            MAX_WINDOW_MINUTES,
            "--maintenance-window",
        )
        object.__setattr__(self, "duration_minutes", minutes)

    @classmethod
    def parse(cls, text: str) -> MaintenanceWindow:
        """``cron=cron(0 2 ? * SUN *),duration=120``."""
        match = re.fullmatch(r"\s*cron=(?P<cron>.+?)\s*,\s*duration=(?P<duration>[^,]+?)\s*", text)
        if match is None:
            raise UsageError(
                f"maintenance window {text!r} must be cron=cron(...),duration=MINUTES", "--maintenance-window"
            )
        return cls(match["cron"], match["duration"])  # type: ignore[arg-type]

    def to_api(self) -> dict[str, Any]:
        return {"startTime": self.cron, "durationInMinutes": self.duration_minutes}


def parse_time(value: str | dt.datetime, param: str) -> dt.datetime:
    """An ISO 8601 date and time; without an offset it is UTC. Returned aware, in UTC."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(
                f"{value!r} is not an ISO 8601 date and time, e.g. 2030-01-31T22:00Z", param
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def format_time(moment: dt.datetime) -> str:
    """The ``YYYY-MM-DDTHH:MM`` form schedulingConfig takes (UTC)."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class Schedule:
    """When the rollout runs: a start, an end with what happens then, and maintenance windows."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    end_behavior: str | None = None
    windows: tuple[MaintenanceWindow, ...] = ()

    def __post_init__(self) -> None:
        if self.start is not None:
            object.__setattr__(self, "start", parse_time(self.start, "--schedule-start"))
        if self.end is not None:
            object.__setattr__(self, "end", parse_time(self.end, "--schedule-end"))
        if self.end_behavior is not None:
            behavior = self.end_behavior.upper()
            if behavior not in END_BEHAVIORS:
                raise UsageError(
                    f"end behavior must be one of {', '.join(END_BEHAVIORS)}, got {self.end_behavior!r}",
                    "--end-behavior",
                )
            if self.end is None:
                raise UsageError("--end-behavior needs --schedule-end", "--end-behavior")
            object.__setattr__(self, "end_behavior", behavior)
        if self.start is not None and self.end is not None and self.end - self.start < MIN_SCHEDULE_LEAD:
            raise UsageError(
                f"the schedule end ({format_time(self.end)}Z) must be at least 30 minutes after its start "
                f"({format_time(self.start)}Z)",
                "--schedule-end",
            )
        object.__setattr__(self, "windows", tuple(self.windows))

    @property
    def empty(self) -> bool:
        return self.start is None and self.end is None and not self.windows

    def check_against(self, now: dt.datetime) -> None:
        """The start and end must be at least 30 minutes after ``now`` (the target's clock), and not too far."""
        stamp = f"{format_time(now)}Z"
        for moment, what, flag, furthest, furthest_text in (
            (self.start, "the scheduled start", "--schedule-start", MAX_START_AHEAD, "a year"),
            (self.end, "the schedule end", "--schedule-end", MAX_END_AHEAD, "two years"),
        ):
            if moment is None:
                continue
            if moment < now + MIN_SCHEDULE_LEAD:
                raise UsageError(
                    f"{what} {format_time(moment)}Z must be at least 30 minutes ahead "
                    f"(the target's clock reads {stamp})",
                    flag,
                )
            if moment > now + furthest:
                raise UsageError(f"{what} can be at most {furthest_text} ahead", flag)

    def to_api(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.start is not None:
            config["startTime"] = format_time(self.start)
        if self.end is not None:
            config["endTime"] = format_time(self.end)
            config["endBehavior"] = self.end_behavior or "STOP_ROLLOUT"
        if self.windows:
            config["maintenanceWindows"] = [w.to_api() for w in self.windows]
        return config


@dataclass(frozen=True)
class JobSettings:
    """Everything about how a job runs, apart from what it runs and where."""

    target_selection: str = SNAPSHOT
    rollout: Rollout | None = None
    abort: tuple[AbortCriterion, ...] = ()
    timeout_minutes: int | None = None
    retries: tuple[RetryCriterion, ...] = ()
    schedule: Schedule | None = None
    presigned_expiry_seconds: int = DEFAULT_EXPIRES_IN_SEC

    def __post_init__(self) -> None:
        if self.target_selection not in TARGET_SELECTIONS:
            raise UsageError(
                f"target selection must be SNAPSHOT or CONTINUOUS, got {self.target_selection!r}"
            )
        object.__setattr__(self, "abort", tuple(self.abort))
        object.__setattr__(self, "retries", tuple(self.retries))
        abort_types = [c.failure_type for c in self.abort]
        duplicated = sorted({t for t in abort_types if abort_types.count(t) > 1})
        if duplicated:
            raise UsageError(
                f"abort criteria list failure type {', '.join(duplicated)} more than once", "--abort"
            )
        if self.timeout_minutes is not None:
            minutes = _int_in(
                self.timeout_minutes,
                "inProgressTimeoutInMinutes",
                MIN_TIMEOUT_MINUTES,
                MAX_TIMEOUT_MINUTES,
                "--timeout-minutes",
            )
            object.__setattr__(self, "timeout_minutes", minutes)
        if len(self.retries) > MAX_RETRY_CRITERIA:
            raise UsageError(
                f"at most {MAX_RETRY_CRITERIA} retry criteria, got {len(self.retries)}", "--retry"
            )
        retry_types = [c.failure_type for c in self.retries]
        if len(set(retry_types)) != len(retry_types):
            raise UsageError("retry criteria list a failure type more than once", "--retry")
        total = sum(c.retries for c in self.retries)
        if total > MAX_RETRIES_TOTAL:
            raise UsageError(
                f"retries add up to {total}; a device is retried at most {MAX_RETRIES_TOTAL} times", "--retry"
            )
        expiry = _int_in(
            self.presigned_expiry_seconds,
            "expiresInSec",
            MIN_EXPIRES_IN_SEC,
            MAX_EXPIRES_IN_SEC,
            "--url-expiry",
        )
        object.__setattr__(self, "presigned_expiry_seconds", expiry)

    def to_api(self, *, with_target_selection: bool = True) -> dict[str, Any]:
        """The CreateJob fields these settings set (only the ones given)."""
        request: dict[str, Any] = {}
        if with_target_selection:
            request["targetSelection"] = self.target_selection
        if self.rollout is not None:
            request["jobExecutionsRolloutConfig"] = self.rollout.to_api()
        if self.abort:
            request["abortConfig"] = {"criteriaList": [c.to_api() for c in self.abort]}
        if self.timeout_minutes is not None:
            request["timeoutConfig"] = {"inProgressTimeoutInMinutes": self.timeout_minutes}
        if self.retries:
            request["jobExecutionsRetryConfig"] = {"criteriaList": [c.to_api() for c in self.retries]}
        if self.schedule is not None and not self.schedule.empty:
            request["schedulingConfig"] = self.schedule.to_api()
        return request

"""A job's ``schedulingConfig``: when its rollout may release executions.

* ``startTime``: the job is SCHEDULED until then, and its targets are resolved when it starts.
* ``endTime`` with ``endBehavior``: STOP_ROLLOUT releases nothing more (targets not yet released get
  no execution) and lets the released executions finish; CANCEL cancels the job, canceling QUEUED
  executions; FORCE_CANCEL also cancels IN_PROGRESS ones. Without an ``endBehavior``, STOP_ROLLOUT.
* ``maintenanceWindows``: recurring windows, each a cron start and a duration. When present, the
  rollout releases only inside a window; executions already released keep running outside them.

Cron expressions use AWS's six-field form, ``cron(minutes hours day-of-month month day-of-week year)``
(the ``cron(...)`` wrapper is optional), evaluated in UTC: ``*``, ``?``, values, ranges, lists, steps
and month and day names. One of day-of-month and day-of-week must be ``?``. ``L``, ``W`` and ``#`` are
rejected with a clear error rather than silently misread. Times are epoch seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from iotfleet.emulator.errors import InvalidRequestException

STOP_ROLLOUT = "STOP_ROLLOUT"
CANCEL = "CANCEL"
FORCE_CANCEL = "FORCE_CANCEL"
END_BEHAVIORS = (STOP_ROLLOUT, CANCEL, FORCE_CANCEL)

MIN_LEAD_SECONDS = 30 * 60  # startTime and endTime must be at least 30 minutes ahead
MAX_START_AHEAD_SECONDS = 366 * 86400  # "up to a year in advance"
MAX_END_AHEAD_SECONDS = 2 * 366 * 86400  # "no later than two years from the current time"
MIN_WINDOW_MINUTES = 1
MAX_WINDOW_MINUTES = 1430
SEARCH_DAYS = 5 * 366  # how far ahead a cron expression is searched for its next start

_MONTHS = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_CRON_WRAPPER = re.compile(r"^\s*cron\((?P<body>.*)\)\s*$", re.IGNORECASE)


def parse_time(value: str, field_name: str) -> float:
    """``YYYY-MM-DDTHH:MM`` (seconds and a UTC offset or ``Z`` allowed; no offset means UTC)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequestException(
            f"{field_name} {value!r} is not a date and time of the form YYYY-MM-DDTHH:MM"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def format_time(epoch: float) -> str:
    """The ``YYYY-MM-DDTHH:MM`` form AWS uses for scheduling times (UTC)."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class CronExpression:
    """A parsed AWS cron expression: the allowed values of each field."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None: "?"
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # None: "?"; 1 = Sunday
    years: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        match = _CRON_WRAPPER.match(text)
        body = match.group("body") if match else text
        fields = body.split()
        if len(fields) != 6:
            raise InvalidRequestException(
                f"Cron expression {text!r} must have six fields: "
                "cron(minutes hours day-of-month month day-of-week year)"
            )
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise InvalidRequestException(
                f"Cron expression {text!r}: exactly one of day-of-month and day-of-week must be '?'"
            )
        return cls(
            text=text,
            minutes=_field(minute, 0, 59, {}, text, "minutes"),
            hours=_field(hour, 0, 23, {}, text, "hours"),
            days_of_month=None if dom == "?" else _field(dom, 1, 31, {}, text, "day-of-month"),
            months=_field(month, 1, 12, _MONTHS, text, "month"),
            days_of_week=None if dow == "?" else _field(dow, 1, 7, _DAYS, text, "day-of-week"),
            years=_field(year, 1970, 2199, {}, text, "year"),
        )

    def _day_matches(self, day: date) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        assert self.days_of_week is not None
        return (day.weekday() + 1) % 7 + 1 in self.days_of_week

    def next_fire(self, after: float) -> float | None:
        """The first start time at or after ``after`` (epoch seconds), or None within the search span."""
        start = datetime.fromtimestamp(after, tz=timezone.utc)
        if start.second or start.microsecond:
            start = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
        hours = sorted(self.hours)
        minutes = sorted(self.minutes)
        day = start.date()
        for _ in range(SEARCH_DAYS):
            if day.year > max(self.years):
                return None
            if self._day_matches(day):
                for hour in hours:
                    for minute in minutes:
                        moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone.utc)
                        if moment >= start:
                            return moment.timestamp()
            day += timedelta(days=1)
        return None


def _field(text: str, low: int, high: int, names: dict[str, int], expr: str, label: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        values.update(_part(part, low, high, names, expr, label))
    return frozenset(values)


def _part(part: str, low: int, high: int, names: dict[str, int], expr: str, label: str) -> range:
    def bad(reason: str) -> InvalidRequestException:
        return InvalidRequestException(f"Cron expression {expr!r}: {label} {part!r} {reason}")

    base, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) < 1:
            raise bad("has an invalid step")
        step = int(step_text)
    if base in ("*", ""):
        first, last = low, high
        if base == "" and not slash:
            raise bad("is empty")
    else:
        first_text, dash, last_text = base.partition("-")
        first = _value(first_text, names, bad)
        last = _value(last_text, names, bad) if dash else (high if slash else first)
    if not (low <= first <= high and low <= last <= high) or first > last:
        raise bad(f"is outside {low}-{high}")
    return range(first, last + 1, step)


def _value(text: str, names: dict[str, int], bad: Any) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        if any(ch in upper for ch in "LW#"):
            raise bad("uses L, W or #, which the emulator does not support")
        raise bad("is not a number or a name")
    return int(text)


@dataclass(frozen=True)
class MaintenanceWindow:
    cron: CronExpression
    duration_seconds: float


@dataclass(frozen=True)
class Schedule:
    """When a job's rollout is open."""

    start: float | None = None
    end: float | None = None
    end_behavior: str | None = None
    windows: tuple[MaintenanceWindow, ...] = ()

    @classmethod
    def from_config(cls, config: dict[str, Any] | None, now: float, *, validate: bool = True) -> Schedule:
        """Parse (and, for a new job, validate against ``now``) a ``schedulingConfig``."""
        if not config:
            return cls()
        start = parse_time(config["startTime"], "startTime") if config.get("startTime") else None
        end = parse_time(config["endTime"], "endTime") if config.get("endTime") else None
        behavior = config.get("endBehavior")
        if behavior is not None and behavior not in END_BEHAVIORS:
            raise InvalidRequestException(f"endBehavior must be one of {', '.join(END_BEHAVIORS)}")
        if end is not None and behavior is None:
            behavior = STOP_ROLLOUT
        windows = tuple(parse_windows(config.get("maintenanceWindows")))
        if validate:
            _validate_times(start, end, now)
        return cls(start, end, behavior, windows)

    def in_window(self, t: float) -> bool:
        return self.window_end(t) is not None

    def window_end(self, t: float) -> float | None:
        """When the maintenance window containing ``t`` closes, or None outside every window."""
        end: float | None = None
        for window in self.windows:
            fire = window.cron.next_fire(t - window.duration_seconds + 1e-6)
            while fire is not None and fire <= t:
                close = fire + window.duration_seconds
                if close > t:
                    end = close if end is None else max(end, close)
                fire = window.cron.next_fire(fire + 60)
        return end

    def is_open(self, t: float) -> bool:
        if self.start is not None and t < self.start:
            return False
        if self.end is not None and t >= self.end:
            return False
        return not self.windows or self.in_window(t)

    def next_open(self, t: float) -> float | None:
        """The earliest time at or after ``t`` when the rollout is open, or None if never again."""
        moment = t if self.start is None else max(t, self.start)
        if self.end is not None and moment >= self.end:
            return None
        if not self.windows or self.in_window(moment):
            return moment
        fires = [f for f in (w.cron.next_fire(moment) for w in self.windows) if f is not None]
        if not fires:
            return None
        first = min(fires)
        if self.end is not None and first >= self.end:
            return None
        return first

    def upcoming_window_starts(self, t: float, count: int = 7) -> list[float]:
        """The next ``count`` maintenance-window starts after ``t`` (AWS's scheduledJobRollouts)."""
        starts: list[float] = []
        cursors = {i: w.cron.next_fire(t) for i, w in enumerate(self.windows)}
        while len(starts) < count:
            live = {i: f for i, f in cursors.items() if f is not None}
            if not live:
                break
            index, first = min(live.items(), key=lambda item: item[1])
            if self.end is not None and first >= self.end:
                break
            if not starts or starts[-1] != first:
                starts.append(first)
            cursors[index] = self.windows[index].cron.next_fire(first + 60)
        return starts


def parse_windows(windows: Any) -> list[MaintenanceWindow]:
    if not windows:
        return []
    if not isinstance(windows, list):
        raise InvalidRequestException("maintenanceWindows must be a list")
    parsed = []
    for window in windows:
        cron_text = window.get("startTime")
        duration = window.get("durationInMinutes")
        if not isinstance(cron_text, str) or not cron_text:
            raise InvalidRequestException("Each maintenance window needs a cron startTime")
        if isinstance(duration, bool) or not isinstance(duration, int) or not (
            MIN_WINDOW_MINUTES <= duration <= MAX_WINDOW_MINUTES
        ):
            raise InvalidRequestException(
                f"durationInMinutes must be between {MIN_WINDOW_MINUTES} and {MAX_WINDOW_MINUTES}"
            )
        parsed.append(MaintenanceWindow(CronExpression.parse(cron_text), duration * 60.0))
    return parsed


def _validate_times(start: float | None, end: float | None, now: float) -> None:
    if start is not None:
        if start < now + MIN_LEAD_SECONDS:
            raise InvalidRequestException("startTime must be at least thirty minutes from the current time")
        if start > now + MAX_START_AHEAD_SECONDS:
            raise InvalidRequestException("startTime can be scheduled at most a year in advance")
    if end is not None:
        if end < now + MIN_LEAD_SECONDS:
            raise InvalidRequestException("endTime must be at least thirty minutes from the current time")
        if end > now + MAX_END_AHEAD_SECONDS:
            raise InvalidRequestException("endTime must be no later than two years from the current time")
        if start is not None and end - start < MIN_LEAD_SECONDS:
            raise InvalidRequestException("endTime must be at least thirty minutes after startTime")
        if start is not None and end - start > MAX_END_AHEAD_SECONDS:
            raise InvalidRequestException("endTime can be at most two years after startTime")

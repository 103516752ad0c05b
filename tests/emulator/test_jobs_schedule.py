"""Scheduling rules of jobs: cron parsing, next window starts, window membership, time validation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.jobs.schedule import CronExpression, Schedule, format_time, parse_time

NOW = datetime(2027, 1, 15, 8, 0, tzinfo=timezone.utc).timestamp()  # a Friday


def at(text: str) -> float:
    return parse_time(text, "t")


def test_parse_time_forms() -> None:
    assert at("2027-01-15T08:00") == NOW
    assert at("2027-01-15T08:00:00Z") == NOW
    assert at("2027-01-15T09:00+01:00") == NOW
    assert format_time(NOW) == "2027-01-15T08:00"
    with pytest.raises(InvalidRequestException):
        at("tomorrow")


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(30 * * * ? *)", "2027-01-15T08:00", "2027-01-15T08:30"),
        ("cron(30 * * * ? *)", "2027-01-15T08:30", "2027-01-15T08:30"),  # inclusive
        ("cron(30 * * * ? *)", "2027-01-15T08:30:01", "2027-01-15T09:30"),
        ("cron(0 2 ? * SUN *)", "2027-01-15T08:00", "2027-01-17T02:00"),
        ("cron(0 2 ? * 1 *)", "2027-01-15T08:00", "2027-01-17T02:00"),  # 1 = Sunday
        ("cron(0 22 ? * MON-FRI *)", "2027-01-15T23:00", "2027-01-18T22:00"),
        ("cron(0/15 9 15 JAN,FEB ? 2027)", "2027-01-15T09:16", "2027-01-15T09:30"),
        ("cron(0 0 1 * ? *)", "2027-01-15T08:00", "2027-02-01T00:00"),
        ("0 12 29 2 ? *", "2027-01-15T08:00", "2028-02-29T12:00"),
        ("cron(0 0 1 1 ? 2026)", "2027-01-15T08:00", None),
    ],
)
def test_next_fire(expression: str, after: str, expected: str | None) -> None:
    fire = CronExpression.parse(expression).next_fire(at(after))
    assert (None if fire is None else format_time(fire)) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 12 * * * *)",  # both day fields given
        "cron(0 12 ? * ? *)",  # neither
        "cron(0 12 L * ? *)",
        "cron(0 12 ? * 6#3 *)",
        "cron(0 12 15W * ? *)",
        "cron(61 12 * * ? *)",
        "cron(0 12 * * ?)",
        "cron(0 12 * FOO ? *)",
        "cron(0 5-2 * * ? *)",
        "cron(0/0 12 * * ? *)",
    ],
)
def test_bad_cron_is_rejected(expression: str) -> None:
    with pytest.raises(InvalidRequestException):
        CronExpression.parse(expression)


minute_field = st.sampled_from(["*", "0", "15", "0/20", "5-10", "0,30", "45/5"])
hour_field = st.sampled_from(["*", "0", "13", "8-17", "0/6", "22,23"])
dom_field = st.sampled_from(["*", "1", "15", "10-20", "1/7", "?"])
month_field = st.sampled_from(["*", "JAN", "1-3", "FEB,MAR", "12"])
dow_field = st.sampled_from(["*", "MON", "1", "2-6", "SAT,SUN", "?"])


@settings(max_examples=60, deadline=None)
@given(
    minute_field,
    hour_field,
    dom_field,
    month_field,
    dow_field,
    st.integers(min_value=0, max_value=400 * 24 * 60),
)
def test_next_fire_matches_a_brute_force_scan(
    minute: str, hour: str, dom: str, month: str, dow: str, offset_minutes: int
) -> None:
    if (dom == "?") == (dow == "?"):
        dom, dow = ("?", dow) if dow != "?" else (dom, "?")
        if (dom == "?") == (dow == "?"):
            dom = "*"
    cron = CronExpression.parse(f"cron({minute} {hour} {dom} {month} {dow} *)")
    start = datetime(2027, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=offset_minutes, seconds=7)
    found = cron.next_fire(start.timestamp())
    moment = start.replace(second=0) + timedelta(minutes=1)
    for _ in range(40 * 24 * 60):
        day_ok = (
            moment.month in cron.months
            and (cron.days_of_month is None or moment.day in cron.days_of_month)
            and (cron.days_of_week is None or (moment.weekday() + 1) % 7 + 1 in cron.days_of_week)
        )
        if day_ok and moment.hour in cron.hours and moment.minute in cron.minutes:
            assert found == moment.timestamp()
            return
        moment += timedelta(minutes=1)
    assert found is None or found > moment.timestamp() - 60


def test_window_membership_and_next_opening() -> None:
    schedule = Schedule.from_config(
        {"maintenanceWindows": [{"startTime": "cron(0 22 ? * MON-FRI *)", "durationInMinutes": 120}]},
        NOW,
    )
    assert not schedule.is_open(NOW)
    assert schedule.next_open(NOW) == at("2027-01-15T22:00")
    assert schedule.is_open(at("2027-01-15T23:59"))
    assert schedule.window_end(at("2027-01-15T23:59")) == at("2027-01-16T00:00")
    assert not schedule.is_open(at("2027-01-16T00:00"))
    assert schedule.next_open(at("2027-01-16T00:00")) == at("2027-01-18T22:00")
    starts = [format_time(t) for t in schedule.upcoming_window_starts(NOW, 3)]
    assert starts == ["2027-01-15T22:00", "2027-01-18T22:00", "2027-01-19T22:00"]


def test_start_and_end_bound_the_rollout() -> None:
    schedule = Schedule.from_config(
        {"startTime": "2027-01-15T09:00", "endTime": "2027-01-15T10:00", "endBehavior": "CANCEL"}, NOW
    )
    assert not schedule.is_open(NOW)
    assert schedule.next_open(NOW) == at("2027-01-15T09:00")
    assert schedule.is_open(at("2027-01-15T09:59"))
    assert schedule.next_open(at("2027-01-15T10:00")) is None
    assert Schedule.from_config({"endTime": "2027-01-15T10:00"}, NOW).end_behavior == "STOP_ROLLOUT"


@pytest.mark.parametrize(
    "config",
    [
        {"startTime": "2027-01-15T08:29"},  # less than 30 minutes ahead
        {"startTime": "2028-02-15T08:00"},  # more than a year ahead
        {"endTime": "2027-01-15T08:10"},
        {"startTime": "2027-01-15T09:00", "endTime": "2027-01-15T09:20"},
        {"endTime": "2027-01-15T10:00", "endBehavior": "PAUSE"},
        {"maintenanceWindows": [{"startTime": "cron(0 0 * * ? *)", "durationInMinutes": 1431}]},
        {"maintenanceWindows": [{"durationInMinutes": 10}]},
    ],
)
def test_invalid_scheduling_config(config: dict) -> None:
    with pytest.raises(InvalidRequestException):
        Schedule.from_config(config, NOW)

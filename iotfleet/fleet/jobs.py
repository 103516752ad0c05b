"""Creating OTA and custom jobs and job templates, with every AWS limit checked before the first call.

Three steps, so that bad input changes nothing and a dry run shows exactly what would be sent:

1. :func:`check_job_spec` (no call at all): names, document, placeholders, package references, every
   numeric range AWS enforces, the number of targets, tags.
2. :func:`prepare_job` (reads only): the package versions must be PUBLISHED or DEPRECATED, groups and things
   are resolved to ARNs (an unknown one is a usage error), a scheduled start must be at least 30 minutes
   ahead of the target's clock, and the fleet's jobs role is found for presigned URLs. The result holds the
   exact ``CreateJob`` request.
3. :func:`submit_job` makes the one ``CreateJob`` call.

Settings are small value objects (:class:`ConstantRollout`, :class:`ExponentialRollout`,
:class:`AbortCriterion`, :class:`RetryCriterion`, :class:`MaintenanceWindow`, :class:`Schedule`), each checked
against AWS's ranges when built, so an invalid one never exists. Their ``parse`` class methods read the CLI's
short forms (``FAILED:10:5``, ``TIMED_OUT:2``, ``cron=cron(0 2 ? * SUN *),duration=120``).

Every job and template carries the fleet's ownership tag, so cleanup finds it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, is_error
from iotfleet.fleet import job_documents as docs
from iotfleet.fleet.job_documents import CheckedDocument, PackageVersionRef
from iotfleet.fleet.key_values import parse_key_values
from iotfleet.fleet.naming import (
    JOB_ID,
    JOB_TEMPLATE_ID,
    TAG_KEY,
    TAG_VALUE,
    check_group_name,
    check_job_id,
    check_package_name,
    check_thing_name,
    check_version_name,
)
from iotfleet.fleet.ownership import tag_list
from iotfleet.fleet.runner import run_parallel

# AWS limits (CreateJob / CreateJobTemplate).
MAX_TARGETS = 100
MAX_DESTINATION_VERSIONS = 25
MAX_DESCRIPTION = 2028
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
MAX_TAGS = 50

SNAPSHOT = "SNAPSHOT"
CONTINUOUS = "CONTINUOUS"
TARGET_SELECTIONS = (SNAPSHOT, CONTINUOUS)
ABORT_FAILURE_TYPES = ("FAILED", "REJECTED", "TIMED_OUT", "ALL")
RETRY_FAILURE_TYPES = ("FAILED", "TIMED_OUT", "ALL")
END_BEHAVIORS = ("STOP_ROLLOUT", "CANCEL", "FORCE_CANCEL")
DEPLOYABLE_STATUSES = ("PUBLISHED", "DEPRECATED")
RESERVED_TAG_PREFIXES = ("aws:", "iotfleet:")

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


# --- settings -------------------------------------------------------------------------------------------


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
    """Start at ``base_rate_per_minute`` and multiply by ``increment_factor`` each time the criterion is met.

    The criterion is a number of notified things or of succeeded things (exactly one; AWS requires it).
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
        if (self.notified_things is None) == (self.succeeded_things is None):
            raise UsageError(
                "an exponential rollout needs rateIncreaseCriteria: exactly one of --exp-notified N and "
                "--exp-succeeded N",
                "--exp-notified",
            )
        if self.notified_things is not None:
            notified = _int_in(self.notified_things, "numberOfNotifiedThings", 1, None, "--exp-notified")
            object.__setattr__(self, "notified_things", notified)
        if self.succeeded_things is not None:
            succeeded = _int_in(self.succeeded_things, "numberOfSucceededThings", 1, None, "--exp-succeeded")
            object.__setattr__(self, "succeeded_things", succeeded)

    def to_api(self) -> dict[str, Any]:
        criteria = (
            {"numberOfNotifiedThings": self.notified_things}
            if self.notified_things is not None
            else {"numberOfSucceededThings": self.succeeded_things}
        )
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
        parts = text.split(":")
        if len(parts) != 3:
            raise UsageError(
                f"abort criterion {text!r} must be TYPE:PERCENT:MIN_EXECUTED, e.g. FAILED:10:5", "--abort"
            )
        return cls(parts[0].strip().upper(), parts[1], parts[2])  # type: ignore[arg-type]

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
        parts = text.split(":")
        if len(parts) != 2:
            raise UsageError(f"retry criterion {text!r} must be TYPE:N, e.g. FAILED:3", "--retry")
        return cls(parts[0].strip().upper(), parts[1])  # type: ignore[arg-type]

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
        if self.start is not None:
            if self.start < now + MIN_SCHEDULE_LEAD:
                raise UsageError(
                    f"the scheduled start {format_time(self.start)}Z must be at least 30 minutes ahead "
                    f"(the target's clock reads {stamp})",
                    "--schedule-start",
                )
            if self.start > now + MAX_START_AHEAD:
                raise UsageError("the scheduled start can be at most a year ahead", "--schedule-start")
        if self.end is not None:
            if self.end < now + MIN_SCHEDULE_LEAD:
                raise UsageError(
                    f"the schedule end {format_time(self.end)}Z must be at least 30 minutes ahead "
                    f"(the target's clock reads {stamp})",
                    "--schedule-end",
                )
            if self.end > now + MAX_END_AHEAD:
                raise UsageError("the schedule end can be at most two years ahead", "--schedule-end")

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


# --- what to create -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    """A job as the user asks for it, by names. Exactly one of: ``package``+``version`` (OTA),
    ``document`` (custom JSON text) or ``template`` (a job template's document and settings)."""

    fleet: str
    groups: tuple[str, ...] = ()
    things: tuple[str, ...] = ()
    package: str | None = None
    version: str | None = None
    document: str | None = None
    document_name: str | None = None  # where a custom document came from (a file name), for the job id
    template: str | None = None
    settings: JobSettings = field(default_factory=JobSettings)
    job_id: str | None = None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # Extra package versions a custom document deploys; those its placeholders name are added.
    destinations: tuple[PackageVersionRef, ...] = ()
    # The role AWS uses to presign artifact URLs; by default the fleet's jobs role.
    presign_role_arn: str | None = None
    kind: str | None = None  # "ota", "custom", "template" or "rollback" (derived when None)

    @property
    def job_kind(self) -> str:
        if self.kind:
            return self.kind
        if self.template:
            return "template"
        if self.document is not None:
            return "custom"
        return "ota"


@dataclass(frozen=True)
class CheckedJob:
    """A :class:`JobSpec` that passed every local check."""

    spec: JobSpec
    job_id: str
    document: CheckedDocument | None
    destinations: tuple[PackageVersionRef, ...]
    tags: list[dict[str, str]]


@dataclass
class PreparedJob:
    """The exact CreateJob request, after the reads; ``notes`` say what was decided on the way."""

    request: dict[str, Any]
    targets: dict[str, str]  # name -> ARN
    notes: list[str] = field(default_factory=list)

    @property
    def job_id(self) -> str:
        return str(self.request["jobId"])


def _slug(text: str, limit: int) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "_", text).strip("_-") or "x"
    return slug[:limit].rstrip("_-") or "x"


def default_job_id(kind: str, *parts: str, now: dt.datetime | None = None, suffix: str | None = None) -> str:
    """A readable, unique job id: ``<kind>-<parts...>-<yyyymmddThhmmss>-<4 hex>``, at most 64 characters.

    Dots in versions become underscores (``ota-fw-main-1_2_0-20300131T220000-a3f9``).
    """
    moment = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    stamp = moment.strftime("%Y%m%dT%H%M%S")
    tail = f"{stamp}-{suffix or secrets.token_hex(2)}"
    budget = JOB_ID.max_len - len(kind) - len(tail) - 2 - len(parts)
    pieces = [_slug(part, max(4, budget // max(1, len(parts)))) for part in parts if part]
    middle = "-".join(pieces)
    job_id = f"{kind}-{middle}-{tail}" if middle else f"{kind}-{tail}"
    if len(job_id) > JOB_ID.max_len:
        job_id = f"{kind}-{middle[: JOB_ID.max_len - len(kind) - len(tail) - 2].rstrip('_-')}-{tail}"
    return check_job_id(job_id)


def check_tags(tags: Mapping[str, str], param: str = "--tag") -> dict[str, str]:
    """User tags: AWS's key and value rules, at most 50 with ours, and no reserved ``aws:``/``iotfleet:`` keys."""
    for key, value in tags.items():
        TAG_KEY.check(key, param)
        TAG_VALUE.check(value, param)
        if key.lower().startswith(RESERVED_TAG_PREFIXES):
            raise UsageError(f"tag key {key!r} is reserved (aws: and iotfleet: prefixes)", param)
    if len(tags) + 2 > MAX_TAGS:
        raise UsageError(f"at most {MAX_TAGS - 2} tags of your own, got {len(tags)}", param)
    return dict(tags)


def parse_tags(values: Iterable[str], param: str = "--tag") -> dict[str, str]:
    """``key=value`` strings to checked tags (a later key wins; spaces around keys and values are trimmed)."""
    return check_tags(parse_key_values(values, what="tag", param=param, strip=True), param)


def check_description(text: str | None, param: str = "--description") -> str | None:
    if text is None:
        return None
    if len(text) > MAX_DESCRIPTION:
        raise UsageError(f"the description is {len(text)} characters; at most {MAX_DESCRIPTION}", param)
    if not text or any(not ch.isprintable() for ch in text):
        raise UsageError("the description must be non-empty printable text (no control characters)", param)
    return text


def check_targets(groups: Sequence[str], things: Sequence[str]) -> None:
    for group in groups:
        check_group_name(group, "--group")
    for thing in things:
        check_thing_name(thing, "--thing")
    count = len(set(groups)) + len(set(things))
    if count == 0:
        raise UsageError("a job needs at least one target: --group NAME or --thing NAME", "--group")
    if count > MAX_TARGETS:
        raise UsageError(
            f"a job takes at most {MAX_TARGETS} targets, got {count}: target thing groups instead of things",
            "--thing",
        )


def check_job_spec(
    spec: JobSpec, *, now: dt.datetime | None = None, require_targets: bool = True
) -> CheckedJob:
    """Every check that needs no call. Raises :class:`UsageError` (exit 2) naming the flag at fault.

    ``require_targets=False`` checks everything else, for callers that find the targets afterwards.
    """
    has_ota = spec.package is not None or spec.version is not None
    has_document = spec.document is not None
    has_template = spec.template is not None
    if has_template and (has_ota or has_document):
        raise UsageError(
            "--template brings its own document: drop --package/--version and --document", "--template"
        )
    if not (has_ota or has_document or has_template):
        raise UsageError(
            "give one of --package P --version V, --document FILE or --template NAME", "--package"
        )
    if has_ota and (spec.package is None or spec.version is None):
        raise UsageError("--package and --version go together", "--version" if spec.package else "--package")
    if spec.job_id is not None:
        check_job_id(spec.job_id, "--job-id")
    if spec.template is not None:
        JOB_TEMPLATE_ID.check(spec.template, "--template")
    destinations: list[PackageVersionRef] = list(spec.destinations)
    if spec.package is not None and spec.version is not None:
        check_package_name(spec.package, "--package")
        check_version_name(spec.version, "--version")
        destinations.insert(0, PackageVersionRef(spec.package, spec.version))
    if require_targets or spec.groups or spec.things:
        check_targets(spec.groups, spec.things)
    check_description(spec.description)
    user_tags = check_tags(spec.tags)

    document: CheckedDocument | None = None
    if spec.document is not None:
        document = docs.check_document(spec.document, "--document")
        if spec.package is None:
            # Without --package, the document's named versions are what the job deploys.
            destinations.extend(document.package_refs)
    elif spec.package is not None and spec.version is not None:
        document = docs.check_document(docs.render(docs.ota_document(spec.package, spec.version)))
    destinations = list(dict.fromkeys(destinations))
    if document is not None:
        docs.check_package_references(document, destinations, "--document")
    if len(destinations) > MAX_DESTINATION_VERSIONS:
        raise UsageError(
            f"a job deploys at most {MAX_DESTINATION_VERSIONS} package versions, got {len(destinations)}",
            "--document",
        )

    job_id = spec.job_id or _default_id_for(spec, now)
    tags = tag_list(spec.fleet, {**user_tags, "iotfleet:job-kind": spec.job_kind})
    return CheckedJob(spec, job_id, document, tuple(destinations), tags)


def _default_id_for(spec: JobSpec, now: dt.datetime | None) -> str:
    kind = spec.job_kind
    if spec.package and spec.version:
        return default_job_id(kind, spec.package, spec.version, now=now)
    if spec.template:
        return default_job_id(kind, spec.template, now=now)
    stem = os.path.splitext(os.path.basename(spec.document_name))[0] if spec.document_name else ""
    return default_job_id(kind, stem, now=now)


# --- reads ----------------------------------------------------------------------------------------------


def version_status(ctx: AwsContext, ref: PackageVersionRef) -> dict[str, Any]:
    """``GetPackageVersion``; a missing package or version is a usage error."""
    try:
        answer: dict[str, Any] = ctx.iot.get_package_version(packageName=ref.package, versionName=ref.version)
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            raise UsageError(f"package version {ref} does not exist", "--version") from None
        raise
    return answer


def check_deployable(ctx: AwsContext, refs: Iterable[PackageVersionRef]) -> dict[PackageVersionRef, str]:
    """Each version must exist and be PUBLISHED or DEPRECATED; returns their ARNs."""
    arns: dict[PackageVersionRef, str] = {}
    for ref in refs:
        answer = version_status(ctx, ref)
        status = answer.get("status")
        if status not in DEPLOYABLE_STATUSES:
            raise UsageError(
                f"package version {ref} is {status}: only PUBLISHED or DEPRECATED versions can be deployed "
                f"(iotfleet packages publish {ref.package} {ref.version})",
                "--version",
            )
        arns[ref] = str(answer["packageVersionArn"])
    return arns


@dataclass(frozen=True)
class ResolvedTarget:
    """A target found by name: its ARN, and for a group whether it is dynamic."""

    kind: str  # "group" or "thing"
    name: str
    arn: str
    dynamic: bool = False


def resolve_targets(ctx: AwsContext, groups: Sequence[str], things: Sequence[str]) -> list[ResolvedTarget]:
    """Group and thing names to ARNs (``describe_*`` reads, in parallel); an unknown name is a usage error."""
    wanted = [("group", g) for g in dict.fromkeys(groups)] + [("thing", t) for t in dict.fromkeys(things)]

    def describe(item: tuple[str, str]) -> ResolvedTarget:
        kind, name = item
        if kind == "group":
            group = ctx.iot.describe_thing_group(thingGroupName=name)
            return ResolvedTarget(kind, name, str(group["thingGroupArn"]), bool(group.get("queryString")))
        return ResolvedTarget(kind, name, str(ctx.iot.describe_thing(thingName=name)["thingArn"]))

    result = run_parallel(wanted, describe, concurrency=ctx.concurrency)
    missing = [
        f"{kind} {name}"
        for (kind, name), error in ((o.item, o.error) for o in result.failed)
        if error is not None and is_error(error, "ResourceNotFoundException")
    ]
    if missing:
        flag = "--group" if missing[0].startswith("group") else "--thing"
        raise UsageError(f"unknown target(s): {', '.join(missing)}", flag)
    result.raise_for_failures("resolve job targets", "target", lambda item: f"{item[0]} {item[1]}")
    return [o.value for o in result.succeeded if o.value is not None]


def fleet_jobs_role_arn(ctx: AwsContext, fleet: str) -> str:
    """The fleet's jobs role (the one AWS IoT assumes to presign artifact URLs), found by ownership tags."""
    from iotfleet.fleet.resources import discover

    role = discover(ctx, fleet, kinds={"roles"}).jobs_role_arn
    if not role:
        raise UsageError(
            f"fleet {fleet!r} has no jobs role: provision the fleet first (iotfleet provision --fleet {fleet})",
            "--fleet",
        )
    return role


def describe_template(ctx: AwsContext, template_id: str, param: str = "--template") -> dict[str, Any]:
    """``DescribeJobTemplate``; a missing template is a usage error naming ``param``."""
    JOB_TEMPLATE_ID.check(template_id, param)
    try:
        answer: dict[str, Any] = ctx.iot.describe_job_template(jobTemplateId=template_id)
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            raise UsageError(f"job template {template_id!r} does not exist", param) from None
        raise
    return answer


def prepare_job(
    ctx: AwsContext,
    spec: JobSpec | CheckedJob,
    *,
    targets: Mapping[str, str] | None = None,
) -> PreparedJob:
    """Check locally, then read what the request needs; returns the exact CreateJob request.

    ``targets`` (name -> ARN) skips resolving names, for callers that already hold ARNs (rollback).
    """
    checked = spec if isinstance(spec, CheckedJob) else check_job_spec(spec)
    spec = checked.spec
    settings = spec.settings
    notes: list[str] = []
    if settings.schedule is not None and (settings.schedule.start or settings.schedule.end):
        # Against the target's clock (one read), before any other read and before the create call.
        settings.schedule.check_against(ctx.service_time())
    template: dict[str, Any] | None = None
    if spec.template is not None:
        template = describe_template(ctx, spec.template)
    destination_arns = check_deployable(ctx, checked.destinations)
    if template is not None:
        template_refs = [
            PackageVersionRef.from_arn(a) for a in template.get("destinationPackageVersions") or []
        ]
        check_deployable(ctx, template_refs)
    if targets is not None:
        resolved = dict(targets)
    else:
        found = resolve_targets(ctx, spec.groups, spec.things)
        resolved = {f"{t.kind}:{t.name}": t.arn for t in found}
        dynamic = [t.name for t in found if t.dynamic]
        if dynamic and settings.target_selection == SNAPSHOT:
            notes.append(
                f"dynamic group(s) {', '.join(dynamic)}: a SNAPSHOT job reaches the members at its start only; "
                "--continuous also reaches devices that join later"
            )

    request: dict[str, Any] = {"jobId": checked.job_id, "targets": list(dict.fromkeys(resolved.values()))}
    if template is not None:
        request["jobTemplateArn"] = template["jobTemplateArn"]
    if checked.document is not None:
        request["document"] = checked.document.text
    if spec.description:
        request["description"] = spec.description
    needs_presigning = checked.document.needs_presigning if checked.document is not None else False
    if template is not None and not template.get("presignedUrlConfig"):
        template_needs = docs.check_document(template.get("document") or "{}").needs_presigning
        if template_needs:
            notes.append(f"job template {spec.template} has no presignedUrlConfig: the job brings the fleet's")
        needs_presigning = needs_presigning or template_needs
    if needs_presigning:
        role = spec.presign_role_arn or fleet_jobs_role_arn(ctx, spec.fleet)
        request["presignedUrlConfig"] = {"roleArn": role, "expiresInSec": settings.presigned_expiry_seconds}
    request.update(settings.to_api())
    if destination_arns:
        request["destinationPackageVersions"] = list(destination_arns.values())
    request["tags"] = checked.tags
    return PreparedJob(request, dict(resolved), notes)


def submit_job(ctx: AwsContext, prepared: PreparedJob) -> dict[str, Any]:
    """The one mutating call: ``CreateJob`` with the prepared request. Returns jobId, jobArn, description."""
    try:
        answer = ctx.iot.create_job(**prepared.request)
    except ClientError as err:
        if is_error(err, "ResourceAlreadyExistsException"):
            raise UsageError(
                f"a job with id {prepared.job_id!r} already exists: pick another --job-id", "--job-id"
            ) from None
        raise
    return {key: answer.get(key) for key in ("jobId", "jobArn", "description") if answer.get(key) is not None}


def create_job(ctx: AwsContext, spec: JobSpec) -> tuple[PreparedJob, dict[str, Any]]:
    """Check, prepare and submit; returns the request sent and AWS's answer."""
    prepared = prepare_job(ctx, spec)
    return prepared, submit_job(ctx, prepared)


# --- templates ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateSpec:
    """A custom job template: from a package version, a document, or an existing job (``from_job``)."""

    fleet: str
    template_id: str
    description: str | None = None
    package: str | None = None
    version: str | None = None
    document: str | None = None
    from_job: str | None = None
    settings: JobSettings = field(default_factory=JobSettings)
    tags: Mapping[str, str] = field(default_factory=dict)
    presign_role_arn: str | None = None


def check_template_spec(spec: TemplateSpec) -> tuple[CheckedDocument | None, list[PackageVersionRef]]:
    """Local checks of a template; returns its checked document and package versions."""
    JOB_TEMPLATE_ID.check(spec.template_id, "NAME")
    sources = [
        flag
        for flag, given in (
            ("--package/--version", spec.package is not None or spec.version is not None),
            ("--document", spec.document is not None),
            ("--from-job", spec.from_job is not None),
        )
        if given
    ]
    if len(sources) != 1:
        raise UsageError(
            "give exactly one of --package P --version V, --document FILE or --from-job JOB"
            + (f" (got {', '.join(sources)})" if sources else ""),
            "--package",
        )
    if spec.from_job is not None:
        check_job_id(spec.from_job, "--from-job")
    check_description(spec.description)
    check_tags(spec.tags)
    schedule = spec.settings.schedule
    if schedule is not None and (schedule.start or schedule.end):
        raise UsageError(
            "a job template keeps maintenance windows only, not a start or end time", "--schedule-start"
        )
    if spec.settings.target_selection != SNAPSHOT:
        raise UsageError("target selection belongs to the job, not to the template", "--continuous")
    refs: list[PackageVersionRef] = []
    document: CheckedDocument | None = None
    if spec.package is not None or spec.version is not None:
        if spec.package is None or spec.version is None:
            raise UsageError("--package and --version go together", "--package")
        check_package_name(spec.package, "--package")
        check_version_name(spec.version, "--version")
        refs.append(PackageVersionRef(spec.package, spec.version))
        document = docs.check_document(docs.render(docs.ota_document(spec.package, spec.version)))
    elif spec.document is not None:
        document = docs.check_document(spec.document)
        refs.extend(document.package_refs)
        if document.uses_default_package and len(refs) != 1:
            docs.check_package_references(document, refs)
    return document, refs


def prepare_template(ctx: AwsContext, spec: TemplateSpec) -> dict[str, Any]:
    """Check locally, then read (versions, source job, role); returns the exact CreateJobTemplate request."""
    document, refs = check_template_spec(spec)
    request: dict[str, Any] = {
        "jobTemplateId": spec.template_id,
        "description": spec.description or _template_description(spec),
    }
    if spec.from_job is not None:
        try:
            job = ctx.iot.describe_job(jobId=spec.from_job)["job"]
        except ClientError as err:
            if is_error(err, "ResourceNotFoundException"):
                raise UsageError(f"job {spec.from_job!r} does not exist", "--from-job") from None
            raise
        request["jobArn"] = job["jobArn"]
    arns = check_deployable(ctx, refs)
    if document is not None:
        request["document"] = document.text
        if document.needs_presigning:
            role = spec.presign_role_arn or fleet_jobs_role_arn(ctx, spec.fleet)
            request["presignedUrlConfig"] = {
                "roleArn": role,
                "expiresInSec": spec.settings.presigned_expiry_seconds,
            }
    settings = spec.settings.to_api(with_target_selection=False)
    scheduling = settings.pop("schedulingConfig", None)
    request.update(settings)
    if scheduling and scheduling.get("maintenanceWindows"):
        request["maintenanceWindows"] = scheduling["maintenanceWindows"]
    if arns:
        request["destinationPackageVersions"] = list(arns.values())
    request["tags"] = tag_list(spec.fleet, dict(spec.tags))
    return request


def _template_description(spec: TemplateSpec) -> str:
    if spec.package:
        return f"OTA update of {spec.package} to {spec.version}"
    if spec.from_job:
        return f"Copied from job {spec.from_job}"
    return "Custom job template"


def submit_template(ctx: AwsContext, request: dict[str, Any]) -> dict[str, Any]:
    """The one mutating call: ``CreateJobTemplate``. Returns jobTemplateId and jobTemplateArn."""
    try:
        answer = ctx.iot.create_job_template(**request)
    except ClientError as err:
        if is_error(err, "ConflictException", "ResourceAlreadyExistsException"):
            raise UsageError(f"job template {request['jobTemplateId']!r} already exists", "NAME") from None
        raise
    return {k: answer.get(k) for k in ("jobTemplateId", "jobTemplateArn")}


def create_template(ctx: AwsContext, spec: TemplateSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check, prepare and create a job template; returns the request and AWS's answer."""
    request = prepare_template(ctx, spec)
    return request, submit_template(ctx, request)


def list_templates(ctx: AwsContext) -> list[dict[str, Any]]:
    """Every job template (all pages)."""
    found: list[dict[str, Any]] = []
    for page in ctx.iot.get_paginator("list_job_templates").paginate():
        found.extend(page.get("jobTemplates", []))
    return found


def delete_template(ctx: AwsContext, template_id: str) -> None:
    describe_template(ctx, template_id, "NAME")
    ctx.iot.delete_job_template(jobTemplateId=template_id)

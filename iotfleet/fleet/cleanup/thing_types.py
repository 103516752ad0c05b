"""Deleting thing types: deprecate, wait the 5 minutes AWS requires, delete.

AWS refuses DeleteThingType (InvalidRequestException) until five minutes after the type was deprecated. The
cleanup deprecates the fleet's types first thing, so that wait runs while everything else is deleted, and
comes back to them last. Then it does not sleep blindly: it tries DeleteThingType, and while AWS still
refuses it counts down to the moment the five minutes are over (measured from the deprecation date AWS
reports, or from when this run deprecated the type), trying again after :data:`FIRST_POLL` seconds, then at
doubling intervals up to :data:`POLL_INTERVAL`, and at that moment, until AWS accepts or :data:`GRACE`
seconds past it (clocks differ). The short first polls cost a handful of calls on AWS and let a
time-scaled local emulator, whose five minutes pass in seconds, finish at once. Time is the context's
clock, so tests run on fake time. With ``wait=False`` the types are left deprecated, and a later run deletes
them. A type that things still have is never waited for: AWS will not delete it however long one waits, so
the failure names those things at once.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import ResourceFailure, is_error
from iotfleet.fleet.cleanup.scan import Resource
from iotfleet.fleet.runner import NoProgress, Progress, run_parallel

DEPRECATION_WAIT = 300.0
FIRST_POLL = 1.0
POLL_INTERVAL = 15.0
GRACE = 120.0
# The countdown moves in steps of at most this many seconds.
TICK = 1.0
# How many of the things still using a type a failure names (one more tells there are more).
IN_USE_EXAMPLES = 6

ACCEPTED = "deleted"
GONE = "already gone"
REFUSED = "refused"


@dataclass
class TypeDeletion:
    """What happened to the thing types: deleted (or gone), left deprecated, or failed."""

    deleted: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)
    failed: list[ResourceFailure] = field(default_factory=list)


def deprecation_time(resource: Resource) -> float | None:
    """When AWS says the type was deprecated (epoch seconds), if it is deprecated and says so."""
    if not resource.info.get("deprecated"):
        return None
    date = resource.info.get("deprecation_date")
    if isinstance(date, dt.datetime):
        return date.timestamp()
    return None


def deprecate(
    ctx: AwsContext, types: Iterable[Resource], progress: Progress | None = None
) -> tuple[dict[str, float], list[ResourceFailure]]:
    """Deprecate each type not deprecated yet; returns when each type's wait started, and the failures.

    For a type deprecated earlier without a date (some endpoints omit it), the wait starts now: a first
    delete attempt still goes out at once, so a type deprecated long ago is deleted without waiting.
    """
    started: dict[str, float] = {}
    to_deprecate: list[Resource] = []
    for resource in types:
        if resource.info.get("deprecated"):
            when = deprecation_time(resource)
            started[resource.name] = when if when is not None else ctx.clock.time()
        else:
            to_deprecate.append(resource)

    def work(resource: Resource) -> None:
        ctx.iot.deprecate_thing_type(thingTypeName=resource.name, undoDeprecate=False)

    result = run_parallel(
        to_deprecate, work, concurrency=ctx.concurrency, progress=progress, label="Deprecating thing types"
    )
    failures: list[ResourceFailure] = []
    for outcome in result.outcomes:
        if outcome.error is None or is_error(outcome.error, "ResourceNotFoundException"):
            # A type gone meanwhile is then found gone by the deletion, and reported as such.
            started[outcome.item.name] = ctx.clock.time()
        else:
            failures.append(ResourceFailure.from_exception("thing type", outcome.item.name, outcome.error))
    return started, failures


def _try_delete(ctx: AwsContext, name: str) -> tuple[str, str]:
    try:
        ctx.iot.delete_thing_type(thingTypeName=name)
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            return GONE, ""
        if is_error(err, "InvalidRequestException"):
            return REFUSED, str(err.response.get("Error", {}).get("Message") or err)
        raise
    return ACCEPTED, ""


def things_using(ctx: AwsContext, name: str, limit: int = IN_USE_EXAMPLES) -> list[str]:
    """Up to ``limit`` things that still have type ``name`` (one ``ListThings`` call)."""
    answer = ctx.iot.list_things(thingTypeName=name, maxResults=limit)
    return [str(thing["thingName"]) for thing in answer.get("things", [])]


def delete_types(
    ctx: AwsContext,
    started: dict[str, float],
    *,
    wait: bool = True,
    progress: Progress | None = None,
) -> TypeDeletion:
    """Delete the deprecated types in ``started`` (name -> when their wait started), waiting as needed.

    A type AWS refuses while things still have it is reported at once with those things: waiting would
    not help. Each type ends in exactly one of deleted, waiting or failed (its last error, if several).
    """
    progress = progress or NoProgress()
    outcome = TypeDeletion()
    refusals: dict[str, str] = {}
    errors: dict[str, ResourceFailure] = {}

    def attempt(names: list[str], label: str) -> None:
        result = run_parallel(
            names, lambda name: _try_delete(ctx, name), concurrency=ctx.concurrency, label=label
        )
        for item in result.outcomes:
            if not item.ok:
                assert item.error is not None
                errors[item.item] = ResourceFailure.from_exception("thing type", item.item, item.error)
                continue
            errors.pop(item.item, None)
            assert item.value is not None
            verdict, message = item.value
            if verdict == REFUSED:
                refusals[item.item] = message
            else:
                refusals.pop(item.item, None)
                outcome.deleted[item.item] = verdict

    attempt(sorted(started), "Deleting thing types")
    for name in sorted(refusals):
        users = things_using(ctx, name)
        if users:
            shown = ", ".join(users[: IN_USE_EXAMPLES - 1]) + (" and more" if len(users) >= IN_USE_EXAMPLES else "")
            errors[name] = ResourceFailure(
                "thing type", name, f"still in use as the type of thing(s) {shown}: delete them or change their type first",
                "InvalidRequestException",
            )  # fmt: skip
            del refusals[name]
    if refusals and wait:
        _wait_and_retry(ctx, started, refusals, attempt, progress)
    outcome.failed.extend(errors[name] for name in sorted(errors))
    for name, message in sorted(refusals.items()):
        if name in errors:
            continue
        ready = started[name] + DEPRECATION_WAIT
        if wait:
            outcome.failed.append(
                ResourceFailure(
                    "thing type",
                    name,
                    f"AWS still refuses to delete it {GRACE:.0f}s after the 5-minute wait: {message}",
                    "InvalidRequestException",
                )
            )
        else:
            outcome.waiting[name] = (
                f"deprecated; AWS allows deleting it 5 minutes after deprecation ({_clock_text(ready)}); "
                "run cleanup again then"
            )
    return outcome


def _wait_and_retry(
    ctx: AwsContext,
    started: dict[str, float],
    refusals: dict[str, str],
    attempt: Callable[[list[str], str], None],
    progress: Progress,
) -> None:
    """Count down to the end of AWS's wait, retrying the refused deletions every poll interval and then."""
    clock = ctx.clock
    ready = max(started[name] for name in refusals) + DEPRECATION_WAIT
    deadline = ready + GRACE
    now = clock.time()
    total = max(1, math.ceil(ready - now))
    progress.start(total, f"Waiting for AWS to allow deleting {len(refusals)} deprecated thing type(s)")
    shown = 0
    interval = FIRST_POLL
    next_poll = now + interval
    try:
        while refusals and now < deadline:
            due = min(next_poll, ready) if now < ready else next_poll
            if now < due:
                clock.sleep(min(TICK, due - now))
                now = clock.time()
                elapsed = min(total, math.floor(total - max(0.0, ready - now)))
                if elapsed > shown:
                    progress.advance(elapsed - shown)
                    shown = elapsed
                continue
            attempt(sorted(refusals), "Deleting thing types")
            interval = min(POLL_INTERVAL, interval * 2)
            next_poll = now + interval
    finally:
        progress.finish()


def _clock_text(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).strftime("after %H:%M:%S UTC")

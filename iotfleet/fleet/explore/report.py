"""The job report: one self-contained HTML page (inline CSS and SVG, no script, no network fetch).

It shows the job summary, the status funnel, a timeline of executions by status, the failures, the
abort, timeout, rollout and retry settings, and the job document.

Cost of :func:`gather_report`, in API calls:

* ``DescribeJob`` and ``GetJobDocument``: one each;
* ``ListJobExecutionsForJob``: one per 250 executions (10 TPS by default: 10,000 executions take 40 calls,
  about 4 s). The timeline is built from these summaries alone: each execution was QUEUED from
  ``queuedAt``, IN_PROGRESS from ``startedAt``, and in its final status from ``lastUpdatedAt`` once it
  ended. Only a thing's current attempt is listed, so a retried thing shows its last attempt;
* ``DescribeJobExecution``: one per failed, rejected or timed-out execution whose ``statusDetails`` are
  read for the failure table, at most ``failure_details`` of them (10 TPS; ``None`` reads every one).
  When there are more, an even sample across the fleet is read and the table says so.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import error_code
from iotfleet.fleet.explore.executions import ExecutionRow, list_executions
from iotfleet.fleet.explore.jobs import JobDetails, job_details
from iotfleet.fleet.explore.pages import clock_label, escape, fill_page, when
from iotfleet.fleet.explore.statistics import (
    CRITICAL,
    EXCELLENT,
    FAILURE_STATUSES,
    GOOD,
    POOR,
    TERMINAL_EXECUTION_STATUSES,
    WAITING,
    ProcessCounts,
    health,
)
from iotfleet.fleet.explore.times import to_epoch
from iotfleet.fleet.runner import Progress, run_parallel

DEFAULT_FAILURE_DETAILS = 100
TIMELINE_POINTS = 160
# Bottom to top in the stacked chart; colours shared by every part of the page.
STATUS_ORDER = ("SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "REMOVED", "IN_PROGRESS", "QUEUED")
STATUS_COLOURS = {
    "SUCCEEDED": "#16a34a",
    "FAILED": "#dc2626",
    "REJECTED": "#f97316",
    "TIMED_OUT": "#7c3aed",
    "CANCELED": "#6b7280",
    "REMOVED": "#cbd5e1",
    "IN_PROGRESS": "#2563eb",
    "QUEUED": "#93c5fd",
}
JOB_STATUS_COLOURS = {
    "IN_PROGRESS": "#2563eb",
    "SCHEDULED": "#0891b2",
    "COMPLETED": "#16a34a",
    "CANCELED": "#6b7280",
    "DELETION_IN_PROGRESS": "#b91c1c",
}
HEALTH_COLOURS = {
    EXCELLENT: "#16a34a",
    GOOD: "#65a30d",
    POOR: "#d97706",
    CRITICAL: "#dc2626",
    WAITING: "#64748b",
}


@dataclass(frozen=True)
class FailureGroup:
    """Failed executions that share a status and failure type."""

    status: str
    failure_type: str
    count: int
    example_reason: str | None
    example_things: list[str]


@dataclass(frozen=True)
class TimelinePoint:
    at: float
    counts: dict[str, int]


@dataclass
class ReportData:
    """Everything the page shows, gathered from the API (see the module docstring for the cost)."""

    details: JobDetails
    executions: list[ExecutionRow]
    failure_groups: list[FailureGroup]
    failures_total: int
    failures_read: int
    timeline: list[TimelinePoint]
    calls: dict[str, int] = field(default_factory=dict)
    generated_at: float = 0.0

    @property
    def counts(self) -> ProcessCounts:
        return self.details.counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.details.as_dict(),
            "executions": len(self.executions),
            "failuresTotal": self.failures_total,
            "failuresRead": self.failures_read,
            "failureGroups": [
                {
                    "status": g.status,
                    "failureType": g.failure_type,
                    "count": g.count,
                    "exampleReason": g.example_reason,
                    "exampleThings": g.example_things,
                }
                for g in self.failure_groups
            ],
            "apiCalls": dict(self.calls),
        }


def gather_report(
    ctx: AwsContext,
    job_id: str,
    *,
    failure_details: int | None = DEFAULT_FAILURE_DETAILS,
    progress: Progress | None = None,
) -> ReportData:
    """Read what the report needs; an unknown job is a usage error."""
    calls: Counter[str] = Counter()
    details = job_details(ctx, job_id)
    calls.update({"DescribeJob": 1, "GetJobDocument": 1})

    def page_read(_: int) -> None:
        calls["ListJobExecutionsForJob"] += 1

    rows = list_executions(ctx, job_id, on_page=page_read, check_job=False)
    failed = [row for row in rows if row.status in FAILURE_STATUSES]
    sample = _even_sample(failed, failure_details)
    outcomes = run_parallel(
        sample,
        lambda row: _status_details(ctx, job_id, row),
        concurrency=ctx.concurrency,
        progress=progress,
        label="reading failure details",
    )
    calls["DescribeJobExecution"] += len(sample)
    outcomes.raise_for_failures("reading failure details", "execution", lambda row: f"{job_id}/{row.thing_name}")
    read = {row.thing_name: value or {} for row, value in zip(sample, outcomes.values, strict=True)}
    generated = datetime.now(timezone.utc).timestamp()
    return ReportData(
        details=details,
        executions=rows,
        failure_groups=_failure_groups(sample, read),
        failures_total=len(failed),
        failures_read=len(sample),
        timeline=timeline(rows, details.job),
        calls=dict(calls),
        generated_at=generated,
    )


def _status_details(ctx: AwsContext, job_id: str, row: ExecutionRow) -> dict[str, str]:
    try:
        execution = ctx.iot.describe_job_execution(
            jobId=job_id, thingName=row.thing_name, executionNumber=row.execution_number
        )["execution"]
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return {}  # deleted since it was listed
        raise
    return dict((execution.get("statusDetails") or {}).get("detailsMap") or {})


def _even_sample(rows: list[ExecutionRow], limit: int | None) -> list[ExecutionRow]:
    if limit is None or len(rows) <= limit:
        return list(rows)
    if limit <= 0:
        return []
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)]


def _failure_groups(rows: list[ExecutionRow], details: dict[str, dict[str, str]]) -> list[FailureGroup]:
    grouped: dict[tuple[str, str], list[ExecutionRow]] = defaultdict(list)
    for row in rows:
        failure_type = details.get(row.thing_name, {}).get("failureType") or {
            "TIMED_OUT": "timeout",
            "REJECTED": "reject",
        }.get(row.status, "unspecified")
        grouped[(row.status, failure_type)].append(row)
    groups = []
    for (status, failure_type), members in grouped.items():
        reasons = Counter(details.get(r.thing_name, {}).get("reason") for r in members)
        reasons.pop(None, None)
        groups.append(
            FailureGroup(
                status=status,
                failure_type=failure_type,
                count=len(members),
                example_reason=reasons.most_common(1)[0][0] if reasons else None,
                example_things=[r.thing_name for r in members[:3]],
            )
        )
    return sorted(groups, key=lambda g: (-g.count, g.status, g.failure_type))


# -- the timeline ----------------------------------------------------------------------------------


def timeline(rows: list[ExecutionRow], job: dict[str, Any], points: int = TIMELINE_POINTS) -> list[TimelinePoint]:
    """Executions per status at ``points`` evenly spaced moments, from the execution timestamps."""
    starts: dict[str, list[float]] = defaultdict(list)
    ends: dict[str, list[float]] = defaultdict(list)
    moments: list[float] = []
    for row in rows:
        if row.queued_at is None:
            continue
        terminal = row.status in TERMINAL_EXECUTION_STATUSES
        ended = row.last_updated_at if terminal and row.last_updated_at is not None else None
        started = row.started_at
        queued_until = started if started is not None else ended
        _interval(starts, ends, "QUEUED", row.queued_at, queued_until)
        if started is not None:
            _interval(starts, ends, "IN_PROGRESS", started, ended)
        if ended is not None:
            _interval(starts, ends, row.status, ended, None)
        moments.extend(t for t in (row.queued_at, started, row.last_updated_at) if t is not None)
    if not moments:
        return []
    first = min(moments)
    last = max([*moments, *(t for t in (to_epoch(job.get("completedAt")),) if t is not None)])
    if last <= first:
        last = first + 1.0
    for values in (*starts.values(), *ends.values()):
        values.sort()
    result = []
    for index in range(points):
        at = first + (last - first) * index / (points - 1)
        counts = {
            status: bisect_right(starts.get(status, []), at) - bisect_right(ends.get(status, []), at)
            for status in STATUS_ORDER
        }
        result.append(TimelinePoint(at, counts))
    return result


def _interval(
    starts: dict[str, list[float]], ends: dict[str, list[float]], status: str, begin: float, end: float | None
) -> None:
    if end is not None and end <= begin:
        return
    starts[status].append(begin)
    if end is not None:
        ends[status].append(end)


# -- rendering -------------------------------------------------------------------------------------


def render_html(data: ReportData) -> str:
    job = data.details.job
    counts = data.counts
    job_id = str(job.get("jobId"))
    status = str(job.get("status"))
    pill_colour = JOB_STATUS_COLOURS.get(status, "#475569")
    subtitle = [
        f"{len(data.executions):,} executions",
        f"created {when(to_epoch(job.get('createdAt')))}",
    ]
    if job.get("completedAt"):
        subtitle.append(f"completed {when(to_epoch(job.get('completedAt')))}")
    subtitle.append(str(job.get("targetSelection") or "SNAPSHOT").lower())
    if job.get("description"):
        subtitle.insert(0, str(job["description"]))
    values = {
        "title": escape(f"Job {job_id}: iotfleet report"),
        "heading": escape(f"Job {job_id}"),
        "status_pill": f'<span class="pill" style="background:{pill_colour}">{escape(status)}</span>',
        "subtitle": "".join(f"<span>{escape(part)}</span>" for part in subtitle),
        "cards": _cards(data),
        "funnel": _funnel(counts),
        "timeline": _timeline_svg(data.timeline),
        "timeline_hint": escape(
            "executions by status, from their queued, started and last-updated times; a retried thing shows its "
            "latest attempt"
        ),
        "failures": _failures_table(data),
        "failure_hint": escape(_failure_hint(data)),
        "abort": _abort_section(data.details),
        "rollout": _rollout_section(job),
        "settings": _settings(job),
        "document": escape(_pretty(data.details.document)),
        "footer": escape(
            f"Generated {when(data.generated_at)} by iotfleet · API calls: "
            + ", ".join(f"{name} {count}" for name, count in sorted(data.calls.items()))
        ),
    }
    return fill_page("iotfleet.fleet.explore", "job_report.html", values)


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def _pretty(document: str) -> str:
    try:
        return json.dumps(json.loads(document), indent=2, ensure_ascii=False)
    except ValueError:
        return document


def _cards(data: ReportData) -> str:
    counts = data.counts
    verdict = health(counts)
    rate = counts.success_rate
    cards = [
        ("Things", f"{counts.total:,}", "released by the rollout", "#2563eb"),
        ("Succeeded", f"{counts['SUCCEEDED']:,}", f"{_pct(counts['SUCCEEDED'], counts.total)} of things", "#16a34a"),
        (
            "Failed",
            f"{counts.failures:,}",
            f"{counts['FAILED']} failed · {counts['REJECTED']} rejected · {counts['TIMED_OUT']} timed out",
            "#dc2626",
        ),
        ("Pending", f"{counts.pending:,}", f"{counts['IN_PROGRESS']} in progress · {counts['QUEUED']} queued", "#93c5fd"),
        (
            "Health",
            verdict.capitalize(),
            "no result yet" if rate is None else f"{rate:.1f}% success of finished",
            HEALTH_COLOURS[verdict],
        ),
    ]
    return "".join(
        f'<div class="card" style="border-top-color:{colour}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div><div class="note">{escape(note)}</div></div>'
        for label, value, note, colour in cards
    )


def _funnel(counts: ProcessCounts) -> str:
    stages = [
        ("Released", counts.total, "#2563eb"),
        ("Started", counts.started, "#3b82f6"),
        ("Finished", counts.with_result, "#0ea5e9"),
        ("Succeeded", counts["SUCCEEDED"], "#16a34a"),
    ]
    rows = []
    for label, value, colour in stages:
        width = 100.0 * value / counts.total if counts.total else 0.0
        rows.append(
            f'<div class="row"><div>{escape(label)}</div><div class="bar"><div class="fill" '
            f'style="width:{width:.2f}%;background:{colour}"></div></div>'
            f'<div class="count">{value:,} · {_pct(value, counts.total)}</div></div>'
        )
    ended_otherwise = counts["CANCELED"] + counts["REMOVED"]
    if ended_otherwise:
        rows.append(f'<div class="muted">{ended_otherwise:,} execution(s) were canceled or removed before a result.</div>')
    return "".join(rows)


def _nice_step(peak: float, ticks: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about ``ticks`` gridlines up to ``peak``."""
    raw = max(peak / ticks, 1.0)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(f * magnitude for f in (1, 2, 5, 10) if raw <= f * magnitude)


def _timeline_svg(points: list[TimelinePoint]) -> str:
    if not points:
        return '<p class="muted">No execution has been released yet.</p>'
    width, height = 1000, 300
    left, right, top, bottom = 56, 14, 12, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    first, last = points[0].at, points[-1].at
    peak = max(sum(p.counts.values()) for p in points) or 1
    step = _nice_step(peak)
    y_max = step * max(1, -(-peak // step))

    def x(at: float) -> float:
        return left + plot_w * (at - first) / (last - first)

    def y(value: float) -> float:
        return top + plot_h * (1 - value / y_max)

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        'aria-label="Executions by status over time" xmlns="http://www.w3.org/2000/svg">'
    ]
    tick = 0.0
    while tick <= y_max + 1e-9:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" font-size="11" fill="#6b7280" text-anchor="end">'
            f"{int(tick):,}</text>"
        )
        tick += step
    below = [0.0] * len(points)
    for status in STATUS_ORDER:
        values = [p.counts.get(status, 0) for p in points]
        if not any(values):
            continue
        upper = [b + v for b, v in zip(below, values, strict=True)]
        outline = [f"{x(p.at):.1f},{y(u):.1f}" for p, u in zip(points, upper, strict=True)]
        base = [f"{x(p.at):.1f},{y(b):.1f}" for p, b in zip(reversed(points), reversed(below), strict=True)]
        parts.append(
            f'<polygon points="{" ".join(outline + base)}" fill="{STATUS_COLOURS[status]}" fill-opacity="0.9">'
            f"<title>{escape(status)}</title></polygon>"
        )
        below = upper
    for index in range(6):
        at = first + (last - first) * index / 5
        anchor = "start" if index == 0 else "end" if index == 5 else "middle"
        parts.append(
            f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 5}" stroke="#9ca3af"/>'
            f'<text x="{x(at):.1f}" y="{top + plot_h + 19}" font-size="11" fill="#6b7280" text-anchor="{anchor}">'
            f"{escape(clock_label(at))}</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#9ca3af"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" font-size="11" fill="#6b7280" text-anchor="middle">'
        f"UTC, {escape(_duration(last - first))} shown</text></svg>"
    )
    legend = "".join(
        f'<span><i style="background:{STATUS_COLOURS[s]}"></i>{escape(s.replace("_", " ").lower())}</span>'
        for s in reversed(STATUS_ORDER)
        if any(p.counts.get(s) for p in points)
    )
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _failure_hint(data: ReportData) -> str:
    if not data.failures_total:
        return "none"
    if data.failures_read == data.failures_total:
        return f"statusDetails of all {data.failures_total:,} failed executions"
    return (
        f"statusDetails of an even sample of {data.failures_read:,} of {data.failures_total:,} failed executions "
        "(raise --failure-details to read more)"
    )


def _failures_table(data: ReportData) -> str:
    if not data.failures_total:
        return '<p class="muted">No execution failed, was rejected or timed out.</p>'
    by_status = Counter(row.status for row in data.executions if row.status in FAILURE_STATUSES)
    summary = " · ".join(f"{status.replace('_', ' ').lower()}: {count:,}" for status, count in by_status.most_common())
    rows = []
    for group in data.failure_groups:
        colour = STATUS_COLOURS.get(group.status, "#475569")
        rows.append(
            "<tr>"
            f'<td><span class="pill" style="background:{colour};margin:0">{escape(group.status)}</span></td>'
            f"<td><code>{escape(group.failure_type)}</code></td>"
            f'<td class="num">{group.count:,}</td>'
            f'<td class="num">{_pct(group.count, data.failures_read)}</td>'
            f"<td>{escape(group.example_reason or '-')}</td>"
            f'<td class="muted">{escape(", ".join(group.example_things))}</td>'
            "</tr>"
        )
    return (
        f'<p class="muted">{escape(summary)}</p><table><thead><tr><th>Status</th><th>Failure type</th>'
        '<th class="num">Executions</th><th class="num">Share</th><th>Most common reason</th><th>For example</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _abort_section(details: JobDetails) -> str:
    job = details.job
    parts = []
    if details.abort:
        for proximity in details.abort:
            fraction = min(1.0, proximity.fraction_of_threshold)
            colour = "#dc2626" if proximity.warning else "#d97706" if fraction >= 0.5 else "#16a34a"
            parts.append(
                f"<div style='margin-bottom:12px'><div><b>{escape(proximity.failure_type)}</b> at "
                f"{proximity.threshold:g}% after {proximity.min_executed:,} things</div>"
                f'<div class="gauge"><div style="width:{fraction * 100:.1f}%;background:{colour}"></div></div>'
                f'<div class="muted">{escape(proximity.describe())}</div></div>'
            )
    else:
        parts.append('<p class="muted">No abort criteria: failures never stop the rollout.</p>')
    if job.get("status") == "CANCELED" and job.get("reasonCode"):
        parts.append(f"<p>Canceled: <code>{escape(job.get('reasonCode'))}</code> {escape(job.get('comment') or '')}</p>")
    timeout = (job.get("timeoutConfig") or {}).get("inProgressTimeoutInMinutes")
    parts.append(
        f"<p>In-progress timeout: <b>{escape(f'{timeout} min' if timeout else 'none')}</b>"
        '<span class="muted"> (devices may also set step timeouts)</span></p>'
    )
    return "".join(parts)


def _rollout_section(job: dict[str, Any]) -> str:
    rollout = job.get("jobExecutionsRolloutConfig") or {}
    lines = []
    if rollout.get("maximumPerMinute"):
        lines.append(f"Constant rate: <b>{rollout['maximumPerMinute']:,}</b> things a minute")
    elif rollout.get("exponentialRate"):
        rate = rollout["exponentialRate"]
        criteria = rate.get("rateIncreaseCriteria") or {}
        lines.append(
            f"Exponential: from <b>{rate.get('baseRatePerMinute')}</b> a minute, x{rate.get('incrementFactor')} "
            f"after {escape(json.dumps(criteria))}"
        )
    else:
        lines.append("Default rate (no rollout configuration)")
    retries = (job.get("jobExecutionsRetryConfig") or {}).get("criteriaList") or []
    if retries:
        lines.extend(
            f"Retry <b>{escape(c.get('failureType'))}</b> up to {escape(c.get('numberOfRetries'))} time(s)" for c in retries
        )
    else:
        lines.append("No retries")
    scheduling = job.get("schedulingConfig")
    if scheduling:
        lines.append(f"Scheduling: <code>{escape(json.dumps(scheduling, default=str))}</code>")
    return "".join(f"<p>{line}</p>" for line in lines)


def _settings(job: dict[str, Any]) -> str:
    rows = [
        ("Job ARN", job.get("jobArn")),
        ("Target selection", job.get("targetSelection")),
        ("Targets", "\n".join(job.get("targets") or [])),
        ("Package versions", "\n".join(job.get("destinationPackageVersions") or []) or None),
        ("Presigned URLs", json.dumps(job.get("presignedUrlConfig")) if job.get("presignedUrlConfig") else None),
        ("Job template", job.get("jobTemplateArn")),
        ("Created", when(to_epoch(job.get("createdAt")))),
        ("Last updated", when(to_epoch(job.get("lastUpdatedAt")))),
    ]
    items = "".join(
        f"<dt>{escape(label)}</dt><dd><code>{escape(value).replace(chr(10), '<br>')}</code></dd>"
        for label, value in rows
        if value
    )
    return f'<dl class="settings">{items}</dl>'

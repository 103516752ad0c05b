"""What ``iotfleet jobs`` shows: one function per view (a job list, a job, its executions, statistics, the
live dashboard, cancel and delete, the HTML report), shared by the commands and the interactive explorer.

Each ``show_*`` function renders one view and returns what it showed. ``watch`` refreshes a live dashboard
(one DescribeJob call per refresh) until the job is done; Ctrl-C stops watching, never the job.
"""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from iotfleet.aws.errors import Interrupted, UsageError
from iotfleet.cli.files import html_target
from iotfleet.cli.output import follow, key_values, table
from iotfleet.cli.state import CliState
from iotfleet.fleet.explore import report
from iotfleet.fleet.explore.cancel_delete import cancel_job, delete_job, plan_cancel, plan_delete
from iotfleet.fleet.explore.executions import (
    ExecutionDetails,
    ExecutionRow,
    execution_details,
    list_executions,
)
from iotfleet.fleet.explore.jobs import JobDetails, job_details, job_stats, list_jobs
from iotfleet.fleet.explore.pages import write_report
from iotfleet.fleet.explore.statistics import (
    CRITICAL,
    EXCELLENT,
    EXECUTION_STATUSES,
    GOOD,
    POOR,
    WAITING,
    AbortProximity,
    JobStats,
    ProcessCounts,
)
from iotfleet.fleet.explore.times import iso_time, to_epoch
from iotfleet.fleet.explore.watch import WatchSnapshot, watch_job

STATUS_STYLES = {
    "QUEUED": "cyan",
    "IN_PROGRESS": "blue",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "REJECTED": "yellow",
    "TIMED_OUT": "magenta",
    "CANCELED": "bright_black",
    "REMOVED": "bright_black",
    "COMPLETED": "green",
    "SCHEDULED": "cyan",
    "DELETION_IN_PROGRESS": "red",
}


HEALTH_STYLES = {
    EXCELLENT: "bold green",
    GOOD: "green",
    POOR: "yellow",
    CRITICAL: "bold red",
    WAITING: "bright_black",
}


HEALTH_MEANING = {
    EXCELLENT: "95% or more of finished executions succeeded",
    GOOD: "80-95% succeeded: some failures, keep an eye on it",
    POOR: "50-80% succeeded: worth investigating",
    CRITICAL: "most finished executions failed",
    WAITING: "no execution has finished yet",
}


DEFAULT_INTERVAL = 2.0


def _styled(status: str | None) -> Text:
    return Text(str(status or "-"), style=STATUS_STYLES.get(str(status), ""))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _time(value: Any) -> str:
    epoch = to_epoch(value)
    return iso_time(epoch) or "-"


def _short(epoch: float | None) -> str:
    """A table cell's time: month, day and UTC time, so wide listings fit a terminal."""
    return "-" if epoch is None else time.strftime("%m-%d %H:%M:%S", time.gmtime(epoch))


def show_jobs(state: CliState, status: str | None) -> list[dict[str, Any]]:
    found = list_jobs(state.aws, status.upper() if status else None)

    def render(console: Console) -> None:
        if not found:
            console.print(f"No {status.upper() + ' ' if status else ''}jobs.")
            return
        rows = table(["Job ID", "Status", "Selection", "Created", "Completed"], [])
        for job in found:
            rows.add_row(
                job.get("jobId"),
                _styled(job.get("status")),
                job.get("targetSelection") or "-",
                _short(to_epoch(job.get("createdAt"))),
                _short(to_epoch(job.get("completedAt"))),
            )
        console.print(rows)
        console.print(f"{len(found):,} job(s)", style="bright_black")

    state.output.result({"jobs": found, "count": len(found)}, render=render)
    return found


def counters_table(counts: ProcessCounts) -> Table:
    rows = table(["Status", "Things", "Share"], [])
    for status in EXECUTION_STATUSES:
        share = f"{100.0 * counts[status] / counts.total:.1f}%" if counts.total else "-"
        rows.add_row(_styled(status), f"{counts[status]:,}", share)
    rows.add_row(Text("total", style="bold"), f"{counts.total:,}", "")
    return rows


def _settings_lines(job: dict[str, Any]) -> list[tuple[str, Any]]:
    rollout = job.get("jobExecutionsRolloutConfig") or {}
    if rollout.get("maximumPerMinute"):
        rollout_text = f"at most {rollout['maximumPerMinute']} a minute"
    elif rollout.get("exponentialRate"):
        rollout_text = "exponential " + json.dumps(rollout["exponentialRate"], default=str)
    else:
        rollout_text = "default rate"
    timeout = (job.get("timeoutConfig") or {}).get("inProgressTimeoutInMinutes")
    retries = (job.get("jobExecutionsRetryConfig") or {}).get("criteriaList") or []
    presigned = job.get("presignedUrlConfig") or {}
    lines: list[tuple[str, Any]] = [
        ("Rollout", rollout_text),
        ("In-progress timeout", f"{timeout} min" if timeout else "none"),
        ("Retries", ", ".join(f"{c.get('failureType')} x{c.get('numberOfRetries')}" for c in retries) or "none"),
    ]
    if presigned:
        lines.append(("Presigned URLs", f"{presigned.get('roleArn')}, {presigned.get('expiresInSec', 3600)} s"))
    if job.get("schedulingConfig"):
        lines.append(("Scheduling", json.dumps(job["schedulingConfig"], default=str)))
    return lines


def _abort_lines(abort: list[AbortProximity]) -> list[tuple[str, str]]:
    if not abort:
        return [("Abort", "no criteria")]
    return [(f"Abort {a.failure_type}", a.describe()) for a in abort]


def _abort_warnings(abort: list[AbortProximity]) -> list[Text]:
    return [
        Text(f"Warning: abort criterion {a.failure_type} is at {a.fraction_of_threshold * 100:.0f}% of its threshold",
             style="bold red")
        for a in abort
        if a.warning
    ]  # fmt: skip


def show_job(state: CliState, job_id: str) -> JobDetails:
    details = job_details(state.aws, job_id)
    job = details.job

    def render(console: Console) -> None:
        pairs: list[tuple[str, Any]] = [
            ("Job ID", job.get("jobId")),
            ("Status", job.get("status")),
            ("Description", job.get("description")),
            ("Target selection", job.get("targetSelection")),
            ("Targets", "\n".join(job.get("targets") or []) or "-"),
            ("Package versions", "\n".join(job.get("destinationPackageVersions") or []) or "-"),
            ("Created", _time(job.get("createdAt"))),
            ("Last updated", _time(job.get("lastUpdatedAt"))),
            ("Completed", _time(job.get("completedAt"))),
        ]
        if job.get("reasonCode") or job.get("comment"):
            pairs.append(("Canceled", f"{job.get('reasonCode') or ''} {job.get('comment') or ''}".strip()))
        pairs += _settings_lines(job) + _abort_lines(details.abort)
        console.print(key_values(pairs))
        for warning in _abort_warnings(details.abort):
            console.print(warning)
        console.print()
        console.print(counters_table(details.counts))
        console.print()
        console.print(Text("Document (before substitution)", style="bold"))
        try:
            console.print_json(details.document)
        except json.JSONDecodeError:
            console.print(details.document, markup=False)

    state.output.result(details.as_dict(), render=render)
    return details


def show_executions(state: CliState, job_id: str, status: str | None) -> list[ExecutionRow]:
    rows = list_executions(state.aws, job_id, status.upper() if status else None)

    def render(console: Console) -> None:
        if not rows:
            console.print(f"No {status.upper() + ' ' if status else ''}executions of job {job_id}.")
            return
        listing = table(["Thing", "Status", "Exec #", "Retry", "Queued (UTC)", "Last updated"], [])
        for row in rows:
            listing.add_row(
                row.thing_name,
                _styled(row.status),
                str(row.execution_number or "-"),
                str(row.retry_attempt),
                _short(row.queued_at),
                _short(row.last_updated_at),
            )
        console.print(listing)
        console.print(f"{len(rows):,} execution(s)", style="bright_black")

    state.output.result({"jobId": job_id, "executions": [r.as_dict() for r in rows], "count": len(rows)}, render=render)
    return rows


def show_execution(state: CliState, job_id: str, thing_name: str) -> ExecutionDetails:
    details = execution_details(state.aws, job_id, thing_name)
    execution = details.execution

    def render(console: Console) -> None:
        console.print(
            key_values(
                [
                    ("Job ID", job_id),
                    ("Thing", thing_name),
                    ("Status", execution.get("status")),
                    ("Execution number", execution.get("executionNumber")),
                    ("Version number", execution.get("versionNumber")),
                    ("Queued", _time(execution.get("queuedAt"))),
                    ("Started", _time(execution.get("startedAt"))),
                    ("Last updated", _time(execution.get("lastUpdatedAt"))),
                    ("Times out in", f"{execution['approximateSecondsBeforeTimedOut']} s"
                     if execution.get("approximateSecondsBeforeTimedOut") is not None else "-"),
                    ("Force canceled", execution.get("forceCanceled")),
                ]
            )
        )  # fmt: skip
        console.print()
        if details.status_details:
            console.print(table(["Status detail", "Value"], sorted(details.status_details.items())))
        else:
            console.print("No statusDetails.", style="bright_black")
        console.print()
        history = table(["Exec #", "Retry", "Status", "Version", "Queued (UTC)", "Started", "Updated", "Details"], [])
        for attempt in details.attempts:
            history.add_row(
                str(attempt.execution_number),
                str(attempt.retry_attempt),
                _styled(attempt.status),
                str(attempt.version_number or "-"),
                _short(attempt.queued_at),
                _short(attempt.started_at),
                _short(attempt.last_updated_at),
                ", ".join(f"{k}={v}" for k, v in sorted(attempt.status_details.items())) or "-",
            )
        console.print(Text("History", style="bold"))
        console.print(history)

    state.output.result(details.as_dict(), render=render)
    return details


def stats_renderables(stats: JobStats) -> list[Any]:
    counts = stats.counts
    verdict = stats.health
    summary = key_values(
        [
            ("Job ID", stats.job_id),
            ("Status", stats.status),
            ("Things", f"{counts.total:,} released, {counts.finished:,} finished, {counts.pending:,} pending"),
            ("Success rate", f"{_pct(counts.success_rate)} of {counts.with_result:,} finished with a result"),
            ("Failure rate", f"{_pct(counts.failure_rate)} ({counts['FAILED']:,} failed, {counts['REJECTED']:,} "
             f"rejected, {counts['TIMED_OUT']:,} timed out)"),
            ("Health", f"{verdict.upper()}: {HEALTH_MEANING[verdict]}"),
            *_abort_lines(stats.abort),
        ]
    )  # fmt: skip
    summary.highlight_words([f"{verdict.upper()}:"], HEALTH_STYLES[verdict])
    return [summary, *_abort_warnings(stats.abort)]


def show_stats(state: CliState, job_id: str) -> JobStats:
    stats = job_stats(state.aws, job_id)

    def render(console: Console) -> None:
        for part in stats_renderables(stats):
            console.print(part)
        console.print()
        console.print(counters_table(stats.counts))

    state.output.result(stats.as_dict(), render=render)
    return stats


def cancel(state: CliState, job_id: str, *, force: bool, comment: str | None) -> dict[str, Any]:
    impact = plan_cancel(state.aws, job_id, force=force, comment=comment)
    state.output.info(f"Canceling job {job_id} ({impact.status}):")
    for line in impact.lines():
        state.output.info(f"  - {line}")
    state.confirm(f"Cancel job {job_id}", typed_word="CANCEL")
    job = cancel_job(state.aws, impact, comment=comment)
    answer = {"canceled": True, "impact": impact.as_dict(), "status": job.get("status")}

    def render(console: Console) -> None:
        console.print(f"Canceled job {job_id}; it is now {job.get('status')}.")

    state.output.result(answer, render=render)
    return answer


def delete(state: CliState, job_id: str, *, force: bool) -> dict[str, Any]:
    impact = plan_delete(state.aws, job_id, force=force)
    state.output.info(f"Deleting job {job_id} ({impact.status}):")
    for line in impact.lines():
        state.output.info(f"  - {line}")
    state.confirm(f"Delete job {job_id}", typed_word="DELETE")
    delete_job(state.aws, impact)
    answer = {"deleted": True, "impact": impact.as_dict()}

    def render(console: Console) -> None:
        console.print(f"Deleted job {job_id} (AWS finishes the deletion in the background).")

    state.output.result(answer, render=render)
    return answer


def dashboard(snapshot: WatchSnapshot) -> Panel:
    """The live view of one refresh: counters, rate, funnel, health and abort proximity."""
    stats = snapshot.stats
    counts = stats.counts
    total = max(counts.total, 1)
    funnel = Table.grid(padding=(0, 1))
    funnel.add_column(width=10)
    funnel.add_column(width=40)
    funnel.add_column(justify="right")
    for label, value, colour in (
        ("Released", counts.total, "blue"),
        ("Started", counts.started, "bright_blue"),
        ("Finished", counts.with_result, "cyan"),
        ("Succeeded", counts["SUCCEEDED"], "green"),
    ):
        funnel.add_row(
            label,
            ProgressBar(total=total, completed=value, width=40, complete_style=colour, finished_style=colour),
            f"{value:,}  {100.0 * value / total:5.1f}%",
        )
    counters = Table.grid(padding=(0, 2))
    for _ in range(4):
        counters.add_column()
        counters.add_column(justify="right")
    cells: list[Any] = []
    for status in EXECUTION_STATUSES:
        cells += [_styled(status), f"{counts[status]:,}"]
    counters.add_row(*cells[:8])
    counters.add_row(*cells[8:])
    rate = "-" if snapshot.rate is None else f"{snapshot.rate:.1f}/s"
    average = "-" if snapshot.average_rate is None else f"{snapshot.average_rate:.1f}/s"
    verdict = stats.health
    lines: list[Any] = [
        counters,
        Text(""),
        funnel,
        Text(""),
        Text.assemble(("Finishing  ", "bold"), f"{rate} now, {average} on average"),
        Text.assemble(
            ("Health     ", "bold"),
            (verdict.upper(), HEALTH_STYLES[verdict]),
            f"  success {_pct(counts.success_rate)}, failure {_pct(counts.failure_rate)}",
        ),
    ]
    for proximity in stats.abort:
        lines.append(
            Text.assemble(("Abort      ", "bold"), proximity.describe(), style="red" if proximity.warning else "")
        )  # fmt: skip
    title = Text.assemble(("Job ", "bold"), (stats.job_id, "bold"), "  ", _styled(stats.status))
    if snapshot.deleted:
        title.append("  (deleted)", style="red")
    subtitle = f"refresh {snapshot.refresh} · {iso_time(snapshot.at)} · Ctrl-C stops watching"
    return Panel(Group(*lines), title=title, subtitle=subtitle, expand=False)


def watch(state: CliState, job_id: str, interval: float) -> WatchSnapshot:
    output = state.output
    ctx = state.aws
    def line(snapshot: WatchSnapshot) -> str:
        counts = snapshot.stats.counts
        rate = "-" if snapshot.rate is None else f"{snapshot.rate:.1f}/s"
        return (
            f"{iso_time(snapshot.at)} {snapshot.stats.status} released={counts.total} "
            f"succeeded={counts['SUCCEEDED']} failed={counts.failures} pending={counts.pending} rate={rate}"
        )

    try:
        final = follow(
            output, lambda show: watch_job(ctx, job_id, interval=interval, on_snapshot=show),
            panel=dashboard, line=line,
        )  # fmt: skip
    except KeyboardInterrupt:
        raise Interrupted(f"stopped watching job {job_id}; the job itself goes on") from None

    def render(console: Console) -> None:
        status = "was deleted" if final.deleted else f"is {final.stats.status}"
        console.print(f"Job {job_id} {status} after {final.refresh} refresh(es).")
        for part in stats_renderables(final.stats):
            console.print(part)

    output.result(final.as_dict(), render=render)
    return final


def parse_failure_details(value: str) -> int | None:
    text = value.strip().lower()
    if text == "all":
        return None
    if not text.isdigit():
        raise UsageError(f"--failure-details takes a number or 'all', not {value!r}", "--failure-details")
    return int(text)


def write_html_report(state: CliState, job_id: str, path: str, failure_details: int | None) -> report.ReportData:
    target = html_target(path)
    data = report.gather_report(state.aws, job_id, failure_details=failure_details, progress=state.progress())
    written = write_report(target, report.render_html(data))
    answer = {"file": str(written), **data.as_dict()}

    def render(console: Console) -> None:
        calls = sum(data.calls.values())
        console.print(f"Wrote {written} ({len(data.executions):,} executions, {calls} API calls).")

    state.output.result(answer, render=render)
    return data

"""The rollout report: one self-contained HTML page (inline CSS and SVG, no script, no network fetch), in the
style of the job report (:mod:`iotfleet.fleet.explore.report`).

It shows every wave on one timeline (running, baking, the gate decision, the wait for an approval, pauses,
the rollback), every gate decision with the figures it was taken on, each wave's counters, the rollback,
the record's events and the settings.

Cost of :func:`gather`: what a snapshot costs (one ``GetObject`` and one ``DescribeJob`` per started wave and
for the rollback job), plus one read of the service's clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.fleet.explore.pages import clock_label, escape, fill_page, when
from iotfleet.fleet.explore.report import HEALTH_COLOURS, JOB_STATUS_COLOURS
from iotfleet.fleet.explore.statistics import JobStats
from iotfleet.fleet.rollout.record import (
    COMPLETED,
    PASSED,
    PENDING,
    ROLLED_BACK,
    WAVE_FAILED,
    RolloutRecord,
    RolloutStore,
    from_iso,
)
from iotfleet.fleet.rollout.spec import format_duration, percent_label
from iotfleet.fleet.rollout.watch import RolloutSnapshot, snapshot

STATE_COLOURS = {
    "RUNNING": "#2563eb",
    "WAITING_APPROVAL": "#0891b2",
    "PAUSED": "#d97706",
    COMPLETED: "#16a34a",
    "FAILED": "#dc2626",
    ROLLED_BACK: "#7c3aed",
    "ABORTED": "#6b7280",
}
SEGMENT_COLOURS = {"running": "#2563eb", "baking": "#f59e0b", "approval": "#cbd5e1", "rollback": "#7c3aed"}


@dataclass(frozen=True)
class RolloutReport:
    """What the page shows: a snapshot of the rollout, and the service's time it was taken at."""

    snapshot: RolloutSnapshot
    now: float

    @property
    def record(self) -> RolloutRecord:
        return self.snapshot.record


def gather(ctx: AwsContext, store: RolloutStore, rollout_id: str) -> RolloutReport:
    return RolloutReport(snapshot(store, rollout_id), ctx.service_time().timestamp())


def render_html(report: RolloutReport) -> str:
    record = report.record
    colour = STATE_COLOURS.get(record.state, "#475569")
    subtitle = [f"{record.package} {record.version}", f"{record.devices:,} devices in {len(record.waves)} waves",
                f"created {when(record.created_at)}"]  # fmt: skip
    if record.ended_at:
        subtitle.append(f"ended {when(record.ended_at)}")
    if record.description:
        subtitle.insert(0, record.description)
    values = {
        "title": escape(f"Rollout {record.rollout_id}: iotfleet report"),
        "heading": escape(f"Rollout {record.rollout_id}"),
        "status_pill": f'<span class="pill" style="background:{colour}">{escape(record.state)}</span>',
        "subtitle": "".join(f"<span>{escape(part)}</span>" for part in subtitle),
        "cards": _cards(report),
        "timeline": _timeline(report),
        "timeline_hint": escape("running until enough devices executed, then baking until the gate decided"),
        "gates": _gates(record),
        "waves": _waves(report.snapshot),
        "rollback_hint": escape(_rollback_hint(record)),
        "rollback": _rollback(report.snapshot),
        "events": _events(record),
        "settings": _settings(record),
        "footer": escape(f"Generated {when(report.now)} by iotfleet from the rollout's record (revision "
                         f"{record.revision}) and its jobs' counters"),
    }  # fmt: skip
    return fill_page("iotfleet.fleet.rollout", "rollout_report.html", values, "rollout_report.css")


def _cards(report: RolloutReport) -> str:
    record = report.record
    passed = sum(1 for w in record.waves if w.status == PASSED)
    started = len(record.started_waves())
    succeeded = sum(stats.counts["SUCCEEDED"] for w in record.waves if (stats := report.snapshot.jobs.get(w.job_id)))
    failures = sum(stats.counts.failures for w in record.waves if (stats := report.snapshot.jobs.get(w.job_id)))
    stop = record.stop
    rolled = "-" if stop is None or stop.devices is None else f"{stop.devices:,}"
    cards = [
        ("Devices", f"{record.devices:,}", f"{record.excluded} already on {record.version}, left out", "#2563eb"),
        ("Waves", f"{passed} / {len(record.waves)}", f"passed · {started} started", "#16a34a"),
        ("Updated", f"{succeeded:,}", f"{failures:,} failed, rejected or timed out", HEALTH_COLOURS["excellent"]),
        ("Rolled back", rolled, f"to {record.rollback_version}" if record.rollback_version else "no rollback", "#7c3aed"),
        ("State", record.state.replace("_", " ").title(), _state_note(record), STATE_COLOURS.get(record.state, "#475569")),
    ]  # fmt: skip
    return "".join(
        f'<div class="card" style="border-top-color:{c}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div><div class="note">{escape(note)}</div></div>'
        for label, value, note, c in cards
    )


def _state_note(record: RolloutRecord) -> str:
    if record.stop is not None:
        return record.stop.reason
    current = record.current
    if record.ended or current is None:
        return "ended"
    return f"wave {current.number} {current.status.lower()}"


def _span(record: RolloutRecord, now: float) -> tuple[float, float]:
    moments = [t for t in (record.created_at, record.ended_at, record.updated_at) if t is not None]
    for wave in record.waves:
        moments += [t for t in (wave.started_at, wave.ready_at, wave.decided_at) if t is not None]
    if record.stop is not None:
        moments += [t for t in (record.stop.started_at, record.stop.ended_at) if t is not None]
    first = min(moments) if moments else now
    last = max(moments + ([] if record.ended else [now]))
    return first, max(last, first + 60.0)


def _timeline(report: RolloutReport) -> str:
    record = report.record
    first, last = _span(record, report.now)
    end_of = record.ended_at or report.now
    rows: list[tuple[str, list[tuple[float, float, str]], tuple[float, str, str] | None]] = []
    previous_decided: float | None = None
    for wave in record.waves:
        segments: list[tuple[float, float, str]] = []
        if wave.approved_at is not None and previous_decided is not None:
            segments.append((previous_decided, wave.approved_at, "approval"))
        if wave.started_at is not None:
            stop_at = wave.decided_at or end_of
            running_until = wave.ready_at or stop_at
            segments.append((wave.started_at, running_until, "running"))
            if wave.ready_at is not None:
                segments.append((wave.ready_at, stop_at, "baking"))
        marker = None
        if wave.decided_at is not None:
            good = wave.status == PASSED
            marker = (wave.decided_at, "#16a34a" if good else "#dc2626", "passed" if good else "failed")
        label = f"Wave {wave.number} · {percent_label(wave.percent)} · {wave.size:,}"
        rows.append((label, segments, marker))
        previous_decided = wave.decided_at
    stop = record.stop
    if stop is not None and stop.started_at is not None:
        rows.append(("Rollback", [(stop.started_at, stop.ended_at or end_of, "rollback")], None))

    width, row_h, left, right, top = 1000, 34, 190, 20, 10
    height = top + row_h * len(rows) + 40
    plot_w = width - left - right

    def x(at: float) -> float:
        return left + plot_w * (min(max(at, first), last) - first) / (last - first)

    parts = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="Waves over time" '
             'xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    for index, (label, segments, marker) in enumerate(rows):
        y = top + index * row_h
        parts.append(f'<rect x="{left}" y="{y + 6}" width="{plot_w}" height="{row_h - 12}" fill="#f1f5f9" rx="4"/>')
        parts.append(f'<text x="{left - 10}" y="{y + row_h / 2 + 4}" font-size="12" text-anchor="end" '
                     f'fill="#1f2933">{escape(label)}</text>')  # fmt: skip
        for begin, end, kind in segments:
            w = max(2.0, x(end) - x(begin))
            parts.append(f'<rect x="{x(begin):.1f}" y="{y + 8}" width="{w:.1f}" height="{row_h - 16}" rx="3" '
                         f'fill="{SEGMENT_COLOURS[kind]}"><title>{escape(kind)}: {escape(when(begin))} to '
                         f'{escape(when(end))}</title></rect>')  # fmt: skip
        if marker is not None:
            at, colour, text = marker
            parts.append(f'<circle cx="{x(at):.1f}" cy="{y + row_h / 2}" r="7" fill="{colour}" stroke="#fff" '
                         f'stroke-width="2"><title>gate {escape(text)} at {escape(when(at))}</title></circle>')  # fmt: skip
    for event in record.events:
        if event.get("kind") in ("paused", "resumed", "abort-requested"):
            at = from_iso(event.get("at"))
            if at is None:
                continue
            parts.append(f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{top}" y2="{top + row_h * len(rows)}" '
                         f'stroke="#d97706" stroke-dasharray="4 3"><title>{escape(event.get("kind"))} at '
                         f'{escape(when(at))}</title></line>')  # fmt: skip
    axis_y = top + row_h * len(rows) + 6
    for index in range(6):
        at = first + (last - first) * index / 5
        anchor = "start" if index == 0 else "end" if index == 5 else "middle"
        parts.append(f'<text x="{x(at):.1f}" y="{axis_y + 12}" font-size="11" fill="#6b7280" '
                     f'text-anchor="{anchor}">{escape(clock_label(at))}</text>')  # fmt: skip
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" font-size="11" fill="#6b7280" '
                 f'text-anchor="middle">UTC, {escape(format_duration(last - first))} shown</text></svg>')  # fmt: skip
    legend = "".join(f'<span><i style="background:{colour}"></i>{escape(kind)}</span>'
                     for kind, colour in SEGMENT_COLOURS.items())  # fmt: skip
    legend += '<span><i style="background:#16a34a;border-radius:50%"></i>gate passed</span>'
    legend += '<span><i style="background:#dc2626;border-radius:50%"></i>gate failed</span>'
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def _gates(record: RolloutRecord) -> str:
    rows = []
    for wave in record.waves:
        gate = wave.gate
        if gate is None:
            state = "not started" if wave.status == PENDING else wave.status.lower()
            rows.append(f'<tr><td>{wave.number}</td><td class="gate-wait">{escape(state)}</td>'
                        '<td colspan="4" class="muted">no decision</td></tr>')  # fmt: skip
            continue
        figures = gate.get("figures") or {}
        css = "gate-pass" if gate.get("decision") == PASSED else "gate-fail"
        conditions = "".join(
            f"<li><code>{escape(c.get('condition'))}</code>: {escape(_value(c.get('value')))}"
            + (f" (can end {escape(_range(c.get('finalRange')))})" if c.get("finalRange") else "")
            + "</li>"
            for c in figures.get("conditions") or []
        )
        if "unhealthy" in figures:
            conditions += (f"<li>health query: {figures['unhealthy']} unhealthy (at most "
                           f"{figures.get('maxUnhealthy')})</li>")  # fmt: skip
        counts = figures.get("counts") or {}
        executed = f"{figures.get('executed')} of {figures.get('waveDevices')} (needs {figures.get('required')})"
        reasons = "".join(f"<li>{escape(reason)}</li>" for reason in gate.get("reasons") or [])
        rows.append(
            f"<tr><td>{wave.number}</td><td class=\"{css}\">{escape(gate.get('decision'))}</td>"
            f"<td>{escape(when(from_iso(gate.get('at'))))}</td><td>{escape(executed)}<div class=\"muted\">"
            f"{escape(_counts(counts))}</div></td><td><ul>{conditions}</ul></td><td><ul>{reasons}</ul></td></tr>"
        )
    return ("<table><thead><tr><th>Wave</th><th>Decision</th><th>At</th><th>Executed</th><th>Conditions</th>"
            f"<th>Why</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")  # fmt: skip


def _value(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}%"


def _range(bounds: Any) -> str:
    low, high = bounds
    return f"at {low:.1f}%" if abs(low - high) < 1e-9 else f"between {low:.1f}% and {high:.1f}%"


def _counts(counts: dict[str, Any]) -> str:
    shown = [f"{status.lower().replace('_', ' ')} {value}" for status, value in counts.items() if value]
    return ", ".join(shown) or "no execution yet"


def _job_cells(stats: JobStats | None) -> str:
    if stats is None:
        return '<td colspan="6" class="muted">no job</td>'
    counts = stats.counts
    colour = JOB_STATUS_COLOURS.get(stats.status, "#475569")
    rate = "-" if counts.success_rate is None else f"{counts.success_rate:.1f}%"
    return (f'<td><span class="pill" style="background:{colour};margin:0">{escape(stats.status)}</span></td>'
            f'<td class="num">{counts["SUCCEEDED"]:,}</td><td class="num">{counts.failures:,}</td>'
            f'<td class="num">{counts.pending:,}</td><td class="num">{counts["CANCELED"] + counts["REMOVED"]:,}</td>'
            f'<td class="num">{rate}</td>')  # fmt: skip


def _waves(current: RolloutSnapshot) -> str:
    rows = []
    for wave in current.record.waves:
        strata = ", ".join(f"{name} {count}" for name, count in wave.strata.items())
        cells = _job_cells(current.jobs.get(wave.job_id)) if wave.started else '<td colspan="6" class="muted">not started</td>'
        rows.append(f"<tr><td>{wave.number}</td><td>{escape(percent_label(wave.percent))}</td>"
                    f'<td class="num">{wave.size:,}</td><td><code>{escape(wave.job_id)}</code>'
                    f'<div class="muted">{escape(strata)}</div></td>{cells}</tr>')  # fmt: skip
    return ('<table><thead><tr><th>Wave</th><th>Up to</th><th class="num">Devices</th><th>Job</th><th>Status</th>'
            '<th class="num">Succeeded</th><th class="num">Failed</th><th class="num">Pending</th>'
            '<th class="num">Canceled</th><th class="num">Success</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")  # fmt: skip


def _rollback_hint(record: RolloutRecord) -> str:
    if record.rollback_version is None:
        return "started with --no-rollback"
    return f"a real OTA job to {record.rollback_version} for exactly the devices that report {record.version}"


def _rollback(current: RolloutSnapshot) -> str:
    record = current.record
    stop = record.stop
    if stop is None:
        return '<p class="muted">Nothing stopped this rollout.</p>'
    lines = [f"<p><b>{escape(stop.cause.title())}</b>: {escape(stop.reason)}</p>"]
    if stop.canceled_jobs:
        lines.append(f"<p>Canceled: <code>{escape(', '.join(stop.canceled_jobs))}</code></p>")
    if stop.job_id:
        stats = current.jobs.get(stop.job_id)
        lines.append(f"<p>Rollback job <code>{escape(stop.job_id)}</code> for {stop.devices:,} device(s) back to "
                     f"{escape(record.rollback_version)}</p>")  # fmt: skip
        lines.append('<table><thead><tr><th>Status</th><th class="num">Succeeded</th><th class="num">Failed</th>'
                     '<th class="num">Pending</th><th class="num">Canceled</th><th class="num">Success</th></tr>'
                     f"</thead><tbody><tr>{_job_cells(stats)}</tr></tbody></table>")  # fmt: skip
    elif stop.devices == 0:
        lines.append(f'<p class="muted">No device reported {escape(record.version)}: nothing to roll back.</p>')
    return "".join(lines)


def _events(record: RolloutRecord) -> str:
    rows = "".join(
        f"<tr><td>{escape(when(from_iso(e.get('at'))))}</td><td><code>{escape(e.get('kind'))}</code></td>"
        f"<td>{escape(e.get('message'))}</td><td class=\"muted\">{escape(e.get('by') or '')}</td></tr>"
        for e in record.events
    )
    return f"<table><thead><tr><th>At</th><th>Event</th><th>What</th><th>By</th></tr></thead><tbody>{rows}</tbody></table>"


def _settings(record: RolloutRecord) -> str:
    gate = record.gate
    target = record.target.get("query") or ", ".join(record.target.get("groups") or [])
    request = record.wave_request
    rows = [
        ("Target", target),
        ("Gate", ", ".join(c.text for c in gate.conditions)),
        ("Executed before deciding", "every device of the wave" if gate.min_executed is None else str(gate.min_executed)),
        ("Bake", format_duration(gate.bake_seconds)),
        ("Health query", f"{gate.health_query} (at most {gate.max_unhealthy})" if gate.health_query else None),
        ("Approval between waves", "yes" if record.approve else "no"),
        ("Seed", str(record.seed)),
        ("Wave job rollout", _json(request.get("jobExecutionsRolloutConfig"))),
        ("Wave job abort", _json(request.get("abortConfig"))),
        ("Wave job timeout", _json(request.get("timeoutConfig"))),
        ("Wave job retries", _json(request.get("jobExecutionsRetryConfig"))),
        ("Failed waves", ", ".join(str(w.number) for w in record.waves if w.status == WAVE_FAILED) or None),
        ("Retry jobs", ", ".join(str(r.get("jobId")) for r in record.retries) or None),
    ]  # fmt: skip
    items = "".join(f"<dt>{escape(label)}</dt><dd><code>{escape(value)}</code></dd>" for label, value in rows if value)
    return f'<dl class="settings">{items}</dl>'


def _json(value: Any) -> str | None:
    return None if not value else json.dumps(value, sort_keys=True)

"""What ``iotfleet rollout`` shows: a rollout's summary, its waves table, the steps the controller takes, and
the live dashboard, shared by the commands and the demo."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from iotfleet.cli.output import key_values
from iotfleet.fleet.explore.times import iso_time
from iotfleet.fleet.rollout.controller import Step
from iotfleet.fleet.rollout.record import RolloutRecord
from iotfleet.fleet.rollout.spec import format_duration, percent_label
from iotfleet.fleet.rollout.watch import RolloutSnapshot

STATE_STYLES = {
    "RUNNING": "bold blue",
    "WAITING_APPROVAL": "bold cyan",
    "PAUSED": "bold yellow",
    "COMPLETED": "bold green",
    "FAILED": "bold red",
    "ROLLED_BACK": "bold magenta",
    "ABORTED": "bold bright_black",
}
WAVE_STYLES = {"PENDING": "bright_black", "RUNNING": "blue", "PASSED": "green", "FAILED": "red", "STOPPED": "yellow"}
EVENTS_SHOWN = 6
PHASES = {"CANCELING": "canceling the wave jobs", "DRAINING": "waiting for the executions in progress",
          "ROLLING_BACK": "the rollback job runs", "DONE": "done"}  # fmt: skip


def state_text(record: RolloutRecord) -> Text:
    text = Text(record.state, style=STATE_STYLES.get(record.state, ""))
    if record.stop is not None and not record.ended:
        doing = "rolling back" if record.stop.rollback else "stopping"
        text.append(f"  ({doing}: {PHASES.get(record.stop.phase, record.stop.phase)})", style="magenta")
    if record.paused_from:
        text.append(f"  (was {record.paused_from})", style="bright_black")
    return text


def summary(record: RolloutRecord) -> Text:
    gate = record.gate
    target = record.target.get("query") or ", ".join(record.target.get("groups") or [])
    conditions = ", ".join(c.text for c in gate.conditions)
    executed = "all of the wave" if gate.min_executed is None else f"at least {gate.min_executed}"
    health = f"; health {gate.health_query} (at most {gate.max_unhealthy})" if gate.health_query else ""
    rows: list[tuple[str, Any]] = [
        ("Rollout", record.rollout_id),
        ("Release", f"{record.package} {record.version}"),
        ("State", state_text(record).plain),
        ("Target", f"{target}: {record.devices} device(s)" + (f", {record.excluded} already on it" if record.excluded else "")),
        ("Gate", f"{conditions}; {executed} executed; bake {format_duration(gate.bake_seconds)}{health}"),
        ("Approval", "between waves" if record.approve else "no"),
        ("Rollback", f"to {record.rollback_version}" if record.rollback_version else "none (--no-rollback)"),
        ("Updated", iso_time(record.updated_at)),
    ]  # fmt: skip
    if record.stop is not None:
        rows.append(("Stopping", record.stop.reason))
    return key_values(rows)


def _count_cells(stats: Any) -> list[str]:
    if stats is None:
        return ["-", "-", "-", "-"]
    counts = stats.counts
    rate = "-" if counts.success_rate is None else f"{counts.success_rate:.1f}%"
    return [f"{counts['SUCCEEDED']:,}", f"{counts.failures:,}", f"{counts.pending:,}", rate]


def waves_table(current: RolloutSnapshot) -> Table:
    """One row per wave (and one for the rollback job): its devices, status, job counters and gate."""
    table = Table(show_edge=False, header_style="bold")
    for column in ("Wave", "Devices", "Status", "Succeeded", "Failed", "Pending", "Success", "Gate"):
        table.add_column(column, justify="left" if column in ("Wave", "Status", "Gate") else "right", no_wrap=True)
    for wave in current.record.waves:
        gate = wave.gate or {}
        decision = gate.get("decision") or ("baking" if wave.ready_at else "-")
        table.add_row(
            f"{wave.number} · {percent_label(wave.percent)}", f"{wave.size:,}",
            Text(wave.status, style=WAVE_STYLES.get(wave.status, "")),
            *_count_cells(current.jobs.get(wave.job_id)), decision,
        )  # fmt: skip
    stop = current.record.stop
    if stop is not None and stop.job_id:
        table.add_row(
            "rollback", "-" if stop.devices is None else f"{stop.devices:,}", Text(stop.phase, style="magenta"),
            *_count_cells(current.jobs.get(stop.job_id)), f"to {current.record.rollback_version}",
        )  # fmt: skip
    return table


def events(record: RolloutRecord, count: int = EVENTS_SHOWN) -> Text:
    text = Text()
    for index, event in enumerate(record.events[-count:]):
        if index:
            text.append("\n")
        text.append(f"{event.get('at')}  ", style="bright_black")
        text.append(str(event.get("message")))
    return text


def renderables(current: RolloutSnapshot) -> list[Any]:
    return [summary(current.record), Text(""), waves_table(current), Text(""), events(current.record)]


def dashboard(current: RolloutSnapshot) -> Panel:
    title = Text.assemble(("Rollout ", "bold"), (current.record.rollout_id, "bold"), "  ", state_text(current.record))
    subtitle = f"refresh {current.refresh} · {iso_time(current.at)} · Ctrl-C stops watching"
    return Panel(Group(*renderables(current)), title=title, subtitle=subtitle, expand=False)


def step_line(step: Step) -> str:
    return f"{step.kind}: {step.message}"

"""``iotfleet rollout``: progressive rollouts in waves, each gated, with pause, approval and automatic rollback.

Thin commands over :mod:`iotfleet.fleet.rollout`; the views are in :mod:`iotfleet.cli.rollout_views`.
A rollout moves on while a controller runs: ``start --wait`` or ``resume --wait``, from any machine, since the
state lives in AWS. Without ``--wait``, ``start`` and ``resume`` make one pass (every step due now) and return.
Commands that change a rollout (pause, resume, approve, abort) make one pass too, so their effect is
immediate. With ``--wait``, a rollout that ends FAILED, ROLLED_BACK or ABORTED exits 1.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console

from iotfleet.aws.errors import Interrupted, OperationFailed, UsageError
from iotfleet.cli import rollout_views as views
from iotfleet.cli.files import html_target
from iotfleet.cli.jobs_create import job_settings_options, settings_from_options
from iotfleet.cli.jobs_retry import show_retry
from iotfleet.cli.options import fleet_option, role_option
from iotfleet.cli.output import follow, table
from iotfleet.cli.state import CliState, pass_state
from iotfleet.clock import SYSTEM_CLOCK
from iotfleet.fleet.explore.pages import write_report
from iotfleet.fleet.explore.times import iso_time
from iotfleet.fleet.jobs.checks import parse_tags
from iotfleet.fleet.rollout import commands
from iotfleet.fleet.rollout import report as rollout_report
from iotfleet.fleet.rollout.controller import Controller, Step
from iotfleet.fleet.rollout.plan import plan_rollout, start_rollout
from iotfleet.fleet.rollout.record import ABORTED, FAILED, ROLLED_BACK, RolloutRecord, RolloutStore
from iotfleet.fleet.rollout.spec import (
    DEFAULT_GATE,
    Condition,
    GateSpec,
    RolloutSpec,
    parse_duration,
    parse_waves,
)
from iotfleet.fleet.rollout.watch import RolloutSnapshot, snapshot, watch_rollout

DEFAULT_INTERVAL = 10.0
UNSUCCESSFUL = (FAILED, ROLLED_BACK, ABORTED)

interval_option = click.option(
    "--interval", type=float, default=DEFAULT_INTERVAL, show_default=True, metavar="SECONDS",
    help="Time between passes of the controller, or refreshes of the view.",
)  # fmt: skip
wait_option = click.option("--wait", is_flag=True, help="Stay and move the rollout on until it ends.")
rollout_id_argument = click.argument("rollout_id", metavar="ID")


@click.group()
def rollout() -> None:
    """Progressive rollouts: waves with success gates, approval, pause/resume and automatic rollback."""


def _store(state: CliState, fleet: str) -> RolloutStore:
    return RolloutStore(state.aws, fleet)


def _now(state: CliState) -> float:
    return state.aws.service_time().timestamp()


def _step_printer(state: CliState) -> Any:
    def show(step: Step) -> None:
        state.output.info(views.step_line(step))

    return show


def _controller(state: CliState, store: RolloutStore, rollout_id: str) -> Controller:
    return Controller(state.aws, store.fleet, rollout_id, store=store, on_step=_step_printer(state))


def _drive(state: CliState, controller: Controller, *, wait: bool, interval: float) -> RolloutRecord:
    """One pass, or (``wait``) passes until the rollout ends; Ctrl-C leaves the rollout as it is."""
    if not interval > 0:
        raise UsageError("--interval must be a positive number of seconds", "--interval")
    if not wait:
        return controller.advance()
    try:
        return controller.run(interval=interval, clock=SYSTEM_CLOCK)
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped controlling rollout {controller.rollout_id}; it stays as it is in AWS: "
            f"iotfleet rollout resume {controller.rollout_id} --wait goes on with it"
        ) from None


def _show(state: CliState, store: RolloutStore, rollout_id: str, *, waited: bool = False, hint: bool = False) -> None:
    current = snapshot(store, rollout_id)
    record = current.record

    def render(console: Console) -> None:
        for part in views.renderables(current):
            console.print(part)
        if hint and not record.ended:
            console.print(
                f"\nThe rollout moves on while a controller runs: iotfleet rollout resume {rollout_id} --wait "
                "(from any machine), or run it again later (each run takes the steps that are due).",
                style="bright_black",
            )

    state.output.result(current.as_dict(), render=render)
    if waited and record.state in UNSUCCESSFUL:
        reason = record.stop.reason if record.stop is not None else record.state
        raise OperationFailed(f"rollout {rollout_id} ended {record.state}: {reason}", [])


@rollout.command("start")
@click.option("--package", required=True, metavar="P", help="The package to roll out.")
@click.option("--version", required=True, metavar="V", help="The version to roll out (PUBLISHED or DEPRECATED).")
@click.option("--group", "groups", multiple=True, metavar="G", help="Target: the members of a thing group; repeatable.")
@click.option("--query", metavar="Q", help="Target: the things a fleet-index query matches.")
@click.option("--waves", default="1%,10%,50%,100%", show_default=True, metavar="P1,P2,...,100%",
              help="Cumulative share of the target at the end of each wave.")
@click.option("--gate", "gates", multiple=True, metavar="MEASURE OP PCT",
              help=f"A condition every wave must meet: success, failed, rejected or timed_out, as a percentage of "
                   f"the wave's executed things (e.g. failed<=2); repeatable.  [default: {DEFAULT_GATE[0]}]")
@click.option("--min-executed", type=int, metavar="N",
              help="Things of a wave that must have executed before its gate can pass (default: all of them).")
@click.option("--bake", default="0", show_default=True, metavar="DURATION",
              help="How long a wave's devices must stay healthy before the next wave starts (90s, 30m, 2h, 1d).")
@click.option("--health-query", metavar="Q",
              help="A fleet-index query for unhealthy devices, over each wave's updated devices "
                   "(e.g. shadow.reported.selfTest:failed).")
@click.option("--max-unhealthy", type=int, metavar="N", help="Devices the health query may match (default 0).")
@click.option("--approve", is_flag=True, help="Wait for iotfleet rollout approve before each wave after the first.")
@click.option("--no-rollback", is_flag=True, help="On a failed gate, stop (FAILED) instead of rolling back.")
@click.option("--rollback-to", metavar="V", help="The version to roll back to (default: what most target devices run now).")
@click.option("--rollout-id", metavar="ID", help="The rollout's id (default: rollout-<package>-<version>-<time>).")
@click.option("--seed", type=int, help="Seed of the wave selection (default: from the rollout id).")
@job_settings_options(targets=False, schedule=False)
@click.option("--description", metavar="TEXT", help="Description of the wave jobs.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the wave jobs; repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the plan (waves, requests) and create nothing.")
@wait_option
@interval_option
@role_option()
@fleet_option
@pass_state
def start_command(state: CliState, **options: Any) -> None:
    """Start a rollout: waves of the target, each one job, each gated before the next starts.

    \b
    Examples:
      iotfleet rollout start --package SedanVehicle --version 1.1.0 --group US_Fleet --waves 1%,10%,50%,100% \\
          --gate success>=95 --gate timed_out<=2 --bake 30m --abort FAILED:20:5 --timeout-minutes 30 --wait
      iotfleet rollout start --package SedanVehicle --version 1.1.0 --query 'thingTypeName:SedanVehicle' \\
          --health-query 'shadow.reported.selfTest:failed' --max-unhealthy 1 --approve --rollout-id sedan-110
      iotfleet rollout start --package SedanVehicle --version 1.1.0 --group lab --dry-run
    """
    if options.get("max_unhealthy") is not None and not options.get("health_query"):
        raise UsageError("--max-unhealthy goes with --health-query", "--max-unhealthy")
    gate = GateSpec(
        conditions=tuple(Condition.parse(text) for text in (options["gates"] or DEFAULT_GATE)),
        min_executed=options.get("min_executed"),
        bake_seconds=parse_duration(options["bake"]),
        health_query=options.get("health_query"),
        max_unhealthy=options.get("max_unhealthy") or 0,
    )
    spec = RolloutSpec(
        fleet=options["fleet"], package=options["package"], version=options["version"],
        groups=tuple(options["groups"]), query=options.get("query"), waves=parse_waves(options["waves"]),
        gate=gate, approve=options["approve"], rollback=not options["no_rollback"],
        rollback_to=options.get("rollback_to"), settings=settings_from_options(options),
        rollout_id=options.get("rollout_id"), seed=options.get("seed"), description=options.get("description"),
        tags=parse_tags(options["tags"]), presign_role_arn=options.get("role_arn"),
    ).checked()  # fmt: skip
    if not options["interval"] > 0:
        raise UsageError("--interval must be a positive number of seconds", "--interval")
    plan = plan_rollout(state.aws, spec)
    if options["dry_run"]:
        document = plan.as_dict()

        def render_plan(console: Console) -> None:
            console.print_json(json.dumps(document, default=str))

        for note in plan.notes:
            state.output.info(note)
        state.output.result(document, render=render_plan)
        return
    for note in plan.notes:
        state.output.info(note)
    start_rollout(state.aws, plan, _now(state))
    state.output.info(f"Started rollout {plan.rollout_id}: {len(plan.waves)} wave(s), {len(plan.target)} device(s).")
    store = RolloutStore(state.aws, spec.fleet, plan.bucket)
    _drive(state, _controller(state, store, plan.rollout_id), wait=options["wait"], interval=options["interval"])
    _show(state, store, plan.rollout_id, waited=options["wait"], hint=not options["wait"])


@rollout.command("list")
@fleet_option
@pass_state
def list_command(state: CliState, fleet: str) -> None:
    """The fleet's rollouts, newest first (one read per rollout).

    \b
    Example:
      iotfleet rollout list
    """
    found = commands.list_rollouts(_store(state, fleet))

    def render(console: Console) -> None:
        if not found:
            console.print(f"Fleet {fleet} has no rollout.")
            return
        rows = []
        for record in found:
            passed = sum(1 for w in record.waves if w.status == "PASSED")
            rows.append((record.rollout_id, f"{record.package} {record.version}", record.state,
                         f"{passed}/{len(record.waves)}", f"{record.devices:,}", iso_time(record.created_at),
                         iso_time(record.updated_at)))  # fmt: skip
        console.print(table(["Rollout", "Release", "State", "Passed", "Devices", "Created", "Updated"], rows))

    summaries = [
        {"rolloutId": r.rollout_id, "package": r.package, "version": r.version, "state": r.state,
         "waves": len(r.waves), "passed": sum(1 for w in r.waves if w.status == "PASSED"), "devices": r.devices,
         "createdAt": iso_time(r.created_at), "updatedAt": iso_time(r.updated_at)}
        for r in found
    ]  # fmt: skip
    state.output.result({"fleet": fleet, "rollouts": summaries}, render=render)


@rollout.command("status")
@rollout_id_argument
@fleet_option
@pass_state
def status_command(state: CliState, rollout_id: str, fleet: str) -> None:
    """A rollout now: state, every wave's counters and gate, recent events (reads only).

    \b
    Example:
      iotfleet rollout status sedan-110
    """
    _show(state, _store(state, fleet), rollout_id)


@rollout.command("watch")
@rollout_id_argument
@click.option("--interval", type=float, default=2.0, show_default=True, metavar="SECONDS",
              help="Time between refreshes (each reads the record and one job per started wave).")
@fleet_option
@pass_state
def watch_command(state: CliState, rollout_id: str, interval: float, fleet: str) -> None:
    """A live view of a rollout until it ends; it never changes the rollout (Ctrl-C stops watching, exit 130).

    \b
    Example:
      iotfleet rollout watch sedan-110 --interval 5
    """
    store = _store(state, fleet)
    output = state.output

    def line(current: RolloutSnapshot) -> str:
        waves = " ".join(f"w{w.number}={w.status}" for w in current.record.waves)
        return f"{iso_time(current.at)} {current.record.state} {waves}"

    try:
        final = follow(
            output, lambda show: watch_rollout(store, rollout_id, interval=interval, on_snapshot=show),
            panel=views.dashboard, line=line,
        )  # fmt: skip
    except KeyboardInterrupt:
        raise Interrupted(f"stopped watching rollout {rollout_id}; the rollout itself goes on") from None

    def render(console: Console) -> None:
        for part in views.renderables(final):
            console.print(part)

    output.result(final.as_dict(), render=render)


def _command(state: CliState, fleet: str, rollout_id: str, verb: str, **extra: Any) -> None:
    store = _store(state, fleet)
    now = _now(state)
    if verb == "pause":
        commands.pause(state.aws, store, rollout_id, now)
    elif verb == "resume":
        commands.resume(state.aws, store, rollout_id, now)
    elif verb == "approve":
        commands.approve(state.aws, store, rollout_id, now)
    else:
        commands.abort(state.aws, store, rollout_id, now, rollback=extra["rollback"])
    wait = bool(extra.get("wait"))
    _drive(state, _controller(state, store, rollout_id), wait=wait, interval=extra.get("interval") or DEFAULT_INTERVAL)
    _show(state, store, rollout_id, waited=wait)


@rollout.command("pause")
@rollout_id_argument
@fleet_option
@pass_state
def pause_command(state: CliState, rollout_id: str, fleet: str) -> None:
    """Start no further wave (the started wave's gate is still decided, and a failure still rolls back).

    \b
    Example:
      iotfleet rollout pause sedan-110
    """
    _command(state, fleet, rollout_id, "pause")


@rollout.command("resume")
@rollout_id_argument
@wait_option
@interval_option
@fleet_option
@pass_state
def resume_command(state: CliState, rollout_id: str, wait: bool, interval: float, fleet: str) -> None:
    """Resume a paused rollout, or go on controlling one (after a controller stopped or was killed).

    \b
    Examples:
      iotfleet rollout resume sedan-110 --wait
      iotfleet rollout resume sedan-110          # one pass: the steps due now
    """
    _command(state, fleet, rollout_id, "resume", wait=wait, interval=interval)


@rollout.command("approve")
@rollout_id_argument
@fleet_option
@pass_state
def approve_command(state: CliState, rollout_id: str, fleet: str) -> None:
    """Let the next wave of a rollout started with --approve begin.

    \b
    Example:
      iotfleet rollout approve sedan-110
    """
    _command(state, fleet, rollout_id, "approve")


@rollout.command("abort")
@rollout_id_argument
@click.option("--rollback", is_flag=True, help="Also roll the updated devices back (a real OTA job).")
@fleet_option
@pass_state
def abort_command(state: CliState, rollout_id: str, rollback: bool, fleet: str) -> None:
    """Stop a rollout: cancel its wave jobs (queued executions never start); --rollback also rolls back.

    \b
    Examples:
      iotfleet --yes rollout abort sedan-110
      iotfleet --yes rollout abort sedan-110 --rollback
    """
    what = "cancel its wave jobs and roll the updated devices back" if rollback else "cancel its wave jobs"
    state.confirm(f"Abort rollout {rollout_id} ({what})")
    _command(state, fleet, rollout_id, "abort", rollback=rollback)


@rollout.command("report")
@rollout_id_argument
@click.option("--html", "html_path", required=True, metavar="FILE", help="Where to write the HTML page.")
@fleet_option
@pass_state
def report_command(state: CliState, rollout_id: str, html_path: str, fleet: str) -> None:
    """A self-contained HTML report: the waves on one timeline, every gate decision with its figures.

    \b
    Example:
      iotfleet rollout report sedan-110 --html sedan-110.html
    """
    target = html_target(html_path)
    data = rollout_report.gather(state.aws, _store(state, fleet), rollout_id)
    written = write_report(target, rollout_report.render_html(data))
    state.output.result(
        {"file": str(written), "rolloutId": rollout_id, "state": data.record.state},
        render=lambda console: console.print(f"Wrote {written}."),
    )


@rollout.command("retry-failed")
@rollout_id_argument
@click.option("--job-id", metavar="ID", help="The new job's id (default: <rollout>-retry-<n>).")
@click.option("--dry-run", is_flag=True, help="Print the devices and the request; create nothing.")
@fleet_option
@pass_state
def retry_failed_command(state: CliState, rollout_id: str, job_id: str | None, dry_run: bool, fleet: str) -> None:
    """A new job for exactly the devices whose execution of a wave FAILED or TIMED_OUT, nothing else.

    \b
    Example:
      iotfleet rollout retry-failed sedan-110
    """
    store = _store(state, fleet)
    plan = commands.plan_rollout_retry(state.aws, store, rollout_id, job_id=job_id)
    answer = {} if dry_run else commands.apply_rollout_retry(state.aws, store, rollout_id, plan, _now(state))
    show_retry(state, plan, answer, dry_run=dry_run)

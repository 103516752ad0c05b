"""``iotfleet cleanup``: delete exactly what iotfleet created for one fleet, after showing the plan.

    iotfleet cleanup --fleet demo --dry-run          # the plan only; read calls only
    iotfleet cleanup --fleet demo --yes              # the plan, then the deletions, then the report
    iotfleet cleanup --fleet demo --only jobs,things --yes
    iotfleet -o json cleanup --fleet demo --yes      # {"plan": ..., "result": ...}
    iotfleet cleanup --fleet demo --keep-keys --yes  # the local key store stays

On a terminal, without ``--fleet``, the command asks (fleet, what to delete, debug mode) and a deletion is
confirmed by typing DELETE; without a terminal it needs ``--fleet`` and ``--yes``. Exit codes: 0 done (or
nothing left), 1 some resources failed (each is listed), 2 bad input (nothing deleted), 130 interrupted.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click
from rich.console import Console

from iotfleet.aws.errors import Interrupted, OperationFailed, UsageError
from iotfleet.cli.interactive.cleanup_menu import ask_cleanup
from iotfleet.cli.output import key_values, table
from iotfleet.cli.state import CliState, pass_state
from iotfleet.fleet.cleanup.account_settings import SettingChange
from iotfleet.fleet.cleanup.apply import DONE, FAILED, CleanupResult, apply_cleanup
from iotfleet.fleet.cleanup.kinds import ALL, ONLY_KINDS, parse_only
from iotfleet.fleet.cleanup.plan import CleanupPlan, plan_cleanup
from iotfleet.fleet.naming import check_fleet_name

FLEET_ENV = "IOTFLEET_FLEET"
# Lines of skipped resources and failures shown in text; JSON always has them all.
MAX_LISTED = 25
CONFIRM_WORD = "DELETE"


@click.command("cleanup")
@click.option("--fleet", metavar="NAME", help=f"The fleet to clean up.  [env: {FLEET_ENV}]")
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="KINDS",
    help=f"What to delete: {'|'.join((*ONLY_KINDS, ALL))}; comma-separated or repeated.  [default: all]",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and stop; makes read calls only.")
@click.option(
    "--no-wait",
    is_flag=True,
    help="Leave thing types deprecated instead of waiting the 5 minutes AWS requires; a later run deletes them.",
)
@click.option(
    "--keys-dir", type=click.Path(file_okay=False), metavar="DIR",
    help="The fleet's key store, if provisioning was given --keys-dir.  [default: ~/.iotfleet/keys/<fleet>]",
)
@click.option("--keep-keys", is_flag=True, help="Keep the local key store (private keys and certificates).")
@click.option(
    "--yes", "-y", is_flag=True, help="Confirm the deletion without a prompt (needed without a terminal)."
)
@pass_state
def cleanup(
    state: CliState, fleet: str | None, only: tuple[str, ...], dry_run: bool, no_wait: bool,
    keys_dir: str | None, keep_keys: bool, yes: bool,
) -> None:  # fmt: skip
    """Delete exactly what iotfleet created for a fleet: the plan first, then the deletions in dependency order.

    Only resources that carry the fleet's ownership record (the iotfleet:fleet tag, or the iotfleet_fleet
    attribute on things) are deleted; anything that merely looks like the fleet's is listed as skipped. Account
    settings iotfleet changed (fleet indexing, package configuration) are put back as they were. The things'
    certificates, the fleet's IoT policy and CA go too, then the local key store (unless --keep-keys).

    \b
    Examples:
      iotfleet cleanup --fleet demo --dry-run
      iotfleet cleanup --fleet demo --yes
      iotfleet cleanup --fleet demo --only jobs,things --yes
      iotfleet -o json cleanup --fleet demo --yes
      iotfleet cleanup --fleet demo --keep-keys --yes
    """
    if yes:
        state.prompts.assume_yes = True
    fleet = fleet or os.environ.get(FLEET_ENV) or None
    if fleet is None and state.prompts.interactive:
        choice = ask_cleanup(state, only)
        fleet, only = choice.fleet, choice.only
    if fleet is None:
        raise UsageError("missing --fleet (there is no terminal to ask on)", "--fleet")
    fleet = check_fleet_name(fleet)
    chosen = parse_only(only or None)
    if not dry_run and not state.prompts.assume_yes and not state.prompts.interactive:
        raise UsageError("cleanup deletes resources: pass --yes to confirm without a terminal", "--yes")
    run_cleanup(state, fleet, chosen, dry_run=dry_run, wait=not no_wait, keys_dir=keys_dir, keep_keys=keep_keys)


def run_cleanup(
    state: CliState,
    fleet: str,
    chosen: frozenset[str],
    *,
    dry_run: bool,
    wait: bool,
    keys_dir: str | None = None,
    keep_keys: bool = False,
) -> None:
    """Plan, show, confirm, apply, report (shared by the command and the interactive flow)."""
    output = state.output
    if not output.json:
        output.info(f"Planning the cleanup of fleet {fleet!r} (read calls only)...")
    plan = plan_cleanup(state.aws, fleet, chosen, keys_dir=keys_dir, keep_keys=keep_keys)
    if plan.empty:
        output.result(
            {"plan": plan.as_dict(), "result": None, "nothing_to_do": True},
            lambda console: _render_nothing(console, plan),
        )
        return
    if dry_run:
        output.result(
            {"plan": plan.as_dict(), "dry_run": True}, lambda console: _render_plan(console, plan, True)
        )
        return
    if not output.json:
        _render_plan(output.console, plan, False)
    state.confirm(_confirm_text(plan), typed_word=CONFIRM_WORD)
    try:
        result = apply_cleanup(state.aws, plan, wait_for_types=wait, progress=state.progress())
    except Interrupted as stop:
        partial = stop.partial
        if isinstance(partial, CleanupResult):
            output.result(
                {"plan": plan.as_dict(), "result": partial.as_dict()},
                lambda console: render_result(console, partial),
            )
        raise
    output.result(
        {"plan": plan.as_dict(), "result": result.as_dict()}, lambda console: render_result(console, result)
    )
    if not result.ok:
        failures = result.failures
        raise OperationFailed(f"cleanup of fleet {fleet!r}: {len(failures)} resource(s) failed", failures)


# --- rendering ----------------------------------------------------------------------------------------------------


def _confirm_text(plan: CleanupPlan) -> str:
    resources = sum(len(step.resources) for step in plan.steps)
    settings = sum(1 for change in plan.settings if change.needed)
    what = f"delete {resources} resource(s) of fleet {plan.fleet!r}"
    if settings:
        what += f" and put back {settings} account setting(s)"
    return what[0].upper() + what[1:]


def _render_nothing(console: Console, plan: CleanupPlan) -> None:
    console.print(f"Nothing left to delete for fleet {plan.fleet!r}.")
    _render_skipped(console, plan)


def _render_plan(console: Console, plan: CleanupPlan, dry_run: bool) -> None:
    title = f"Cleanup plan for fleet {plan.fleet!r}" + (
        " (dry run: nothing will be deleted)" if dry_run else ""
    )
    rows = []
    for number, planned in enumerate(plan.steps, 1):
        count = ", ".join(
            _count(sum(1 for r in planned.resources if r.kind == kind), kind) for kind in planned.step.kinds
        )
        if planned.settings:
            count = _count(sum(1 for c in planned.settings if c.needed), "setting")
        rows.append((number, planned.step.key, count, planned.step.action))
    console.print(table(("#", "Step", "Count", "What happens"), rows, title=title))
    if plan.handovers:
        console.print("\nHanded over to other iotfleet fleets that still use them:")
        for resource in plan.handovers:
            console.print(
                f"  {resource.kind} {resource.name} -> fleet {resource.info.get('hand_over_to')!r}",
                markup=False,
            )
    settings = plan.settings
    if settings:
        console.print("\nAccount settings:")
        for change in settings:
            console.print(f"  {change.name}: {_setting_line(change)}", markup=False)
    _render_skipped(console, plan)
    for note in plan.notes:
        console.print(f"Note: {note}", markup=False)


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun[:-1]}ies" if noun.endswith("y") else f"{n} {noun}s"


def _setting_line(change: SettingChange) -> str:
    if not change.needed:
        return f"{change.reason} (nothing to do)"
    if change.target == change.current:
        return change.reason
    return f"{_compact(change.current)} -> {_compact(change.target)} ({change.reason})"


def _compact(value: Any) -> str:
    """A setting on one line, without what is off or empty."""
    if isinstance(value, dict):
        shown = {k: v for k, v in value.items() if v not in (None, "OFF", False, [], {})}
        if not shown:
            return "off"
        value = shown
    return json.dumps(value, sort_keys=True, default=str)


def _render_skipped(console: Console, plan: CleanupPlan) -> None:
    if not plan.skipped:
        return
    console.print(f"\nSkipped, never touched ({len(plan.skipped)}):")
    for skipped in plan.skipped[:MAX_LISTED]:
        console.print(f"  {skipped.kind} {skipped.name}: {skipped.reason}", markup=False)
    if len(plan.skipped) > MAX_LISTED:
        console.print(f"  ... and {len(plan.skipped) - MAX_LISTED} more (--output json lists them all)")


def render_result(console: Console, result: CleanupResult) -> None:
    rows = [(kind, row["deleted"], row["skipped"], row["failed"]) for kind, row in result.summary().items()]
    heading = "Cleanup interrupted" if result.interrupted else "Cleanup report"
    console.print(
        table(("Kind", "Deleted", "Skipped", "Failed"), rows, title=f"{heading}: fleet {result.plan.fleet!r}")
    )
    removed = result.removed()
    if any(removed.values()):
        console.print(key_values([(what.capitalize(), n) for what, n in sorted(removed.items()) if n]))
    skipped = [o for o in result.outcomes if o.status not in (*DONE, FAILED)]
    if skipped:
        console.print(f"\nSkipped ({len(skipped)}):")
        for outcome in skipped[:MAX_LISTED]:
            console.print(f"  {outcome.kind} {outcome.name}: {outcome.detail}", markup=False)
        if len(skipped) > MAX_LISTED:
            console.print(f"  ... and {len(skipped) - MAX_LISTED} more")
    failed = [o for o in result.outcomes if o.status == FAILED]
    if failed:
        console.print(f"\nFailed ({len(failed)}):")
        for outcome in failed[:MAX_LISTED]:
            console.print(f"  {outcome.kind} {outcome.name}: {outcome.detail}", markup=False)
        if len(failed) > MAX_LISTED:
            console.print(f"  ... and {len(failed) - MAX_LISTED} more")
        console.print("Run the same cleanup again to retry what failed.")
    elif not result.interrupted:
        console.print("\nDone." + (" Skipped resources are listed above." if skipped else ""))

"""``iotfleet jobs retry-failed JOB``: a new job for exactly the devices whose execution FAILED or TIMED_OUT.

The view is shared with ``iotfleet rollout retry-failed``.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console

from iotfleet.cli.options import fleet_option
from iotfleet.cli.output import key_values
from iotfleet.cli.state import CliState, pass_state
from iotfleet.fleet.jobs.checks import parse_tags
from iotfleet.fleet.jobs.retry import RetryPlan, apply_retry, plan_retry

SHOWN_DEVICES = 20


def show_retry(state: CliState, plan: RetryPlan, answer: dict[str, Any], *, dry_run: bool) -> None:
    """The devices retried (or that would be), what was left out, and the job."""
    document = {**plan.as_dict(), "created": bool(answer), **answer}

    def render(console: Console) -> None:
        if not plan.devices:
            console.print(f"No device failed or timed out in {', '.join(plan.source_jobs)}: nothing to retry.")
            return
        if dry_run:
            console.print_json(json.dumps(plan.request, default=str))
        shown = ", ".join(plan.devices[:SHOWN_DEVICES]) + (" ..." if len(plan.devices) > SHOWN_DEVICES else "")
        left_out = ", ".join(f"{count} {status.lower()}" for status, count in plan.left_out.items() if count)
        verb = "Would create" if dry_run else "Created"
        console.print(f"[green]{verb} job[/green] {plan.job_id}")
        console.print(key_values([
            ("Devices", f"{len(plan.devices)}: {shown}"),
            ("Left out", left_out or "-"),
            ("Targets", f"group {plan.group}" if plan.group else "the devices, by ARN"),
        ]))  # fmt: skip
        for note in plan.notes:
            console.print(note, style="bright_black")

    state.output.result(document, render=render)


@click.command("retry-failed")
@click.argument("job_id", metavar="JOB")
@click.option("--job-id", "new_job_id", metavar="ID", help="The new job's id (default: JOB-retry-<n>).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the new job; repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the devices and the request; create nothing.")
@fleet_option
@pass_state
def retry_failed_command(
    state: CliState, job_id: str, new_job_id: str | None, tags: tuple[str, ...], dry_run: bool, fleet: str
) -> None:
    """Retry a job's failed and timed-out devices: a copy of the job for exactly them (not rejected ones).

    \b
    Examples:
      iotfleet jobs retry-failed ota-fw-main-1_2_0-20270131T220000-a3f9
      iotfleet jobs retry-failed canary-1 --job-id canary-1-again --dry-run
    """
    plan = plan_retry(state.aws, fleet=fleet, jobs=[job_id], job_id=new_job_id, tags=parse_tags(tags))
    answer = {} if dry_run else apply_retry(state.aws, plan, fleet)
    show_retry(state, plan, answer, dry_run=dry_run)

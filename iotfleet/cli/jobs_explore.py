"""``iotfleet jobs list|show|executions|execution|stats|cancel|delete|watch|report|explore``.

Thin commands over the views in :mod:`iotfleet.cli.jobs_views` (which the interactive explorer, ``jobs explore``
and ``scripts/explore_jobs.py``, shares). An unknown job or thing is exit 2; so is canceling a job that has
ended.

``watch`` refreshes a live dashboard (one DescribeJob call per refresh) until the job is done, then exits
0. Ctrl-C stops watching, never the job, and exits 130 like every interrupted command: a script running
``iotfleet jobs watch J && next-step`` must not go on as if the job had finished.
"""

from __future__ import annotations

import click

from iotfleet.aws.errors import UsageError
from iotfleet.cli.interactive.explore_menu import explore_menu
from iotfleet.cli.jobs_views import (
    DEFAULT_INTERVAL,
    cancel,
    delete,
    parse_failure_details,
    show_execution,
    show_executions,
    show_job,
    show_jobs,
    show_stats,
    watch,
    write_html_report,
)
from iotfleet.cli.state import CliState, pass_state
from iotfleet.fleet.explore import report
from iotfleet.fleet.explore.jobs import JOB_STATUSES
from iotfleet.fleet.explore.statistics import EXECUTION_STATUSES

job_status_choice = click.Choice(JOB_STATUSES, case_sensitive=False)


execution_status_choice = click.Choice(EXECUTION_STATUSES, case_sensitive=False)


@click.command("list")
@click.option("--status", type=job_status_choice, help="Only jobs in this status.")
@pass_state
def list_command(state: CliState, status: str | None) -> None:
    """List jobs (every page), newest first.

    \b
    Examples:
      iotfleet jobs list
      iotfleet jobs list --status IN_PROGRESS
    """
    show_jobs(state, status)


@click.command("show")
@click.argument("job_id", metavar="JOB")
@pass_state
def show_command(state: CliState, job_id: str) -> None:
    """A job: targets, settings, counters, how close it is to its abort threshold, its document.

    \b
    Example:
      iotfleet jobs show ota-fw-main-1-2-0
    """
    show_job(state, job_id)


@click.command("executions")
@click.argument("job_id", metavar="JOB")
@click.option("--status", type=execution_status_choice, help="Only executions in this status.")
@pass_state
def executions_command(state: CliState, job_id: str, status: str | None) -> None:
    """Every execution of a job (all pages), by thing.

    \b
    Examples:
      iotfleet jobs executions ota-fw-main-1-2-0
      iotfleet jobs executions ota-fw-main-1-2-0 --status FAILED
    """
    show_executions(state, job_id, status)


@click.command("execution")
@click.argument("job_id", metavar="JOB")
@click.argument("thing_name", metavar="THING")
@pass_state
def execution_command(state: CliState, job_id: str, thing_name: str) -> None:
    """One thing's execution of a job: statusDetails, version and execution numbers, and its attempts.

    \b
    Example:
      iotfleet jobs execution ota-fw-main-1-2-0 demo-sensor-00042
    """
    show_execution(state, job_id, thing_name)


@click.command("stats")
@click.argument("job_id", metavar="JOB")
@pass_state
def stats_command(state: CliState, job_id: str) -> None:
    """Success rate, failure rate and health of a job, from its counters: one API call, whatever the fleet size.

    \b
    Example:
      iotfleet jobs stats ota-fw-main-1-2-0
    """
    show_stats(state, job_id)


@click.command("cancel")
@click.argument("job_id", metavar="JOB")
@click.option("--force", is_flag=True, help="Also cancel IN_PROGRESS executions (devices may be mid-update).")
@click.option("--comment", metavar="TEXT", help="Why the job is canceled (kept with the job).")
@pass_state
def cancel_command(state: CliState, job_id: str, force: bool, comment: str | None) -> None:
    """Cancel a job: QUEUED executions never start; IN_PROGRESS ones finish unless --force.

    The confirmation shows what will change. Canceling a job that has ended is exit 2.

    \b
    Examples:
      iotfleet jobs cancel ota-fw-main-1-2-0 --comment "boot loop on rev B"
      iotfleet --yes jobs cancel ota-fw-main-1-2-0 --force
    """
    cancel(state, job_id, force=force, comment=comment)


@click.command("delete")
@click.argument("job_id", metavar="JOB")
@click.option("--force", is_flag=True, help="Delete even with executions in progress or queued.")
@pass_state
def delete_command(state: CliState, job_id: str, force: bool) -> None:
    """Delete a job and its execution history (--force when executions are still in progress).

    \b
    Examples:
      iotfleet jobs delete ota-fw-main-1-2-0
      iotfleet --yes jobs delete ota-fw-main-1-2-0 --force
    """
    delete(state, job_id, force=force)


@click.command("watch")
@click.argument("job_id", metavar="JOB")
@click.option("--interval", type=float, default=DEFAULT_INTERVAL, show_default=True, metavar="SECONDS",
              help="Time between refreshes (each refresh is one DescribeJob call).")
@pass_state
def watch_command(state: CliState, job_id: str, interval: float) -> None:
    """A live dashboard of a job until it is done: counters, rate, funnel, health.

    Each refresh costs one API call whatever the fleet size. Ctrl-C stops watching (exit 130); the job goes on.

    \b
    Examples:
      iotfleet jobs watch ota-fw-main-1-2-0
      iotfleet jobs watch ota-fw-main-1-2-0 --interval 10
    """
    if not interval > 0:
        raise UsageError("--interval must be a positive number of seconds", "--interval")
    watch(state, job_id, interval)


@click.command("report")
@click.argument("job_id", metavar="JOB")
@click.option("--html", "html_path", required=True, metavar="FILE", help="Where to write the HTML page.")
@click.option("--failure-details", default=str(report.DEFAULT_FAILURE_DETAILS), show_default=True, metavar="N|all",
              help="Read the statusDetails of at most N failed executions (one call each, 10 TPS).")
@pass_state
def report_command(state: CliState, job_id: str, html_path: str, failure_details: str) -> None:
    """A self-contained HTML report: summary, status funnel, timeline, failures, settings.

    Costs one call per 250 executions for the timeline, plus one per failed execution read.

    \b
    Example:
      iotfleet jobs report ota-fw-main-1-2-0 --html ota-report.html
    """
    write_html_report(state, job_id, html_path, parse_failure_details(failure_details))


@click.command("explore")
@pass_state
def explore_command(state: CliState) -> None:
    """The interactive jobs explorer (a menu of the commands above); needs a terminal."""
    if not state.prompts.interactive:
        raise UsageError("jobs explore is interactive: run it on a terminal, or use the jobs subcommands")
    explore_menu(state)

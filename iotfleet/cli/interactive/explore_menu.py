"""The interactive jobs explorer: a menu over the ``iotfleet jobs`` views.

Started by ``iotfleet jobs explore`` and ``scripts/explore_jobs.py``. Each choice runs the same code as
the matching command (list, show, executions, execution, stats, cancel, delete, watch, report); a bad
answer or an unknown job is reported and the menu comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from iotfleet.aws.errors import UsageError
from iotfleet.cli import jobs_views
from iotfleet.cli.interactive.asking import MenuItem, ask_until_valid, choose, prompt, run_menu
from iotfleet.cli.state import CliState
from iotfleet.fleet.explore import report
from iotfleet.fleet.explore.jobs import JOB_STATUSES, list_jobs
from iotfleet.fleet.explore.statistics import EXECUTION_STATUSES

MENU = (
    ("List jobs", "list"),
    ("Job details", "show"),
    ("Executions of a job", "executions"),
    ("One execution (job and device)", "execution"),
    ("Job statistics", "stats"),
    ("Cancel a job", "cancel"),
    ("Delete a job", "delete"),
    ("Watch a job", "watch"),
    ("HTML report of a job", "report"),
)


def explore_menu(state: CliState) -> None:
    """Show the menu until the person quits (or presses Ctrl-D/Ctrl-C at the menu)."""
    state.offer_debug_mode()
    actions: dict[str, Callable[[CliState], object]] = {
        "list": _list,
        "show": lambda s: jobs_views.show_job(s, pick_job(s)),
        "executions": _executions,
        "execution": _execution,
        "stats": lambda s: jobs_views.show_stats(s, pick_job(s)),
        "cancel": _cancel,
        "delete": _delete,
        "watch": _watch,
        "report": _report,
    }
    items: list[MenuItem] = [(label, partial(actions[key], state)) for label, key in MENU]
    run_menu(state, "Jobs explorer", [*items, ("Quit", None)])


def pick_job(state: CliState, status: str | None = None, title: str = "Jobs") -> str:
    """Choose a job from the list (by number) or type its ID."""
    found = list_jobs(state.aws, status)
    if not found:
        return ask_until_valid(state, lambda: _required(str(prompt("Job ID")).strip(), "a job ID"))
    labels = [f"{job['jobId']}  ({job.get('status')})" for job in found]
    picked = choose(state, title, labels, allow_other=True)
    return str(found[labels.index(picked)]["jobId"]) if picked in labels else picked


def _required(value: str, what: str) -> str:
    if not value:
        raise UsageError(f"{what} is required")
    return value


def _status(statuses: tuple[str, ...]) -> str | None:
    answer = str(prompt(f"Status ({', '.join(statuses)}; empty for all)", default="")).strip().upper()
    if answer and answer not in statuses:
        raise UsageError(f"status must be one of {', '.join(statuses)}")
    return answer or None


def _list(state: CliState) -> None:
    jobs_views.show_jobs(state, ask_until_valid(state, lambda: _status(JOB_STATUSES)))


def _executions(state: CliState) -> None:
    job_id = pick_job(state)
    jobs_views.show_executions(
        state, job_id, ask_until_valid(state, lambda: _status(EXECUTION_STATUSES))
    )


def _execution(state: CliState) -> None:
    job_id = pick_job(state)
    thing = ask_until_valid(
        state, lambda: _required(str(prompt("Device (thing) name")).strip(), "a thing name")
    )
    jobs_views.show_execution(state, job_id, thing)


def _cancel(state: CliState) -> None:
    job_id = pick_job(state, "IN_PROGRESS", "Jobs in progress")
    force = state.prompts.yes_no("Also cancel executions already IN_PROGRESS (force)?", default=False)
    comment = str(prompt("Reason for canceling (optional)", default="")).strip() or None
    jobs_views.cancel(state, job_id, force=force, comment=comment)


def _delete(state: CliState) -> None:
    job_id = pick_job(state)
    force = state.prompts.yes_no("Delete even if executions are still in progress (force)?", default=False)
    jobs_views.delete(state, job_id, force=force)


def _watch(state: CliState) -> None:
    job_id = pick_job(state)
    interval = ask_until_valid(
        state, lambda: _positive(prompt("Seconds between refreshes", default="2", value_type=float))
    )
    jobs_views.watch(state, job_id, interval)


def _positive(value: float) -> float:
    if not value > 0:
        raise UsageError("give a positive number")
    return value


def _report(state: CliState) -> None:
    job_id = pick_job(state)
    path = str(prompt("HTML file", default=f"{job_id}-report.html")).strip()
    details = str(prompt("Failed executions to read statusDetails of (number or all)",
                         default=str(report.DEFAULT_FAILURE_DETAILS)))  # fmt: skip
    jobs_views.write_html_report(state, job_id, path, jobs_views.parse_failure_details(details))

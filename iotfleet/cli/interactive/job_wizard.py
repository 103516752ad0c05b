"""The job wizard: OTA or custom job, targets, an advanced-settings step, and a confirmation.

It asks for what ``iotfleet jobs create`` takes as flags and builds the same :class:`JobSpec`, so the
request it sends is the one the flags would send. Each answer is checked as it is given (the value objects of
:mod:`iotfleet.fleet.jobs` refuse what AWS would refuse) and asked again when wrong. Started by
``iotfleet jobs create`` on a terminal with nothing to deploy, and by ``scripts/create_job.py``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from iotfleet.aws.errors import UsageError
from iotfleet.cli.files import read_document
from iotfleet.cli.fleet_choice import choose_fleet
from iotfleet.cli.interactive.asking import ask_until_valid, choose, choose_many, names, prompt
from iotfleet.cli.output import key_values
from iotfleet.cli.state import CliState
from iotfleet.fleet.jobs import settings as job_settings
from iotfleet.fleet.jobs.checks import fleet_jobs_role_arn
from iotfleet.fleet.jobs.create import JobSpec, check_job_spec, check_targets, prepare_job, submit_job
from iotfleet.fleet.jobs.documents import check_document, starter_document
from iotfleet.fleet.jobs.templates import list_templates
from iotfleet.fleet.packages.catalog import DEPLOYABLE, list_packages, list_versions

T = TypeVar("T")

ABORT_QUESTION = "TYPE:PERCENT:MIN_EXECUTED, e.g. FAILED:10:5 (FAILED, REJECTED, TIMED_OUT or ALL)"
RETRY_QUESTION = "TYPE:RETRIES, e.g. FAILED:2 (FAILED, TIMED_OUT or ALL)"


# --- the steps --------------------------------------------------------------------------------------------


def choose_package_version(state: CliState, *, deployable_only: bool = True) -> tuple[str, str]:
    packages = [p["packageName"] for p in list_packages(state.aws)]
    package = choose(state, "Packages", packages)
    versions = list_versions(state.aws, package)
    labels = [
        f"{v['versionName']} ({v.get('status')})"
        for v in versions
        if not deployable_only or v.get("status") in DEPLOYABLE
    ]
    if not labels:
        raise UsageError(f"{package} has no PUBLISHED or DEPRECATED version to deploy")
    chosen = choose(state, f"Versions of {package}", labels)
    return package, chosen.rsplit(" (", 1)[0]


def ask_document(state: CliState) -> tuple[str, str]:
    """A custom document file, checked at once; offers the starter document first."""
    if state.prompts.yes_no("Show a starter document to copy into a file?", default=False):
        state.output.console.print_json(json.dumps(starter_document()))

    def ask() -> tuple[str, str]:
        path = str(prompt("Path of the JSON job document"))
        text = read_document(path)
        check_document(text)
        return path, text

    return ask_until_valid(state, ask)


def ask_targets(state: CliState) -> tuple[list[str], list[str]]:
    groups: list[str] = []
    for page in state.aws.iot.get_paginator("list_thing_groups").paginate():
        groups.extend(g["groupName"] for g in page.get("thingGroups", []))
    while True:
        chosen = choose_many(state, "Thing groups (static and dynamic)", sorted(groups))
        things = names(str(prompt("Thing names, separated by commas (empty for none)", default="")))
        try:
            check_targets(chosen, things)
        except UsageError as exc:
            state.output.error(exc.message)
            continue
        return chosen, things


def ask_rollout(state: CliState) -> job_settings.Rollout | None:
    kind = choose(state, "Rollout", ["all at once (AWS's default rate)", "constant rate", "exponential rate"])
    if kind.startswith("constant"):
        return ask_until_valid(
            state, lambda: job_settings.ConstantRollout(prompt("Executions per minute (1-1000)", default=50))
        )
    if kind.startswith("exponential"):

        def exponential() -> job_settings.ExponentialRollout:
            base = prompt("Starting rate per minute (1-1000)", default=10)
            factor = prompt("Increment factor (1.1-5, one decimal)", default="2.0")
            trigger = choose(
                state,
                "Raise the rate after",
                [
                    "a number of notified things",
                    "a number of succeeded things",
                    "either, whichever is met first",
                ],
            )
            notified = succeeded = None
            if not trigger.startswith("a number of succeeded"):
                notified = prompt("How many notified things", default=10)
            if not trigger.startswith("a number of notified"):
                succeeded = prompt("How many succeeded things", default=10)
            return job_settings.ExponentialRollout(
                base, factor, notified_things=notified, succeeded_things=succeeded
            )

        return ask_until_valid(state, exponential)
    return None


def ask_abort(state: CliState) -> tuple[job_settings.AbortCriterion, ...]:
    criteria: list[job_settings.AbortCriterion] = []
    while state.prompts.yes_no("Add an abort criterion?", default=False):
        criteria.append(
            ask_until_valid(state, lambda: job_settings.AbortCriterion.parse(str(prompt(ABORT_QUESTION))))
        )
    return tuple(criteria)


def ask_retries(state: CliState) -> tuple[job_settings.RetryCriterion, ...]:
    criteria: list[job_settings.RetryCriterion] = []
    while len(criteria) < job_settings.MAX_RETRY_CRITERIA and state.prompts.yes_no(
        "Add a retry criterion?", default=False
    ):
        criteria.append(
            ask_until_valid(state, lambda: job_settings.RetryCriterion.parse(str(prompt(RETRY_QUESTION))))
        )
    return tuple(criteria)


def ask_schedule(state: CliState) -> job_settings.Schedule | None:
    if not state.prompts.yes_no("Schedule the job (start, end, maintenance windows)?", default=False):
        return None

    def schedule() -> job_settings.Schedule:
        start = str(prompt("Start (ISO 8601, at least 30 minutes ahead; empty for now)", default="")).strip()
        end = str(prompt("End (ISO 8601; empty for none)", default="")).strip()
        behavior = None
        if end:
            behavior = choose(state, "At the end", list(job_settings.END_BEHAVIORS))
        windows: list[job_settings.MaintenanceWindow] = []
        while state.prompts.yes_no("Add a maintenance window?", default=False):
            windows.append(ask_until_valid(state, lambda: job_settings.MaintenanceWindow(
                str(prompt("Cron start, e.g. cron(0 2 ? * SUN *)")), prompt("Duration in minutes (1-1430)", default=120))))  # fmt: skip
        return job_settings.Schedule(
            start=job_settings.parse_time(start, "--schedule-start") if start else None,
            end=job_settings.parse_time(end, "--schedule-end") if end else None,
            end_behavior=behavior,
            windows=tuple(windows),
        )

    return ask_until_valid(state, schedule)


def ask_advanced_settings(state: CliState, selection: str) -> job_settings.JobSettings:
    """The advanced-settings step: rollout, abort, timeout, retries, schedule and URL lifetime."""
    if not state.prompts.yes_no("Configure advanced settings (rollout, abort, timeout, retries, schedule)?"):
        return job_settings.JobSettings(target_selection=selection)

    def settings() -> job_settings.JobSettings:
        rollout = ask_rollout(state)
        abort = ask_abort(state)
        timeout = None
        if state.prompts.yes_no("Set an in-progress timeout?", default=False):
            timeout = ask_until_valid(state, lambda: job_settings.JobSettings(
                timeout_minutes=prompt("Minutes (1-10080)", default=60)).timeout_minutes)  # fmt: skip
        retries = ask_retries(state)
        schedule = ask_schedule(state)
        expiry = prompt("Presigned URL lifetime in seconds (60-3600)", default=job_settings.DEFAULT_EXPIRES_IN_SEC)
        return job_settings.JobSettings(
            target_selection=selection, rollout=rollout, abort=abort, timeout_minutes=timeout, retries=retries,
            schedule=schedule, presigned_expiry_seconds=expiry,
        )  # fmt: skip

    return ask_until_valid(state, settings)


# --- the wizard ---------------------------------------------------------------------------------------------


def run_job_wizard(
    state: CliState, *, fleet: str, fleet_given: bool = True, role_arn: str | None = None
) -> dict[str, Any] | None:
    """Ask, confirm and create one job; returns AWS's answer (None when the person declines).

    ``role_arn`` presigns artifact URLs instead of the fleet's jobs role. Without a fleet given, the
    account's only fleet is used or one is picked; its jobs role is looked up before the first question.
    """
    if not state.prompts.interactive:
        raise UsageError(
            "the job wizard needs a terminal: pass --package/--version, --document or --template"
        )
    state.offer_debug_mode()
    fleet = choose_fleet(state, fleet, given=fleet_given)
    if role_arn is None:
        fleet_jobs_role_arn(state.aws, fleet)  # a fleet without one fails now, not after the questions
    kind = choose(state, "Job type", ["OTA update (a package version)", "Custom job (a JSON document)",
                                      "From a job template"])  # fmt: skip
    base: dict[str, Any] = {"fleet": fleet, "presign_role_arn": role_arn}
    if kind.startswith("OTA"):
        base["package"], base["version"] = choose_package_version(state)
    elif kind.startswith("Custom"):
        base["document_name"], base["document"] = ask_document(state)
    else:
        templates = [t["jobTemplateId"] for t in list_templates(state.aws)]
        base["template"] = choose(state, "Job templates", templates)
    groups, things = ask_targets(state)
    selection = choose(state, "Target selection", [
        "SNAPSHOT: the targets as they are now", "CONTINUOUS: also things that join a target group later"])  # fmt: skip
    settings = ask_advanced_settings(state, selection.split(":", 1)[0])
    spec = JobSpec(groups=tuple(groups), things=tuple(things), settings=settings, **base)
    suggested = check_job_spec(spec).job_id

    def identity() -> JobSpec:
        job_id = str(prompt("Job id", default=suggested)).strip()
        description = str(prompt("Description (empty for none)", default="")).strip() or None
        changed = JobSpec(groups=tuple(groups), things=tuple(things), settings=settings, job_id=job_id,
                               description=description, **base)  # fmt: skip
        check_job_spec(changed)
        return changed

    spec = ask_until_valid(state, identity)
    prepared = prepare_job(state.aws, spec)
    request = prepared.request
    state.output.console.print(key_values([
        ("job id", request["jobId"]), ("targets", ", ".join(prepared.targets)),
        ("selection", request.get("targetSelection")), ("template", request.get("jobTemplateArn")),
        ("versions", ", ".join(request.get("destinationPackageVersions", [])) or None),
    ]))  # fmt: skip
    if state.prompts.yes_no("Show the exact CreateJob request?", default=False):
        state.output.console.print_json(json.dumps(request, default=str))
    if not state.prompts.yes_no(f"Create job {request['jobId']}?", default=True):
        state.output.info("Nothing was created.")
        return None
    answer = submit_job(state.aws, prepared)
    state.output.console.print(f"[green]Created job[/green] {answer.get('jobId')} ({answer.get('jobArn')})")
    return answer

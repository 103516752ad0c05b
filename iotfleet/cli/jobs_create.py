"""``iotfleet jobs create`` and ``iotfleet jobs template ...``: OTA and custom jobs, and job templates.

Every setting is a flag; the library (:mod:`iotfleet.fleet.jobs`) checks them all before the first call, so
bad input is exit 2 with nothing sent. On a terminal, ``jobs create`` with nothing to deploy starts the job
wizard. The job-settings flags are shared with ``packages rollback`` through :func:`job_settings_options`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import click
from rich.console import Console

from iotfleet.aws.errors import UsageError
from iotfleet.cli.files import read_document
from iotfleet.cli.fleet_choice import command_fleet
from iotfleet.cli.interactive.job_wizard import run_job_wizard
from iotfleet.cli.options import fleet_given, fleet_option, role_option
from iotfleet.cli.output import key_values, table
from iotfleet.cli.state import CliState, pass_state
from iotfleet.fleet.jobs.checks import parse_tags
from iotfleet.fleet.jobs.create import JobSpec, PreparedJob, check_job_spec, prepare_job, submit_job
from iotfleet.fleet.jobs.documents import PackageVersionRef, starter_document
from iotfleet.fleet.jobs.settings import (
    CONTINUOUS,
    DEFAULT_EXPIRES_IN_SEC,
    END_BEHAVIORS,
    SNAPSHOT,
    AbortCriterion,
    ConstantRollout,
    ExponentialRollout,
    JobSettings,
    MaintenanceWindow,
    RetryCriterion,
    Rollout,
    Schedule,
    parse_time,
)
from iotfleet.fleet.jobs.templates import (
    TemplateSpec,
    check_template_spec,
    delete_template,
    describe_template,
    list_templates,
    prepare_template,
    submit_template,
)

F = TypeVar("F", bound=Callable[..., Any])

def job_settings_options(*, targets: bool = True, schedule: bool = True) -> Callable[[F], F]:
    """The flags of :class:`~iotfleet.fleet.jobs.settings.JobSettings` (rollout, abort, timeout, retry, schedule)."""

    def decorate(command: F) -> F:
        options = [
            click.option("--max-per-minute", type=int, metavar="N", help="Constant rollout: at most N a minute (1-1000)."),
            click.option("--exp-base", type=int, metavar="N", help="Exponential rollout: starting rate a minute (1-1000)."),
            click.option("--exp-factor", type=str, metavar="F", help="Exponential rollout: rate multiplier (1.1-5, one decimal)."),
            click.option("--exp-notified", type=int, metavar="N", help="Raise the rate after N more things are notified (with --exp-succeeded: whichever is met first)."),
            click.option("--exp-succeeded", type=int, metavar="N", help="Raise the rate after N more things succeed (with --exp-notified: whichever is met first)."),
            click.option("--abort", "aborts", multiple=True, metavar="TYPE:PCT:MIN",
                         help="Cancel when PCT% of executions end in TYPE (FAILED, REJECTED, TIMED_OUT, ALL) once "
                         "MIN have run; repeatable."),
            click.option("--timeout-minutes", type=int, metavar="N", help="In-progress timeout (1-10080 minutes)."),
            click.option("--retry", "retries", multiple=True, metavar="TYPE:N",
                         help="Retry up to N times on TYPE (FAILED, TIMED_OUT, ALL); at most 2, 10 retries in all."),
            click.option("--url-expiry", type=int, metavar="SECONDS", default=DEFAULT_EXPIRES_IN_SEC,
                         show_default=True, help="Lifetime of presigned artifact URLs (60-3600)."),
            click.option("--maintenance-window", "windows", multiple=True, metavar="'cron=cron(...),duration=MIN'",
                         help="Release only inside this window, e.g. 'cron=cron(0 2 ? * SUN *),duration=120'; repeatable."),
        ]  # fmt: skip
        if schedule:
            options += [
                click.option("--schedule-start", metavar="ISO", help="Start at least 30 minutes and at most a year ahead, in ISO 8601 UTC, e.g. 2027-01-31T22:00Z."),
                click.option("--schedule-end", metavar="ISO", help="End of the rollout (30 minutes or more after the start)."),
                click.option("--end-behavior", metavar="|".join(END_BEHAVIORS),
                             help="What happens at --schedule-end (default STOP_ROLLOUT)."),
            ]  # fmt: skip
        if targets:
            options.append(
                click.option("--continuous", is_flag=True, help="CONTINUOUS: things that join a target group later get it too.")
            )  # fmt: skip
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def settings_from_options(options: dict[str, Any]) -> JobSettings:
    """Build :class:`JobSettings` from the flags of :func:`job_settings_options` (checked as it is built)."""
    exponential = [
        options.get(k) is not None for k in ("exp_base", "exp_factor", "exp_notified", "exp_succeeded")
    ]
    if options.get("max_per_minute") is not None and any(exponential):
        raise UsageError("choose a constant (--max-per-minute) or an exponential (--exp-*) rollout, not both",
                         "--max-per-minute")  # fmt: skip
    rollout: Rollout | None = None
    if options.get("max_per_minute") is not None:
        rollout = ConstantRollout(options["max_per_minute"])
    elif any(exponential):
        if options.get("exp_base") is None or options.get("exp_factor") is None:
            raise UsageError("an exponential rollout needs --exp-base N and --exp-factor F", "--exp-base")
        rollout = ExponentialRollout(
            options["exp_base"],
            options["exp_factor"],
            options.get("exp_notified"),
            options.get("exp_succeeded"),
        )
    windows = tuple(MaintenanceWindow.parse(w) for w in options.get("windows") or ())
    start, end = options.get("schedule_start"), options.get("schedule_end")
    schedule = None
    if start or end or windows or options.get("end_behavior"):
        schedule = Schedule(
            start=parse_time(start, "--schedule-start") if start else None,
            end=parse_time(end, "--schedule-end") if end else None,
            end_behavior=options.get("end_behavior"),
            windows=windows,
        )
    return JobSettings(
        target_selection=CONTINUOUS if options.get("continuous") else SNAPSHOT,
        rollout=rollout,
        abort=tuple(AbortCriterion.parse(a) for a in options.get("aborts") or ()),
        timeout_minutes=options.get("timeout_minutes"),
        retries=tuple(RetryCriterion.parse(r) for r in options.get("retries") or ()),
        schedule=schedule,
        presigned_expiry_seconds=options.get("url_expiry") or DEFAULT_EXPIRES_IN_SEC,
    )


def print_request(state: CliState, request: dict[str, Any], notes: list[str] | None = None) -> None:
    """The exact request as JSON on stdout (dry runs); notes go to stderr."""
    for note in notes or []:
        state.output.warn(note)

    def render(console: Console) -> None:
        console.print_json(json.dumps(request, default=str))

    state.output.result(request, render=render)


def render_created_job(state: CliState, prepared: PreparedJob, answer: dict[str, Any]) -> None:
    request = prepared.request
    info = {
        "job": answer.get("jobId"),
        "arn": answer.get("jobArn"),
        "targets": len(request["targets"]),
        "selection": request.get("targetSelection"),
        "versions": ", ".join(
            str(PackageVersionRef.from_arn(a))
            for a in request.get("destinationPackageVersions", [])
        )
        or None,  # fmt: skip
        "template": request.get("jobTemplateArn"),
        "scheduled": (request.get("schedulingConfig") or {}).get("startTime"),
    }

    def render(console: Console) -> None:
        console.print(f"[green]Created job[/green] {answer.get('jobId')}")
        console.print(key_values((k, v) for k, v in info.items() if v is not None))

    state.output.result({"created": True, **answer, "request": request}, render=render)


@click.command("create")
@click.option("--package", metavar="P", help="OTA: the package to deploy (with --version).")
@click.option("--version", metavar="V", help="OTA: the version to deploy (PUBLISHED or DEPRECATED).")
@click.option(
    "--document",
    "document_path",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Custom job: a JSON document (with --package/--version, the version it deploys).",
)
@click.option("--print-template", is_flag=True, help="Print a starter custom-job document and exit.")
@click.option("--template", metavar="NAME", help="Create the job from this job template.")
@click.option(
    "--group",
    "groups",
    multiple=True,
    metavar="G",
    help="Target thing group (static or dynamic); repeatable.",
)
@click.option("--thing", "things", multiple=True, metavar="T", help="Target thing; repeatable.")
@job_settings_options()
@click.option(
    "--job-id",
    metavar="ID",
    help="Job id (default: readable and unique, e.g. ota-fw-1_2_0-20270131T220000-a3f9).",
)
@click.option("--description", metavar="TEXT", help="Job description.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the job; repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the exact CreateJob request and create nothing.")
@role_option()
@fleet_option
@pass_state
def create(state: CliState, **options: Any) -> None:
    """Create an OTA job (a package version), or a custom job (a JSON document or a template).

    \b
    Examples:
      iotfleet jobs create --package fw-main --version 1.2.0 --group fleet-eu --max-per-minute 50
      iotfleet jobs create --package fw-main --version 1.2.0 --group canary \\
          --exp-base 5 --exp-factor 1.5 --exp-notified 10 --abort FAILED:10:5 --abort TIMED_OUT:20:5 \\
          --timeout-minutes 30 --retry FAILED:2 --retry TIMED_OUT:1
      iotfleet jobs create --document reboot.json --thing sensor-00042 --dry-run
      iotfleet jobs create --template nightly-ota --group fleet-us --schedule-start 2027-01-31T22:00Z
      iotfleet jobs create --print-template > custom.json
    """
    if options["print_template"]:
        starter = starter_document()
        state.output.result(starter, render=lambda console: console.print_json(json.dumps(starter)))
        return
    nothing_to_deploy = not (
        options["package"] or options["version"] or options["document_path"] or options["template"]
    )
    if nothing_to_deploy and state.prompts.interactive:
        given = fleet_given(click.get_current_context())
        run_job_wizard(state, fleet=options["fleet"], fleet_given=given, role_arn=options.get("role_arn"))
        return
    spec = replace(spec_from_options(options), fleet=command_fleet(state, options["fleet"]))
    prepared = prepare_job(state.aws, spec)
    if options["dry_run"]:
        print_request(state, prepared.request, prepared.notes)
        return
    for note in prepared.notes:
        state.output.warn(note)
    answer = submit_job(state.aws, prepared)
    render_created_job(state, prepared, answer)


def spec_from_options(options: dict[str, Any]) -> JobSpec:
    """The :class:`JobSpec` the ``jobs create`` flags describe (all local checks run here)."""
    settings = settings_from_options(options)
    document = read_document(options["document_path"]) if options.get("document_path") else None
    spec = JobSpec(
        fleet=options["fleet"],
        groups=tuple(options.get("groups") or ()),
        things=tuple(options.get("things") or ()),
        package=options.get("package"),
        version=options.get("version"),
        document=document,
        document_name=options.get("document_path"),
        template=options.get("template"),
        settings=settings,
        job_id=options.get("job_id"),
        description=options.get("description"),
        tags=parse_tags(options.get("tags") or ()),
        presign_role_arn=options.get("role_arn"),
    )
    check_job_spec(spec)
    return spec


# --- templates ----------------------------------------------------------------------------------------


@click.group("template")
def template() -> None:
    """Job templates: a document and settings that jobs are created from (jobs create --template NAME)."""


@template.command("create")
@click.argument("name")
@click.option("--package", metavar="P", help="An OTA template for this package (with --version).")
@click.option("--version", metavar="V", help="The version the template deploys.")
@click.option(
    "--document",
    "document_path",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="A custom JSON document.",
)
@click.option("--from-job", metavar="JOB", help="Copy the document and settings of an existing job.")
@job_settings_options(targets=False, schedule=False)
@click.option("--description", metavar="TEXT", help="Template description (default: says what it deploys).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the template; repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the exact CreateJobTemplate request and create nothing.")
@role_option()
@fleet_option
@pass_state
def template_create(state: CliState, name: str, **options: Any) -> None:
    """Create job template NAME from flags, or from an existing job (--from-job).

    \b
    Examples:
      iotfleet jobs template create nightly-ota --package fw-main --version 1.2.0 \\
          --max-per-minute 100 --abort FAILED:5:10 --timeout-minutes 60 \\
          --maintenance-window 'cron=cron(0 2 ? * * *),duration=180'
      iotfleet jobs template create canary-copy --from-job ota-fw-main-1_2_0-20270131T220000-a3f9
    """
    spec = TemplateSpec(
        fleet=options["fleet"],
        template_id=name,
        description=options.get("description"),
        package=options.get("package"),
        version=options.get("version"),
        document=read_document(options["document_path"]) if options.get("document_path") else None,
        from_job=options.get("from_job"),
        settings=settings_from_options(options),
        tags=parse_tags(options.get("tags") or ()),
        presign_role_arn=options.get("role_arn"),
    )
    check_template_spec(spec)
    spec = replace(spec, fleet=command_fleet(state, spec.fleet))
    request = prepare_template(state.aws, spec)
    if options["dry_run"]:
        print_request(state, request)
        return
    answer = submit_template(state.aws, request)

    def render(console: Console) -> None:
        console.print(f"[green]Created job template[/green] {answer['jobTemplateId']}")
        console.print(key_values([("arn", answer["jobTemplateArn"])]))

    state.output.result({"created": True, **answer, "request": request}, render=render)


@template.command("list")
@pass_state
def template_list(state: CliState) -> None:
    """List job templates (all pages)."""
    found = list_templates(state.aws)

    def render(console: Console) -> None:
        if not found:
            console.print("No job templates.")
            return
        console.print(table(["Template", "Description", "Created"],
                            [(t.get("jobTemplateId"), t.get("description"), t.get("createdAt")) for t in found]))  # fmt: skip

    state.output.result({"templates": found}, render=render)


@template.command("describe")
@click.argument("name")
@pass_state
def template_describe(state: CliState, name: str) -> None:
    """Show a job template's document and settings."""
    answer = {
        k: v for k, v in describe_template(state.aws, name, "NAME").items() if k != "ResponseMetadata"
    }

    def render(console: Console) -> None:
        console.print_json(json.dumps(answer, default=str))

    state.output.result(answer, render=render)


@template.command("delete")
@click.argument("name")
@pass_state
def template_delete(state: CliState, name: str) -> None:
    """Delete a job template (jobs created from it are not affected)."""
    describe_template(state.aws, name, "NAME")
    state.confirm(f"Delete job template {name}")
    delete_template(state.aws, name)
    state.output.result(
        {"deleted": name}, render=lambda console: console.print(f"Deleted job template {name}")
    )

"""``iotfleet packages``: firmware in the Software Package Catalog, from local files to rollback.

Thin commands over :mod:`iotfleet.fleet.packages`. On a terminal a missing PACKAGE, VERSION or THING is asked
for; without one it is a usage error (exit 2). Deletions need confirmation, or ``--yes``. The interactive menu,
``packages menu``, lives in :mod:`iotfleet.cli.interactive.packages_menu`.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.text import Text

from iotfleet.cli.fleet_choice import command_fleet
from iotfleet.cli.jobs_create import job_settings_options, print_request, settings_from_options
from iotfleet.cli.options import fleet_option, role_option
from iotfleet.cli.output import key_values, table
from iotfleet.cli.state import CliState, pass_state
from iotfleet.fleet.jobs.checks import parse_tags
from iotfleet.fleet.naming import check_package_name, check_thing_name, check_version_name
from iotfleet.fleet.packages.catalog import (
    LifecycleResult,
    create_package,
    delete_package,
    delete_version,
    deprecate_version,
    describe_package,
    describe_version,
    get_package,
    get_version,
    list_packages,
    publish_version,
    set_default_version,
)
from iotfleet.fleet.packages.configuration import fleet_package_role_arn, get_configuration, set_configuration
from iotfleet.fleet.packages.reported import Distribution, device_packages
from iotfleet.fleet.packages.reported import distribution as version_distribution
from iotfleet.fleet.packages.rollback import apply_rollback, plan_rollback
from iotfleet.fleet.packages.upload import fleet_bucket, parse_attributes, upload_version
from iotfleet.fleet.roles import check_role_exists

BAR_WIDTH = 40


def ask_package(state: CliState, value: str | None) -> str:
    return check_package_name(state.prompts.value("PACKAGE", "Package name", current=value), "PACKAGE")


def ask_version(state: CliState, value: str | None, flag: str = "VERSION") -> str:
    return check_version_name(state.prompts.value(flag, "Version name", current=value), flag)


@click.group("packages")
def packages() -> None:
    """Firmware packages and versions: create from files, publish, deprecate, deploy state, rollback."""


@packages.command("create")
@click.argument("package", required=False)
@click.option("--description", metavar="TEXT", help="Package description.")
@fleet_option
@pass_state
def create(state: CliState, package: str | None, description: str | None, fleet: str) -> None:
    """Create package PACKAGE (tagged with the fleet). An existing package is reported, not an error.

    \b
    Example:
      iotfleet packages create fw-main --description "Main board firmware"
    """
    name = ask_package(state, package)
    result = create_package(state.aws, command_fleet(state, fleet), name, description)
    verb = "Created" if result.created else "Already exists:"
    state.output.result(
        {"package": result.name, "arn": result.arn, "created": result.created},
        render=lambda console: console.print(f"{verb} package {result.name} ({result.arn})"),
    )


@packages.command("create-version")
@click.argument("package", required=False)
@click.argument("version", required=False)
@click.option("--file", "path", type=click.Path(dir_okay=False), metavar="PATH", help="The firmware file to upload.")
@click.option("--publish", is_flag=True, help="Publish at once (default: leave it DRAFT).")
@click.option("--description", metavar="TEXT", help="Version description.")
@click.option("--attribute", "attributes", multiple=True, metavar="KEY=VALUE",
              help="Extra version attribute; repeatable (sha256 and size are computed from the file).")  # fmt: skip
@fleet_option
@pass_state
def create_version(
    state: CliState,
    package: str | None,
    version: str | None,
    path: str | None,
    publish: bool,
    description: str | None,
    attributes: tuple[str, ...],
    fleet: str,
) -> None:
    """Upload a firmware file to the fleet's bucket and register it as PACKAGE VERSION.

    The version records the file's sha256 and size as attributes, and its artifact names the uploaded S3
    object version. Re-running with the same file is safe.

    \b
    Example:
      iotfleet packages create-version fw-main 1.2.0 --file build/fw-1.2.0.bin --publish --attribute build=812
    """
    name = ask_package(state, package)
    version_name = ask_version(state, version)
    file = state.prompts.value("--file", "Firmware file", current=path)
    extra = parse_attributes(attributes)
    fleet = command_fleet(state, fleet)
    bucket = fleet_bucket(state.aws, fleet)
    result = upload_version(
        state.aws, fleet=fleet, bucket=bucket, package=name, version=version_name, path=file,
        description=description, attributes=extra, publish=publish,
    )  # fmt: skip
    data = {
        "package": result.package, "version": result.version, "arn": result.arn, "status": result.status,
        "created": result.created, "uploaded": result.uploaded, "sha256": result.sha256, "size": result.size,
        "s3": {"bucket": result.bucket, "key": result.key, "version": result.s3_version_id},
    }  # fmt: skip

    def render(console: Console) -> None:
        verb = "Created" if result.created else "Already registered:"
        console.print(f"{verb} {result.package}/{result.version} ({result.status})")
        console.print(key_values([
            ("arn", result.arn), ("sha256", result.sha256), ("size", f"{result.size} bytes"),
            ("artifact", f"s3://{result.bucket}/{result.key}?versionId={result.s3_version_id}"),
        ]))  # fmt: skip

    state.output.result(data, render=render)


def _lifecycle(state: CliState, result: LifecycleResult) -> None:
    state.output.result(
        {"package": result.package, "version": result.version, "status": result.status, "changed": result.changed},
        render=lambda console: console.print(result.message),
    )


@packages.command("publish")
@click.argument("package", required=False)
@click.argument("version", required=False)
@pass_state
def publish(state: CliState, package: str | None, version: str | None) -> None:
    """Publish a DRAFT or DEPRECATED version, so jobs can deploy it."""
    name = ask_package(state, package)
    _lifecycle(state, publish_version(state.aws, name, ask_version(state, version)))


@packages.command("deprecate")
@click.argument("package", required=False)
@click.argument("version", required=False)
@pass_state
def deprecate(state: CliState, package: str | None, version: str | None) -> None:
    """Deprecate a PUBLISHED version (it stays deployable; publish it again to undo)."""
    name = ask_package(state, package)
    _lifecycle(state, deprecate_version(state.aws, name, ask_version(state, version)))


@packages.command("set-default")
@click.argument("package", required=False)
@click.argument("version", required=False)
@click.option("--unset", is_flag=True, help="Remove the default version instead.")
@pass_state
def set_default(state: CliState, package: str | None, version: str | None, unset: bool) -> None:
    """Make VERSION the package's default version (PUBLISHED or DEPRECATED), or --unset it."""
    name = ask_package(state, package)
    if unset and version:
        raise click.UsageError("give VERSION or --unset, not both")
    chosen = None if unset else ask_version(state, version)
    result = set_default_version(state.aws, name, chosen)

    def render(console: Console) -> None:
        if not result["changed"]:
            console.print(f"{name}: default version unchanged ({result['defaultVersion'] or 'none'})")
        elif chosen is None:
            console.print(f"{name}: default version unset (was {result.get('previous')})")
        else:
            console.print(f"{name}: default version is now {chosen}")

    state.output.result(result, render=render)


@packages.command("list")
@pass_state
def list_command(state: CliState) -> None:
    """List every package (all pages)."""
    found = list_packages(state.aws)

    def render(console: Console) -> None:
        if not found:
            console.print("No packages.")
            return
        rows = [(p.get("packageName"), p.get("defaultVersionName"), p.get("creationDate"), p.get("lastModifiedDate"))
                for p in found]  # fmt: skip
        console.print(table(["Package", "Default version", "Created", "Modified"], rows))

    state.output.result({"packages": found}, render=render)


@packages.command("describe")
@click.argument("package", required=False)
@click.argument("version", required=False)
@pass_state
def describe(state: CliState, package: str | None, version: str | None) -> None:
    """Describe a package and its versions, or one version (attributes, artifact, status)."""
    name = ask_package(state, package)
    if version is not None:
        info = describe_version(state.aws, name, version)

        def render_version(console: Console) -> None:
            location = (info.get("artifact") or {}).get("s3Location") or {}
            console.print(key_values([
                ("package", info.get("packageName")), ("version", info.get("versionName")),
                ("status", info.get("status")), ("arn", info.get("packageVersionArn")),
                ("description", info.get("description")),
                ("artifact", f"s3://{location.get('bucket')}/{location.get('key')}?versionId={location.get('version')}"
                 if location else None),
                ("created", info.get("creationDate")), ("modified", info.get("lastModifiedDate")),
            ]))  # fmt: skip
            attributes = info.get("attributes") or {}
            if attributes:
                console.print(table(["Attribute", "Value"], sorted(attributes.items())))

        state.output.result(info, render=render_version)
        return
    described = describe_package(state.aws, name)

    def render_package(console: Console) -> None:
        console.print(key_values([
            ("package", described["packageName"]), ("arn", described["packageArn"]),
            ("description", described.get("description")), ("default version", described.get("defaultVersionName")),
            ("created", described.get("creationDate")),
        ]))  # fmt: skip
        rows = [(v.get("versionName"), v.get("status"), v.get("creationDate")) for v in described["versions"]]
        console.print(table(["Version", "Status", "Created"], rows) if rows else "No versions.")

    state.output.result(described, render=render_package)


@packages.command("delete")
@click.argument("package", required=False)
@click.argument("version", required=False)
@click.option("--force", is_flag=True, help="Delete even while an active job deploys it.")
@pass_state
def delete(state: CliState, package: str | None, version: str | None, force: bool) -> None:
    """Delete VERSION of PACKAGE, or PACKAGE with all its versions.

    Refused while an IN_PROGRESS or SCHEDULED job deploys it, unless --force. A default version is unset
    first. Needs confirmation (or --yes).
    """
    name = ask_package(state, package)
    what = f"package version {name}/{version}" if version else f"package {name} and all its versions"
    if version is not None:
        check_version_name(version, "VERSION")
    state.prompts.check_confirmable(f"Delete {what}")
    if version is not None:
        get_version(state.aws, name, version)
    else:
        get_package(state.aws, name)  # an unknown package is a usage error, as for every other delete
    state.confirm(f"Delete {what}")
    if version is not None:
        result = delete_version(state.aws, name, version, force=force)
    else:
        result = delete_package(state.aws, name, force=force)
    for job in result.active_jobs:
        state.output.warn(f"active job {job.job_id} ({job.status}) deploys {', '.join(job.versions)}; deleted anyway")
    data = {
        "package": result.package, "deletedVersions": list(result.deleted_versions),
        "packageDeleted": result.package_deleted, "unsetDefault": result.unset_default,
        "activeJobs": [job.job_id for job in result.active_jobs],
    }  # fmt: skip
    state.output.result(data, render=lambda console: console.print(result.message))


# --- configuration ------------------------------------------------------------------------------------


@packages.group("config")
def config() -> None:
    """Package configuration: whether jobs record deployed versions in each thing's $package shadow."""


def _render_config(state: CliState, data: dict[str, Any]) -> None:
    current = data.get("current", data)

    def render(console: Console) -> None:
        console.print(key_values([("version updates by jobs", "enabled" if current["enabled"] else "disabled"),
                                  ("role", current.get("roleArn"))]))  # fmt: skip

    state.output.result(data, render=render)


@config.command("show")
@pass_state
def config_show(state: CliState) -> None:
    """Show the package configuration."""
    _render_config(state, get_configuration(state.aws))


@config.command("enable")
@role_option("The role jobs use to update $package shadows (default: the fleet's package role).")
@fleet_option
@pass_state
def config_enable(state: CliState, role_arn: str | None, fleet: str) -> None:
    """Let successful jobs write the deployed version into each thing's $package shadow."""
    fleet = command_fleet(state, fleet)
    role = check_role_exists(state.aws, role_arn) if role_arn else fleet_package_role_arn(state.aws, fleet)
    result = set_configuration(state.aws, enabled=True, role_arn=role, fleet=fleet)
    if result["recorded"] is None:
        state.output.warn(f"fleet {fleet} has no bucket to record the previous setting in; cleanup will not restore it")
    _render_config(state, result)


@config.command("disable")
@pass_state
def config_disable(state: CliState) -> None:
    """Stop jobs from writing deployed versions into $package shadows."""
    _render_config(state, set_configuration(state.aws, enabled=False))


# --- devices ------------------------------------------------------------------------------------------


@packages.command("device")
@click.argument("thing", required=False)
@pass_state
def device(state: CliState, thing: str | None) -> None:
    """Show what THING reports in its $package shadow: packages, versions and when they were reported."""
    name = check_thing_name(state.prompts.value("THING", "Thing name", current=thing), "THING")
    found = device_packages(state.aws, name)
    data = {
        "thing": name,
        "packages": [{"package": p.package, "version": p.version, "attributes": p.attributes,
                      "reportedAt": p.reported_at} for p in found],
    }  # fmt: skip

    def render(console: Console) -> None:
        if not found:
            console.print(f"{name} reports no packages (no $package shadow).")
            return
        rows = [(p.package, p.version, p.reported_at.isoformat() if p.reported_at else None,
                 ", ".join(f"{k}={v}" for k, v in sorted(p.attributes.items())) or None) for p in found]  # fmt: skip
        console.print(table(["Package", "Version", "Reported at", "Attributes"], rows, title=name))

    state.output.result(data, render=render)


def bar_chart(dist: Distribution, width: int = BAR_WIDTH) -> Text:
    """One bar per version (and one for versions the catalog does not know), scaled to the largest count."""
    rows = list(dist.counts.items()) + ([("(other)", dist.other)] if dist.other else [])
    largest = max((count for _, count in rows), default=0)
    label_width = max((len(name) for name, _ in rows), default=0)
    text = Text()
    for index, (name, count) in enumerate(rows):
        filled = round(width * count / largest) if largest else 0
        share = f"{100 * count / dist.total:.1f}%" if dist.total else "-"
        if index:
            text.append("\n")
        text.append(name.ljust(label_width), style="bold")
        text.append("  ")
        text.append("█" * filled, style="green")
        text.append("·" * (width - filled), style="dim")
        text.append(f"  {count} ({share})")
    return text


@packages.command("distribution")
@click.argument("package", required=False)
@pass_state
def distribution(state: CliState, package: str | None) -> None:
    """How many devices run each version of PACKAGE, from the fleet index, as a bar chart."""
    name = ask_package(state, package)
    dist = version_distribution(state.aws, name)

    def render(console: Console) -> None:
        console.print(f"{name}: {dist.total} device(s) report a version")
        if dist.counts or dist.other:
            console.print(bar_chart(dist))

    state.output.result(dist.as_dict(), render=render)


@packages.command("rollback")
@click.argument("package", required=False)
@click.option("--to", "version", metavar="VERSION", help="The earlier PUBLISHED or DEPRECATED version to go back to.")
@job_settings_options(targets=False)
@click.option("--job-id", metavar="ID", help="Job id (default: rollback-<package>-<version>-<time>-<hex>).")
@click.option("--description", metavar="TEXT", help="Job description.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the job; repeatable.")
@click.option("--dry-run", is_flag=True, help="Show the plan and the exact CreateJob request; create nothing.")
@role_option()
@fleet_option
@pass_state
def rollback(state: CliState, package: str | None, **options: Any) -> None:
    """Create an OTA job that takes every device reporting another version of PACKAGE back to VERSION.

    The devices are found in the fleet index ($package shadow). Up to 100 are targeted by name; more go
    through a dynamic thing group with the same query. Shadows are not touched: devices report the version
    once they have installed it.

    \b
    Examples:
      iotfleet packages rollback fw-main --to 1.1.0 --dry-run
      iotfleet packages rollback fw-main --to 1.1.0 --max-per-minute 100 --abort FAILED:10:5
    """
    name = ask_package(state, package)
    version = ask_version(state, options.get("version"), "--to")
    settings = settings_from_options(options)
    plan = plan_rollback(
        state.aws, fleet=command_fleet(state, options["fleet"]), package=name, version=version, settings=settings,
        job_id=options.get("job_id"), description=options.get("description"),
        tags=parse_tags(options.get("tags") or ()), presign_role_arn=options.get("role_arn"),
    )  # fmt: skip
    state.output.info(f"{len(plan.devices)} device(s) report another version of {name}: {plan.reason}")
    if plan.method is None:
        state.output.result({**plan.as_dict(), "created": False},
                            render=lambda console: console.print(f"Nothing to roll back: {plan.reason}."))  # fmt: skip
        return
    assert plan.prepared is not None
    if options["dry_run"]:
        print_request(state, plan.prepared.request)
        return
    if state.prompts.interactive:
        state.confirm(f"Roll {len(plan.devices)} device(s) back to {name} {version}")
    answer = apply_rollback(state.aws, plan)
    data = {**plan.as_dict(), "created": True, **answer}

    def render(console: Console) -> None:
        console.print(f"[green]Created rollback job[/green] {answer.get('jobId')}")
        console.print(key_values([("devices", len(plan.devices)), ("targeted by", plan.method),
                                  ("dynamic group", answer.get("dynamicGroupArn")), ("job arn", answer.get("jobArn"))]))  # fmt: skip

    state.output.result(data, render=render)

"""The ``iotfleet`` command: global options, the subcommand list, and errors mapped to exit codes.

Exit codes: 0 ok, 1 an operation failed, 2 bad input or usage, 130 interrupted.

Add a subcommand with one line in :func:`_register` (``cli.add_command(...)``). Only commands that
work belong there. The interactive menus of a group (``groups menu``, ``packages menu``) are added to their
group there too: they are built on the group's commands, so the group's own module cannot import them. A command reports failure by raising an :class:`~iotfleet.aws.errors.IotFleetError`
(or letting a ``ClientError`` through); it never calls ``sys.exit`` itself.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from urllib.parse import urlparse

import click
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from iotfleet import __version__
from iotfleet.aws.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    AwsOperationError,
    IotFleetError,
    UsageError,
)
from iotfleet.aws.settings import MAX_CONCURRENCY, TARGETS, TargetSettings
from iotfleet.cli.cleanup import cleanup
from iotfleet.cli.demo import demo
from iotfleet.cli.errors import report_error
from iotfleet.cli.groups import groups
from iotfleet.cli.interactive import groups_menu, packages_menu
from iotfleet.cli.jobs import jobs
from iotfleet.cli.local import local
from iotfleet.cli.output import FORMATS, Output
from iotfleet.cli.packages import packages
from iotfleet.cli.prompts import Prompter
from iotfleet.cli.provision import provision
from iotfleet.cli.rollout import rollout
from iotfleet.cli.simulate import simulate
from iotfleet.cli.state import CliState
from iotfleet.cli.whoami import whoami

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="iotfleet")
@click.option(
    "--target",
    type=click.Choice(TARGETS, case_sensitive=False),
    help="Run against AWS, or against the local emulator.  [env: IOTFLEET_TARGET; default: aws]",
)
@click.option("--profile", metavar="NAME", help="AWS profile to use.  [env: AWS_PROFILE]")
@click.option("--region", metavar="REGION", help="AWS region.  [env: AWS_REGION, AWS_DEFAULT_REGION]")
@click.option(
    "--endpoint-url",
    metavar="URL",
    help="Send every call, data planes included, to this endpoint.  "
    "[env: AWS_ENDPOINT_URL; local target default: http://127.0.0.1:4567]",
)
@click.option(
    "--debug/--no-debug",
    default=None,
    help="Log every API call and response to stderr (secrets redacted); parallel work runs one item at a "
    "time.  [env: IOTFLEET_DEBUG=1]",
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Never prompt: take defaults and confirm destructive actions (required for them without a terminal).",
)
@click.option(
    "--output",
    "-o",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people; json prints one JSON document on stdout.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    metavar="N",
    help="Parallel API workers.  [env: IOTFLEET_CONCURRENCY; default: 16]",
)
@click.option(
    "--quota",
    "quotas",
    multiple=True,
    metavar="SERVICE:OPERATION=TPS",
    help="Override a rate quota, e.g. iot:CreateThing=50 or iot:*=5; repeatable.  [env: IOTFLEET_QUOTAS]",
)
@click.pass_context
def cli(
    ctx: click.Context,
    target: str | None,
    profile: str | None,
    region: str | None,
    endpoint_url: str | None,
    debug: bool | None,
    yes: bool,
    output_format: str,
    concurrency: int | None,
    quotas: tuple[str, ...],
) -> None:
    """iotfleet: device fleets and OTA firmware updates on AWS IoT Device Management.

    Runs against AWS (standard profiles, regions and credentials) or, with --target local, against
    the local emulator. Global options go before the command, e.g. iotfleet --target local whoami.
    """
    settings = TargetSettings.resolve(
        target=target.lower() if target else None,
        profile=profile,
        region=region,
        endpoint_url=endpoint_url,
        debug=debug,
        concurrency=concurrency,
        quota_overrides=quotas,
    )
    output = Output(output_format)
    state = CliState(
        settings=settings,
        output=output,
        prompts=Prompter(assume_yes=yes),
        prepare=lambda chosen: ensure_local_emulator(chosen, output),
        debug_chosen=debug is not None or "IOTFLEET_DEBUG" in os.environ,
    )
    ctx.obj = state
    ctx.call_on_close(state.close)


def _register() -> None:
    cli.add_command(whoami)
    cli.add_command(provision)
    cli.add_command(groups)
    groups.add_command(groups_menu.menu)
    cli.add_command(packages)
    packages.add_command(packages_menu.menu)
    cli.add_command(jobs)
    cli.add_command(rollout)
    cli.add_command(simulate)
    cli.add_command(local)
    cli.add_command(cleanup)
    cli.add_command(demo)


_register()


def ensure_local_emulator(settings: TargetSettings, output: Output) -> TargetSettings:
    """On the local target with no endpoint configured, make sure the emulator runs at the default URL."""
    if not (settings.is_local and settings.endpoint_default and settings.endpoint_url):
        return settings
    try:
        from iotfleet.emulator.background import BackgroundError, ensure_running
    except ModuleNotFoundError as exc:
        if exc.name not in {"iotfleet.emulator", "iotfleet.emulator.background"}:
            raise UsageError(
                f"--target local needs the emulator's dependencies ({exc.name} is missing): "
                "pip install 'iotfleet[local]'",
                "--target",
            ) from None
        output.info(f"The local emulator cannot be started from this installation; using {settings.endpoint_url}")
        return settings
    url = urlparse(settings.endpoint_url)
    try:
        endpoint, started = ensure_running(url.hostname or "127.0.0.1", url.port or 80)
    except BackgroundError as exc:
        raise UsageError(str(exc), "--endpoint-url") from None
    if started:
        output.info(f"Started the local emulator at {endpoint}")
    return replace(settings, endpoint_url=endpoint)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: the process arguments) and return the exit code."""
    try:
        result = cli.main(args=argv, prog_name="iotfleet", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("\nInterrupted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except IotFleetError as exc:
        return report_error(exc)
    except ClientError as exc:
        return report_error(AwsOperationError.from_client_error(exc))
    except (NoCredentialsError, PartialCredentialsError, ProfileNotFound, NoRegionError, InvalidRegionError) as exc:
        click.echo(f"Error: {exc} (see --profile, --region and the AWS credential settings)", err=True)
        return EXIT_USAGE
    except BotoCoreError as exc:
        click.echo(f"Error: {exc}", err=True)
        return EXIT_FAILED
    # click returns an Exit's code (e.g. 0 after --help) or the command's return value (None).
    return result if isinstance(result, int) else EXIT_OK


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())

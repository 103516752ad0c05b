"""The job wizard and the package menu, answered line by line as a person at a terminal would."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from iotfleet.aws.settings import TargetSettings
from iotfleet.cli.interactive.job_wizard import run_job_wizard
from iotfleet.cli.interactive.packages_menu import run_packages_menu
from iotfleet.cli.main import cli
from iotfleet.cli.output import Output
from iotfleet.cli.prompts import Prompter
from iotfleet.cli.state import CliState
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.packages.catalog import create_package
from iotfleet.fleet.packages.upload import upload_version

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
from packages_setup import (
    BUCKET,
    FLEET,
    PACKAGE,
    aws_context,
    enable_package_index,
    firmware,
    make_bucket,
    make_role,
    make_things,
    mutating_calls,
    report_version,
)


@pytest.fixture
def terminal_state(emulator: LocalEmulator, clean_env: dict[str, str]) -> Iterator[CliState]:
    """A CLI state whose prompts believe they talk to a terminal."""
    settings = TargetSettings.resolve(target="local", endpoint_url=emulator.endpoint_url, env={})
    state = CliState(settings=settings, output=Output("text"), prompts=Prompter(is_tty=lambda: True))
    yield state
    state.close()


@pytest.fixture
def role(emulator: LocalEmulator, tmp_path: Path) -> str:
    with aws_context(emulator) as ctx:
        make_bucket(ctx)
        enable_package_index(ctx)
        create_package(ctx, FLEET, PACKAGE)
        for version in ("1.0.0", "1.1.0"):
            upload_version(ctx, fleet=FLEET, bucket=BUCKET, package=PACKAGE, version=version,
                               path=firmware(tmp_path, version), publish=True)  # fmt: skip
        make_things(ctx, ["dev-1", "dev-2"], group="canary")
        report_version(ctx, "dev-1", PACKAGE, "1.1.0")
        arn = make_role(ctx)
    emulator.reset_counters()
    return arn


def answered(lines: list[str], action: Callable[[], object]) -> tuple[object, str]:
    """Run ``action`` with ``lines`` as the terminal's input; returns its result and what was shown on stderr."""
    runner = CliRunner()
    with runner.isolation(input="\n".join(lines) + "\n") as (_, err, _):
        result = action()
    return result, err.getvalue().decode()


def test_the_wizard_creates_an_ota_job_with_advanced_settings(
    terminal_state: CliState, role: str, emulator: LocalEmulator
) -> None:
    lines = [
        "n",  # debug mode
        "1",  # OTA
        "1", "2",  # package, version 1.1.0
        "1", "dev-2",  # group canary, thing dev-2
        "1",  # SNAPSHOT
        "y",  # advanced settings
        "3", "5", "1.55", "1", "2",  # exponential; 1.55 is refused and all asked again
        "5", "1.5", "3", "2", "4",  # ... raised after 2 notified or 4 succeeded things, whichever comes first
        "y", "FAILED:10:5", "y", "TIMED_OUT:20:3", "n",  # two abort criteria
        "y", "30",  # timeout
        "y", "FAILED:2", "y", "TIMED_OUT:1",  # two retry criteria (the most AWS allows)
        "n",  # no schedule
        "900",  # URL lifetime
        "", "from the wizard",  # suggested job id, description
        "n", "y",  # do not show the request; create
    ]  # fmt: skip
    answer, shown = answered(lines, lambda: run_job_wizard(terminal_state, fleet=FLEET, role_arn=role))
    assert "one decimal place" in shown
    assert mutating_calls(emulator) == {"iot:CreateJob": 1}
    with aws_context(emulator) as ctx:
        job = ctx.iot.describe_job(jobId=answer["jobId"])["job"]  # type: ignore[index]
    assert job["jobExecutionsRolloutConfig"]["exponentialRate"] == {
        "baseRatePerMinute": 5, "incrementFactor": 1.5,
        "rateIncreaseCriteria": {"numberOfNotifiedThings": 2, "numberOfSucceededThings": 4},
    }  # fmt: skip
    assert [c["failureType"] for c in job["abortConfig"]["criteriaList"]] == ["FAILED", "TIMED_OUT"]
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}
    assert len(job["jobExecutionsRetryConfig"]["criteriaList"]) == 2
    assert job["presignedUrlConfig"] == {"roleArn": role, "expiresInSec": 900}
    assert job["description"] == "from the wizard"
    assert len(job["targets"]) == 2


def test_declining_the_confirmation_creates_nothing(terminal_state: CliState, role: str, emulator: LocalEmulator) -> None:
    lines = ["n", "1", "1", "1", "", "dev-1", "2", "n", "my-job", "", "n", "n"]
    answer, shown = answered(lines, lambda: run_job_wizard(terminal_state, fleet=FLEET, role_arn=role))
    assert answer is None and "Nothing was created" in shown
    assert mutating_calls(emulator) == {}


def test_the_menu_runs_commands_until_exit(terminal_state: CliState, role: str, emulator: LocalEmulator) -> None:
    lines = [
        "n",  # debug mode
        "3",  # list packages
        "13", "1",  # distribution of fw-main
        "12", "dev-1",  # device check
        "7", "1", "5",  # deprecate: version 5 does not exist in the list, asked again
        "1",  # ... 1.0.0
        "15",  # exit
    ]  # fmt: skip

    def menu() -> None:
        with click.Context(cli, obj=terminal_state) as ctx:
            run_packages_menu(terminal_state, ctx, fleet=FLEET, fleet_given=True)

    runner = CliRunner()
    with runner.isolation(input="\n".join(lines) + "\n") as (out, err, _):
        menu()
    printed = out.getvalue().decode()
    assert PACKAGE in printed and "1 device(s) report a version" in printed and "1.1.0" in printed
    assert "PUBLISHED -> DEPRECATED" in printed
    assert "choose a number from 1 to 2" in err.getvalue().decode()
    assert mutating_calls(emulator) == {"iot:UpdatePackageVersion": 1}

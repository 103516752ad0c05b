"""The interactive simulator and jobs explorer, driven through a pretend terminal against the emulator."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))  # the shared OTA fleet set-up

from ota_fleet import make_ota_fleet

from iotfleet.aws.errors import Interrupted
from iotfleet.aws.settings import TargetSettings
from iotfleet.cli.interactive.explore_menu import explore_menu
from iotfleet.cli.interactive.simulate_menu import simulate_menu
from iotfleet.cli.output import Output
from iotfleet.cli.prompts import Prompter
from iotfleet.cli.state import CliState
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.run import SimulationOptions

FAST = SimulationOptions(poll_initial=0.05, poll_max=0.2, job_check_interval=0.1)


def on_terminal(emulator: LocalEmulator, answers: list[str], flow: Callable[[CliState], Any]) -> tuple[str, str]:
    """Run ``flow`` as if a person typed ``answers`` at a terminal; returns (stdout, stderr)."""
    settings = TargetSettings.resolve(target="local", endpoint_url=emulator.endpoint_url, env={})
    state = CliState(settings=settings, output=Output("text"), prompts=Prompter(is_tty=lambda: True))
    runner = CliRunner()
    with runner.isolation(input="\n".join(answers) + "\n") as (out, err, _):
        try:
            flow(state)
        finally:
            state.close()
    return out.getvalue().decode(), err.getvalue().decode()


def default_model() -> BehaviourModel:
    return BehaviourModel.from_options(success_rate=100, failure_weights="install=1", latency="0", seed=1)


def test_the_simulator_menu_picks_a_job_asks_and_runs(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 6)
    answers = ["n", "1", "4", "150", "50", "", "0", "9", "y"]  # 150 is refused and asked again
    out, err = on_terminal(
        emulator, answers, lambda s: simulate_menu(s, model=default_model(), options=FAST, devices=None)
    )
    assert "Jobs that can still run" in err and "ota-1" in err
    assert "Job ota-1 targets 6 device(s)." in err
    assert "between 0 and 100" in err
    assert "Simulation of job ota-1" in out and "4 of 6 in scope" in out
    summaries = boto_clients.iot.describe_job(jobId="ota-1")["job"]["jobProcessDetails"]
    assert summaries["numberOfQueuedThings"] == 2
    assert summaries["numberOfSucceededThings"] + summaries["numberOfFailedThings"] == 4


def test_declining_the_simulation_changes_nothing(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 2)
    with pytest.raises(Interrupted, match="nothing was changed"):
        on_terminal(
            emulator,
            ["n", "ota-1", "ALL", "100", "", "", "1", "n"],
            lambda s: simulate_menu(s, model=default_model(), options=FAST, devices=None),
        )
    details = boto_clients.iot.describe_job(jobId="ota-1")["job"]["jobProcessDetails"]
    assert details["numberOfQueuedThings"] == 2


def test_the_explorer_menu_runs_the_views_and_survives_bad_answers(
    emulator: LocalEmulator, boto_clients: Any, tmp_path: Path
) -> None:
    make_ota_fleet(boto_clients, 3, jobExecutionsRolloutConfig={"maximumPerMinute": 1})
    report_path = tmp_path / "menu.html"
    answers = [
        "n",  # debug mode
        "1", "",  # list jobs, any status
        "2", "1",  # job details of the first job
        "5", "nope",  # statistics of an unknown job: reported, the menu comes back
        "4", "1", "dev-00000",  # one execution
        "3", "1", "QUEUED",  # executions, QUEUED only
        "9", "1", str(report_path), "all",  # report
        "42",  # not a choice: asked again
        "6", "1", "n", "menu test",  # cancel: needs CANCEL typed, "nope" declines
        "nope",
        "10",  # quit
    ]  # fmt: skip
    out, err = on_terminal(emulator, answers, explore_menu)
    assert "Jobs explorer\n" in err
    assert "ota-1" in out and "IN_PROGRESS" in out
    assert "job 'nope' does not exist" in err
    assert "dev-00000" in out and "QUEUED" in out
    assert "42 is not in the range 1<=x<=10" in err
    assert report_path.exists() and "<svg" in report_path.read_text(encoding="utf-8")
    assert "not confirmed; nothing was changed" in err
    assert boto_clients.iot.describe_job(jobId="ota-1")["job"]["status"] == "IN_PROGRESS"

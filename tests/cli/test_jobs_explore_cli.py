"""``iotfleet jobs list|show|executions|execution|stats|cancel|delete|watch|report`` against the emulator."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))  # the shared OTA fleet set-up

from ota_fleet import aws_context, make_ota_fleet

from iotfleet.cli import jobs_views
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.explore.watch import job_snapshot
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions, run_simulation

FAST = SimulationOptions(poll_initial=0.05, poll_max=0.2, job_check_interval=0.1)


def base(emulator: LocalEmulator, *extra: str) -> list[str]:
    return ["--target", "local", "--endpoint-url", emulator.endpoint_url, *extra]


def run_devices(emulator: LocalEmulator, success_rate: float = 100, seed: int = 3) -> None:
    model = BehaviourModel.from_options(success_rate=success_rate, failure_weights="checksum=1,install=1",
                                        latency="0", seed=seed)  # fmt: skip
    with aws_context(emulator.endpoint_url) as ctx:
        run_simulation(ctx, plan_simulation(ctx, job_id="ota-1"), model, FAST)


@pytest.fixture
def finished_job(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 10)
    run_devices(emulator, success_rate=60)


@pytest.fixture
def running_job(emulator: LocalEmulator, boto_clients: Any) -> None:
    """4 things, one released a minute; the first one started by its device."""
    make_ota_fleet(boto_clients, 4, jobExecutionsRolloutConfig={"maximumPerMinute": 1})
    boto_clients.jobs_data.start_next_pending_job_execution(thingName="dev-00000")


def test_list_show_executions_and_execution(invoke: Any, emulator: LocalEmulator, finished_job: None) -> None:
    listed = invoke(*base(emulator, "-o", "json", "jobs", "list", "--status", "completed"))
    assert listed.exit_code == 0, listed.stderr
    assert [j["jobId"] for j in json.loads(listed.stdout)["jobs"]] == ["ota-1"]
    none = invoke(*base(emulator, "jobs", "list", "--status", "IN_PROGRESS"))
    assert none.exit_code == 0 and "No IN_PROGRESS jobs." in none.stdout

    shown = invoke(*base(emulator, "jobs", "show", "ota-1"))
    assert shown.exit_code == 0, shown.stderr
    for text in ("COMPLETED", "thinggroup/sim-fleet", "package/fw-main/version/1.2.0", "SUCCEEDED", "Abort",
                 "${aws:iot:package:fw-main:version:1.2.0:attributes}"):  # fmt: skip
        assert text in shown.stdout

    failed = json.loads(invoke(*base(emulator, "-o", "json", "jobs", "executions", "ota-1", "--status", "FAILED")).stdout)
    assert failed["count"] >= 1 and {e["status"] for e in failed["executions"]} == {"FAILED"}
    thing = failed["executions"][0]["thingName"]

    one = invoke(*base(emulator, "-o", "json", "jobs", "execution", "ota-1", thing))
    assert one.exit_code == 0, one.stderr
    execution = json.loads(one.stdout)
    assert execution["status"] == "FAILED" and execution["statusDetails"]["failureType"] in ("checksum", "install")
    assert execution["attempts"][-1]["executionNumber"] == execution["executionNumber"]
    text = invoke(*base(emulator, "jobs", "execution", "ota-1", thing))
    assert "failureType" in text.stdout and "History" in text.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "nope"], "job 'nope' does not exist"),
        (["stats", "nope"], "job 'nope' does not exist"),
        (["executions", "nope"], "job 'nope' does not exist"),
        (["execution", "ota-1", "ghost"], "thing 'ghost' does not exist"),
        (["watch", "nope"], "job 'nope' does not exist"),
        (["report", "nope", "--html", "x.html"], "job 'nope' does not exist"),
        (["cancel", "ota-1"], "is COMPLETED; only IN_PROGRESS or SCHEDULED jobs can be canceled"),
        (["watch", "ota-1", "--interval", "0"], "--interval"),
        (["report", "ota-1", "--html", "x.html", "--failure-details", "some"], "--failure-details"),
    ],
)
def test_bad_input_is_exit_2(
    invoke: Any, emulator: LocalEmulator, finished_job: None, args: list[str], message: str
) -> None:
    emulator.reset_counters()
    ran = invoke(*base(emulator, "jobs", *args))
    assert ran.exit_code == 2, (ran.stdout, ran.stderr)
    assert message in ran.stderr
    assert not [k for k in emulator.counters() if k in ("iot:CancelJob", "iot:DeleteJob")]


@pytest.mark.parametrize("size", [3, 40])
def test_stats_costs_one_call_at_any_size(invoke: Any, emulator: LocalEmulator, boto_clients: Any, size: int) -> None:
    make_ota_fleet(boto_clients, size)
    run_devices(emulator, success_rate=50)
    emulator.reset_counters()
    ran = invoke(*base(emulator, "-o", "json", "jobs", "stats", "ota-1"))
    assert ran.exit_code == 0, ran.stderr
    assert {k: v["calls"] for k, v in emulator.counters().items()} == {"iot:DescribeJob": 1}
    stats = json.loads(ran.stdout)
    assert stats["total"] == size and stats["health"] in ("excellent", "good", "poor", "critical")
    assert stats["successRate"] + stats["failureRate"] == pytest.approx(100.0)
    text = invoke(*base(emulator, "jobs", "stats", "ota-1"))
    assert "Health" in text.stdout and "Success rate" in text.stdout


def test_cancel_needs_confirmation_and_shows_the_impact(invoke: Any, emulator: LocalEmulator, boto_clients: Any,
                                                        running_job: None) -> None:  # fmt: skip
    refused = invoke(*base(emulator, "jobs", "cancel", "ota-1"))
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert boto_clients.iot.describe_job(jobId="ota-1")["job"]["status"] == "IN_PROGRESS"
    assert "1 IN_PROGRESS execution(s) will run to their end" in refused.stderr

    done = invoke(*base(emulator, "--yes", "-o", "json", "jobs", "cancel", "ota-1", "--comment", "rev B boot loop"))
    assert done.exit_code == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "CANCELED" and answer["impact"]["inProgressContinuing"] == 1
    again = invoke(*base(emulator, "--yes", "jobs", "cancel", "ota-1"))
    assert again.exit_code == 2 and "--force" in again.stderr
    forced = invoke(*base(emulator, "--yes", "jobs", "cancel", "ota-1", "--force"))
    assert forced.exit_code == 0, forced.stderr
    status = boto_clients.iot.describe_job_execution(jobId="ota-1", thingName="dev-00000")["execution"]["status"]
    assert status == "CANCELED"


@pytest.mark.emulator(time_scale=0.001)  # a forced deletion takes a second of emulator time
def test_delete_needs_force_while_running(invoke: Any, emulator: LocalEmulator, boto_clients: Any,
                                          running_job: None) -> None:  # fmt: skip
    refused = invoke(*base(emulator, "--yes", "jobs", "delete", "ota-1"))
    assert refused.exit_code == 2 and "--force" in refused.stderr
    done = invoke(*base(emulator, "--yes", "-o", "json", "jobs", "delete", "ota-1", "--force"))
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["impact"]["inProgress"] == 1
    assert boto_clients.iot.describe_job(jobId="ota-1")["job"]["status"] == "DELETION_IN_PROGRESS"


def test_watch_a_finished_job_is_one_refresh(invoke: Any, emulator: LocalEmulator, finished_job: None) -> None:
    emulator.reset_counters()
    ran = invoke(*base(emulator, "-o", "json", "jobs", "watch", "ota-1"))
    assert ran.exit_code == 0, ran.stderr
    snapshot = json.loads(ran.stdout)
    assert snapshot["refresh"] == 1 and snapshot["status"] == "COMPLETED"
    assert {k: v["calls"] for k, v in emulator.counters().items()} == {"iot:DescribeJob": 1}


@pytest.mark.parametrize("size", [3, 40])
def test_watch_runs_until_the_job_ends_with_one_call_per_refresh(
    invoke: Any, emulator: LocalEmulator, boto_clients: Any, size: int
) -> None:
    make_ota_fleet(boto_clients, size)
    emulator.reset_counters()
    devices = threading.Thread(target=run_devices, args=(emulator,))
    devices.start()
    ran = invoke(*base(emulator, "jobs", "watch", "ota-1", "--interval", "0.05"))
    devices.join()
    assert ran.exit_code == 0, ran.stderr
    refreshes = ran.stdout.count(" released=")
    assert refreshes >= 1 and f"after {refreshes} refresh(es)" in ran.stdout
    # The watch's refreshes plus the simulator's few job checks (at most one per 0.1 s): no per-device calls.
    watch_and_checks = emulator.counters()["iot:DescribeJob"]["calls"]
    assert refreshes <= watch_and_checks <= refreshes + 40


def test_ctrl_c_stops_watching_with_130(
    invoke: Any, emulator: LocalEmulator, running_job: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("iotfleet.clock.time.sleep", interrupted)
    ran = invoke(*base(emulator, "jobs", "watch", "ota-1"))
    assert ran.exit_code == 130
    assert "stopped watching job ota-1; the job itself goes on" in ran.stderr


def test_the_dashboard_shows_counters_funnel_rate_and_abort(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(
        boto_clients, 6,
        abortConfig={"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 90,
                                       "minNumberOfExecutedThings": 2}]},
    )  # fmt: skip
    run_devices(emulator, success_rate=50, seed=5)
    with aws_context(emulator.endpoint_url) as ctx:
        first = job_snapshot(ctx, "ota-1")
        second = job_snapshot(ctx, "ota-1", first, first)
    console = Console(record=True, width=100)
    console.print(jobs_views.dashboard(second))
    text = console.export_text()
    for part in ("Job ota-1", "COMPLETED", "Released", "Started", "Finished", "Succeeded", "Finishing",
                 "Health", "of the way", "refresh 2", "SUCCEEDED"):  # fmt: skip
        assert part in text


def test_report_writes_a_self_contained_page(invoke: Any, emulator: LocalEmulator, finished_job: None,
                                             tmp_path: Path) -> None:  # fmt: skip
    target = tmp_path / "ota-1.html"
    ran = invoke(*base(emulator, "-o", "json", "jobs", "report", "ota-1", "--html", str(target)))
    assert ran.exit_code == 0, ran.stderr
    answer = json.loads(ran.stdout)
    assert answer["file"] == str(target) and answer["executions"] == 10
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "Job ota-1" in page
    missing_folder = invoke(*base(emulator, "jobs", "report", "ota-1", "--html", str(tmp_path / "no" / "x.html")))
    assert missing_folder.exit_code == 2 and "does not exist" in missing_folder.stderr


def test_explore_needs_a_terminal(invoke: Any, emulator: LocalEmulator) -> None:
    ran = invoke(*base(emulator, "jobs", "explore"))
    assert ran.exit_code == 2 and "interactive" in ran.stderr

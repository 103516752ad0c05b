"""``iotfleet rollout`` through the real entry point, against the emulator: bad input is exit 2 with nothing
created; start, status, list, watch, report, pause, resume, approve, abort and retry-failed; and a controller
killed with SIGKILL mid-wave whose rollout ``rollout resume`` finishes without creating any job twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.emulator.background import emulator_process
from iotfleet.emulator.control import EmulatorControl
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.emulator.settings import EmulatorSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))  # the shared set-ups

from provision_setup import FAST_QUOTAS, mutating_calls
from rollout_setup import (
    FLEET,
    FLEET_QUERY,
    NEW,
    OLD,
    PACKAGE,
    Driver,
    fleet_spec,
    job_ids,
    model,
    provisioned,
    simulate,
)

from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.rollout.record import COMPLETED, PAUSED, WAITING_APPROVAL, RolloutStore

Run = Callable[..., Any]
START = ("rollout", "start", "--fleet", FLEET, "--package", PACKAGE, "--version", NEW, "--query", FLEET_QUERY)


@pytest.fixture
def iotfleet(invoke: Run, emulator: LocalEmulator) -> Run:
    def run(*args: str) -> Any:
        return invoke("--target", "local", "--endpoint-url", emulator.endpoint_url, *args)

    return run


def document(ran: Any) -> dict[str, Any]:
    assert ran.exit_code == 0, ran.stderr
    return dict(json.loads(ran.stdout))


def test_bad_input_is_exit_2_and_creates_nothing(iotfleet: Run, emulator: LocalEmulator) -> None:
    with provisioned(emulator, 6):
        emulator.reset_counters()
        for extra, fragment in (
            (("--version", "9.9.9"), "does not exist"),
            (("--package", "NoSuchPackage"), "does not exist"),
            (("--waves", "10%,5%,100%"), "must increase"),
            (("--waves", "10%,50%"), "must be 100%"),
            (("--gate", "uptime>=99"), "unknown gate measure"),
            (("--health-query", "shadow.reported.selfTest:("), "invalid query"),
            (("--max-unhealthy", "2"), "goes with --health-query"),
            (("--bake", "soon"), "not a duration"),
            (("--schedule-start", "2030-01-01T00:00Z"), "No such option"),
            (("--group", "US_Fleet"), "one of the two"),
        ):
            ran = iotfleet(*START, *extra)
            assert ran.exit_code == 2, (extra, ran.stderr)
            assert fragment in ran.stderr, (extra, ran.stderr)
        assert mutating_calls(emulator) == {}
        assert iotfleet("rollout", "status", "nope", "--fleet", FLEET).exit_code == 2


def test_start_pause_approve_resume_and_every_view(iotfleet: Run, emulator: LocalEmulator, tmp_path: Path) -> None:
    with provisioned(emulator, 10) as ctx:
        dry = document(iotfleet("--output", "json", *START, "--waves", "20%,100%", "--rollout-id", "c1", "--dry-run"))
        assert [w["devices"] for w in dry["waves"]] == [2, 8] and dry["rollbackVersion"] == OLD
        assert job_ids(ctx) == [] and not RolloutStore(ctx, FLEET).exists("c1")

        started = document(iotfleet("--output", "json", *START, "--waves", "20%,100%", "--rollout-id", "c1",
                                    "--approve", "--bake", "5m"))  # fmt: skip
        assert started["state"] == "RUNNING" and started["waves"][0]["status"] == "RUNNING"
        assert job_ids(ctx) == ["c1-wave-1"]
        driver = Driver(ctx, emulator, rollout_id="c1")
        driver.drive(until=lambda r: r.state == WAITING_APPROVAL)

        assert document(iotfleet("--output", "json", "rollout", "pause", "c1", "--fleet", FLEET))["state"] == PAUSED
        refused = iotfleet("rollout", "approve", "c1", "--fleet", FLEET)
        assert refused.exit_code == 2 and "resume it first" in refused.stderr
        resumed = iotfleet("rollout", "resume", "c1", "--fleet", FLEET)
        assert resumed.exit_code == 0 and "WAITING_APPROVAL" in resumed.stdout
        approved = document(iotfleet("--output", "json", "rollout", "approve", "c1", "--fleet", FLEET))
        assert approved["waves"][1]["status"] == "RUNNING" and approved["waves"][1]["job"]["total"] == 8
        assert driver.drive().state == COMPLETED

        status = iotfleet("rollout", "status", "c1", "--fleet", FLEET)
        assert status.exit_code == 0 and "COMPLETED" in status.stdout and "success>=95" in status.stdout
        listed = document(iotfleet("--output", "json", "rollout", "list", "--fleet", FLEET))
        assert [(r["rolloutId"], r["state"], r["passed"]) for r in listed["rollouts"]] == [("c1", COMPLETED, 2)]
        watched = document(iotfleet("--output", "json", "rollout", "watch", "c1", "--fleet", FLEET))
        assert [w["job"]["counts"]["SUCCEEDED"] for w in watched["waves"]] == [2, 8]
        page = tmp_path / "c1.html"
        document(iotfleet("--output", "json", "rollout", "report", "c1", "--html", str(page), "--fleet", FLEET))
        html = page.read_text()
        assert "Rollout c1" in html and "Gate decisions" in html and "<script" not in html
        retry = document(iotfleet("--output", "json", "rollout", "retry-failed", "c1", "--fleet", FLEET))
        assert retry["devices"] == [] and retry["created"] is False  # nothing failed


def test_abort_asks_first_then_cancels(iotfleet: Run, emulator: LocalEmulator) -> None:
    with provisioned(emulator, 6) as ctx:
        document(iotfleet("--output", "json", *START, "--rollout-id", "a1"))
        refused = iotfleet("rollout", "abort", "a1", "--fleet", FLEET)
        assert refused.exit_code == 2 and "--yes" in refused.stderr
        assert ctx.iot.describe_job(jobId="a1-wave-1")["job"]["status"] == "IN_PROGRESS"
        aborted = document(iotfleet("--output", "json", "--yes", "rollout", "abort", "a1", "--fleet", FLEET))
        assert aborted["state"] == "ABORTED"
        assert ctx.iot.describe_job(jobId="a1-wave-1")["job"]["status"] == "CANCELED"


def test_jobs_retry_failed_dry_run_names_the_devices_and_creates_nothing(iotfleet: Run, emulator: LocalEmulator) -> None:
    with provisioned(emulator, 6) as ctx:
        document(iotfleet("--output", "json", *START, "--waves", "100%", "--rollout-id", "f1", "--gate", "success>=0"))
        result = simulate(ctx, "f1-wave-1", model(50.0, seed=2))
        assert result is not None
        failed = sorted(r.thing_name for r in result.executions if r.status == "FAILED")
        emulator.reset_counters()
        plan = document(iotfleet("--output", "json", "jobs", "retry-failed", "f1-wave-1", "--dry-run", "--fleet", FLEET))
        assert plan["devices"] == failed and plan["created"] is False
        assert mutating_calls(emulator) == {}


# --- kill -9 --------------------------------------------------------------------------------------------


def _cli(url: str, home: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from iotfleet.cli.main import main; main()", "--target", "local",
            "--endpoint-url", url, *args]  # fmt: skip


def _env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true",
            "XDG_CONFIG_HOME": str(home / "config")}  # fmt: skip


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_controller_killed_mid_wave_is_resumed_without_creating_a_job_twice(tmp_path: Path) -> None:
    with emulator_process(EmulatorSettings(time_scale=600)) as url:
        settings = TargetSettings.resolve(target="local", endpoint_url=url, env={}, quota_overrides=FAST_QUOTAS)
        with AwsContext(settings) as ctx:
            provision(ctx, fleet_spec(10)).raise_for_failures()
            start = _cli(url, tmp_path, *START, "--waves", "20%,60%,100%", "--bake", "10m", "--rollout-id", "k1",
                         "--wait", "--interval", "0.2")  # fmt: skip
            first = subprocess.Popen(start, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            store = RolloutStore(ctx, FLEET)
            try:
                _until(lambda: store.exists("k1") and store.load("k1").wave(1).status == "RUNNING", 60, "wave 1")
                time.sleep(0.5)  # the controller is now waiting on wave 1's devices, passes every 0.2 s
            finally:
                os.kill(first.pid, signal.SIGKILL)
                first.communicate(timeout=30)
            assert first.returncode == -signal.SIGKILL
            assert job_ids(ctx) == ["k1-wave-1"]

            simulate(ctx, "k1-wave-1", model(100.0))
            resume = _cli(url, tmp_path, "rollout", "resume", "k1", "--fleet", FLEET, "--wait", "--interval", "0.2")
            second = subprocess.Popen(resume, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                ran: set[str] = {"k1-wave-1"}
                deadline = time.monotonic() + 90
                while second.poll() is None and time.monotonic() < deadline:
                    for job in set(job_ids(ctx)) - ran:
                        ran.add(job)
                        simulate(ctx, job, model(100.0))
                    time.sleep(0.1)
            finally:
                if second.poll() is None:
                    second.kill()
                out, err = second.communicate(timeout=30)
            assert second.returncode == 0, err.decode()
            record = store.load("k1")
            assert record.state == COMPLETED
            assert job_ids(ctx) == ["k1-wave-1", "k1-wave-2", "k1-wave-3"]
            assert EmulatorControl(url).counters()["iot:CreateJob"]["calls"] == 3  # one per wave, none twice
            assert [e["kind"] for e in record.events].count("wave-started") == 3
            assert "COMPLETED" in out.decode()

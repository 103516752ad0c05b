"""The simulator against the emulator over HTTP: devices drive real executions through the jobs data plane."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from ota_fleet import (
    FIRMWARE,
    PACKAGE,
    aws_context,
    create_ota_job,
    executions_of,
    make_ota_fleet,
    make_things,
    publish_version,
    shadow_of,
)

from iotfleet.aws.errors import UsageError
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.simulate import behaviour, device
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions, SimulationResult, run_simulation

TERMINAL = {"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "CANCELED", "REMOVED"}
FAST_POLLING = SimulationOptions(poll_initial=0.05, poll_max=0.2, job_check_interval=0.1)


def model(success_rate: float = 100, weights: str = "download=1,checksum=1,install=1,reject=1", seed: int = 7) -> (
    BehaviourModel
):
    return BehaviourModel.from_options(success_rate=success_rate, failure_weights=weights, latency="0", seed=seed)


def simulate(
    emulator: LocalEmulator,
    behaviour_model: BehaviourModel,
    *,
    job_id: str | None = "ota-1",
    fleet: str | None = None,
    devices: int | None = None,
    options: SimulationOptions = FAST_POLLING,
    concurrency: int = 16,
) -> SimulationResult:
    with aws_context(emulator.endpoint_url, concurrency=concurrency) as ctx:
        plan = plan_simulation(ctx, job_id=job_id, fleet=fleet, devices=devices)
        return run_simulation(ctx, plan, behaviour_model, options)


@contextmanager
def clock_running(emulator: LocalEmulator, step: float, every: float = 0.05) -> Iterator[None]:
    """Advance the emulator clock by ``step`` seconds every ``every`` real seconds while the block runs."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            emulator.advance(step)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def expected_outcome(plan: behaviour.PlannedExecution) -> tuple[str, str | None]:
    if plan.outcome == behaviour.SUCCESS:
        return device.OUTCOME_SUCCEEDED, None
    if plan.outcome == behaviour.REJECT:
        return device.OUTCOME_REJECTED, behaviour.REJECT
    return device.OUTCOME_FAILED, plan.outcome


@pytest.mark.slow
def test_two_thousand_devices_complete_a_job(emulator: LocalEmulator, boto_clients: Any) -> None:
    fleet = make_ota_fleet(boto_clients, 2000)
    emulator.advance(180)  # the default rollout (1,000 a minute) has released every execution
    chosen = model(success_rate=80, seed=2024)
    result = simulate(emulator, chosen, concurrency=8)

    assert result.failures == [] and result.idle == {} and not result.interrupted
    job = boto_clients.iot.describe_job(jobId="ota-1")["job"]
    assert job["status"] == "COMPLETED"

    # Every execution reached a terminal state; none lost, none counted twice.
    listed = executions_of(boto_clients.iot, "ota-1")
    assert len(listed) == 2000
    assert {e["jobExecutionSummary"]["status"] for e in listed} <= TERMINAL
    listed_keys = {(e["thingArn"].rsplit("/", 1)[-1], e["jobExecutionSummary"]["executionNumber"]) for e in listed}
    recorded_keys = [(r.thing_name, r.execution_number) for r in result.executions]
    assert len(recorded_keys) == len(set(recorded_keys)) == 2000
    assert set(recorded_keys) == listed_keys
    statuses = Counter(e["jobExecutionSummary"]["status"] for e in listed)
    assert statuses == Counter(r.status for r in result.executions)
    details = job["jobProcessDetails"]
    assert details["numberOfSucceededThings"] == statuses["SUCCEEDED"]
    assert details["numberOfFailedThings"] == statuses["FAILED"]
    assert details["numberOfRejectedThings"] == statuses["REJECTED"]

    # Outcomes follow the success rate within statistical bounds, drawn per execution from the seed.
    succeeded = result.outcome_counts()[device.OUTCOME_SUCCEEDED]
    assert abs(succeeded - 1600) < 4 * math.sqrt(2000 * 0.8 * 0.2)
    for record in result.executions:
        planned = chosen.plan("ota-1", record.thing_name, record.attempt)
        assert (record.outcome, record.failure_type) == expected_outcome(planned)
    assert set(result.failure_type_counts()) == {"download", "checksum", "install", "reject"}

    # Successful devices report the new firmware in their classic shadow; $package is left to the service.
    done = next(r.thing_name for r in result.executions if r.outcome == device.OUTCOME_SUCCEEDED)
    assert shadow_of(boto_clients.iot_data, done)["state"]["reported"][device.FIRMWARE_SHADOW_KEY] == {
        "version": fleet.version,
        "package": PACKAGE,
    }


def test_a_wrong_published_checksum_fails_every_device_with_details(emulator: LocalEmulator, boto_clients: Any) -> None:
    wrong = "0" * 64
    make_ota_fleet(boto_clients, 4, sha256=wrong)
    result = simulate(emulator, model(success_rate=100))
    assert result.outcome_counts()[device.OUTCOME_FAILED] == 4
    actual = hashlib.sha256(FIRMWARE).hexdigest()
    for thing in ("dev-00000", "dev-00003"):
        execution = boto_clients.iot.describe_job_execution(jobId="ota-1", thingName=thing)["execution"]
        assert execution["status"] == "FAILED"
        assert execution["statusDetails"]["detailsMap"] == {
            "step": "verifying",
            "failureType": "checksum",
            "reason": "SHA-256 mismatch for firmware.bin",
            "expectedSha256": wrong,
            "actualSha256": actual,
        }


def test_a_corrupted_download_is_a_checksum_failure(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 3)
    result = simulate(emulator, model(success_rate=0, weights="checksum=1"))
    assert result.failure_type_counts() == {"checksum": 3}
    published = hashlib.sha256(FIRMWARE).hexdigest()
    details = boto_clients.iot.describe_job_execution(jobId="ota-1", thingName="dev-00001")["execution"][
        "statusDetails"
    ]["detailsMap"]
    assert details["failureType"] == "checksum"
    assert details["expectedSha256"] == published
    assert details["actualSha256"] != published and len(details["actualSha256"]) == 64


def test_hung_devices_time_out_on_the_emulator_clock(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 3)
    options = SimulationOptions(step_timeout_minutes=5, poll_initial=0.05, poll_max=0.2, job_check_interval=0.1)
    result = simulate(emulator, model(success_rate=0, weights="hang=1"), options=options)
    assert result.outcome_counts()[device.OUTCOME_HUNG] == 3
    statuses = {e["jobExecutionSummary"]["status"] for e in executions_of(boto_clients.iot, "ota-1")}
    assert statuses == {"IN_PROGRESS"}
    execution = boto_clients.iot.describe_job_execution(jobId="ota-1", thingName="dev-00000")["execution"]
    assert execution["statusDetails"]["detailsMap"] == {"step": "downloading"}

    emulator.advance(4 * 60)
    assert {e["jobExecutionSummary"]["status"] for e in executions_of(boto_clients.iot, "ota-1")} == {"IN_PROGRESS"}
    emulator.advance(61)
    assert {e["jobExecutionSummary"]["status"] for e in executions_of(boto_clients.iot, "ota-1")} == {"TIMED_OUT"}
    job = boto_clients.iot.describe_job(jobId="ota-1")["job"]
    assert job["jobProcessDetails"]["numberOfTimedOutThings"] == 3
    assert job["status"] == "COMPLETED"


def test_rejection_goes_straight_from_queued(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 2)
    emulator.reset_counters()
    result = simulate(emulator, model(success_rate=0, weights="reject=1"))
    assert result.outcome_counts()[device.OUTCOME_REJECTED] == 2
    execution = boto_clients.iot.describe_job_execution(jobId="ota-1", thingName="dev-00000")["execution"]
    assert execution["status"] == "REJECTED" and "startedAt" not in execution
    assert execution["statusDetails"]["detailsMap"]["failureType"] == "reject"
    counters = emulator.counters()
    assert counters["iot-jobs-data:UpdateJobExecution"]["calls"] == 2
    assert "s3:GetObject" not in counters


def test_the_rollout_is_honoured_while_devices_poll(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 12, jobExecutionsRolloutConfig={"maximumPerMinute": 4})
    emulator.reset_counters()
    with clock_running(emulator, step=5.0):
        result = simulate(emulator, model())
    assert result.outcome_counts()[device.OUTCOME_SUCCEEDED] == 12
    listed = executions_of(boto_clients.iot, "ota-1")
    queued = sorted(e["jobExecutionSummary"]["queuedAt"] for e in listed)
    assert (queued[-1] - queued[0]).total_seconds() >= 120  # 12 at 4 a minute: three minutes of releases
    assert emulator.counters()["iot-jobs-data:DescribeJobExecution"]["calls"] > 12  # devices polled, then ran


def test_until_stops_the_devices_still_waiting(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 4, jobExecutionsRolloutConfig={"maximumPerMinute": 1})
    options = SimulationOptions(until=0.6, poll_initial=0.05, poll_max=0.1, job_check_interval=0.1)
    result = simulate(emulator, model(), options=options)
    assert result.outcome_counts()[device.OUTCOME_SUCCEEDED] == 1
    assert result.idle == {device.IDLE_UNTIL: 3}


def test_devices_waiting_for_a_release_stop_when_the_job_is_canceled(
    emulator: LocalEmulator, boto_clients: Any
) -> None:
    """Devices poll more slowly than the job is checked: once the job ends they must still stop, not poll on."""
    make_ota_fleet(boto_clients, 4, jobExecutionsRolloutConfig={"maximumPerMinute": 1})
    options = SimulationOptions(poll_initial=0.3, poll_max=0.3, job_check_interval=0.1)
    outcome: dict[str, SimulationResult] = {}
    devices = threading.Thread(target=lambda: outcome.update(result=simulate(emulator, model(), options=options)))
    devices.start()
    while not any(e["jobExecutionSummary"]["status"] == "SUCCEEDED" for e in executions_of(boto_clients.iot, "ota-1")):
        devices.join(0.05)
    boto_clients.iot.cancel_job(jobId="ota-1", comment="an operator stops the rollout")
    devices.join(10)
    assert not devices.is_alive(), "devices kept polling a canceled job"
    result = outcome["result"]
    assert result.outcome_counts()[device.OUTCOME_SUCCEEDED] == 1
    assert result.idle == {device.IDLE_NOT_RELEASED: 3}


def test_devices_run_the_retries_the_service_queues(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(
        boto_clients, 3, jobExecutionsRetryConfig={"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]}
    )
    result = simulate(emulator, model(success_rate=0, weights="install=1"))
    per_thing = Counter(r.thing_name for r in result.executions)
    assert per_thing == {"dev-00000": 3, "dev-00001": 3, "dev-00002": 3}
    assert len({(r.thing_name, r.execution_number) for r in result.executions}) == 9
    assert {e["jobExecutionSummary"]["retryAttempt"] for e in executions_of(boto_clients.iot, "ota-1")} == {2}


def test_fleet_scope_runs_every_pending_execution_of_every_job(emulator: LocalEmulator, boto_clients: Any) -> None:
    fleet = make_ota_fleet(boto_clients, 3)
    second_arn = publish_version(boto_clients.iot, boto_clients.s3, "1.3.0")
    create_ota_job(boto_clients.iot, "ota-2", [fleet.group_arn], "1.3.0", second_arn)
    result = simulate(emulator, model(), job_id=None, fleet="sim")
    assert sorted({(r.job_id, r.outcome) for r in result.executions}) == [
        ("ota-1", device.OUTCOME_SUCCEEDED),
        ("ota-2", device.OUTCOME_SUCCEEDED),
    ]
    assert len(result.executions) == 6
    # The later job ran last, so the shadow holds its version.
    assert shadow_of(boto_clients.iot_data, "dev-00002")["state"]["reported"]["firmware"]["version"] == "1.3.0"


def test_devices_limits_the_run_and_package_shadow_is_written_on_request(
    emulator: LocalEmulator, boto_clients: Any
) -> None:
    make_ota_fleet(boto_clients, 5)
    options = SimulationOptions(write_package_shadow=True, poll_initial=0.05, poll_max=0.2, job_check_interval=0.1)
    result = simulate(emulator, model(), devices=2, options=options)
    assert [r.thing_name for r in result.executions] == ["dev-00000", "dev-00001"]
    assert result.plan.in_scope == 5
    package_shadow = shadow_of(boto_clients.iot_data, "dev-00001", "$package")["state"]["reported"]
    assert package_shadow[PACKAGE]["version"] == "1.2.0"
    assert package_shadow[PACKAGE]["attributes"]["sha256"] == hashlib.sha256(FIRMWARE).hexdigest()


def test_bad_scopes_are_usage_errors(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_things(boto_clients.iot, 1)
    with aws_context(emulator.endpoint_url) as ctx:
        with pytest.raises(UsageError, match="job 'nope' does not exist"):
            plan_simulation(ctx, job_id="nope")
        with pytest.raises(UsageError, match="no things belong to fleet 'other'"):
            plan_simulation(ctx, fleet="other")
        with pytest.raises(UsageError, match="either --job or --fleet"):
            plan_simulation(ctx)
        with pytest.raises(UsageError, match="--devices"):
            plan_simulation(ctx, fleet="sim", devices=0)


def test_a_finished_job_has_nothing_to_simulate(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 1)
    simulate(emulator, model())
    with aws_context(emulator.endpoint_url) as ctx, pytest.raises(UsageError, match="is COMPLETED"):
        plan_simulation(ctx, job_id="ota-1")


def test_the_same_seed_replays_the_same_run(emulator: LocalEmulator, boto_clients: Any) -> None:
    retry = {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]}
    chosen = model(success_rate=50, weights="download=1,install=1,reject=1", seed=99)
    runs = []
    for _ in range(2):
        emulator.reset()
        make_ota_fleet(boto_clients, 20, jobExecutionsRetryConfig=retry)
        result = simulate(emulator, chosen, concurrency=8)
        runs.append(sorted((r.thing_name, r.attempt, r.outcome, r.failure_type) for r in result.executions))
    assert runs[0] == runs[1]
    assert any(attempt > 0 for _, attempt, _, _ in runs[0])  # retries were part of it

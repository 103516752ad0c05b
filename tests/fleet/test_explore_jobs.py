"""The job explorer library against the emulator: statistics and watch in O(1) calls, details, cancel, delete."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from ota_fleet import aws_context, make_ota_fleet

from iotfleet.aws.errors import UsageError
from iotfleet.clock import FakeClock
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.explore.cancel_delete import cancel_job, delete_job, plan_cancel, plan_delete
from iotfleet.fleet.explore.executions import execution_details, list_executions
from iotfleet.fleet.explore.jobs import job_details, job_stats, list_jobs
from iotfleet.fleet.explore.statistics import (
    COUNTERS,
    CRITICAL,
    EXCELLENT,
    GOOD,
    POOR,
    WAITING,
    AbortProximity,
    ProcessCounts,
    abort_proximity,
    health,
)
from iotfleet.fleet.explore.watch import WatchSnapshot, watch_job
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions, run_simulation

FAST = SimulationOptions(poll_initial=0.05, poll_max=0.2, job_check_interval=0.1)


def run_devices(emulator: LocalEmulator, success_rate: float = 100, weights: str = "install=1", seed: int = 3) -> None:
    model = BehaviourModel.from_options(success_rate=success_rate, failure_weights=weights, latency="0", seed=seed)
    with aws_context(emulator.endpoint_url) as ctx:
        run_simulation(ctx, plan_simulation(ctx, job_id="ota-1"), model, FAST)


def counts(**values: int) -> ProcessCounts:
    names = {status: name for name, status in COUNTERS.items()}
    return ProcessCounts.from_details({names[status.upper()]: value for status, value in values.items()})


# -- pure arithmetic -------------------------------------------------------------------------------


def test_rates_and_health_come_from_finished_executions() -> None:
    c = counts(succeeded=90, failed=6, rejected=2, timed_out=2, queued=50, in_progress=10, canceled=5)
    assert (c.total, c.finished, c.with_result, c.failures, c.pending) == (165, 105, 100, 10, 60)
    assert c.success_rate == pytest.approx(90.0) and c.failure_rate == pytest.approx(10.0)
    assert health(c) == GOOD
    assert health(counts(queued=3)) == WAITING
    assert health(counts(succeeded=95, failed=5)) == EXCELLENT
    assert health(counts(succeeded=50, failed=50)) == POOR
    assert health(counts(succeeded=49, timed_out=51)) == CRITICAL


def test_abort_proximity() -> None:
    near = AbortProximity("FAILED", threshold=20.0, min_executed=10, executed=100, failed=17)
    assert near.armed and near.warning
    assert near.percentage == pytest.approx(17.0)
    assert near.fraction_of_threshold == pytest.approx(0.85)
    assert near.failures_to_abort == 3
    assert "3 more failure(s) would abort" in near.describe()
    waiting = AbortProximity("ALL", threshold=50.0, min_executed=100, executed=20, failed=15)
    assert not waiting.armed
    assert "not armed until 100 things" in waiting.describe()
    job = {"abortConfig": {"criteriaList": [
        {"failureType": "ALL", "action": "CANCEL", "thresholdPercentage": 30, "minNumberOfExecutedThings": 5},
        {"failureType": "TIMED_OUT", "action": "CANCEL", "thresholdPercentage": 10, "minNumberOfExecutedThings": 1},
    ]}}  # fmt: skip
    found = abort_proximity(job, counts(succeeded=6, failed=2, timed_out=2))
    assert [(a.failure_type, a.failed, a.executed) for a in found] == [("ALL", 4, 10), ("TIMED_OUT", 2, 10)]


# -- O(1) statistics and watch ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [4, 60])
def test_stats_is_one_call_whatever_the_fleet_size(emulator: LocalEmulator, boto_clients: Any, size: int) -> None:
    make_ota_fleet(boto_clients, size)
    run_devices(emulator, success_rate=75, weights="install=1")
    emulator.reset_counters()
    with aws_context(emulator.endpoint_url) as ctx:
        stats = job_stats(ctx, "ota-1")
    assert {key: value["calls"] for key, value in emulator.counters().items()} == {"iot:DescribeJob": 1}
    assert stats.counts.total == size and stats.status == "COMPLETED"
    assert stats.counts["SUCCEEDED"] + stats.counts["FAILED"] == size


@pytest.mark.parametrize("size", [4, 60])
def test_each_watch_refresh_is_one_call(emulator: LocalEmulator, boto_clients: Any, size: int) -> None:
    make_ota_fleet(boto_clients, size, jobExecutionsRolloutConfig={"maximumPerMinute": 1})
    emulator.reset_counters()
    seen: list[WatchSnapshot] = []
    with aws_context(emulator.endpoint_url) as ctx:
        final = watch_job(
            ctx, "ota-1", interval=5.0, on_snapshot=seen.append, clock=FakeClock(), max_refreshes=5
        )
    assert [s.refresh for s in seen] == [1, 2, 3, 4, 5] and final is seen[-1]
    assert {key: value["calls"] for key, value in emulator.counters().items()} == {"iot:DescribeJob": 5}
    assert not final.done and final.stats.status == "IN_PROGRESS"
    assert seen[1].rate == 0.0 and seen[0].rate is None


def test_watch_follows_a_job_to_its_end(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 30)
    emulator.reset_counters()
    seen: list[WatchSnapshot] = []
    runner = threading.Thread(target=run_devices, args=(emulator,), kwargs={"success_rate": 90})
    with aws_context(emulator.endpoint_url) as ctx:
        runner.start()
        final = watch_job(ctx, "ota-1", interval=0.05, on_snapshot=seen.append)
        runner.join()
    assert final.done and final.stats.status == "COMPLETED"
    assert final.stats.counts.finished == 30
    assert emulator.counters()["iot:DescribeJob"]["calls"] >= len(seen)  # the devices' own job checks add a few
    assert final.average_rate is None or final.average_rate >= 0


def test_a_job_deleted_while_watched_ends_the_watch(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 2, jobExecutionsRolloutConfig={"maximumPerMinute": 1})

    class DeletingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            boto_clients.iot.delete_job(jobId="ota-1", force=True)
            emulator.advance(3600)
            super().sleep(seconds)

    with aws_context(emulator.endpoint_url) as ctx:
        final = watch_job(ctx, "ota-1", interval=1.0, on_snapshot=lambda _: None, clock=DeletingClock())
    assert final.deleted and final.done and final.refresh == 2


# -- details ---------------------------------------------------------------------------------------


def test_job_details_keep_the_document_before_substitution(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(
        boto_clients, 5,
        abortConfig={"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 80,
                                       "minNumberOfExecutedThings": 3}]},
        timeoutConfig={"inProgressTimeoutInMinutes": 15},
    )  # fmt: skip
    run_devices(emulator, success_rate=60, weights="install=1", seed=8)
    with aws_context(emulator.endpoint_url) as ctx:
        details = job_details(ctx, "ota-1")
    assert "${aws:iot:package:fw-main:version:1.2.0:artifact:s3-presigned-url}" in details.document
    summary = details.as_dict()
    assert summary["settings"]["timeoutConfig"] == {"inProgressTimeoutInMinutes": 15}
    assert summary["counts"]["SUCCEEDED"] + summary["counts"]["FAILED"] == 5
    (proximity,) = summary["abortProximity"]
    assert proximity["failureType"] == "FAILED" and proximity["executedThings"] == 5


def test_execution_details_and_history(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(
        boto_clients, 2, jobExecutionsRetryConfig={"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 1}]}
    )
    run_devices(emulator, success_rate=0, weights="install=1")
    with aws_context(emulator.endpoint_url) as ctx:
        details = execution_details(ctx, "ota-1", "dev-00001")
        with pytest.raises(UsageError, match="thing 'ghost' does not exist"):
            execution_details(ctx, "ota-1", "ghost")
        boto_clients.iot.create_thing(thingName="bystander")
        with pytest.raises(UsageError, match="'bystander' has no execution of job 'ota-1'"):
            execution_details(ctx, "ota-1", "bystander")
        with pytest.raises(UsageError, match="job 'nope' does not exist"):
            execution_details(ctx, "nope", "dev-00001")
    assert details.execution["status"] == "FAILED"
    assert details.status_details["failureType"] == "install"
    current = details.attempts[-1]
    assert current.execution_number == details.execution["executionNumber"]
    assert current.retry_attempt == 1 and current.status == "FAILED"
    assert current.version_number == details.execution["versionNumber"]
    assert {a.status for a in details.attempts} == {"FAILED"}


def test_listing_jobs_and_executions(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 260)  # more than one page of executions
    run_devices(emulator, success_rate=50, weights="install=1", seed=4)
    with aws_context(emulator.endpoint_url) as ctx:
        assert [j["jobId"] for j in list_jobs(ctx)] == ["ota-1"]
        assert list_jobs(ctx, "IN_PROGRESS") == []
        everything = list_executions(ctx, "ota-1")
        failed = list_executions(ctx, "ota-1", "FAILED")
        with pytest.raises(UsageError, match="status must be one of"):
            list_executions(ctx, "ota-1", "BROKEN")
    assert len(everything) == 260 and len({r.thing_name for r in everything}) == 260
    assert failed and {r.status for r in failed} == {"FAILED"}
    assert len(failed) == sum(1 for r in everything if r.status == "FAILED")


# -- cancel and delete -----------------------------------------------------------------------------


def test_cancel_shows_its_impact_and_refuses_ended_jobs(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 6, jobExecutionsRolloutConfig={"maximumPerMinute": 2})
    boto_clients.jobs_data.start_next_pending_job_execution(thingName="dev-00000")
    with aws_context(emulator.endpoint_url) as ctx:
        impact = plan_cancel(ctx, "ota-1", comment="boot loop on rev B")
        assert (impact.queued_canceled, impact.in_progress_continuing, impact.rolling_out) == (1, 1, True)
        job = cancel_job(ctx, impact, comment="boot loop on rev B")
        assert job["status"] == "CANCELED" and job["comment"] == "boot loop on rev B"
        with pytest.raises(UsageError, match="--force would also cancel its 1 IN_PROGRESS"):
            plan_cancel(ctx, "ota-1")
        forced = plan_cancel(ctx, "ota-1", force=True)
        assert forced.in_progress_canceled == 1
        cancel_job(ctx, forced)
        with pytest.raises(UsageError, match="already CANCELED and none of its executions is running"):
            plan_cancel(ctx, "ota-1", force=True)
        with pytest.raises(UsageError, match="comment"):
            plan_cancel(ctx, "ota-1", comment="x" * 3000)
    status = boto_clients.iot.describe_job_execution(jobId="ota-1", thingName="dev-00000")["execution"]["status"]
    assert status == "CANCELED"


def test_a_completed_job_cannot_be_canceled(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 2)
    run_devices(emulator)
    with aws_context(emulator.endpoint_url) as ctx, pytest.raises(UsageError, match="is COMPLETED; only"):
        plan_cancel(ctx, "ota-1")


def test_delete_needs_force_while_executions_run(emulator: LocalEmulator, boto_clients: Any) -> None:
    make_ota_fleet(boto_clients, 3, jobExecutionsRolloutConfig={"maximumPerMinute": 1})
    with aws_context(emulator.endpoint_url) as ctx:
        with pytest.raises(UsageError, match="pass --force") as caught:
            plan_delete(ctx, "ota-1")
        assert caught.value.param == "--force"
        impact = plan_delete(ctx, "ota-1", force=True)
        assert impact.lines()[0].startswith("the job and the history of its 1 execution(s)")
        delete_job(ctx, impact)
        with pytest.raises(UsageError, match="already being deleted"):
            plan_delete(ctx, "ota-1", force=True)

"""Time-driven job behaviour over HTTP, driven by the emulator's clock: rollout, abort, timeouts,
retries, scheduling and continuous jobs."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from test_jobs_api import DOCUMENT, call, make_fleet

from iotfleet.emulator.inprocess import LocalEmulator


def counters(iot: Any, job_id: str) -> dict[str, int]:
    details = call(iot, "describe_job", jobId=job_id)["job"]["jobProcessDetails"]
    return {
        key.removeprefix("numberOf").removesuffix("Things"): value
        for key, value in details.items()
        if key.startswith("numberOf") and value
    }


def visible(jobs_data: Any, things: list[str]) -> int:
    """How many things see a pending execution through the devices' API."""
    return sum(1 for t in things if call(jobs_data, "get_pending_job_executions", thingName=t)["queuedJobs"])


def test_constant_rollout_per_minute(iot: Any, jobs_data: Any, emulator: LocalEmulator) -> None:
    group_arn, names = make_fleet(iot, 7)
    call(
        iot,
        "create_job",
        jobId="r",
        targets=[group_arn],
        document=DOCUMENT,
        jobExecutionsRolloutConfig={"maximumPerMinute": 3},
    )
    seen = []
    for _ in range(4):
        seen.append((counters(iot, "r").get("Queued", 0), visible(jobs_data, names)))
        emulator.advance(60)
    assert seen == [(3, 3), (6, 6), (7, 7), (7, 7)]
    job = call(iot, "describe_job", jobId="r")["job"]
    assert "processingTargets" not in job["jobProcessDetails"]


def test_exponential_rollout(iot: Any, jobs_data: Any, emulator: LocalEmulator) -> None:
    group_arn, names = make_fleet(iot, 20)
    call(
        iot,
        "create_job",
        jobId="x",
        targets=[group_arn],
        document=DOCUMENT,
        jobExecutionsRolloutConfig={
            "exponentialRate": {
                "baseRatePerMinute": 2,
                "incrementFactor": 2.0,
                "rateIncreaseCriteria": {"numberOfSucceededThings": 2},
            }
        },
    )
    assert counters(iot, "x") == {"Queued": 2}
    emulator.advance(60)
    assert counters(iot, "x") == {"Queued": 4}  # no successes yet: the base rate again
    for name in names[:4]:
        call(jobs_data, "update_job_execution", thingName=name, jobId="x", status="SUCCEEDED")
    emulator.advance(60)  # 4 succeeded = two increases: 2 * 2 * 2 = 8 this minute
    assert counters(iot, "x") == {"Succeeded": 4, "Queued": 8}
    emulator.advance(60)  # still 4 succeeded: 8 more
    assert counters(iot, "x") == {"Succeeded": 4, "Queued": 16}


def test_exponential_rollout_with_both_criteria_steps_up_when_either_is_met(
    iot: Any, jobs_data: Any, emulator: LocalEmulator
) -> None:
    group_arn, names = make_fleet(iot, 30)
    rate = {
        "baseRatePerMinute": 2,
        "incrementFactor": 2.0,
        "rateIncreaseCriteria": {"numberOfNotifiedThings": 6, "numberOfSucceededThings": 2},
    }
    created = call(
        iot,
        "create_job",
        jobId="both",
        targets=[group_arn],
        document=DOCUMENT,
        jobExecutionsRolloutConfig={"exponentialRate": rate},
    )
    assert created["jobId"] == "both"
    assert call(iot, "describe_job", jobId="both")["job"]["jobExecutionsRolloutConfig"]["exponentialRate"] == rate

    def succeed(things: list[str]) -> None:
        for name in things:
            call(jobs_data, "update_job_execution", thingName=name, jobId="both", status="SUCCEEDED")

    assert counters(iot, "both") == {"Queued": 2}  # minute 0: the base rate
    succeed(names[:2])  # 2 succeeded: the succeeded criterion is met once, before the notified one
    steps = []
    for _ in range(4):
        emulator.advance(60)
        details = counters(iot, "both")
        steps.append(details.get("Queued", 0) + details.get("Succeeded", 0))
    # Notified after each step: 2+4=6 (rate 4: succeeded met once), 10 (rate 4: notified 6 met once too,
    # still one increase), 14 (rate 4), 22 (rate 8: notified 12 met twice).
    assert steps == [6, 10, 14, 22]
    succeed(names[2:8])  # 8 succeeded: the succeeded criterion is met four times
    emulator.advance(60)  # rate 2 * 2**4 = 32: the 8 left are all released
    assert counters(iot, "both") == {"Succeeded": 8, "Queued": 22}


def abort_on(failure_type: str, threshold: float, minimum: int) -> dict[str, Any]:
    return {
        "criteriaList": [
            {
                "failureType": failure_type,
                "action": "CANCEL",
                "thresholdPercentage": threshold,
                "minNumberOfExecutedThings": minimum,
            }
        ]
    }


def test_abort_fires_at_threshold_and_not_before(iot: Any, jobs_data: Any) -> None:
    group_arn, names = make_fleet(iot, 10)
    call(
        iot,
        "create_job",
        jobId="a",
        targets=[group_arn],
        document=DOCUMENT,
        abortConfig=abort_on("FAILED", 30, 10),
    )
    call(jobs_data, "start_next_pending_job_execution", thingName=names[9])
    for name in names[:2]:
        call(jobs_data, "update_job_execution", thingName=name, jobId="a", status="FAILED")
    call(jobs_data, "update_job_execution", thingName=names[2], jobId="a", status="REJECTED")
    assert call(iot, "describe_job", jobId="a")["job"]["status"] == "IN_PROGRESS"  # 2 of 10 FAILED: 20%
    call(jobs_data, "update_job_execution", thingName=names[3], jobId="a", status="FAILED")  # 30%
    job = call(iot, "describe_job", jobId="a")["job"]
    assert job["status"] == "CANCELED"
    assert job["reasonCode"] == "ABORT_CRITERIA_MET"
    assert counters(iot, "a") == {"Failed": 3, "Rejected": 1, "Canceled": 5, "InProgress": 1}


def test_in_progress_timeout(iot: Any, jobs_data: Any, emulator: LocalEmulator) -> None:
    group_arn, names = make_fleet(iot, 1)
    call(
        iot,
        "create_job",
        jobId="t",
        targets=[group_arn],
        document=DOCUMENT,
        timeoutConfig={"inProgressTimeoutInMinutes": 60},
    )
    execution = call(jobs_data, "start_next_pending_job_execution", thingName=names[0])["execution"]
    assert 3595 <= execution["approximateSecondsBeforeTimedOut"] <= 3600
    emulator.advance(3590)
    assert (
        call(jobs_data, "describe_job_execution", thingName=names[0], jobId="t")["execution"]["status"]
        == "IN_PROGRESS"
    )
    emulator.advance(10)
    assert (
        call(jobs_data, "describe_job_execution", thingName=names[0], jobId="t")["execution"]["status"]
        == "TIMED_OUT"
    )
    job = call(iot, "describe_job", jobId="t")["job"]
    assert (job["status"], job["jobProcessDetails"]["numberOfTimedOutThings"]) == ("COMPLETED", 1)


def test_step_timeout_is_replaced_and_capped(iot: Any, jobs_data: Any, emulator: LocalEmulator) -> None:
    group_arn, names = make_fleet(iot, 2)
    call(
        iot,
        "create_job",
        jobId="s",
        targets=[group_arn],
        document=DOCUMENT,
        timeoutConfig={"inProgressTimeoutInMinutes": 20},
    )
    thing = names[0]
    call(jobs_data, "start_next_pending_job_execution", thingName=thing, stepTimeoutInMinutes=2)
    emulator.advance(60)
    call(
        jobs_data,
        "update_job_execution",
        thingName=thing,
        jobId="s",
        status="IN_PROGRESS",
        stepTimeoutInMinutes=5,
    )
    emulator.advance(170)  # the first step timer would have fired by now; the new one runs until 6:00
    state = call(jobs_data, "describe_job_execution", thingName=thing, jobId="s")["execution"]
    assert state["status"] == "IN_PROGRESS"
    call(
        jobs_data,
        "update_job_execution",
        thingName=thing,
        jobId="s",
        status="IN_PROGRESS",
        stepTimeoutInMinutes=60,
    )
    state = call(jobs_data, "describe_job_execution", thingName=thing, jobId="s")["execution"]
    assert state["approximateSecondsBeforeTimedOut"] <= 20 * 60 - 230  # capped by the in-progress timer
    emulator.advance(20 * 60 - 230 + 5)
    assert (
        call(jobs_data, "describe_job_execution", thingName=thing, jobId="s")["execution"]["status"]
        == "TIMED_OUT"
    )

    other = names[1]
    call(jobs_data, "start_next_pending_job_execution", thingName=other, stepTimeoutInMinutes=1)
    emulator.advance(65)
    assert (
        call(jobs_data, "describe_job_execution", thingName=other, jobId="s")["execution"]["status"]
        == "TIMED_OUT"
    )


def test_retries_start_new_execution_numbers(iot: Any, jobs_data: Any, emulator: LocalEmulator) -> None:
    group_arn, names = make_fleet(iot, 1)
    thing = names[0]
    call(
        iot,
        "create_job",
        jobId="retry",
        targets=[group_arn],
        document=DOCUMENT,
        timeoutConfig={"inProgressTimeoutInMinutes": 10},
        jobExecutionsRetryConfig={
            "criteriaList": [
                {"failureType": "FAILED", "numberOfRetries": 1},
                {"failureType": "TIMED_OUT", "numberOfRetries": 1},
            ]
        },
    )
    first = call(jobs_data, "start_next_pending_job_execution", thingName=thing)["execution"]
    call(jobs_data, "update_job_execution", thingName=thing, jobId="retry", status="FAILED")
    second = call(jobs_data, "start_next_pending_job_execution", thingName=thing)["execution"]
    assert second["executionNumber"] > first["executionNumber"]
    emulator.advance(600)
    third = call(jobs_data, "describe_job_execution", thingName=thing, jobId="retry")["execution"]
    assert third["status"] == "QUEUED"
    assert third["executionNumber"] > second["executionNumber"]
    summary = call(iot, "list_job_executions_for_job", jobId="retry")["executionSummaries"][0][
        "jobExecutionSummary"
    ]
    assert (summary["retryAttempt"], summary["executionNumber"]) == (2, third["executionNumber"])
    old = call(
        iot,
        "describe_job_execution",
        jobId="retry",
        thingName=thing,
        executionNumber=first["executionNumber"],
    )
    assert old["execution"]["status"] == "FAILED"
    timed_out = call(
        jobs_data,
        "describe_job_execution",
        thingName=thing,
        jobId="retry",
        executionNumber=second["executionNumber"],
    )["execution"]
    assert timed_out["status"] == "TIMED_OUT"
    call(
        jobs_data, "update_job_execution", thingName=thing, jobId="retry", status="FAILED"
    )  # no retries left
    assert call(iot, "describe_job", jobId="retry")["job"]["status"] == "COMPLETED"


def test_continuous_job_follows_static_group(iot: Any, jobs_data: Any) -> None:
    group_arn, names = make_fleet(iot, 2)
    call(
        iot, "create_job", jobId="cont", targets=[group_arn], document=DOCUMENT, targetSelection="CONTINUOUS"
    )
    iot.create_thing(thingName="newcomer")
    iot.add_thing_to_thing_group(thingGroupName="fleet", thingName="newcomer")
    assert (
        call(jobs_data, "get_pending_job_executions", thingName="newcomer")["queuedJobs"][0]["jobId"]
        == "cont"
    )
    iot.create_thing_group(thingGroupName="sub", parentGroupName="fleet")
    iot.create_thing(thingName="nested")
    iot.add_thing_to_thing_group(thingGroupName="sub", thingName="nested")  # a child group of the target
    assert call(jobs_data, "get_pending_job_executions", thingName="nested")["queuedJobs"]
    call(jobs_data, "start_next_pending_job_execution", thingName=names[0])
    iot.remove_thing_from_thing_group(thingGroupName="fleet", thingName=names[0])
    iot.remove_thing_from_thing_group(thingGroupName="fleet", thingName=names[1])
    for name in names:
        assert (
            call(iot, "describe_job_execution", jobId="cont", thingName=name)["execution"]["status"]
            == "REMOVED"
        )
        pending = call(jobs_data, "get_pending_job_executions", thingName=name)
        assert (pending["inProgressJobs"], pending["queuedJobs"]) == ([], [])
    assert counters(iot, "cont") == {"Queued": 2, "Removed": 2}
    iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=names[1])
    assert (
        call(iot, "describe_job_execution", jobId="cont", thingName=names[1])["execution"]["status"]
        == "QUEUED"
    )
    assert call(iot, "describe_job", jobId="cont")["job"]["status"] == "IN_PROGRESS"


def test_continuous_job_follows_dynamic_group(iot: Any, jobs_data: Any) -> None:
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    for name, model in (("cam-1", "v1"), ("cam-2", "v2")):
        iot.create_thing(thingName=name, attributePayload={"attributes": {"model": model}})
    group_arn = iot.create_dynamic_thing_group(thingGroupName="old-cams", queryString="attributes.model:v1")[
        "thingGroupArn"
    ]
    call(iot, "create_job", jobId="dyn", targets=[group_arn], document=DOCUMENT, targetSelection="CONTINUOUS")
    assert counters(iot, "dyn") == {"Queued": 1}
    iot.update_thing(thingName="cam-2", attributePayload={"attributes": {"model": "v1"}})
    assert call(jobs_data, "get_pending_job_executions", thingName="cam-2")["queuedJobs"][0]["jobId"] == "dyn"
    iot.update_thing(thingName="cam-1", attributePayload={"attributes": {"model": "v3"}})
    assert (
        call(iot, "describe_job_execution", jobId="dyn", thingName="cam-1")["execution"]["status"]
        == "REMOVED"
    )
    assert counters(iot, "dyn") == {"Queued": 1, "Removed": 1}


def test_scheduled_job(iot: Any, jobs_data: Any, emulator: LocalEmulator) -> None:
    group_arn, names = make_fleet(iot, 2)
    now = emulator.clock.now()
    start = datetime.fromtimestamp(now + 3600 + 60 - now % 60, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M")
    end = datetime.fromtimestamp(now + 3 * 3600 + 60 - now % 60, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M")
    call(
        iot,
        "create_job",
        jobId="later",
        targets=[group_arn],
        document=DOCUMENT,
        schedulingConfig={"startTime": start, "endTime": end, "endBehavior": "CANCEL"},
    )
    job = call(iot, "describe_job", jobId="later")["job"]
    assert job["status"] == "SCHEDULED"
    assert job["schedulingConfig"]["startTime"] == start
    assert visible(jobs_data, names) == 0
    emulator.advance(3600 + 61)
    assert call(iot, "describe_job", jobId="later")["job"]["status"] == "IN_PROGRESS"
    call(jobs_data, "start_next_pending_job_execution", thingName=names[0])
    emulator.advance(2 * 3600)
    job = call(iot, "describe_job", jobId="later")["job"]
    assert job["status"] == "CANCELED"
    assert counters(iot, "later") == {"InProgress": 1, "Canceled": 1}


def test_maintenance_windows(iot: Any, emulator: LocalEmulator) -> None:
    group_arn, _ = make_fleet(iot, 4)
    # Start at half past the hour, well outside the window, whatever the wall clock says.
    emulator.advance((1800 - emulator.clock.now() % 3600) % 3600)
    now = emulator.clock.now()
    next_hour = datetime.fromtimestamp(now - now % 3600 + 3600, tz=timezone.utc)
    call(
        iot,
        "create_job",
        jobId="win",
        targets=[group_arn],
        document=DOCUMENT,
        jobExecutionsRolloutConfig={"maximumPerMinute": 1},
        schedulingConfig={"maintenanceWindows": [{"startTime": "cron(0 * * * ? *)", "durationInMinutes": 2}]},
    )
    job = call(iot, "describe_job", jobId="win")["job"]
    assert job["scheduledJobRollouts"][0]["startTime"] == next_hour.strftime("%Y-%m-%dT%H:%M")
    assert len(job["scheduledJobRollouts"]) == 7
    assert counters(iot, "win") == {}
    emulator.advance(next_hour.timestamp() - now + 1)
    assert counters(iot, "win") == {"Queued": 1}
    emulator.advance(60)
    assert counters(iot, "win") == {"Queued": 2}
    emulator.advance(60)  # the window has closed
    assert counters(iot, "win") == {"Queued": 2}
    emulator.advance(3600 - 120)  # the next window's first minute
    assert counters(iot, "win") == {"Queued": 3}
    assert json.loads(call(iot, "get_job_document", jobId="win")["document"]) == json.loads(DOCUMENT)

"""Faults after the call took effect (the service did the work, the client saw a 500 or lost the connection):
provisioning, job creation, a progressive rollout and cleanup still converge, with nothing created twice."""

from __future__ import annotations

import logging

import pytest
from provision_setup import PATIENT, assert_inventory, fleet_context
from rollout_setup import (
    NEW,
    OLD,
    Driver,
    fleet_things,
    job_ids,
    job_tags,
    model,
    provisioned,
    rollout_spec,
    versions,
)

from iotfleet.aws.pacing import API_LOGGER
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet import storage
from iotfleet.fleet.cleanup.apply import apply_cleanup
from iotfleet.fleet.cleanup.plan import plan_cleanup
from iotfleet.fleet.jobs.create import JobSpec, create_job
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.provision.plan import plan_provision
from iotfleet.fleet.rollout.record import COMPLETED, PASSED, ROLLED_BACK, WAVE_FAILED, WAVE_RUNNING
from iotfleet.fleet.rollout.spec import parse_waves
from iotfleet.fleet.spec import FleetSpec


def retried_drops(caplog: pytest.LogCaptureFixture) -> int:
    """Calls retried because their connection closed with no answer (the access layer logs each retry)."""
    messages = [r.getMessage() for r in caplog.records if r.name == API_LOGGER.name]
    return sum(1 for m in messages if "ConnectionClosedError on attempt" in m and "retrying" in m)


SPEC = FleetSpec(fleet="late", devices=12, thing_types=("SedanVehicle",))


@pytest.mark.emulator(fault_rate=0.15, fault_seed=11, fault_after=1.0, time_scale=600)
def test_the_life_cycle_converges_when_replies_are_lost_after_the_work_is_done(
    emulator: LocalEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=API_LOGGER.name)
    with fleet_context(emulator, retry_policy=PATIENT) as ctx:
        result = provision(ctx, SPEC)
        assert result.ok, result.failures
        assert emulator.counters() and sum(c["faults"] for c in emulator.counters().values()) > 10
        emulator.set_faults(0.0)
        assert_inventory(ctx, SPEC)
        assert len(storage.owned_buckets(ctx, "late")) == 1
        assert not plan_provision(ctx, SPEC).changes

        # Every CreateJob reply is lost: the job exists after the first attempt, and the retry meets it.
        emulator.reset_counters()
        emulator.set_faults(1.0, operations=["iot:CreateJob"], after=1.0)
        _, answer = create_job(ctx, JobSpec(fleet="late", groups=(SPEC.country_group("US"),), package="SedanVehicle",
                                            version="1.1.0"))  # fmt: skip
        assert emulator.counters()["iot:CreateJob"]["faults"] >= 1
        emulator.set_faults(0.0)
        jobs = ctx.iot.list_jobs()["jobs"]
        assert [job["jobId"] for job in jobs] == [answer["jobId"]]

        emulator.reset_counters()
        emulator.set_faults(0.15, seed=13, after=1.0)
        cleaned = apply_cleanup(ctx, plan_cleanup(ctx, "late"))
        assert sum(c["faults"] for c in emulator.counters().values()) > 5
        assert cleaned.ok, cleaned.failures
        emulator.set_faults(0.0)
        assert plan_cleanup(ctx, "late").empty
        assert retried_drops(caplog) > 5  # some of the lost replies were connections closed with no answer


# Every call by which a rollout changes something: its record, its wave groups and their members, its jobs,
# the gate decisions on their tags, and the groups let go of at the end.
ROLLOUT_CHANGES = ["s3:PutObject", "iot:CreateThingGroup", "iot:AddThingToThingGroup", "iot:CreateJob",
                   "iot:TagResource", "iot:DeleteThingGroup"]  # fmt: skip


def test_a_rollout_converges_when_its_replies_are_lost_after_the_work_is_done(
    emulator: LocalEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=API_LOGGER.name)
    with provisioned(emulator, 20, retry_policy=PATIENT) as ctx:
        emulator.reset_counters()
        emulator.set_faults(0.3, seed=8, operations=ROLLOUT_CHANGES, after=1.0)
        driver = Driver(ctx, emulator)
        driver.start(rollout_spec())
        record = driver.drive(until=lambda r: r.wave(3).status == WAVE_RUNNING)
        groups = {g["groupName"] for g in ctx.iot.list_thing_groups(namePrefixFilter="r1-")["thingGroups"]}
        assert groups == {"r1-wave-1", "r1-wave-2", "r1-wave-3"}  # one group a wave
        membership = driver.store.membership("r1")
        for wave in record.waves:
            members = ctx.iot.list_things_in_thing_group(thingGroupName=wave.group)["things"]
            assert sorted(members) == sorted(membership[wave.number])
        record = driver.drive()
        faults = {key: count["faults"] for key, count in emulator.counters().items() if count["faults"]}
        emulator.set_faults(0.0)

        assert set(faults) == set(ROLLOUT_CHANGES) and sum(faults.values()) > 15
        assert retried_drops(caplog) >= 3
        assert record.state == COMPLETED and record.groups_released
        assert versions(ctx) == {NEW: 20}
        assert job_ids(ctx) == ["r1-wave-1", "r1-wave-2", "r1-wave-3"]  # one job a wave
        everyone = [name for names in membership.values() for name in names]
        assert sorted(everyone) == fleet_things(20)  # each device in exactly one wave
        for wave in record.waves:
            assert wave.status == PASSED and wave.tagged
            job = ctx.iot.describe_job(jobId=wave.job_id)["job"]
            assert len(job["targets"]) == 1 and job["targets"][0].endswith(f"/{wave.group}")
            assert job_tags(ctx, wave.job_id)["iotfleet:rollout-gate"] == PASSED
        kinds = [event["kind"] for event in record.events]
        assert kinds.count("started") == 1 and kinds.count("completed") == 1
        assert kinds.count("wave-started") == 3 and kinds.count("gate-passed") == 3
        left = {g["groupName"] for g in ctx.iot.list_thing_groups(namePrefixFilter="r1-")["thingGroups"]}
        assert left == set()


def test_a_bad_canary_is_rolled_back_by_one_job_when_every_create_job_reply_is_lost(
    emulator: LocalEmulator,
) -> None:
    with provisioned(emulator, 20, retry_policy=PATIENT) as ctx:
        # Every CreateJob reply is lost: each job exists after the first attempt, and the retry meets it.
        emulator.reset_counters()
        emulator.set_faults(1.0, seed=3, operations=["iot:CreateJob"], after=1.0)
        driver = Driver(ctx, emulator, wave_model=model(40.0, seed=7))
        driver.start(rollout_spec(waves=parse_waves("20%,50%,100%")))
        record = driver.drive()
        created = emulator.counters()["iot:CreateJob"]
        emulator.set_faults(0.0)

        assert created["calls"] >= 4 and created["faults"] == created["calls"]  # the wave's and the rollback's
        assert record.state == ROLLED_BACK and versions(ctx) == {OLD: 20}
        assert job_ids(ctx) == ["r1-rollback", "r1-wave-1"]  # one wave job, one rollback job
        assert record.wave(1).status == WAVE_FAILED
        updated = sorted(r.thing_name for r in driver.results["r1-wave-1"].executions if r.status == "SUCCEEDED")
        rollback = ctx.iot.describe_job(jobId="r1-rollback")["job"]
        assert sorted(t.rsplit("/", 1)[1] for t in rollback["targets"]) == updated
        assert record.stop is not None and record.stop.devices == len(updated)
        kinds = [event["kind"] for event in record.events]
        assert kinds.count("rollback-started") == 1 and kinds.count("rolled-back") == 1

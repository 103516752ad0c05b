"""Rollouts on the emulator, its clock moved on for bake times and simulated devices running every job: a good
release completes wave after wave, a bad canary is rolled back, pause, resume, approve and abort, and no step is
ever taken twice, even when the controller dies between creating a job and recording it."""

from __future__ import annotations

import html

import pytest
from rollout_setup import (
    FLEET,
    NEW,
    OLD,
    PACKAGE,
    Driver,
    fleet_things,
    job_ids,
    job_tags,
    model,
    provisioned,
    rollout_spec,
    versions,
)

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.cleanup.apply import apply_cleanup
from iotfleet.fleet.cleanup.plan import plan_cleanup
from iotfleet.fleet.jobs.settings import AbortCriterion, JobSettings, RetryCriterion
from iotfleet.fleet.rollout import commands
from iotfleet.fleet.rollout.record import (
    ABORTED,
    COMPLETED,
    FAILED,
    PASSED,
    PAUSED,
    PENDING,
    ROLLED_BACK,
    RUNNING,
    STOPPED,
    WAITING_APPROVAL,
    WAVE_FAILED,
    WAVE_RUNNING,
    RolloutStore,
)
from iotfleet.fleet.rollout.report import gather, render_html
from iotfleet.fleet.rollout.spec import Condition, GateSpec, parse_waves
from iotfleet.fleet.rollout.watch import watch_rollout


def created_at(ctx: AwsContext, job_id: str) -> float:
    return ctx.iot.describe_job(jobId=job_id)["job"]["createdAt"].timestamp()


def test_a_good_release_goes_wave_after_wave_each_started_only_after_the_gate_before_it_passed(
    emulator: LocalEmulator,
) -> None:
    with provisioned(emulator, 20) as ctx:
        driver = Driver(ctx, emulator)
        driver.start(rollout_spec())
        record = driver.drive()

        assert record.state == COMPLETED
        assert versions(ctx) == {NEW: 20}
        membership = driver.store.membership("r1")
        assert [len(membership[n]) for n in (1, 2, 3)] == [2, 8, 10]  # 10%, 50%, 100% of 20
        assert sorted(name for names in membership.values() for name in names) == fleet_things(20)
        for before, after in zip(record.waves, record.waves[1:], strict=False):
            assert before.status == PASSED and before.gate is not None and before.gate["decision"] == PASSED
            assert before.decided_at is not None and before.ready_at is not None
            assert before.decided_at - before.ready_at >= 600  # baked 10 minutes
            assert created_at(ctx, after.job_id) >= before.decided_at  # started only after the gate passed
        assert record.waves[-1].status == PASSED
        assert job_ids(ctx) == ["r1-wave-1", "r1-wave-2", "r1-wave-3"]
        assert job_tags(ctx, "r1-wave-2").items() >= {
            "iotfleet:fleet": FLEET, "iotfleet:rollout": "r1", "iotfleet:rollout-wave": "2",
            "iotfleet:rollout-gate": PASSED, "iotfleet:job-kind": "rollout-wave",
        }.items()  # fmt: skip
        figures = record.waves[0].gate["figures"]
        assert figures["executed"] == 2 and figures["conditions"][0]["holds"] is True
        # The wave groups are gone (the record keeps the membership), so rollouts do not pile up memberships.
        groups = {g["groupName"] for g in ctx.iot.list_thing_groups()["thingGroups"]}
        assert not {w.group for w in record.waves} & groups


def test_a_bad_canary_is_rolled_back_and_later_waves_never_start(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 20) as ctx:
        driver = Driver(ctx, emulator, wave_model=model(40.0, seed=7))
        driver.start(rollout_spec(waves=parse_waves("20%,50%,100%")))
        record = driver.drive()

        assert record.state == ROLLED_BACK
        assert versions(ctx) == {OLD: 20}
        assert [w.status for w in record.waves] == [WAVE_FAILED, PENDING, PENDING]
        assert job_ids(ctx) == ["r1-rollback", "r1-wave-1"]
        gate = record.waves[0].gate
        assert gate is not None and gate["decision"] == "FAILED"
        assert "can no longer hold" in " ".join(gate["reasons"])
        canary = driver.results["r1-wave-1"]
        updated = sorted(r.thing_name for r in canary.executions if r.status == "SUCCEEDED")
        assert updated  # seed 7: one canary device took the bad version
        rollback = ctx.iot.describe_job(jobId="r1-rollback")["job"]
        assert sorted(t.rsplit("/", 1)[1] for t in rollback["targets"]) == updated  # exactly those devices
        assert record.stop is not None and record.stop.devices == len(updated)
        assert rollback["destinationPackageVersions"][0].endswith(f"/{PACKAGE}/version/{OLD}")
        assert rollback["description"] == f"Rollout r1: roll back to {OLD}"
        assert job_tags(ctx, "r1-wave-1")["iotfleet:rollout-gate"] == WAVE_FAILED

        page = render_html(gather(ctx, driver.store, "r1"))
        assert "Wave 1 · 20% · 4" in page and "Wave 2 · 50% · 6" in page and ">Rollback<" in page  # the timeline
        assert html.escape(gate["reasons"][0]) in page  # the decision, with the figures it was taken on
        assert f"{len(updated)} device(s) back to {OLD}" in page


def test_the_wave_jobs_abort_criteria_are_the_fast_brake(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 20) as ctx:
        brake = JobSettings(abort=(AbortCriterion("FAILED", 30, 2),))
        lenient = GateSpec((Condition.parse("success>=0"),), bake_seconds=600)  # the gate alone never fails
        driver = Driver(ctx, emulator, wave_model=model(40.0, seed=7))
        driver.start(rollout_spec(waves=parse_waves("20%,50%,100%"), gate=lenient, settings=brake))
        record = driver.drive()
        assert ctx.iot.describe_job(jobId="r1-wave-1")["job"]["status"] == "CANCELED"  # AWS applied the brake
        assert record.state == ROLLED_BACK
        assert "the wave's job was canceled" in record.wave(1).gate["reasons"][0]
        assert versions(ctx) == {OLD: 20}


def test_the_job_settings_reach_every_wave_job_and_the_rollback(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 20) as ctx:
        settings = JobSettings(abort=(AbortCriterion("FAILED", 90, 5),), timeout_minutes=30,
                               retries=(RetryCriterion("TIMED_OUT", 2),))  # fmt: skip
        driver = Driver(ctx, emulator, wave_model=model(40.0, seed=7))
        driver.start(rollout_spec(waves=parse_waves("20%,50%,100%"), settings=settings))
        assert driver.drive().state == ROLLED_BACK
        for job_id in ("r1-wave-1", "r1-rollback"):
            job = ctx.iot.describe_job(jobId=job_id)["job"]
            assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}
            assert job["jobExecutionsRetryConfig"] == {"criteriaList": [{"failureType": "TIMED_OUT", "numberOfRetries": 2}]}
        criteria = ctx.iot.describe_job(jobId="r1-wave-1")["job"]["abortConfig"]["criteriaList"]
        assert [(c["failureType"], c["thresholdPercentage"], c["minNumberOfExecutedThings"]) for c in criteria] == [
            ("FAILED", 90.0, 5)
        ]


def test_approval_holds_each_next_wave_and_pause_holds_any_wave(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 20) as ctx:
        driver = Driver(ctx, emulator)
        driver.start(rollout_spec(approve=True, groups=("NorthAmerica_Fleet",), query=None, description="Night run"))
        store = driver.store
        assert driver.store.load("r1").devices == 20  # the continent group's child groups hold the devices

        def now() -> float:
            return ctx.service_time().timestamp()

        record = driver.drive(until=lambda r: r.state == WAITING_APPROVAL)
        assert [w.status for w in record.waves] == [PASSED, PENDING, PENDING]
        emulator.advance(3600)
        assert driver.controller().advance().state == WAITING_APPROVAL
        assert job_ids(ctx) == ["r1-wave-1"]

        assert commands.pause(ctx, store, "r1", now()).state == PAUSED
        with pytest.raises(UsageError, match="resume it first"):
            commands.approve(ctx, store, "r1", now())
        assert commands.resume(ctx, store, "r1", now()).state == WAITING_APPROVAL
        approved = commands.approve(ctx, store, "r1", now())
        assert approved.state == RUNNING and approved.wave(2).approved_at is not None
        record = driver.controller().advance()
        assert record.wave(2).status == WAVE_RUNNING and "r1-wave-2" in job_ids(ctx)
        assert ctx.iot.describe_job(jobId="r1-wave-2")["job"]["description"] == "Night run"

        # Paused while wave 2 runs: its gate is still decided, but wave 3 does not start, whatever the time.
        assert commands.pause(ctx, store, "r1", now()).state == PAUSED
        record = driver.drive(until=lambda r: r.wave(2).status == PASSED)
        assert record.state == PAUSED and record.paused_from == WAITING_APPROVAL
        emulator.advance(7200)
        assert driver.controller().advance().wave(3).status == PENDING
        assert "r1-wave-3" not in job_ids(ctx)

        commands.resume(ctx, store, "r1", now())
        commands.approve(ctx, store, "r1", now())
        record = driver.drive()
        assert record.state == COMPLETED and versions(ctx) == {NEW: 20}
        kinds = [e["kind"] for e in record.events]
        assert kinds.count("approved") == 2 and kinds.count("paused") == 2
        assert all(e.get("by") for e in record.events if e["kind"] in ("paused", "resumed", "approved"))


def test_a_wave_failing_while_paused_still_rolls_back(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 20) as ctx:
        driver = Driver(ctx, emulator, wave_model=model(40.0, seed=7))
        driver.start(rollout_spec(waves=parse_waves("20%,50%,100%")))
        driver.controller().advance()
        commands.pause(ctx, driver.store, "r1", ctx.service_time().timestamp())
        record = driver.drive()
        assert record.state == ROLLED_BACK and versions(ctx) == {OLD: 20}


def test_abort_with_rollback_and_abort_without(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 20) as ctx:
        driver = Driver(ctx, emulator)
        driver.start(rollout_spec())
        driver.drive(until=lambda r: r.wave(2).status == WAVE_RUNNING)
        driver.run_jobs(driver.store.load("r1"))  # wave 2's devices update
        commands.abort(ctx, driver.store, "r1", ctx.service_time().timestamp(), rollback=True)
        with pytest.raises(UsageError, match="rolling back"):
            commands.pause(ctx, driver.store, "r1", ctx.service_time().timestamp())
        record = driver.drive()
        assert record.state == ROLLED_BACK
        assert record.wave(2).status == STOPPED and record.wave(3).status == PENDING
        assert versions(ctx) == {OLD: 20}
        assert record.stop is not None and record.stop.devices == 10  # waves 1 and 2: 2 + 8 devices

    emulator.reset()
    with provisioned(emulator, 20) as ctx:
        driver = Driver(ctx, emulator, rollout_id="r2")
        driver.start(rollout_spec(rollout_id="r2"))
        driver.controller().advance()  # wave 1 started, its devices not yet running it
        commands.abort(ctx, driver.store, "r2", ctx.service_time().timestamp(), rollback=False)
        record = driver.controller().advance()
        assert record.state == ABORTED
        assert ctx.iot.describe_job(jobId="r2-wave-1")["job"]["status"] == "CANCELED"
        assert job_ids(ctx) == ["r2-wave-1"] and versions(ctx) == {OLD: 20}
        with pytest.raises(UsageError, match="has ended ABORTED"):
            commands.resume(ctx, driver.store, "r2", ctx.service_time().timestamp())


def test_without_rollback_a_failed_gate_ends_failed(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 20) as ctx:
        driver = Driver(ctx, emulator, wave_model=model(40.0, seed=7))
        driver.start(rollout_spec(waves=parse_waves("20%,50%,100%"), rollback=False))
        record = driver.drive()
        assert record.state == FAILED
        assert job_ids(ctx) == ["r1-wave-1"]
        assert versions(ctx)[NEW] >= 1  # nothing rolled back


def test_the_health_query_fails_a_wave_whose_updated_devices_report_trouble(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 20) as ctx:
        gate = GateSpec(bake_seconds=600, health_query="shadow.reported.selfTest:failed")
        driver = Driver(ctx, emulator)
        driver.start(rollout_spec(gate=gate))
        record = driver.drive(until=lambda r: r.wave(1).ready_at is not None)
        assert record.wave(1).status == WAVE_RUNNING
        unhappy = driver.store.membership("r1")[1][0]
        payload = b'{"state": {"reported": {"selfTest": "failed"}}}'
        ctx.iot_data.update_thing_shadow(thingName=unhappy, payload=payload)
        record = driver.drive()
        assert record.state == ROLLED_BACK
        gate_figures = record.wave(1).gate["figures"]
        assert gate_figures["unhealthy"] == 1 and gate_figures["maxUnhealthy"] == 0
        assert versions(ctx) == {OLD: 20}


def test_a_controller_killed_between_creating_a_job_and_recording_it_creates_no_second_job(
    emulator: LocalEmulator,
) -> None:
    with provisioned(emulator, 10) as ctx:
        driver = Driver(ctx, emulator)
        driver.start(rollout_spec())
        emulator.reset_counters()
        emulator.set_faults(1.0, 0, ["s3:PutObject"])  # the record cannot be written: the pass dies after CreateJob
        with pytest.raises(Exception):  # noqa: B017  (whatever the access layer raises after its retries)
            driver.controller().advance()
        emulator.set_faults(0.0)
        assert job_ids(ctx) == ["r1-wave-1"]
        assert driver.store.load("r1").wave(1).status == PENDING  # the record never heard of it
        record = driver.drive()
        assert record.state == COMPLETED
        assert emulator.counters()["iot:CreateJob"]["calls"] == 3  # one per wave, the first one not repeated
        assert job_ids(ctx) == ["r1-wave-1", "r1-wave-2", "r1-wave-3"]


def test_a_pause_written_while_the_controller_decides_is_kept_and_so_is_the_controllers_fact(
    emulator: LocalEmulator,
) -> None:
    with provisioned(emulator, 10) as ctx:
        driver = Driver(ctx, emulator)
        driver.start(rollout_spec())
        controller = driver.controller()
        store = controller.store
        original = store._put
        interfered: list[bool] = []

        def put(key: str, document: dict, **condition: str) -> None:  # type: ignore[type-arg]
            if not interfered and key.endswith("record.json") and "IfMatch" in condition:
                interfered.append(True)
                commands.pause(ctx, RolloutStore(ctx, FLEET), "r1", ctx.service_time().timestamp())
            original(key, document, **condition)

        store._put = put  # type: ignore[method-assign]
        record = controller.advance()
        assert interfered
        assert record.state == PAUSED  # the pause written in between is not lost
        assert record.wave(1).status == WAVE_RUNNING  # nor is the wave's start
        assert job_ids(ctx) == ["r1-wave-1"]


def test_bad_input_is_refused_before_anything_is_created(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 6) as ctx:
        driver = Driver(ctx, emulator)
        emulator.reset_counters()
        for spec, fragment in (
            (rollout_spec(version="9.9.9"), "does not exist"),
            (rollout_spec(package="NoSuchPackage"), "does not exist"),
            (rollout_spec(query="attributes.iotfleet_fleet:nobody"), "nothing to update"),
            (rollout_spec(gate=GateSpec(health_query="shadow.reported.selfTest:(")), "invalid query"),
            (rollout_spec(query="noSuchField.x:1 AND"), "invalid query"),
            (rollout_spec(rollback_to="7.7.7"), "does not exist"),
        ):
            with pytest.raises(UsageError, match=fragment):
                driver.start(spec)
        mutating = {k for k, v in emulator.counters().items() if v["calls"] and k.split(":")[1].startswith(
            ("Create", "Put", "Update", "Add", "Tag", "Delete", "Cancel"))}  # fmt: skip
        assert mutating == set()
        with pytest.raises(UsageError, match="already exists"):
            driver.start(rollout_spec())
            driver.start(rollout_spec())


class NoWait:
    """A clock whose sleeps return at once (the watch's refreshes, back to back)."""

    def time(self) -> float:
        return 0.0

    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        return None


def test_watching_costs_one_read_of_the_record_and_at_most_one_call_per_wave_each_refresh(
    emulator: LocalEmulator,
) -> None:
    with provisioned(emulator, 20) as ctx:
        driver = Driver(ctx, emulator)
        driver.start(rollout_spec())
        driver.drive(until=lambda r: r.wave(2).status == WAVE_RUNNING)
        store = driver.store
        emulator.reset_counters()
        seen: list[int] = []
        final = watch_rollout(store, "r1", interval=1.0, on_snapshot=lambda s: seen.append(s.refresh),
                              clock=NoWait(), max_refreshes=5)  # fmt: skip
        assert seen == [1, 2, 3, 4, 5] and final.record.state == RUNNING
        calls = {k: v["calls"] for k, v in emulator.counters().items() if v["calls"]}
        # Wave 1 has ended: it is asked once, then kept; wave 2 once a refresh.
        assert calls == {"s3:GetObject": 5, "iot:DescribeJob": 6}
        assert final.jobs["r1-wave-2"] is not None and final.jobs["r1-wave-2"].counts.total == 8


def test_cleanup_deletes_the_records_groups_and_jobs_a_rollout_made(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 10) as ctx:
        driver = Driver(ctx, emulator)
        driver.start(rollout_spec())
        driver.drive(until=lambda r: r.wave(2).status == WAVE_RUNNING)  # stopped mid-rollout: groups still there
        plan = plan_cleanup(ctx, FLEET, ["jobs", "groups"])
        assert [r.name for r in plan.resources("rollout record")] == ["r1"]
        assert {"r1-wave-1", "r1-wave-2"} <= {r.name for r in plan.resources("static group")}
        assert {"r1-wave-1", "r1-wave-2"} <= {r.name for r in plan.resources("job")}
        result = apply_cleanup(ctx, plan)
        assert result.ok, result.failures
        bucket = driver.store.bucket
        left = ctx.s3.list_object_versions(Bucket=bucket, Prefix="iotfleet/rollouts/")
        assert not left.get("Versions") and not left.get("DeleteMarkers")
        groups = {g["groupName"] for g in ctx.iot.list_thing_groups()["thingGroups"]}
        assert not {"r1-wave-1", "r1-wave-2"} & groups
        jobs = {j["jobId"]: j["status"] for j in ctx.iot.list_jobs()["jobs"]}
        assert all(jobs.get(job, "DELETION_IN_PROGRESS") == "DELETION_IN_PROGRESS" for job in ("r1-wave-1", "r1-wave-2"))
        assert plan_cleanup(ctx, FLEET, "jobs").resources("rollout record") == []


def test_the_controller_takes_a_failed_pass_again_at_the_next_interval(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 10) as ctx:
        driver = Driver(ctx, emulator)
        driver.start(rollout_spec())

        class Devices:
            """The controller's clock: each wait lets the devices run their jobs, and time pass."""

            def time(self) -> float:
                return emulator.clock.now()

            def monotonic(self) -> float:
                return emulator.clock.now()

            def sleep(self, seconds: float) -> None:
                emulator.set_faults(0.0)  # the outage is over
                if not driver.run_jobs(driver.store.load("r1")):
                    emulator.advance(120)

        emulator.set_faults(1.0, 0, ["s3:GetObject"])  # the record cannot be read: the first pass fails
        record = driver.controller().run(interval=1.0, clock=Devices())
        assert record.state == COMPLETED
        assert [s.kind for s in driver.steps][0] == "error"
        assert job_ids(ctx) == ["r1-wave-1", "r1-wave-2", "r1-wave-3"]

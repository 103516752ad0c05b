"""Retrying what failed, on the emulator: a new job for exactly the devices whose execution FAILED or TIMED_OUT
(never the rejected, succeeded or pending ones), a copy of the job's document and settings; and the same for a
rollout's waves."""

from __future__ import annotations

from ota_fleet import aws_context, executions_of, make_ota_fleet
from rollout_setup import QUICK, Driver, model, provisioned, rollout_spec

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.emulator.pytest_plugin import BotoClients
from iotfleet.fleet.jobs.retry import apply_retry, plan_retry
from iotfleet.fleet.rollout import commands
from iotfleet.fleet.rollout.record import COMPLETED
from iotfleet.fleet.rollout.spec import Condition, GateSpec
from iotfleet.fleet.simulate.behaviour import BehaviourModel, FailureWeights, LatencyModel
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import run_simulation


def test_a_retry_targets_exactly_the_failed_and_timed_out_devices(
    emulator: LocalEmulator, boto_clients: BotoClients
) -> None:
    fleet = make_ota_fleet(boto_clients, 24, timeoutConfig={"inProgressTimeoutInMinutes": 1})
    behaviour = BehaviourModel(40.0, FailureWeights.parse("download=1,reject=1,hang=1"), LatencyModel.parse("0"), 3)
    with aws_context(emulator.endpoint_url) as ctx:
        run_simulation(ctx, plan_simulation(ctx, job_id="ota-1"), behaviour, QUICK)
        emulator.advance(120)  # the hung devices time out
        final = {e["thingArn"].rsplit("/", 1)[1]: e["jobExecutionSummary"]["status"] for e in executions_of(ctx.iot, "ota-1")}
        wanted = sorted(thing for thing, status in final.items() if status in ("FAILED", "TIMED_OUT"))
        statuses = set(final.values())
        assert {"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT"} <= statuses  # every kind is there to tell apart

        emulator.reset_counters()
        plan = plan_retry(ctx, fleet="sim", jobs=["ota-1"])
        assert not any(k.split(":")[1].startswith("Create") for k, v in emulator.counters().items() if v["calls"])
        assert plan.devices == wanted
        assert plan.left_out["REJECTED"] == sum(1 for s in final.values() if s == "REJECTED")
        answer = apply_retry(ctx, plan, "sim")
        job = ctx.iot.describe_job(jobId=answer["jobId"])["job"]
        assert answer["jobId"] == "ota-1-retry-1"
        assert sorted(t.rsplit("/", 1)[1] for t in job["targets"]) == wanted
        assert job["destinationPackageVersions"] == [fleet.version_arn]
        assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 1}
        assert ctx.iot.get_job_document(jobId="ota-1-retry-1")["document"] == ctx.iot.get_job_document(jobId="ota-1")["document"]
        tags = {t["Key"]: t["Value"] for t in ctx.iot.list_tags_for_resource(resourceArn=job["jobArn"])["tags"]}
        assert tags["iotfleet:retry-of"] == "ota-1" and tags["iotfleet:fleet"] == "sim"
        assert plan_retry(ctx, fleet="sim", jobs=["ota-1"]).job_id == "ota-1-retry-2"  # the next one is free


def test_a_rollouts_retry_covers_the_failed_devices_of_every_wave(emulator: LocalEmulator) -> None:
    with provisioned(emulator, 20) as ctx:
        driver = Driver(ctx, emulator, wave_model=model(75.0, seed=5))
        driver.start(rollout_spec(gate=GateSpec((Condition.parse("success>=50"),))))
        record = driver.drive()
        assert record.state == COMPLETED
        failed = sorted(r.thing_name for result in driver.results.values() for r in result.executions
                        if r.status == "FAILED")  # fmt: skip
        assert failed
        plan = commands.plan_rollout_retry(ctx, driver.store, "r1")
        assert plan.devices == failed and plan.job_id == "r1-retry-1"
        assert plan.source_jobs == ["r1-wave-1", "r1-wave-2", "r1-wave-3"]
        answer = commands.apply_rollout_retry(ctx, driver.store, "r1", plan, ctx.service_time().timestamp())
        job = ctx.iot.describe_job(jobId=answer["jobId"])["job"]
        assert sorted(t.rsplit("/", 1)[1] for t in job["targets"]) == failed
        assert driver.store.load("r1").retries[0]["jobId"] == "r1-retry-1"

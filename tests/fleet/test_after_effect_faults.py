"""Faults after the call took effect (the service did the work, the client saw a 500): provisioning, job
creation and cleanup still converge, with nothing created twice."""

from __future__ import annotations

import pytest
from provision_setup import QUICK_RETRIES, assert_inventory, fleet_context

from iotfleet.aws.pacing import RetryPolicy
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet import storage
from iotfleet.fleet.cleanup.apply import apply_cleanup
from iotfleet.fleet.cleanup.plan import plan_cleanup
from iotfleet.fleet.jobs.create import JobSpec, create_job
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.provision.plan import plan_provision
from iotfleet.fleet.spec import FleetSpec

SPEC = FleetSpec(fleet="late", devices=12, thing_types=("SedanVehicle",))
# At 15 % faults, five attempts all fail for about one call in 13,000, and a run makes a few hundred: the
# subject here is convergence after lost replies, not the attempt limit, so calls get eight attempts.
PATIENT = RetryPolicy(
    max_transient_attempts=8, base_delay=QUICK_RETRIES.base_delay, max_delay=QUICK_RETRIES.max_delay
)


@pytest.mark.emulator(fault_rate=0.15, fault_seed=11, fault_after=1.0, time_scale=600)
def test_the_life_cycle_converges_when_replies_are_lost_after_the_work_is_done(emulator: LocalEmulator) -> None:
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

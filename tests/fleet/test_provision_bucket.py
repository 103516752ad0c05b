"""One firmware bucket per fleet, even when provisioning runs race, and a fleet left with two converges."""

from __future__ import annotations

import threading

import pytest
from botocore.stub import Stubber
from provision_setup import fleet_context

from iotfleet.aws.errors import AwsOperationError
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet import storage
from iotfleet.fleet.provision.apply import apply_provision, provision
from iotfleet.fleet.provision.plan import plan_provision
from iotfleet.fleet.spec import FleetSpec

SPEC = FleetSpec(fleet="race", devices=4)


def test_two_runs_at_once_create_one_bucket(emulator: LocalEmulator) -> None:
    with fleet_context(emulator) as first, fleet_context(emulator) as second:
        # Both plan before either creates anything: each plans to create the fleet's bucket.
        plans = [plan_provision(first, SPEC), plan_provision(second, SPEC)]
        assert [p.bucket.exists for p in plans] == [False, False]
        results = []
        threads = [
            threading.Thread(target=lambda ctx=ctx, plan=plan: results.append(apply_provision(ctx, plan)))
            for ctx, plan in zip((first, second), plans, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(result.ok for result in results), [r.failures for r in results]
        assert storage.owned_buckets(first, "race") == ["iotfleet-race-123456789012-us-east-1"]
        assert not plan_provision(first, SPEC).changes


def test_a_fleet_with_two_buckets_keeps_the_one_with_firmware_and_deletes_the_empty_one(
    emulator: LocalEmulator,
) -> None:
    with fleet_context(emulator) as ctx:
        assert provision(ctx, SPEC).ok
        [kept] = storage.owned_buckets(ctx, "race")
        # An empty second bucket, tagged as the fleet's, as an older race left behind.
        storage.create_bucket(ctx, storage.bucket_name("race", ctx.account_id, ctx.region, "0a1b2c3d"), "race")
        assert len(storage.owned_buckets(ctx, "race")) == 2
        plan = plan_provision(ctx, SPEC)
        assert plan.bucket.name == kept and plan.bucket.duplicates
        assert apply_provision(ctx, plan).ok
        assert storage.owned_buckets(ctx, "race") == [kept]
        assert not plan_provision(ctx, SPEC).changes


def test_a_bucket_name_another_account_holds_is_reported_as_such(emulator: LocalEmulator) -> None:
    """S3 names are global, which one account cannot show: the refusal AWS gives is stubbed."""
    with fleet_context(emulator) as ctx:
        name = storage.bucket_name("taken", "123456789012", ctx.region)
        with Stubber(ctx.s3) as stub:
            stub.add_client_error("create_bucket", "BucketAlreadyExists", "The requested bucket name is not available",
                                  409)  # fmt: skip
            with pytest.raises(AwsOperationError) as refused:
                storage.create_bucket(ctx, name, "taken")
    assert refused.value.exit_code == 1 and refused.value.code == "BucketAlreadyExists"
    assert f"the bucket name {name} belongs to another AWS account" in str(refused.value)
    assert "--fleet" in str(refused.value)

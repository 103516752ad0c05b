"""Cleanup of rollout records: the record and wave membership each rollout keeps in the fleet's bucket
(``iotfleet/rollouts/<id>/``, see :mod:`iotfleet.fleet.rollout.record`).

They go with the fleet's jobs (``--only jobs``), every version and delete marker of them, so that no record
is left naming jobs that are gone. A rollout's wave groups are static groups the fleet owns, and its jobs
carry the fleet's tag: the groups and jobs steps delete them.
"""

from __future__ import annotations

from iotfleet.aws.context import AwsContext
from iotfleet.fleet.cleanup.kinds import ROLLOUT_RECORD
from iotfleet.fleet.cleanup.objects import delete_versions
from iotfleet.fleet.cleanup.scan import Found, Resource, bucket_versions
from iotfleet.fleet.rollout.record import PREFIX
from iotfleet.fleet.storage import owned_buckets


def scan_rollout_records(ctx: AwsContext, fleet: str) -> Found:
    """Every rollout with objects in the fleet's buckets (one ListObjectVersions listing per bucket)."""
    found = Found()
    for bucket in owned_buckets(ctx, fleet):
        versions: dict[str, int] = {}
        for entry in bucket_versions(ctx, bucket, PREFIX):
            rollout_id = entry["Key"][len(PREFIX) :].split("/", 1)[0]
            versions[rollout_id] = versions.get(rollout_id, 0) + 1
        for rollout_id, count in sorted(versions.items()):
            prefix = f"{PREFIX}{rollout_id}/"
            found.owned.append(
                Resource(ROLLOUT_RECORD, rollout_id, f"s3://{bucket}/{prefix}",
                         {"bucket": bucket, "prefix": prefix, "object_versions": count})
            )  # fmt: skip
    return found


def delete_rollout_record(ctx: AwsContext, record: Resource) -> dict[str, int] | None:
    """Every version of the rollout's objects (listed afresh); None when none was left."""
    bucket, prefix = str(record.info["bucket"]), str(record.info["prefix"])
    entries = bucket_versions(ctx, bucket, prefix)
    if not entries:
        return None
    delete_versions(ctx, bucket, entries)
    return {"object versions": len(entries)}

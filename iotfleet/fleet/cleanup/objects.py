"""Deleting object versions from a bucket: batches of at most 1000 keys (S3 DeleteObjects), in parallel.

Used for the fleet's bucket (every version and delete marker, before the bucket goes) and for the rollout
records kept in it.
"""

from __future__ import annotations

from iotfleet.aws.context import AwsContext
from iotfleet.fleet.runner import run_parallel

# S3 DeleteObjects takes at most 1000 keys.
S3_BATCH = 1000


class NotDeleted(Exception):
    """AWS accepted the calls but the resource (or part of it) is still there."""


def delete_versions(ctx: AwsContext, bucket: str, entries: list[dict[str, str]]) -> None:
    """Delete every ``{"Key", "VersionId"}`` of ``entries``; the first failure is raised."""
    batches = [entries[i : i + S3_BATCH] for i in range(0, len(entries), S3_BATCH)]
    run = run_parallel(batches, lambda batch: _delete_batch(ctx, bucket, batch), concurrency=ctx.concurrency)
    for outcome in run.outcomes:
        if not outcome.ok:
            assert outcome.error is not None
            raise outcome.error


def _delete_batch(ctx: AwsContext, bucket: str, batch: list[dict[str, str]]) -> None:
    answer = ctx.s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    errors = answer.get("Errors") or []
    if errors:
        first = errors[0]
        raise NotDeleted(
            f"{len(errors)} object version(s) of {bucket} were not deleted; first: {first.get('Key')} "
            f"{first.get('VersionId')}: {first.get('Code')}: {first.get('Message')}"
        )

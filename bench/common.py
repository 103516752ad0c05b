"""What the benchmarks share: the emulator in its own process (``emulator_process``, from the emulator
package), plain boto3 clients, and the quota-bound minimum.

The bound a benchmark reports is the larger of two minimums (see the README's benchmark section):

* the **quota-bound minimum**: no schedule can make ``n`` calls of an operation paced at ``q`` TPS in less
  than ``n / q`` seconds, so the run cannot be faster than its slowest operation (:func:`quota_minimum`,
  computed from the emulator's call counters and the quota table it enforces);
* the **raw-capacity minimum**: the same calls made by a plain boto3 loop, at the same concurrency, against
  the same emulator, in the same run (timed by each benchmark).

    with emulator_process(QUOTAS_ENFORCED) as url:
        control = EmulatorControl(url)
        ...
        seconds, limiting, per_operation = quota_minimum(control.counters())
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from iotfleet.aws.quotas import DEFAULT_QUOTAS, rate_for
from iotfleet.emulator.background import emulator_process
from iotfleet.emulator.settings import EmulatorSettings

REGION = "us-east-1"
QUOTAS_ENFORCED = EmulatorSettings(enforce_quotas=True)
"""The emulator the benchmarks measure against: enforcing the quota table the client paces to."""
__all__ = ["QUOTAS_ENFORCED", "REGION", "download_sha256", "emulator_process", "plain_client", "quota_minimum"]
DOWNLOAD_CHUNK = 64 * 1024


def plain_client(url: str, service: str, concurrency: int, *, max_attempts: int = 10) -> Any:
    """A plain boto3 client for the emulator: dummy credentials, path-style S3, botocore's own retries."""
    return boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            max_pool_connections=concurrency + 4,
            s3={"addressing_style": "path"},
        ),
    )


def download_sha256(session: Any, url: str) -> str:
    """The SHA-256 of a presigned download, hashed as it streams in (what a raw device loop does)."""
    digest = hashlib.sha256()
    with session.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        for chunk in response.iter_content(DOWNLOAD_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def quota_minimum(
    counters: Mapping[str, Mapping[str, int]], quotas: Mapping[str, float] | None = None
) -> tuple[float, str, dict[str, float]]:
    """The fewest seconds the counted calls can take at the quotas: (seconds, limiting operation, per operation).

    Each operation needs at least ``calls / TPS`` seconds; operations can overlap, so the run needs at least
    the largest of those. Throttled attempts are left out: the emulator counts them as calls but refused them.
    """
    table = DEFAULT_QUOTAS if quotas is None else quotas
    served = {key: count.get("calls", 0) - count.get("throttles", 0) for key, count in counters.items()}
    per_operation = {key: calls / rate_for(key, table) for key, calls in served.items() if calls > 0}
    if not per_operation:
        return 0.0, "", {}
    limiting = max(per_operation, key=lambda key: per_operation[key])
    return per_operation[limiting], limiting, per_operation

"""What the benchmarks share: the emulator in its own process, plain boto3 clients, and the quota-bound minimum.

The bound a benchmark reports is the larger of two minimums (see the README's benchmark section):

* the **quota-bound minimum**: no schedule can make ``n`` calls of an operation paced at ``q`` TPS in less
  than ``n / q`` seconds, so the run cannot be faster than its slowest operation (:func:`quota_minimum`,
  computed from the emulator's call counters and the quota table it enforces);
* the **raw-capacity minimum**: the same calls made by a plain boto3 loop, at the same concurrency, against
  the same emulator, in the same run (timed by each benchmark).

    with emulator_process(enforce_quotas=True) as url:
        control = EmulatorControl(url)
        ...
        seconds, limiting, per_operation = quota_minimum(control.counters())
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config

from iotfleet.aws.quotas import DEFAULT_QUOTAS, rate_for

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def emulator_process(*, enforce_quotas: bool = True) -> Iterator[str]:
    """``python -m iotfleet.emulator`` on a free port (quotas enforced by default); yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["--port", str(port)] + (["--enforce-quotas"] if enforce_quotas else [])
    command = [sys.executable, "-m", "iotfleet.emulator", *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the emulator exited with code {process.returncode}")
            try:
                urllib.request.urlopen(f"{url}/_emulator/health", timeout=1).close()
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not come up in 30 s") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


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

"""create_thing calls per second from 8 client threads: the iotfleet emulator vs stock moto server.

Both servers run as separate processes on this machine, one after the other, and are driven the
same way (boto3, one shared client per server, no retries). Stock moto runs its own server
(``moto.server``) with the per-request access log silenced, so both sides do the same work per call
apart from what each server does itself.

    python bench/emulator_throughput.py [--calls 2000] [--threads 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import boto3
from botocore.config import Config

from iotfleet.emulator.background import free_port
from iotfleet.emulator.settings import EmulatorSettings

STOCK_MOTO = (
    "import logging, sys; logging.getLogger('werkzeug').setLevel(logging.ERROR); "
    "from moto.server import main; main(sys.argv[1:])"
)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not come up in {timeout:.0f}s")


@contextmanager
def server(kind: str) -> Iterator[str]:
    port = free_port()
    if kind == "emulator":
        args = EmulatorSettings(port=port).command_line()
        probe = f"http://127.0.0.1:{port}/_emulator/health"
    else:
        args = [sys.executable, "-c", STOCK_MOTO, "--port", str(port)]
        probe = f"http://127.0.0.1:{port}/moto-api/"
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_up(probe, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def measure(endpoint_url: str, calls: int, threads: int, prefix: str) -> float:
    """create_thing calls per second, ``calls`` spread over ``threads`` threads sharing one client."""
    client = boto3.session.Session().client(
        "iot",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=threads * 2),
    )
    for index in range(20):  # warm up: imports, first-request paths, connection pool
        client.create_thing(thingName=f"{prefix}-warm-{index}")
    per_thread = calls // threads

    def work(worker: int) -> None:
        for index in range(per_thread):
            client.create_thing(thingName=f"{prefix}-{worker}-{index}")

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))  # re-raises a failed thread's error: no rate for a failed run
    elapsed = time.perf_counter() - start
    return per_thread * threads / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="create_thing calls per server (default 2000)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    for kind in ("emulator", "stock_moto"):
        with server(kind) as url:
            results[kind] = measure(url, args.calls, args.threads, prefix=kind)
    ratio = results["emulator"] / results["stock_moto"]
    if args.json:
        print(json.dumps({"calls": args.calls, "threads": args.threads, "calls_per_second": results,
                          "ratio": ratio, "cpus": os.cpu_count()}))  # fmt: skip
    else:
        print(f"create_thing, {args.threads} client threads, {args.calls} calls per server, {os.cpu_count()} CPUs")
        print(f"  iotfleet emulator  {results['emulator']:8.0f} calls/s")
        print(f"  stock moto server  {results['stock_moto']:8.0f} calls/s")
        print(f"  ratio              {ratio:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

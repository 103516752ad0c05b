"""API calls per refresh of ``jobs stats`` and ``jobs watch``, for a job of 100 and of 10,000 executions.

One emulator runs in its own process. Two jobs are created, on 100 and on 10,000 things, and every
execution is released (the emulator clock is advanced past the rollout). For each job the emulator's
counters record the calls of one ``stats``, of a five-refresh ``watch``, and, for comparison, of listing
every execution (what a per-execution tally, and the HTML report's timeline, cost).

    python bench/monitor.py [--large 10000] [--small 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import QUOTAS_ENFORCED, emulator_process, plain_client

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.clock import FakeClock
from iotfleet.emulator.control import EmulatorControl
from iotfleet.fleet.explore.executions import list_executions
from iotfleet.fleet.explore.jobs import job_stats
from iotfleet.fleet.explore.statistics import ProcessCounts
from iotfleet.fleet.explore.watch import WatchSnapshot, watch_job

SETUP_THREADS = 8
REFRESHES = 5


def make_job(url: str, control: EmulatorControl, job_id: str, group: str, count: int) -> None:
    iot = plain_client(url, "iot", SETUP_THREADS)
    group_arn = iot.create_thing_group(thingGroupName=group)["thingGroupArn"]

    def create(index: int) -> None:
        name = f"{group}-{index:05d}"
        iot.create_thing(thingName=name)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)

    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        list(pool.map(create, range(count)))
    iot.create_job(jobId=job_id, targets=[group_arn], document=json.dumps({"operation": "reboot"}))
    control.advance(60 * (count // 1000 + 2))  # the default rollout releases 1,000 a minute
    released = ProcessCounts.from_details(iot.describe_job(jobId=job_id)["job"]["jobProcessDetails"]).total
    if released != count:
        raise RuntimeError(f"{job_id}: {released} of {count} executions released")


def calls(control: EmulatorControl) -> dict[str, int]:
    return {key: value["calls"] for key, value in control.counters().items() if value["calls"]}


def measure(ctx: AwsContext, control: EmulatorControl, job_id: str) -> dict[str, Any]:
    control.reset_counters()
    job_stats(ctx, job_id)
    stats_calls = calls(control)

    control.reset_counters()
    refreshes: list[WatchSnapshot] = []
    watch_job(
        ctx, job_id, interval=2.0, on_snapshot=refreshes.append, clock=FakeClock(), max_refreshes=REFRESHES
    )
    watch_calls = calls(control)

    control.reset_counters()
    start = time.perf_counter()
    rows = list_executions(ctx, job_id, check_job=False)
    listing_seconds = time.perf_counter() - start
    listing_calls = calls(control)
    return {
        "executions": len(rows),
        "stats_calls": stats_calls,
        "watch_refreshes": len(refreshes),
        "watch_calls": watch_calls,
        "watch_calls_per_refresh": sum(watch_calls.values()) / len(refreshes),
        "list_executions_calls": listing_calls,
        "list_executions_seconds": round(listing_seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100, help="executions of the small job (default 100)")
    parser.add_argument("--large", type=int, default=10_000, help="executions of the large job (default 10000)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with emulator_process(QUOTAS_ENFORCED) as url:
        control = EmulatorControl(url)
        sizes = {"small": args.small, "large": args.large}
        for name, count in sizes.items():
            make_job(url, control, f"monitor-{name}", f"monitor-{name}", count)
        settings = TargetSettings.resolve(target="local", endpoint_url=url, env={})
        with AwsContext(settings) as ctx:
            for name in sizes:
                results[name] = measure(ctx, control, f"monitor-{name}")
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("API calls, by job size (executions):")
    print(f"  {'':28}{args.small:>12,}{args.large:>12,}")
    small, large = results["small"], results["large"]
    print(f"  {'stats':28}{sum(small['stats_calls'].values()):>12}{sum(large['stats_calls'].values()):>12}")
    print(f"  {'watch, per refresh':28}{small['watch_calls_per_refresh']:>12g}{large['watch_calls_per_refresh']:>12g}")
    listed = "list every execution"
    print(f"  {listed:28}{sum(small['list_executions_calls'].values()):>12}"
          f"{sum(large['list_executions_calls'].values()):>12}  (for comparison: "
          f"{large['list_executions_seconds']} s at the 10 TPS quota)")  # fmt: skip
    print(f"  stats calls: {small['stats_calls']} / {large['stats_calls']}")
    print(f"  watch calls ({REFRESHES} refreshes): {small['watch_calls']} / {large['watch_calls']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The emulator at fleet scale: search and statistics latency, provisioning rate, simulated executions, memory.

For each fleet size (10,000 and 100,000 things by default) one emulator runs in its own process, with no
quotas, fleet indexing on (REGISTRY_AND_SHADOW, ``shadow.reported.battery`` a Number custom field):

1. **create**: ``CreateThing`` from 8 client threads (a thing type, two attributes), then one
   ``UpdateThingShadow`` per thing (battery and firmware version); calls per second of each. Every query
   shape has run once on the empty fleet first, so the index follows the whole build;
2. **search**: the first page (100 things) of SearchIndex for 5 query shapes (a term, a name prefix, a
   range, a comparison, and a compound of three terms as a dynamic group would use), and GetStatistics on
   the battery for 2 queries; p50 and p95 of the client-side latency, through the thing index and, in the
   same process on the same fleet, through the scan (``/_emulator/search`` switches the mode);
3. **RSS**: the emulator process's resident memory (and its peak) at the end.

Stock moto server gets the same fleet of things (no shadows: it cannot query them) at the sizes of
``--moto-sizes`` (default 10,000: stock moto creates about 250 things a second) and answers the two
shapes it supports, term and prefix (it returns every match in one page). Its ``CreateThing`` rate from 8
threads is measured on the same build.

**executions**: an OTA job over 10,000 devices (``--executions``) in a fresh emulator, run by the fleet
simulator with every quota lifted on both sides (emulator and client pacing): executions per second.

    python bench/emulator_scale.py                      # 10,000 and 100,000 things (about 20 minutes)
    python bench/emulator_scale.py --sizes 10000 --executions 2000 --samples 10   # a quicker run
    python bench/emulator_scale.py --markdown           # the table as Markdown
    python bench/emulator_scale.py --json

Goals (from the issue that asked for it): at 10,000 things search and statistics p50 <= 20 ms; at 100,000
p50 <= 100 ms, RSS <= 1.5 GB and provisioning >= 1,000 calls/s; >= 400 simulated executions/s at 10,000
devices. A missed goal shows in the table; it is not an error.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import emulator_process, plain_client
from emulator_throughput import server as stock_moto_server
from run_all import markdown_table, scale_rows, text_table
from simulate import release_job, set_up

from iotfleet.aws.context import AwsContext
from iotfleet.aws.quotas import SERVICE_DEFAULTS
from iotfleet.aws.settings import TargetSettings
from iotfleet.emulator.control import EmulatorControl
from iotfleet.emulator.settings import EmulatorSettings
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions, run_simulation

THREADS = 8
TYPES = ("SedanVehicle", "SUVVehicle", "TruckVehicle")
COUNTRIES = ("US", "CA", "MX", "DE", "FR", "GB", "ES", "IT", "JP", "BR")
SEARCHES = {
    "term": "attributes.country:DE",
    "prefix": "thingName:dev-0001*",
    "range": "shadow.reported.battery:[20 TO 40]",
    "comparison": "shadow.reported.battery<15",
    "compound": "thingTypeName:SedanVehicle AND shadow.reported.firmware.version:1.0.0 AND shadow.reported.battery>=20",
}
STATISTICS = {"all things": "*", "one thing type": "thingTypeName:SUVVehicle"}
MOTO_SHAPES = ("term", "prefix")
AGGREGATION_FIELD = "shadow.reported.battery"
INDEXING = {
    "thingIndexingMode": "REGISTRY_AND_SHADOW",
    "customFields": [{"name": AGGREGATION_FIELD, "type": "Number"}],
}
NO_QUOTAS = {f"{service}:*": 1_000_000.0 for service in SERVICE_DEFAULTS}
"""Client pacing lifted for every service (the emulator enforces none either)."""


def thing_name(index: int) -> str:
    return f"dev-{index:06d}"


def cpu_seconds(pid: int) -> float:
    """User and system CPU time process ``pid`` has used, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parallel(
    calls: int, work: Callable[[int], None], server_pid: int | None, threads: int = THREADS
) -> dict[str, float]:
    """Run ``work(0..calls-1)`` on ``threads`` threads: calls per second, and CPU milliseconds per call of
    the server (when its pid is given) and of this client process.

    The CPU times say what the rate would be on an idle machine: on a shared one the wall-clock rate
    also measures the other processes."""
    server_before = cpu_seconds(server_pid) if server_pid else 0.0
    client_before = cpu_seconds(os.getpid())
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(calls), chunksize=64))  # re-raises a failed call: no rate for a failed run
    elapsed = time.perf_counter() - start
    out = {
        "per_second": calls / elapsed,
        "client_cpu_ms": (cpu_seconds(os.getpid()) - client_before) * 1000 / calls,
    }
    if server_pid:
        out["server_cpu_ms"] = (cpu_seconds(server_pid) - server_before) * 1000 / calls
    return out


def create_fleet(url: str, size: int, *, shadows: bool, server_pid: int | None = None) -> dict[str, Any]:
    """Create ``size`` things (and their shadows); the rate and CPU per call of each phase."""
    iot = plain_client(url, "iot", THREADS)
    for type_name in TYPES:
        iot.create_thing_type(thingTypeName=type_name)

    def create(index: int) -> None:
        attributes = {"country": COUNTRIES[index % len(COUNTRIES)], "model": f"m{index % 7}"}
        iot.create_thing(
            thingName=thing_name(index),
            thingTypeName=TYPES[index % len(TYPES)],
            attributePayload={"attributes": attributes},
        )

    rates = {"create": parallel(size, create, server_pid)}
    if shadows:
        data = plain_client(url, "iot-data", THREADS)

        def report(index: int) -> None:
            reported = {
                "battery": index * 37 % 101,
                "firmware": {"version": "1.0.0" if index % 4 else "1.1.0"},
            }
            data.update_thing_shadow(
                thingName=thing_name(index), payload=json.dumps({"state": {"reported": reported}}).encode()
            )["payload"].read()  # read, so the connection is reused

        rates["shadow"] = parallel(size, report, server_pid)
    return rates


def latencies(call: Callable[[], Any], samples: int) -> dict[str, float]:
    """p50 and p95 in milliseconds of ``samples`` calls (after one warm-up call, timed as ``first``)."""
    start = time.perf_counter()
    call()
    first = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p95_ms": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "first_ms": first,
        "samples": samples,
    }


def query_latencies(iot: Any, samples: int) -> dict[str, dict[str, float]]:
    """Latencies of every search shape and statistics query, in the emulator's current search mode."""
    out: dict[str, dict[str, float]] = {}
    for shape, query in SEARCHES.items():
        out[f"search {shape}"] = latencies(
            lambda q=query: iot.search_index(queryString=q, maxResults=100), samples
        )
    for label, query in STATISTICS.items():
        out[f"statistics {label}"] = latencies(
            lambda q=query: iot.get_statistics(queryString=q, aggregationField=AGGREGATION_FIELD), samples
        )
    return out


def warm_up(iot: Any) -> None:
    for query in SEARCHES.values():
        iot.search_index(queryString=query, maxResults=100)
    for query in STATISTICS.values():
        iot.get_statistics(queryString=query, aggregationField=AGGREGATION_FIELD)


def same_answers(iot: Any, control: EmulatorControl) -> bool:
    """Whether the index and the scan give the same first pages and statistics on this fleet."""
    answers = []
    for mode in ("index", "scan"):
        control.set_search_mode(mode)
        pages = [iot.search_index(queryString=q, maxResults=100)["things"] for q in SEARCHES.values()]
        stats = [iot.get_statistics(queryString=q, aggregationField=AGGREGATION_FIELD)["statistics"]
                 for q in STATISTICS.values()]  # fmt: skip
        answers.append(([[t["thingName"] for t in page] for page in pages], stats))
    control.set_search_mode("index")
    return answers[0] == answers[1]


def memory(pid: int) -> dict[str, float]:
    """The resident set size and its peak, in MB, of process ``pid`` (Linux /proc)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss_mb": fields["VmRSS"], "peak_rss_mb": fields["VmHWM"]}


def emulator_run(size: int, samples: int, scan_samples: int) -> dict[str, Any]:
    """One fleet of ``size`` things in a fresh emulator: creation rates, both search paths, memory."""
    with emulator_process(EmulatorSettings()) as url:
        control = EmulatorControl(url, timeout=600)
        pid = int(control.health()["pid"])
        iot = plain_client(url, "iot", THREADS)
        iot.update_indexing_configuration(thingIndexingConfiguration=INDEXING)
        warm_up(iot)  # every field the queries use is indexed before the fleet exists
        print(f"  emulator: creating {size:,} things and shadows", file=sys.stderr, flush=True)
        result: dict[str, Any] = {"size": size, **create_fleet(url, size, shadows=True, server_pid=pid)}
        print("  emulator: querying through the index", file=sys.stderr, flush=True)
        result["index"] = query_latencies(iot, samples)
        result["index_matches_scan"] = same_answers(iot, control)
        result["memory"] = memory(pid)
        print("  emulator: querying through the scan", file=sys.stderr, flush=True)
        control.set_search_mode("scan")
        result["scan"] = query_latencies(iot, scan_samples)
        result["memory_after_scan"] = memory(pid)
    return result


def moto_run(size: int, samples: int) -> dict[str, Any]:
    """The same things in stock moto server: its create rate, and the query shapes it answers."""
    with stock_moto_server("stock_moto") as url:
        print(f"  stock moto: creating {size:,} things", file=sys.stderr, flush=True)
        result: dict[str, Any] = {"size": size, **create_fleet(url, size, shadows=False)}
        iot = plain_client(url, "iot", THREADS)
        result["search"] = {
            f"search {shape}": latencies(lambda q=SEARCHES[shape]: iot.search_index(queryString=q), samples)
            for shape in MOTO_SHAPES
        }
    return result


def executions_run(devices: int) -> dict[str, Any]:
    """Simulated executions per second of one OTA job over ``devices`` devices, no quotas anywhere."""
    with emulator_process(EmulatorSettings()) as url:
        control = EmulatorControl(url, timeout=600)
        print(f"  executions: {devices:,} devices", file=sys.stderr, flush=True)
        group_arn, version_arn = set_up(url, devices)
        release_job(url, control, "scale-sim", group_arn, version_arn, devices)
        settings = TargetSettings.resolve(
            target="local", endpoint_url=url, concurrency=16, quota_overrides=NO_QUOTAS, env={}
        )
        model = BehaviourModel.from_options(
            success_rate=100, failure_weights="install=1", latency="0", seed=1
        )
        pid = int(control.health()["pid"])
        with AwsContext(settings) as ctx:
            plan = plan_simulation(ctx, job_id="scale-sim")
            server_before, client_before = cpu_seconds(pid), cpu_seconds(os.getpid())
            start = time.perf_counter()
            outcome = run_simulation(ctx, plan, model, SimulationOptions())
            elapsed = time.perf_counter() - start
            server_cpu, client_cpu = (
                cpu_seconds(pid) - server_before,
                cpu_seconds(os.getpid()) - client_before,
            )
    executions = len(outcome.executions)
    return {
        "devices": devices,
        "executions": executions,
        "device_errors": len(outcome.failures),
        "executions_per_second": executions / elapsed,
        "server_cpu_ms": server_cpu * 1000 / max(executions, 1),
        "client_cpu_ms": client_cpu * 1000 / max(executions, 1),
    }


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


@contextmanager
def _stage(name: str) -> Iterator[None]:
    start = time.monotonic()
    print(f"{name} ...", file=sys.stderr, flush=True)
    yield
    print(f"{name}: {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=_sizes, default=[10_000, 100_000], help="fleet sizes (default 10000,100000)"
    )
    parser.add_argument(
        "--moto-sizes", type=_sizes, default=[10_000], help="sizes also run on stock moto (default 10000)"
    )
    parser.add_argument(
        "--samples", type=int, default=30, help="timed calls per query through the index (default 30)"
    )
    parser.add_argument(
        "--scan-samples", type=int, default=5, help="timed calls per query through the scan (default 5)"
    )
    parser.add_argument(
        "--executions", type=int, default=10_000, help="devices of the executions run (0: skip)"
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--save", type=Path, help="also write the JSON document to this file")
    args = parser.parse_args(argv)  # fmt: skip
    started = time.monotonic()
    report: dict[str, Any] = {"cpus": os.cpu_count(), "emulator": [], "stock_moto": []}
    for size in args.sizes:
        with _stage(f"emulator, {size:,} things"):
            report["emulator"].append(emulator_run(size, args.samples, args.scan_samples))
        if size in args.moto_sizes:
            with _stage(f"stock moto, {size:,} things"):
                report["stock_moto"].append(moto_run(size, args.samples))
    if args.executions:
        with _stage(f"executions, {args.executions:,} devices"):
            report["executions"] = executions_run(args.executions)
    report["seconds"] = round(time.monotonic() - started)
    report["load_average"] = round(os.getloadavg()[1], 1)
    if args.save:
        args.save.write_text(json.dumps(report, indent=2))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    table = scale_rows(report)
    sizes = ", ".join(f"{size:,}" for size in args.sizes)
    print(
        f"emulator at scale: {sizes} things, no quotas, {os.cpu_count()} CPUs (load average "
        f"{report['load_average']}), {report['seconds']} s in all\n"
    )
    print(markdown_table(table) if args.markdown else text_table(table))
    mismatched = [run["size"] for run in report["emulator"] if not run["index_matches_scan"]]
    if mismatched:
        print(f"\nthe index and the scan gave different answers at {mismatched}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every benchmark of the workflow in one table: result, bound, ratio to the bound, goal, and whether it is met.

Runs ``bench/provision.py``, ``bench/simulate.py``, ``bench/cleanup.py``, ``bench/monitor.py`` and
``bench/emulator_scale.py`` one after the other, each as its own process with ``--json`` (each starts its
own emulator process: with quotas enforced, except the emulator-scale benchmark, which measures the
emulator itself), and prints one table from their JSON documents. The bounds are explained in ``bench/common.py``
and in docs/benchmarks.md.

    python bench/run_all.py                          # full size: 2,000 devices, a 10,000-execution job
    python bench/run_all.py --devices 200            # a quick run
    python bench/run_all.py --markdown               # the table as Markdown
    python bench/run_all.py --only provision,monitor

``--devices N`` sets the devices of the provisioning, simulator and cleanup benchmarks, and makes the
monitoring benchmark's large job 5 N executions and the emulator-scale fleet 5 N things (10,000 at the
default 2,000; its 100,000-thing run is ``python bench/emulator_scale.py``). The exit code is 1 when a
benchmark could not run; a goal that is missed is shown in the table, not turned into a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_DEVICES = 2000
MONITOR_SCALE = 5  # the monitoring job is 5 times the device count: 10,000 executions at full size
MONITOR_SMALL = 100
SCALE = 5  # the emulator-scale fleet and its job are 5 times the device count: 10,000 at full size
HEADERS = ("Benchmark", "What is measured", "Result", "Bound", "Ratio", "Goal", "Met")


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    benchmark: str
    measured: str
    result: str
    bound: str
    ratio: str
    goal: str
    met: bool | None  # None: a reference line with no goal

    def cells(self) -> tuple[str, ...]:
        met = "" if self.met is None else "yes" if self.met else "NO"
        return (self.benchmark, self.measured, self.result, self.bound, self.ratio, self.goal, met)


# ------------------------------------------------------------------------------------------ rows per benchmark


def provision_rows(report: dict[str, Any]) -> list[Row]:
    rows = []
    for scenario in report["scenarios"]:
        devices = scenario.get("devices", report["devices"])
        wall, bound, ratio = scenario["wall_seconds"], scenario["bound_seconds"], scenario["ratio"]
        failures, goal = scenario["failures"], scenario["goal"]
        source = _bound_source(
            scenario["quota_minimum_seconds"], scenario["raw_minimum_seconds"], larger=True
        )
        rows.append(
            Row(
                benchmark="provision",
                measured=f"wall time, {devices:,} devices, {scenario['scenario']}",
                result=f"{wall:.1f} s, {failures} failures, {scenario['throttled_calls']} throttled",
                bound=f"{bound:.1f} s ({source})",
                ratio=f"{ratio:.3f}",
                goal=f"≤ {goal:.2f}, 0 failures",
                met=ratio <= goal and failures == 0,
            )
        )
    return rows


def simulate_rows(report: dict[str, Any]) -> list[Row]:
    """The HTTPS row (the report's top-level keys) and, when measured, the MQTT row (``report["mqtt"]``)."""
    rows = []
    for transport, part, comparator in (("HTTPS", report, "raw boto3"), ("MQTT", report.get("mqtt"), "raw gmqtt")):
        if not part or "ratio" not in part:
            continue
        rate, bound, ratio = part["simulator_executions_per_second"], part["bound_executions_per_second"], part["ratio"]
        raw = part["raw_boto3_executions_per_second" if transport == "HTTPS" else "raw_mqtt_executions_per_second"]
        quota, errors = part["quota_bound_executions_per_second"], part["simulator_device_errors"]
        rows.append(
            Row(
                benchmark="simulate",
                measured=f"executions/s, {report['devices']:,} devices, {transport}",
                result=f"{rate:.1f}/s, {errors} device errors",
                bound=f"{bound:.1f}/s ({_bound_source(quota, raw, larger=False, raw_name=comparator)})",
                ratio=f"{ratio:.3f}",
                goal="≥ 0.90",
                met=ratio >= 0.90 and errors == 0,
            )
        )
    return rows


def cleanup_rows(report: dict[str, Any]) -> list[Row]:
    wall, bound, ratio, failures = (
        report["wall_seconds"],
        report["bound_seconds"],
        report["ratio"],
        report["failures"],
    )
    source = _bound_source(report["quota_bound_seconds"], report["raw_boto3_seconds"], larger=True)
    return [
        Row(
            benchmark="cleanup",
            measured=f"wall time, {report['devices']:,}-device fleet",
            result=f"{wall:.1f} s, {failures} failures",
            bound=f"{bound:.1f} s ({source})",
            ratio=f"{ratio:.3f}",
            goal="≤ 1.15, 0 failures",
            met=ratio <= 1.15 and failures == 0,
        )
    ]


def monitor_rows(report: dict[str, Any]) -> list[Row]:
    small, large = report["small"], report["large"]
    rows = []
    for label, key in (("jobs stats", "stats"), ("jobs watch", "watch")):
        if key == "stats":
            small_calls, large_calls = sum(small["stats_calls"].values()), sum(large["stats_calls"].values())
        else:
            small_calls, large_calls = small["watch_calls_per_refresh"], large["watch_calls_per_refresh"]
        per = "call" if key == "stats" else "call per refresh"
        rows.append(
            Row(
                benchmark="monitor",
                measured=f"API calls of `{label}`, job of {large['executions']:,} executions",
                result=f"{large_calls:g} {per}",
                bound=f"{small_calls:g} (job of {small['executions']:,})",
                ratio=f"{large_calls / small_calls:.2f}" if small_calls else "n/a",
                goal="1.00 (O(1) calls)",
                met=large_calls == small_calls,
            )
        )
    listing = sum(large["list_executions_calls"].values())
    rows.append(
        Row(
            benchmark="monitor",
            measured=f"for comparison: list all {large['executions']:,} executions",
            result=f"{listing} calls, {large['list_executions_seconds']:.1f} s at 10 TPS",
            bound="",
            ratio="",
            goal="",
            met=None,
        )
    )
    return rows


def _scale_label(size: int) -> str:
    return f"scale {size // 1000}k" if size % 1000 == 0 else f"scale {size:,}"


def _times(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def _cpu(measured: dict[str, float]) -> str:
    """CPU per call of the emulator and of the client process, as the emulator-scale benchmark measures it."""
    return f"CPU {measured['server_cpu_ms']:.2f} ms emulator, {measured['client_cpu_ms']:.2f} ms client"


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def scale_rows(report: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    moto = {run["size"]: run for run in report["stock_moto"]}
    for run in report["emulator"]:
        size = run["size"]
        goal = 20.0 if size <= 10_000 else 100.0
        for name, indexed in run["index"].items():
            scan = run["scan"][name]
            stock = moto.get(size, {}).get("search", {}).get(name)
            bound = f"scan {_ms(scan['p50_ms'])}" + (f", stock moto {_ms(stock['p50_ms'])}" if stock else "")
            out.append(
                Row(
                    benchmark=_scale_label(size),
                    measured=f"{name}: p50 / p95",
                    result=f"{_ms(indexed['p50_ms'])} / {_ms(indexed['p95_ms'])}",
                    bound=bound,
                    ratio=f"scan / index: {_times(scan['p50_ms'] / indexed['p50_ms'])}",
                    goal=f"p50 ≤ {goal:.0f} ms",
                    met=indexed["p50_ms"] <= goal,
                )
            )
        stock_rate = moto.get(size, {}).get("create", {}).get("per_second")
        for label, phase in (("CreateThing", run["create"]), ("UpdateThingShadow", run["shadow"])):
            creating = label == "CreateThing"
            out.append(
                Row(
                    benchmark=_scale_label(size),
                    measured=f"{label} from 8 threads",
                    result=f"{phase['per_second']:,.0f} calls/s ({_cpu(phase)})",
                    bound=f"stock moto {stock_rate:,.0f} calls/s" if creating and stock_rate else "",
                    ratio=f"{phase['per_second'] / stock_rate:.2f}x stock moto"
                    if creating and stock_rate
                    else "",
                    goal="≥ 1,000 calls/s" if creating and size >= 100_000 else "",
                    met=phase["per_second"] >= 1000 if creating and size >= 100_000 else None,
                )
            )
        rss = run["memory_after_scan"]
        out.append(
            Row(
                benchmark=_scale_label(size),
                measured="emulator RSS (peak)",
                result=f"{rss['rss_mb']:,.0f} MB ({rss['peak_rss_mb']:,.0f} MB)",
                bound="",
                ratio="",
                goal="≤ 1,536 MB" if size >= 100_000 else "",
                met=rss["peak_rss_mb"] <= 1536 if size >= 100_000 else None,
            )  # fmt: skip
        )
    executions = report.get("executions")
    if executions:
        out.append(
            Row(
                benchmark="scale",
                measured=f"simulated executions/s, {executions['devices']:,} devices, no quotas",
                result=f"{executions['executions_per_second']:.0f}/s, {executions['device_errors']} device errors "
                f"({_cpu(executions)}, per execution)",
                bound="",
                ratio="",
                goal="≥ 400/s",
                met=executions["executions_per_second"] >= 400 and executions["device_errors"] == 0,
            )  # fmt: skip
        )
    return out


def _bound_source(quota: float, raw: float, *, larger: bool, raw_name: str = "raw boto3") -> str:
    quota_wins = quota >= raw if larger else quota <= raw
    return f"quota {quota:.1f}, {raw_name} {raw:.1f}: {'quota' if quota_wins else raw_name}"


# ------------------------------------------------------------------------------------------ running


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    arguments: Callable[[int], list[str]]
    rows: Callable[[dict[str, Any]], list[Row]]


BENCHMARKS = (
    Benchmark("provision", "provision.py", lambda n: ["--devices", str(n)], provision_rows),
    Benchmark("simulate", "simulate.py", lambda n: ["--devices", str(n)], simulate_rows),
    Benchmark("cleanup", "cleanup.py", lambda n: ["--devices", str(n)], cleanup_rows),
    Benchmark(
        "monitor",
        "monitor.py",
        lambda n: ["--small", str(MONITOR_SMALL), "--large", str(max(MONITOR_SMALL, MONITOR_SCALE * n))],
        monitor_rows,
    ),
    Benchmark(
        "scale",
        "emulator_scale.py",
        lambda n: [
            arg for flag in ("--sizes", "--moto-sizes", "--executions") for arg in (flag, str(SCALE * n))
        ],
        scale_rows,
    ),
)


class BenchmarkFailed(Exception):
    """A benchmark exited without printing its JSON document."""


def run(benchmark: Benchmark, devices: int) -> dict[str, Any]:
    """Run one benchmark script with ``--json``; its JSON document (its stderr passes through)."""
    command = [sys.executable, str(BENCH_DIR / benchmark.script), "--json", *benchmark.arguments(devices)]
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    try:
        document: dict[str, Any] = json.loads(completed.stdout)
    except json.JSONDecodeError:
        raise BenchmarkFailed(
            f"{benchmark.script} exited with code {completed.returncode} without a JSON result"
        ) from None
    return document


# ------------------------------------------------------------------------------------------ the table


def text_table(rows: Sequence[Row]) -> str:
    lines = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    rendered = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                for line in lines]  # fmt: skip
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def markdown_table(rows: Sequence[Row]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(HEADERS), line(["---"] * len(HEADERS)), *(line(row.cells()) for row in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--devices", type=int, default=DEFAULT_DEVICES,
        help=f"devices per benchmark (default {DEFAULT_DEVICES}; the monitoring job gets {MONITOR_SCALE}x)",
    )  # fmt: skip
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--only", default=",".join(b.name for b in BENCHMARKS),
        help="comma-separated benchmarks to run (default: all of " + ", ".join(b.name for b in BENCHMARKS) + ")",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.devices < 1:
        parser.error("--devices must be a positive integer")
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    known = {b.name: b for b in BENCHMARKS}
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        parser.error(
            f"--only: unknown benchmark {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}"
        )

    rows: list[Row] = []
    broken: list[str] = []
    started = time.monotonic()
    for benchmark in (b for b in BENCHMARKS if b.name in chosen):
        print(f"running bench/{benchmark.script} ...", file=sys.stderr, flush=True)
        began = time.monotonic()
        try:
            rows += benchmark.rows(run(benchmark, args.devices))
        except BenchmarkFailed as err:
            broken.append(str(err))
            print(f"  {err}", file=sys.stderr, flush=True)
            continue
        print(f"  done in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)

    heading = (
        f"iotfleet benchmarks: {args.devices:,} devices, emulator with quotas enforced (scale: without), "
        f"{os.cpu_count()} CPUs, {time.monotonic() - started:.0f} s in all"
    )
    if args.markdown:
        print(f"{heading}\n\n{markdown_table(rows)}")
    else:
        print(f"{heading}\n\n{text_table(rows)}")
    missed = [f"{row.benchmark}: {row.measured}" for row in rows if row.met is False]
    if missed:
        print(f"\nGoals missed ({len(missed)}): " + "; ".join(missed))
    for message in broken:
        print(f"Could not run: {message}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())

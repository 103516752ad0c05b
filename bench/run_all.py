"""Every benchmark of the workflow in one table: result, bound, ratio to the bound, goal, and whether it is met.

Runs ``bench/provision.py``, ``bench/simulate.py``, ``bench/cleanup.py`` and ``bench/monitor.py`` one after
the other, each as its own process with ``--json`` (each starts its own emulator process with quotas
enforced), and prints one table from their JSON documents. The bounds are explained in ``bench/common.py``
and in docs/benchmarks.md.

    python bench/run_all.py                          # full size: 2,000 devices, a 10,000-execution job
    python bench/run_all.py --devices 200            # a quick run
    python bench/run_all.py --markdown               # the table as Markdown
    python bench/run_all.py --only provision,monitor

``--devices N`` sets the devices of the provisioning, simulator and cleanup benchmarks, and makes the
monitoring benchmark's large job 5 N executions (10,000 at the default 2,000). The exit code is 1 when a
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
    rate, bound, ratio = (
        report["simulator_executions_per_second"],
        report["bound_executions_per_second"],
        report["ratio"],
    )
    quota, raw = report["quota_bound_executions_per_second"], report["raw_boto3_executions_per_second"]
    errors = report["simulator_device_errors"]
    return [
        Row(
            benchmark="simulate",
            measured=f"executions/s, {report['devices']:,} devices",
            result=f"{rate:.1f}/s, {errors} device errors",
            bound=f"{bound:.1f}/s ({_bound_source(quota, raw, larger=False)})",
            ratio=f"{ratio:.3f}",
            goal="≥ 0.90",
            met=ratio >= 0.90 and errors == 0,
        )
    ]


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


def _bound_source(quota: float, raw: float, *, larger: bool) -> str:
    quota_wins = quota >= raw if larger else quota <= raw
    return f"quota {quota:.1f}, raw boto3 {raw:.1f}: {'quota' if quota_wins else 'raw boto3'}"


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
        f"iotfleet benchmarks: {args.devices:,} devices, emulator with quotas enforced, "
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

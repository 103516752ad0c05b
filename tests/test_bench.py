"""The benchmarks still run: each one, at a size too small to measure anything, against its own emulator
process, finishes with a complete JSON report and no failures. The figures themselves are not checked
(speed is measured by ``make bench``, not asserted here); what is checked is that a benchmark has not fallen
behind an API it drives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_bench(script: str, *args: str) -> Any:
    ran = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--json"], capture_output=True, text=True, timeout=300,
        cwd=BENCH,
    )  # fmt: skip
    assert ran.returncode == 0, f"{script} exited {ran.returncode}:\n{ran.stderr[-3000:]}"
    return json.loads(ran.stdout)


@pytest.mark.slow
def test_the_simulate_benchmark_runs_both_transports() -> None:
    report = run_bench("simulate.py", "--devices", "12")
    for row in (report, report["mqtt"]):
        assert row["simulator_executions"] == 12 and row["simulator_device_errors"] == 0
        assert row["ratio"] > 0 and row["bound_executions_per_second"] > 0
    assert report["transport"] == "https" and report["mqtt"]["transport"] == "mqtt"


@pytest.mark.slow
def test_the_provision_and_cleanup_benchmarks_run() -> None:
    provisioned = run_bench("provision.py", "--devices", "12", "--cert-devices", "4")
    assert [s["failures"] for s in provisioned["scenarios"]] == [0] * len(provisioned["scenarios"])
    assert all(s["ratio"] > 0 for s in provisioned["scenarios"])
    cleaned = run_bench("cleanup.py", "--devices", "12")
    assert cleaned["failures"] == 0 and cleaned["deleted"]["thing"] == 12


def test_the_monitor_plan_memory_and_throughput_benchmarks_run() -> None:
    monitored = run_bench("monitor.py", "--small", "5", "--large", "20")
    assert monitored["large"]["executions"] == 20 and monitored["large"]["stats_calls"] == {"iot:DescribeJob": 1}
    [planned] = run_bench("plan_memory.py", "--devices", "50")
    assert planned["devices"] == 50 and planned["traced_peak_bytes"] > 0
    throughput = run_bench("emulator_throughput.py", "--calls", "20")
    assert set(throughput["calls_per_second"]) == {"emulator", "stock_moto"}


def test_the_emulator_scale_benchmark_runs_and_its_index_agrees_with_the_scan() -> None:
    report = run_bench("emulator_scale.py", "--sizes", "300", "--moto-sizes", "300", "--samples", "3",
                       "--scan-samples", "2", "--executions", "30")  # fmt: skip
    [fleet] = report["emulator"]
    assert fleet["size"] == 300 and fleet["index_matches_scan"] is True
    assert report["executions"]["executions"] == 30 and report["executions"]["device_errors"] == 0
    assert [row["size"] for row in report["stock_moto"]] == [300]

"""Memory and time of a provisioning dry run: ``plan_provision`` for a fleet of new devices.

The plan is made against an empty emulator (its own process, no quotas), so planning makes only a few dozen
read calls and what grows with the fleet is the plan itself. Each size runs twice, each time in a fresh child
process: once timed (wall time of ``plan_provision``, and the growth of the process's peak RSS while it
ran), once under ``tracemalloc`` (the peak of Python allocations while planning, which is what the plan
holds at its largest; per device, the peak of a one-device plan, mostly the clients' service models, is
taken off first). ``--certificates`` plans the device identity too (``--cert-source ca``, an empty key
store).

    python bench/plan_memory.py [--devices 50000 1000000] [--certificates] [--markdown | --json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from typing import Any

from common import emulator_process

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.emulator.settings import EmulatorSettings
from iotfleet.fleet.provision.plan import plan_provision
from iotfleet.fleet.spec import FleetSpec

DEFAULT_SIZES = (50_000, 1_000_000)
MB = 1024 * 1024


def measure(url: str, devices: int, certificates: bool, trace: bool) -> dict[str, Any]:
    """Plan ``devices`` new devices against the emulator at ``url``; what it took (this process only)."""
    spec = FleetSpec(fleet="planmem", devices=devices, certificates=certificates)
    settings = TargetSettings.resolve(target="local", endpoint_url=url, concurrency=16, env={})
    with AwsContext(settings) as ctx, tempfile.TemporaryDirectory(prefix="iotfleet-bench-keys-") as keys:
        ctx.account_id  # noqa: B018 - resolve the account (an STS call) before measuring
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        plan = plan_provision(ctx, spec, keys_dir=keys)
        seconds = time.perf_counter() - started
        traced = tracemalloc.get_traced_memory()[1] if trace else None
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        created = plan.counts["thing"]["create"]
    if created != devices:
        raise SystemExit(f"the plan creates {created} things, not {devices}: the emulator was not empty")
    return {
        "devices": devices,
        "certificates": certificates,
        "seconds": seconds,
        "rss_growth_bytes": max(0, rss_after - rss_before),
        "traced_peak_bytes": traced,
    }


def child(url: str, devices: int, certificates: bool, trace: bool) -> dict[str, Any]:
    """:func:`measure` in a fresh process (the peak RSS of one size must not carry over to the next)."""
    command = [sys.executable, os.path.abspath(__file__), "--child", url, "--devices", str(devices)]
    command += ["--certificates"] if certificates else []
    command += ["--trace"] if trace else []
    ran = subprocess.run(command, capture_output=True, text=True, check=False)
    if ran.returncode != 0:
        raise SystemExit(f"measuring {devices} devices failed:\n{ran.stderr[-2000:]}")
    return dict(json.loads(ran.stdout))


def run(sizes: list[int], certificates: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with emulator_process(EmulatorSettings()) as url:
        # What planning takes whatever the size (the clients' service models, the reads): left out per device.
        fixed = child(url, 1, certificates, trace=True)["traced_peak_bytes"]
        for devices in sizes:
            timed = child(url, devices, certificates, trace=False)
            traced = child(url, devices, certificates, trace=True)
            timed["traced_peak_bytes"] = traced["traced_peak_bytes"]
            timed["traced_seconds"] = traced["seconds"]
            timed["fixed_traced_bytes"] = fixed
            rows.append(timed)
    return rows


def table(rows: list[dict[str, Any]], markdown: bool) -> str:
    headers = ("devices", "certificates", "plan wall time", "peak traced (tracemalloc)", "peak RSS growth", "traced per device")
    lines = []
    for row in rows:
        per_device = max(0, row["traced_peak_bytes"] - row["fixed_traced_bytes"]) / row["devices"]
        lines.append((
            f"{row['devices']:,}", "yes" if row["certificates"] else "no", f"{row['seconds']:.1f} s",
            f"{row['traced_peak_bytes'] / MB:,.1f} MB", f"{row['rss_growth_bytes'] / MB:,.1f} MB",
            f"{per_device:,.1f} B",
        ))  # fmt: skip
    if markdown:
        out = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--certificates", action="store_true", help="plan the device identity too")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.devices[0], args.certificates, args.trace)))
        return 0
    rows = run(args.devices, args.certificates)
    print(json.dumps(rows, indent=2) if args.json else table(rows, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())

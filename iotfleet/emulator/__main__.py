"""``python -m iotfleet.emulator``: run the emulator server in the foreground.

    python -m iotfleet.emulator --port 4567 [--host 127.0.0.1] [--tls] [--enforce-quotas]
        [--quota iot:CreateThing=5] [--quota-scale 0.5] [--fault-rate 0.1 --fault-seed 7
        --fault-ops iot:CreateThing,iot-jobs-data:*] [--time-scale 10] [--access-log]
"""

from __future__ import annotations

import argparse
import sys

from iotfleet.aws.quotas import parse_overrides
from iotfleet.emulator.server import DEFAULT_HOST, DEFAULT_PORT, serve


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m iotfleet.emulator", description="Run the iotfleet emulator.")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: loopback only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks one)")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a locally generated CA")
    p.add_argument("--enforce-quotas", action="store_true", help="throttle calls above the AWS quota table")
    p.add_argument("--quota", action="append", default=[], metavar="SERVICE:OPERATION=TPS",
                   help="override one quota (repeatable); implies nothing unless --enforce-quotas")
    p.add_argument("--quota-scale", type=float, default=1.0, help="multiply every quota (e.g. 0.5)")
    p.add_argument("--fault-rate", type=float, default=0.0, help="fraction of calls failed on purpose (0-1)")
    p.add_argument("--fault-seed", type=int, default=0, help="seed of the fault sequence")
    p.add_argument("--fault-ops", action="append", default=None, metavar="OPS",
                   help="comma-separated operations that may fail (CreateThing, iot:CreateThing, iot-jobs-data:*)")
    p.add_argument("--time-scale", type=float, default=1.0, help="emulator seconds per real second")
    p.add_argument("--access-log", action="store_true", help="log every request to stderr")
    return p  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        overrides = parse_overrides(args.quota)
    except ValueError as exc:
        print(f"Error: --quota: {exc}", file=sys.stderr)
        return 2
    operations = None
    if args.fault_ops:
        operations = [op.strip() for item in args.fault_ops for op in item.split(",") if op.strip()]
    if not 0.0 <= args.fault_rate <= 1.0:
        print("Error: --fault-rate must be between 0 and 1", file=sys.stderr)
        return 2
    if args.time_scale <= 0 or args.quota_scale <= 0:
        print("Error: --time-scale and --quota-scale must be positive", file=sys.stderr)
        return 2
    try:
        serve(
            args.host,
            args.port,
            tls=args.tls,
            enforce_quotas=args.enforce_quotas,
            quota_overrides=overrides,
            quota_scale=args.quota_scale,
            fault_rate=args.fault_rate,
            fault_seed=args.fault_seed,
            fault_operations=operations,
            time_scale=args.time_scale,
            access_log=args.access_log,
        )
    except OSError as exc:
        print(f"Error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

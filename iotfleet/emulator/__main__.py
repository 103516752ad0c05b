"""``python -m iotfleet.emulator``: run the emulator server in the foreground.

    python -m iotfleet.emulator --port 4567 [--host 127.0.0.1] [--tls] [--mqtt-port 8883 | --no-mqtt] [--enforce-quotas]
        [--quota iot:CreateThing=5] [--quota-scale 0.5] [--fault-rate 0.1 --fault-seed 7
        --fault-ops iot:CreateThing,iot-jobs-data:*] [--time-scale 10] [--access-log]

The options other than ``--access-log`` are the :class:`~iotfleet.emulator.settings.EmulatorSettings`
(see :meth:`~iotfleet.emulator.settings.EmulatorSettings.command_line`).
"""

from __future__ import annotations

import argparse
import sys

from iotfleet.emulator.server import serve
from iotfleet.emulator.settings import EmulatorSettings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m iotfleet.emulator", description="Run the iotfleet emulator.")
    EmulatorSettings.add_arguments(p)
    p.add_argument("--access-log", action="store_true", help="log every request to stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = EmulatorSettings.from_namespace(args)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    try:
        serve(settings, access_log=args.access_log)
    except OSError as exc:
        ports = f"{settings.port}" + (f" (HTTP) or {settings.mqtt_port} (MQTT)" if settings.mqtt else "")
        print(f"Error: cannot listen on {args.host}, port {ports}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The settings of one emulator: where it listens (HTTP and MQTT), TLS, quotas, fault injection, the time scale
and the search mode.

Every way of running the emulator takes one :class:`EmulatorSettings`: the in-process emulator
(:class:`~iotfleet.emulator.inprocess.LocalEmulator`), the foreground server
(:func:`~iotfleet.emulator.server.serve`), the background server
(:func:`~iotfleet.emulator.background.start`) and the private child process
(:func:`~iotfleet.emulator.background.emulator_process`); the emulator's state is built from it and
returns to it on reset. A server in another process gets the same settings through
:meth:`EmulatorSettings.command_line`, which ``python -m iotfleet.emulator`` parses back with
:meth:`EmulatorSettings.add_arguments` and :meth:`EmulatorSettings.from_namespace`.

This module imports nothing beyond the standard library and the quota table, so the CLI can build
settings before it knows whether the emulator's dependencies are installed.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from iotfleet.aws.quotas import parse_overrides
from iotfleet.emulator.clock import check_time_scale

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4567
"""The port of ``python -m iotfleet.emulator`` and ``iotfleet local start`` when none is given."""
DEFAULT_MQTT_PORT = 8883
"""The MQTT endpoint's port of ``python -m iotfleet.emulator`` and ``iotfleet local start`` (AWS IoT's own),
unless the HTTP port is 0: then the system picks a free one for both."""

MODULE = "iotfleet.emulator"


def default_mqtt_port(port: int) -> int:
    """The MQTT port that goes with the HTTP ``port`` when none is given: 8883, or a free one with port 0."""
    return 0 if port == 0 else DEFAULT_MQTT_PORT

SEARCH_MODES = ("index", "scan")
"""How fleet-indexing queries find things: through the thing index, or by reading every thing (for comparison)."""


@dataclass(frozen=True)
class EmulatorSettings:
    """How one emulator runs. ``port=0`` (the default) lets the system pick a free port; so does
    ``mqtt_port=0`` for the MQTT endpoint (mutual TLS), which runs unless ``mqtt`` is False.

    ``quota_overrides`` (``{"iot:CreateThing": 5}``) apply only with ``enforce_quotas``;
    ``fault_operations`` of None lets every operation fail at ``fault_rate``. The values are checked
    where they are used (the clock, the quota enforcer, the fault injector), and by
    :meth:`from_namespace` for the command line.
    """

    host: str = DEFAULT_HOST
    port: int = 0
    tls: bool = False
    enforce_quotas: bool = False
    quota_overrides: Mapping[str, float] = field(default_factory=dict)
    quota_scale: float = 1.0
    fault_rate: float = 0.0
    fault_seed: int = 0
    fault_operations: Sequence[str] | None = None
    # The share of injected faults that happen after the call took effect (0: all before): a 500, a 503 or a
    # connection closed with no answer.
    fault_after: float = 0.0
    time_scale: float = 1.0
    search_mode: str = "index"
    mqtt: bool = True
    mqtt_port: int = 0

    def __post_init__(self) -> None:
        check_time_scale(self.time_scale)
        # Copies, so a caller changing its own dict or list later does not change these settings.
        object.__setattr__(self, "quota_overrides", dict(self.quota_overrides))
        if self.fault_operations is not None:
            object.__setattr__(self, "fault_operations", tuple(self.fault_operations))

    def command_line(self) -> list[str]:
        """The command that runs ``python -m iotfleet.emulator`` with these settings, with this interpreter."""
        args = [sys.executable, "-m", MODULE, "--host", self.host, "--port", str(self.port)]
        if self.tls:
            args.append("--tls")
        if self.enforce_quotas:
            args.append("--enforce-quotas")
        for key, tps in self.quota_overrides.items():
            args += ["--quota", f"{key}={tps}"]
        if self.quota_scale != 1.0:
            args += ["--quota-scale", str(self.quota_scale)]
        if self.fault_rate:
            args += ["--fault-rate", str(self.fault_rate)]
        if self.fault_seed:
            args += ["--fault-seed", str(self.fault_seed)]
        if self.fault_operations is not None:
            args += ["--fault-ops", ",".join(self.fault_operations)]
        if self.fault_after:
            args += ["--fault-after", str(self.fault_after)]
        if self.time_scale != 1.0:
            args += ["--time-scale", str(self.time_scale)]
        if self.search_mode != "index":
            args += ["--search-mode", self.search_mode]
        if not self.mqtt:
            args.append("--no-mqtt")
        elif self.mqtt_port != default_mqtt_port(self.port):
            args += ["--mqtt-port", str(self.mqtt_port)]
        return args

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """The command-line options :meth:`command_line` writes, for :meth:`from_namespace` to read."""
        p = parser
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
        p.add_argument("--fault-after", type=float, default=0.0,
                       help="share of the injected faults that happen after the call took effect: a 500, a 503 or a "
                            "connection closed with no answer (0-1)")
        p.add_argument("--time-scale", type=float, default=1.0, help="emulator seconds per real second")
        p.add_argument("--search-mode", choices=SEARCH_MODES, default="index",
                       help="answer fleet-indexing queries from the thing index (default) or by a scan of every thing")  # fmt: skip
        p.add_argument("--mqtt-port", type=int, default=None,
                       help=f"port of the MQTT endpoint, mutual TLS (default {DEFAULT_MQTT_PORT}; a free one with --port 0)")
        p.add_argument("--no-mqtt", action="store_true", help="run without the MQTT endpoint")  # fmt: skip

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> EmulatorSettings:
        """The settings parsed by the options of :meth:`add_arguments`.

        Raises ValueError, with a message naming the option, for a bad quota override, a fault rate
        outside 0..1, or a time or quota scale that is not positive.
        """
        try:
            overrides = parse_overrides(args.quota)
        except ValueError as exc:
            raise ValueError(f"--quota: {exc}") from None
        operations = None
        if args.fault_ops:
            operations = [op.strip() for item in args.fault_ops for op in item.split(",") if op.strip()]
        if not 0.0 <= args.fault_rate <= 1.0:
            raise ValueError("--fault-rate must be between 0 and 1")
        if not 0.0 <= args.fault_after <= 1.0:
            raise ValueError("--fault-after must be between 0 and 1")
        check_time_scale(args.time_scale, "--time-scale")
        if not (math.isfinite(args.quota_scale) and args.quota_scale > 0):
            raise ValueError("--quota-scale must be a positive, finite number")
        mqtt_port = default_mqtt_port(args.port) if args.mqtt_port is None else args.mqtt_port
        if not 0 <= mqtt_port <= 65535:
            raise ValueError("--mqtt-port must be between 0 and 65535")
        return cls(
            host=args.host,
            port=args.port,
            tls=args.tls,
            enforce_quotas=args.enforce_quotas,
            quota_overrides=overrides,
            quota_scale=args.quota_scale,
            fault_rate=args.fault_rate,
            fault_seed=args.fault_seed,
            fault_operations=operations,
            fault_after=args.fault_after,
            time_scale=args.time_scale,
            search_mode=args.search_mode,
            mqtt=not args.no_mqtt,
            mqtt_port=mqtt_port,
        )

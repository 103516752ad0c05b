"""Where the emulator keeps its files (pid file, log, TLS material): iotfleet's home on this machine."""

from __future__ import annotations

from iotfleet.home import iotfleet_home

__all__ = ["iotfleet_home"]

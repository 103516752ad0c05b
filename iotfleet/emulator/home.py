"""Where the emulator keeps its files: ``~/.iotfleet`` or ``$IOTFLEET_HOME`` (pid file, log, TLS material)."""

from __future__ import annotations

import os
from pathlib import Path


def iotfleet_home() -> Path:
    configured = os.environ.get("IOTFLEET_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".iotfleet"

"""Where iotfleet keeps files on this machine: ``~/.iotfleet``, or ``$IOTFLEET_HOME`` when set.

The fleets' key stores live under it (``keys/<fleet>/``), and the local emulator's pid file, log and TLS
material.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def iotfleet_home(env: Mapping[str, str] | None = None) -> Path:
    configured = (os.environ if env is None else env).get("IOTFLEET_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".iotfleet"

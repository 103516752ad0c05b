#!/usr/bin/env python3
"""Clean up a fleet interactively: ``iotfleet cleanup`` on a terminal asks for the fleet and what to delete.

Global options go first, e.g. ``scripts/cleanup_script.py --target local``.
"""

import sys

from iotfleet.cli.main import run

if __name__ == "__main__":
    sys.exit(run([*sys.argv[1:], "cleanup"]))

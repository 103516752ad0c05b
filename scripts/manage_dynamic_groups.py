#!/usr/bin/env python3
"""Manage dynamic thing groups interactively: the menu of ``iotfleet groups menu``.

Global options go first, e.g. ``scripts/manage_dynamic_groups.py --target local``.
"""

import sys

from iotfleet.cli.main import run

if __name__ == "__main__":
    sys.exit(run([*sys.argv[1:], "groups", "menu"]))

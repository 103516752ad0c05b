#!/usr/bin/env python3
"""Manage firmware packages interactively: the package menu of ``iotfleet packages menu``.

Global options go first, e.g. ``scripts/manage_packages.py --target local``.
"""

import sys

from iotfleet.cli.main import run

if __name__ == "__main__":
    sys.exit(run([*sys.argv[1:], "packages", "menu"]))

#!/usr/bin/env python3
"""Manage firmware packages interactively: the package menu of ``iotfleet packages menu``.

Takes iotfleet's global options and the options of ``iotfleet packages menu``, in any order, e.g.
``python scripts/manage_packages.py --target local --fleet lab``.
"""

import sys

from _entry import run_script

if __name__ == "__main__":
    sys.exit(run_script(["packages", "menu"]))

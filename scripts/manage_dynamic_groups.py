#!/usr/bin/env python3
"""Manage dynamic thing groups interactively: the menu of ``iotfleet groups menu``.

Takes iotfleet's global options and the options of ``iotfleet groups menu``, in any order, e.g.
``python scripts/manage_dynamic_groups.py --target local --fleet lab``.
"""

import sys

from _entry import run_script

if __name__ == "__main__":
    sys.exit(run_script(["groups", "menu"]))

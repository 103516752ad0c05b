#!/usr/bin/env python3
"""Clean up a fleet interactively: ``iotfleet cleanup`` on a terminal asks for the fleet and what to delete.

Takes iotfleet's global options and the options of ``iotfleet cleanup``, in any order, e.g.
``python scripts/cleanup_script.py --target local --dry-run``.
"""

import sys

from _entry import run_script

if __name__ == "__main__":
    sys.exit(run_script(["cleanup"]))

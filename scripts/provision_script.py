#!/usr/bin/env python3
"""Provision a fleet interactively: the questions of ``iotfleet provision`` on a terminal.

Takes iotfleet's global options and the options of ``iotfleet provision``, in any order, e.g.
``python scripts/provision_script.py --target local --devices 12``.
"""

import sys

from _entry import run_script

if __name__ == "__main__":
    sys.exit(run_script(["provision"]))

#!/usr/bin/env python3
"""Provision a fleet interactively: the questions of ``iotfleet provision`` on a terminal.

Global options go first, e.g. ``scripts/provision_script.py --target local``.
"""

import sys

from iotfleet.cli.main import run

if __name__ == "__main__":
    sys.exit(run([*sys.argv[1:], "provision"]))

#!/usr/bin/env python3
"""Explore jobs from a menu: list, details, executions, statistics, cancel, delete, watch, report.

Runs ``iotfleet jobs explore``. Global options go first, e.g. ``scripts/explore_jobs.py --target local``.
"""

import sys

from iotfleet.cli.main import run

if __name__ == "__main__":
    sys.exit(run([*sys.argv[1:], "jobs", "explore"]))

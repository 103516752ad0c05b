#!/usr/bin/env python3
"""Explore jobs from a menu: list, details, executions, statistics, cancel, delete, watch, report.

Runs ``iotfleet jobs explore``.

Takes iotfleet's global options and the options of ``iotfleet jobs explore``, in any order, e.g.
``python scripts/explore_jobs.py --target local --region us-east-1``.
"""

import sys

from _entry import run_script

if __name__ == "__main__":
    sys.exit(run_script(["jobs", "explore"]))

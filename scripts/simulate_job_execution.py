#!/usr/bin/env python3
"""Simulate devices running a job's executions, menu-driven (``iotfleet simulate`` on a terminal, with no flags).

Global options go first, e.g. ``scripts/simulate_job_execution.py --target local``.
"""

import sys

from iotfleet.cli.main import run

if __name__ == "__main__":
    sys.exit(run([*sys.argv[1:], "simulate"]))

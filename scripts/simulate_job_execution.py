#!/usr/bin/env python3
"""Simulate devices running a job"s executions, menu-driven (``iotfleet simulate`` on a terminal, without
``--job`` or ``--fleet``).

Takes iotfleet's global options and the options of ``iotfleet simulate``, in any order, e.g.
``python scripts/simulate_job_execution.py --target local --success-rate 90``.
"""

import sys

from _entry import run_script

if __name__ == "__main__":
    sys.exit(run_script(["simulate"]))

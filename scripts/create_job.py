#!/usr/bin/env python3
"""Create an OTA or custom job with the job wizard (``iotfleet jobs create`` on a terminal, with no flags).

Global options go first, e.g. ``scripts/create_job.py --target local``.
"""

import sys

from iotfleet.cli.main import run

if __name__ == "__main__":
    sys.exit(run([*sys.argv[1:], "jobs", "create"]))

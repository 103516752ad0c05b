#!/usr/bin/env python3
"""Create an OTA or custom job with the job wizard (``iotfleet jobs create`` on a terminal, with nothing to deploy).

Takes iotfleet's global options and the options of ``iotfleet jobs create``, in any order, e.g.
``python scripts/create_job.py --target local --fleet lab``.
"""

import sys

from _entry import run_script

if __name__ == "__main__":
    sys.exit(run_script(["jobs", "create"]))

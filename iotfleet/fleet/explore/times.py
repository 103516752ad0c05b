"""AWS timestamps as epoch seconds, and epoch seconds as ISO 8601 text, for every view of a job.

boto3 returns datetimes (and, in some shapes, numbers); the views compare and subtract epoch seconds and show
UTC ISO text, so the conversions live here once.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any


def to_epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return None


def iso_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))

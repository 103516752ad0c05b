"""The names a rollout gives what it creates, all derived from the rollout id, and the tags it puts on them.

Fixed names are what make every step safe to repeat: a second pass finds the job or group the first one
made instead of making another.
"""

from __future__ import annotations

ROLLOUT_TAG = "iotfleet:rollout"
WAVE_TAG = "iotfleet:rollout-wave"
GATE_TAG = "iotfleet:rollout-gate"
WAVE_KIND = "rollout-wave"


def wave_job_id(rollout_id: str, number: int) -> str:
    return f"{rollout_id}-wave-{number}"


def wave_group(rollout_id: str, number: int) -> str:
    return f"{rollout_id}-wave-{number}"


def rollback_job_id(rollout_id: str) -> str:
    return f"{rollout_id}-rollback"


def rollback_group(rollout_id: str) -> str:
    return f"{rollout_id}-rollback"

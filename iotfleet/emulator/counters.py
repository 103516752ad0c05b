"""Per-operation counters of calls, throttles and injected faults.

Tests assert "no mutating call was made" and benchmarks count calls with these. ``calls`` counts
every request that reached the emulator for the operation, including the ones then throttled or
failed by fault injection.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class OperationCount:
    calls: int = 0
    throttles: int = 0
    faults: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"calls": self.calls, "throttles": self.throttles, "faults": self.faults}


class Counters:
    """Thread-safe counters keyed ``service:Operation``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, OperationCount] = {}

    def _entry(self, key: str) -> OperationCount:
        entry = self._counts.get(key)
        if entry is None:
            entry = self._counts[key] = OperationCount()
        return entry

    def call(self, key: str) -> None:
        with self._lock:
            self._entry(key).calls += 1

    def throttle(self, key: str) -> None:
        with self._lock:
            self._entry(key).throttles += 1

    def fault(self, key: str) -> None:
        with self._lock:
            self._entry(key).faults += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """``{"iot:CreateThing": {"calls": 3, "throttles": 0, "faults": 1}, ...}``."""
        with self._lock:
            return {key: count.as_dict() for key, count in sorted(self._counts.items())}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

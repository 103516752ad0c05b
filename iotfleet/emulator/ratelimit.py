"""Server-side quota enforcement: one token bucket per operation, from the shared quota table.

The rates come from :mod:`iotfleet.aws.quotas` (the same table the access layer paces itself with),
optionally overridden and scaled, so a test can say "the server allows half what the client
sends" and see throttling. Buckets hold about one second's worth of calls, refill in real time
(advancing the emulator clock does not refill them) and start full.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from iotfleet.aws.quotas import merged, rate_for


class TokenBucket:
    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class QuotaEnforcer:
    """``allow(key)`` says whether a call to ``service:Operation`` fits its quota right now."""

    def __init__(
        self,
        monotonic: Callable[[], float],
        *,
        enforce: bool = False,
        overrides: Mapping[str, float] | None = None,
        scale: float = 1.0,
    ) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self.enforce = enforce
        self.overrides: dict[str, float] = dict(overrides or {})
        self.scale = scale
        self._table = merged(self.overrides)

    def configure(
        self,
        *,
        enforce: bool | None = None,
        overrides: Mapping[str, float] | None = None,
        scale: float | None = None,
    ) -> None:
        """Change the settings; given overrides replace the previous ones. Buckets start full again."""
        with self._lock:
            if enforce is not None:
                self.enforce = enforce
            if overrides is not None:
                self.overrides = dict(overrides)
                self._table = merged(self.overrides)
            if scale is not None:
                if not scale > 0:
                    raise ValueError("the quota scale must be positive")
                self.scale = scale
            self._buckets.clear()

    def rate(self, key: str) -> float:
        return rate_for(key, self._table) * self.scale

    def allow(self, key: str) -> bool:
        if not self.enforce:
            return True
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.rate(key), now)
            return bucket.take(now)

    def settings(self) -> dict[str, object]:
        with self._lock:
            return {"enforce": self.enforce, "overrides": dict(self.overrides), "scale": self.scale}

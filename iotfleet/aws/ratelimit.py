"""Per-operation rate limiting: one adaptive token bucket per ``service:Operation``, shared by all threads.

Pacing. A bucket holds at most ``burst`` tokens (default one) and refills at the operation's rate.
A caller takes a token; when none is left it *reserves* the next one and sleeps until it is due, so
concurrent callers are spaced exactly ``1/rate`` apart instead of waking together. With a one-token
bucket the client never sends more than ``1 + rate * t`` calls in any window of ``t`` seconds, which
a server-side bucket of the same rate accepts.

Adaptation. A throttling answer means the real quota is lower than ours (another client shares it, or
the account's quota differs). The bucket then halves its rate (at most once per ``decrease_cooldown``,
so a burst of throttles from calls already in flight counts once), never below ``min_rate``. Each
``recovery_interval`` in which calls succeed adds back a tenth of the configured rate, until the
configured rate is reached again. It never goes above the configured rate.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from iotfleet.aws import quotas
from iotfleet.clock import SYSTEM_CLOCK, Clock

DEFAULT_BURST = 1.0
BACKOFF_FACTOR = 0.5
MIN_RATE = 0.5
DECREASE_COOLDOWN = 0.5
RECOVERY_INTERVAL = 1.0
RECOVERY_STEP = 0.1


class TokenBucket:
    """The pacing state of one operation. Thread-safe; never sleeps while holding its lock."""

    def __init__(
        self,
        key: str,
        rate: float,
        clock: Clock = SYSTEM_CLOCK,
        *,
        burst: float = DEFAULT_BURST,
        min_rate: float = MIN_RATE,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate for {key} must be positive, not {rate}")
        self.key = key
        self.configured_rate = float(rate)
        self.capacity = max(1.0, float(burst))
        self.min_rate = min(float(min_rate), self.configured_rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._rate = self.configured_rate
        self._tokens = self.capacity
        self._updated = clock.monotonic()
        self._last_change = float("-inf")
        self._last_decrease = float("-inf")
        self.acquired = 0
        self.throttled = 0

    @property
    def rate(self) -> float:
        """The rate in force now, which adaptation may have lowered."""
        with self._lock:
            return self._rate

    def reserve(self) -> float:
        """Take a token, or reserve the next free one; returns how long to wait before calling."""
        with self._lock:
            self._refill(self._clock.monotonic())
            self._tokens -= 1.0
            self.acquired += 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    def acquire(self) -> float:
        """Wait for a token on the bucket's clock; returns the time waited."""
        wait = self.reserve()
        if wait > 0:
            self._clock.sleep(wait)
        return wait

    def on_throttle(self) -> None:
        """The service said "slow down": lower the rate (multiplicative decrease)."""
        with self._lock:
            now = self._clock.monotonic()
            self.throttled += 1
            if now - self._last_decrease < DECREASE_COOLDOWN:
                return
            self._refill(now)
            self._rate = max(self.min_rate, self._rate * BACKOFF_FACTOR)
            self._last_change = self._last_decrease = now

    def on_success(self) -> None:
        """A call went through: recover towards the configured rate (additive increase per interval)."""
        with self._lock:
            if self._rate >= self.configured_rate:
                return
            now = self._clock.monotonic()
            if now - self._last_change < RECOVERY_INTERVAL:
                return
            self._refill(now)
            self._rate = min(self.configured_rate, self._rate + self.configured_rate * RECOVERY_STEP)
            self._last_change = now

    def _refill(self, now: float) -> None:
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self._rate)
            self._updated = now


class RateLimiter:
    """The buckets of every operation, created on first use from the quota table."""

    def __init__(
        self,
        table: Mapping[str, float] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        *,
        burst: float = DEFAULT_BURST,
        min_rate: float = MIN_RATE,
    ) -> None:
        self._table = dict(quotas.DEFAULT_QUOTAS if table is None else table)
        self._clock = clock
        self._burst = burst
        self._min_rate = min_rate
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def clock(self) -> Clock:
        return self._clock

    def bucket(self, key: str) -> TokenBucket:
        """The bucket of ``key`` (``service:Operation``), created at the quota table's rate on first use."""
        bucket = self._buckets.get(key)
        if bucket is None:
            with self._lock:
                bucket = self._buckets.get(key)
                if bucket is None:
                    rate = quotas.rate_for(key, self._table)
                    bucket = TokenBucket(key, rate, self._clock, burst=self._burst, min_rate=self._min_rate)
                    self._buckets[key] = bucket
        return bucket

    def acquire(self, key: str) -> float:
        """Wait until a call of ``key`` may go out; returns the time waited."""
        return self.bucket(key).acquire()

    def on_throttle(self, key: str) -> None:
        self.bucket(key).on_throttle()

    def on_success(self, key: str) -> None:
        self.bucket(key).on_success()

    def rate(self, key: str) -> float:
        """The rate in force for ``key`` now."""
        return self.bucket(key).rate

    def configured_rate(self, key: str) -> float:
        return quotas.rate_for(key, self._table)

    def rates(self) -> dict[str, float]:
        """The current rate of every bucket in use, for reports and debugging."""
        with self._lock:
            buckets = list(self._buckets.values())
        return {bucket.key: bucket.rate for bucket in buckets}

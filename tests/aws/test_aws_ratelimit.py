"""Token buckets on fake time: exact pacing for many threads, no bursts, adaptive backoff and recovery."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from iotfleet.aws import quotas
from iotfleet.aws.ratelimit import MIN_RATE, RECOVERY_INTERVAL, RateLimiter, TokenBucket
from iotfleet.clock import FakeClock

KEY = "iot:CreateThing"


def max_in_window(times: list[float], window: float) -> int:
    """The largest number of calls inside any window of ``window`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def assert_never_bursts(times: list[float], rate: float, capacity: float) -> None:
    """In every window [t_i, t_j] there are at most capacity + rate * (t_j - t_i) calls."""
    times = sorted(times)
    for i in range(len(times)):
        for j in range(i, len(times)):
            allowed = capacity + rate * (times[j] - times[i]) + 1e-6
            assert j - i + 1 <= allowed, f"{j - i + 1} calls in {times[j] - times[i]:.4f}s"


def test_32_threads_get_50_tps_over_10_simulated_seconds() -> None:
    clock = FakeClock(start=0.0, stall_timeout=10.0)
    limiter = RateLimiter(quotas.merged({KEY: 50.0}), clock)
    bucket = limiter.bucket(KEY)
    start, duration = clock.monotonic(), 10.0
    calls: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(32)

    def worker() -> None:
        with clock.participant():
            ready.wait()
            while True:
                limiter.acquire(KEY)
                now = clock.monotonic()
                if now >= start + duration:
                    return
                with lock:
                    calls.append(now)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    achieved = len(calls) / duration
    assert abs(achieved - 50.0) <= 50.0 * 0.02, achieved
    # Never above the bucket size: one call in any window shorter than the spacing, and the
    # token-bucket bound in every window.
    assert max_in_window(calls, 1 / 50.0 - 1e-9) <= bucket.capacity
    assert max_in_window(calls, 1.0) <= bucket.capacity + 50.0
    assert_never_bursts(calls, 50.0, bucket.capacity)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=500.0),
    burst=st.sampled_from([1.0, 2.0, 5.0]),
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=1, max_size=60),
)
def test_no_window_exceeds_the_bucket_bound(rate: float, burst: float, gaps: list[float]) -> None:
    clock = FakeClock(start=0.0)
    bucket = TokenBucket(KEY, rate, clock, burst=burst)
    calls: list[float] = []
    for gap in gaps:
        clock.sleep(gap)
        bucket.acquire()
        calls.append(clock.monotonic())
    assert_never_bursts(calls, rate, burst)


def test_throttling_halves_the_rate_once_per_cooldown_and_never_below_the_floor() -> None:
    clock = FakeClock(start=0.0)
    bucket = TokenBucket(KEY, 80.0, clock)
    bucket.on_throttle()
    assert bucket.rate == 40.0
    bucket.on_throttle()  # same instant: calls already in flight, counted once
    assert bucket.rate == 40.0
    for _ in range(30):
        clock.sleep(1.0)
        bucket.on_throttle()
    assert bucket.rate == MIN_RATE
    assert bucket.throttled == 32


def test_rate_recovers_gradually_up_to_the_configured_rate() -> None:
    clock = FakeClock(start=0.0)
    bucket = TokenBucket(KEY, 50.0, clock)
    bucket.on_throttle()
    assert bucket.rate == 25.0
    bucket.on_success()  # too soon after the decrease
    assert bucket.rate == 25.0
    seen = []
    for _ in range(10):
        clock.sleep(RECOVERY_INTERVAL)
        bucket.on_success()
        seen.append(bucket.rate)
    assert seen[:5] == [30.0, 35.0, 40.0, 45.0, 50.0]
    assert max(seen) == 50.0
    assert seen[-1] == 50.0


def test_lower_rate_spaces_calls_further_apart() -> None:
    clock = FakeClock(start=0.0)
    bucket = TokenBucket(KEY, 10.0, clock)
    bucket.acquire()
    bucket.on_throttle()
    before = clock.monotonic()
    bucket.acquire()
    assert clock.monotonic() - before == 1 / 5.0


def test_buckets_come_from_the_quota_table_lazily() -> None:
    clock = FakeClock()
    limiter = RateLimiter(quotas.merged({"iot:*": 5.0, "iot:CreateThing": 50.0}), clock)
    assert limiter.rates() == {}
    assert limiter.rate("iot:CreateThing") == 50.0
    assert limiter.rate("iot:CreateThingType") == 5.0  # in the default table, replaced by the wildcard
    assert limiter.rate("iot:SomeNewOperation") == 5.0
    assert limiter.rate("s3:PutObject") == quotas.SERVICE_DEFAULTS["s3"]
    assert set(limiter.rates()) == {"iot:CreateThing", "iot:CreateThingType", "iot:SomeNewOperation", "s3:PutObject"}
    assert limiter.bucket(KEY) is limiter.bucket(KEY)


def test_default_table_has_the_product_defaults() -> None:
    limiter = RateLimiter(None, FakeClock())
    assert limiter.configured_rate("iot:CreateThing") == 80.0
    assert limiter.configured_rate("iot:CreateThingType") == 8.0

"""The emulator's one clock: real time, shifted by explicit advances and optionally sped up.

Everything time-based in the emulator (timestamps in responses, presigned URL expiry, the jobs engine)
reads this clock instead of ``time.time()``, so a test can move an hour forward in a millisecond with
:meth:`EmulatorClock.advance`, and a demo can run at ``time_scale`` times real speed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timezone

AdvanceListener = Callable[[float], None]

# Bounds on what moves the clock, so its time always fits an HTTP date and a datetime: at the fastest
# scale a real day is some 270 emulator years, and one advance moves at most ten years.
MAX_TIME_SCALE = 100_000.0
MAX_ADVANCE = 10 * 366 * 86_400.0


def check_time_scale(value: float, name: str = "time_scale") -> float:
    """``value`` when it is a finite number above 0 and at most :data:`MAX_TIME_SCALE`; else ValueError."""
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number")
    if not 0 < value <= MAX_TIME_SCALE:
        raise ValueError(f"{name} must be positive and at most {MAX_TIME_SCALE:g}")
    return float(value)


def check_advance(seconds: float) -> float:
    """``seconds`` when it is a finite number from 0 to :data:`MAX_ADVANCE`; else ValueError."""
    if not (isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and math.isfinite(seconds)):
        raise ValueError("advance must be a finite number of seconds")
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    if seconds > MAX_ADVANCE:
        raise ValueError(f"advance must be at most {MAX_ADVANCE:g} seconds (ten years) at a time")
    return float(seconds)


class EmulatorClock:
    """``now() = start + offset + elapsed_real_time * time_scale`` in epoch seconds. Thread-safe.

    ``advance_lock`` (the emulator's global lock) is held while the offset moves and the advance
    listeners run, so listeners see and change emulator state atomically with the jump in time.
    """

    def __init__(self, time_scale: float = 1.0, *, advance_lock: threading.RLock | None = None) -> None:
        time_scale = check_time_scale(time_scale)
        self._lock = threading.Lock()
        self._advance_lock = advance_lock
        self._scale = float(time_scale)
        # The anchor: at real monotonic time _anchor_mono the clock read _anchor_now.
        self._anchor_mono = time.monotonic()
        self._anchor_now = time.time()
        self._listeners: list[AdvanceListener] = []

    @property
    def time_scale(self) -> float:
        return self._scale

    def now(self) -> float:
        """The emulator's current time, in epoch seconds."""
        with self._lock:
            return self._anchor_now + (time.monotonic() - self._anchor_mono) * self._scale

    def time(self) -> float:
        """Same as :meth:`now`; lets the clock stand in for :class:`iotfleet.clock.Clock`."""
        return self.now()

    def monotonic(self) -> float:
        """Real, unscaled, never-advanced monotonic seconds: the base for rate limits."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Sleep in emulator time: a scaled clock needs less real time."""
        if seconds > 0:
            time.sleep(seconds / self._scale)

    def now_datetime(self) -> datetime:
        """The current emulator time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)

    def _rebase(self) -> None:
        mono = time.monotonic()
        self._anchor_now += (mono - self._anchor_mono) * self._scale
        self._anchor_mono = mono

    def set_time_scale(self, time_scale: float) -> None:
        """Change the speed from now on, without a jump in the current time."""
        time_scale = check_time_scale(time_scale)
        with self._lock:
            self._rebase()
            self._scale = time_scale

    def reset(self, time_scale: float | None = None) -> None:
        """Back to real time (at ``time_scale``, default unchanged); used when all emulator state is wiped."""
        with self._lock:
            if time_scale is not None:
                self._scale = check_time_scale(time_scale)
            self._anchor_mono = time.monotonic()
            self._anchor_now = time.time()

    def on_advance(self, listener: AdvanceListener) -> None:
        """Call ``listener(now)`` after every :meth:`advance` (the jobs engine processes due events)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: AdvanceListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def advance(self, seconds: float) -> float:
        """Jump forward by ``seconds`` of emulator time, then run the listeners. Returns the new now()."""
        seconds = check_advance(seconds)
        guard: AbstractContextManager[object] = self._advance_lock if self._advance_lock is not None else nullcontext()
        with guard:
            with self._lock:
                self._rebase()
                self._anchor_now += seconds
                listeners = list(self._listeners)
            now = self.now()
            for listener in listeners:
                listener(now)
            return now

"""Clocks. Everything time-based takes one, so tests can run on fake time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Clock(Protocol):
    """What time-based code needs: the current time and a way to wait."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ClockStalled(RuntimeError):
    """Virtual time could not move: a participant thread never slept nor left."""


class FakeClock:
    """A virtual clock: time moves only when told to, or when every participating thread sleeps.

    Two ways to use it:

    * **Driven.** Call :meth:`advance` (or :meth:`set`) from the test. Threads in :meth:`sleep` wake once
      virtual time reaches their wake time.
    * **Self-running.** Threads that take part in a simulation wrap their work in
      ``with clock.participant():``. While at least one participant is awake (computing, or blocked on
      real I/O) time stands still; once all of them are asleep, time jumps to the earliest wake time and
      exactly the sleepers due then wake up. Concurrent sleepers therefore overlap as they would on a
      real clock, and the outcome does not depend on real scheduling speed.

    A thread that sleeps without being a participant takes part for the length of that sleep only. With
    no participants at all, a lone sleeper is thus the only one asleep, and time jumps straight to its
    wake time: single-threaded code sees ``sleep`` advance the clock instantly.
    """

    def __init__(self, start: float = 1_700_000_000.0, *, stall_timeout: float = 30.0) -> None:
        self._cond = threading.Condition()
        self._now = start
        self._participants: set[int] = set()
        self._temporary = 0
        self._wake_times: list[float] = []
        self._stall_timeout = stall_timeout

    def monotonic(self) -> float:
        with self._cond:
            return self._now

    def time(self) -> float:
        return self.monotonic()

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every sleeper that is due."""
        with self._cond:
            self._now += max(0.0, seconds)
            self._cond.notify_all()

    def set(self, now: float) -> None:
        """Move time forward to ``now`` (never backwards)."""
        with self._cond:
            self._now = max(self._now, now)
            self._cond.notify_all()

    @contextmanager
    def participant(self) -> Iterator[None]:
        """Mark the calling thread as taking part in virtual time while the block runs."""
        ident = threading.get_ident()
        with self._cond:
            if ident in self._participants:
                raise RuntimeError("this thread is already a participant of the clock")
            self._participants.add(ident)
        try:
            yield
        finally:
            with self._cond:
                self._participants.discard(ident)
                self._advance_if_all_asleep()

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._cond:
            wake_at = self._now + seconds
            temporary = threading.get_ident() not in self._participants
            if temporary:
                self._temporary += 1
            self._wake_times.append(wake_at)
            try:
                self._advance_if_all_asleep()
                while self._now < wake_at:
                    before = self._now
                    if not self._cond.wait(timeout=self._stall_timeout) and self._now == before:
                        raise ClockStalled(
                            f"virtual time stood still for {self._stall_timeout}s of real time: "
                            "a participant is neither sleeping nor finished"
                        )
            finally:
                self._wake_times.remove(wake_at)
                if temporary:
                    # This thread stops taking part, which may leave only sleepers behind.
                    self._temporary -= 1
                    self._advance_if_all_asleep()

    def _advance_if_all_asleep(self) -> None:
        """Jump to the earliest wake time when nobody taking part is awake. Caller holds the lock."""
        if not self._wake_times:
            return
        if len(self._wake_times) < len(self._participants) + self._temporary:
            return
        earliest = min(self._wake_times)
        if earliest > self._now:
            self._now = earliest
        self._cond.notify_all()


SYSTEM_CLOCK = SystemClock()

"""The virtual clock: concurrent sleepers overlap, time moves only when everyone sleeps."""

from __future__ import annotations

import threading

import pytest

from iotfleet.clock import ClockStalled, FakeClock


def test_a_lone_sleeper_advances_time_at_once() -> None:
    clock = FakeClock(start=100.0)
    clock.sleep(2.5)
    clock.sleep(0)
    assert clock.monotonic() == 102.5
    assert clock.time() == 102.5


def test_concurrent_participants_sleep_in_parallel() -> None:
    clock = FakeClock(start=0.0, stall_timeout=5.0)
    woke: dict[int, float] = {}
    barrier = threading.Barrier(8)

    def worker(index: int) -> None:
        with clock.participant():
            barrier.wait()
            clock.sleep(1.0 + index)
            woke[index] = clock.monotonic()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each thread woke exactly at its own wake time: sleeps overlapped instead of adding up.
    assert woke == {i: 1.0 + i for i in range(8)}
    assert clock.monotonic() == 8.0


def test_time_waits_for_an_awake_participant() -> None:
    clock = FakeClock(start=0.0, stall_timeout=5.0)
    busy = threading.Event()
    release = threading.Event()
    seen: list[float] = []

    def sleeper() -> None:
        with clock.participant():
            busy.wait()
            clock.sleep(3.0)
            seen.append(clock.monotonic())

    def worker() -> None:
        with clock.participant():
            busy.set()
            release.wait()

    threads = [threading.Thread(target=sleeper), threading.Thread(target=worker)]
    for thread in threads:
        thread.start()
    busy.wait()
    # The worker is awake, so virtual time must stand still however long it takes.
    assert not release.wait(0.2)
    assert clock.monotonic() == 0.0
    release.set()
    for thread in threads:
        thread.join()
    assert seen == [3.0]


def test_driven_mode_wakes_sleepers_on_advance() -> None:
    clock = FakeClock(start=0.0, stall_timeout=5.0)
    done = threading.Event()
    entered = threading.Event()

    def sleeper() -> None:
        with clock.participant():
            entered.set()
            clock.sleep(10.0)
            done.set()

    # A second participant that never sleeps keeps time from jumping on its own.
    with clock.participant():
        thread = threading.Thread(target=sleeper)
        thread.start()
        entered.wait()
        clock.advance(5.0)
        assert not done.wait(0.1)
        clock.advance(5.0)
        assert done.wait(5.0)
    thread.join()
    assert clock.monotonic() == 10.0


def test_a_stall_is_reported_not_hung() -> None:
    clock = FakeClock(start=0.0, stall_timeout=0.2)
    with clock.participant():
        errors: list[BaseException] = []

        def sleeper() -> None:
            try:
                clock.sleep(1.0)
            except ClockStalled as exc:
                errors.append(exc)

        thread = threading.Thread(target=sleeper)
        thread.start()
        thread.join(5.0)
    assert len(errors) == 1


def test_a_thread_cannot_join_twice() -> None:
    clock = FakeClock()
    with clock.participant(), pytest.raises(RuntimeError), clock.participant():
        pass

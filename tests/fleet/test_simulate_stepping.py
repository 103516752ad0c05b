"""The stepping loop behind the simulator: bounded concurrency, every task to the end, errors kept, Ctrl-C."""

from __future__ import annotations

import _thread
import threading
import time

import pytest

from iotfleet.aws.errors import Interrupted
from iotfleet.fleet.simulate.stepping import SteppedResult, run_stepped


class Counting:
    """Counts the steps that run at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.order: list[str] = []

    def enter(self, name: str) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.order.append(name)

    def leave(self) -> None:
        with self.lock:
            self.running -= 1


class Task:
    def __init__(self, name: str, delays: list[float | None], counting: Counting, *, busy_after: int = 99) -> None:
        self.name = name
        self.delays = list(delays)
        self.counting = counting
        self.steps = 0
        self.busy_after = busy_after

    @property
    def busy(self) -> bool:
        return self.steps >= self.busy_after

    def step(self) -> float | None:
        self.counting.enter(self.name)
        try:
            time.sleep(0.002)
            self.steps += 1
            return self.delays.pop(0)
        finally:
            self.counting.leave()


class Progress:
    def __init__(self) -> None:
        self.total: int | None = None
        self.advanced = 0
        self.finished = False
        self.lock = threading.Lock()

    def start(self, total: int | None, label: str) -> None:
        self.total = total

    def advance(self, n: int = 1) -> None:
        with self.lock:
            self.advanced += n

    def finish(self) -> None:
        self.finished = True


def test_every_task_runs_to_the_end_within_the_concurrency() -> None:
    counting = Counting()
    tasks = [Task(f"t{i}", [0.0, 0.01, 0.0, None], counting) for i in range(40)]
    progress = Progress()
    result = run_stepped(tasks, concurrency=4, progress=progress)
    assert result == SteppedResult(total=40, finished=40)
    assert all(task.steps == 4 for task in tasks)
    assert 1 < counting.peak <= 4
    assert (progress.total, progress.advanced, progress.finished) == (40, 40, True)


def test_waiting_takes_no_thread() -> None:
    counting = Counting()
    sleepers = [Task(f"s{i}", [1.0, None], counting) for i in range(20)]
    started = time.monotonic()
    run_stepped(sleepers, concurrency=2)
    # Twenty tasks each waiting 1 s overlap their waits: about 1 s in all. Had each wait held one of the two
    # threads, it would take 10 s; the bound of 5 s leaves a slow machine room.
    assert time.monotonic() - started < 5.0


def test_an_error_ends_only_its_task_and_is_kept() -> None:
    counting = Counting()

    class Broken(Task):
        def step(self) -> float | None:
            raise RuntimeError("boom")

    tasks = [Task("a", [0.0, None], counting), Broken("b", [], counting), Task("c", [None], counting)]
    result = run_stepped(tasks, concurrency=2)
    assert result.finished == 3
    assert list(result.errors) == [1]
    assert str(result.errors[1]) == "boom"
    assert tasks[0].steps == 2 and tasks[2].steps == 1


def test_busy_tasks_go_before_idle_ones() -> None:
    counting = Counting()
    # Each task turns busy after its first step; one thread makes the order visible.
    tasks = [Task(f"t{i}", [0.0, 0.0, None], counting, busy_after=1) for i in range(3)]
    run_stepped(tasks, concurrency=1)
    assert counting.order == ["t0", "t0", "t0", "t1", "t1", "t1", "t2", "t2", "t2"]


def test_idle_tasks_go_round_robin() -> None:
    counting = Counting()
    tasks = [Task(f"t{i}", [0.0, 0.0, None], counting) for i in range(3)]
    run_stepped(tasks, concurrency=1)
    assert counting.order == ["t0", "t1", "t2"] * 3


def test_ctrl_c_stops_new_steps_and_keeps_the_partial_result() -> None:
    counting = Counting()

    class Interrupting(Task):
        def step(self) -> float | None:
            _thread.interrupt_main()
            return super().step()

    tasks = [Task(f"t{i}", [0.05] * 50 + [None], counting) for i in range(5)] + [Interrupting("x", [0.0, None], counting)]
    with pytest.raises(Interrupted) as caught:
        run_stepped(tasks, concurrency=2)
    partial = caught.value.partial
    assert isinstance(partial, SteppedResult) and partial.interrupted
    assert set(partial.unfinished) >= {0, 1, 2, 3, 4}
    assert all(task.steps < 51 for task in tasks[:5])


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError):
        run_stepped([], concurrency=0)
    assert run_stepped([], concurrency=3) == SteppedResult(total=0)

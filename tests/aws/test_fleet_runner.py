"""run_parallel: every outcome kept in order, concurrency honoured, progress reported, Ctrl-C handled."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from iotfleet.aws.errors import Interrupted, OperationFailed
from iotfleet.fleet.runner import NoProgress, RunResult, run_parallel


class RecordingProgress:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[tuple[int | None, str]] = []
        self.advanced = 0
        self.finished = 0

    def start(self, total: int | None, label: str) -> None:
        self.started.append((total, label))

    def advance(self, n: int = 1) -> None:
        with self.lock:
            self.advanced += n

    def finish(self) -> None:
        self.finished += 1


def flaky(item: int) -> int:
    if item % 7 == 3:
        raise ValueError(f"item {item} is bad")
    return item * 10


@pytest.mark.parametrize("concurrency", [1, 8])
def test_every_outcome_is_kept_in_input_order(concurrency: int) -> None:
    progress = RecordingProgress()
    result = run_parallel(range(50), flaky, concurrency=concurrency, progress=progress, label="things")
    assert [o.item for o in result.outcomes] == list(range(50))
    assert result.values == [i * 10 for i in range(50) if i % 7 != 3]
    assert [o.item for o in result.failed] == [i for i in range(50) if i % 7 == 3]
    assert all(isinstance(o.error, ValueError) for o in result.failed)
    assert not result.ok and not result.interrupted and result.not_run == []
    assert progress.started == [(50, "things")]
    assert (progress.advanced, progress.finished) == (50, 1)


def test_failures_become_resource_failures() -> None:
    result = run_parallel(range(10), flaky, concurrency=4)
    failures = result.failures("thing", name=lambda i: f"thing-{i}")
    assert [(f.kind, f.name, f.error) for f in failures] == [("thing", "thing-3", "item 3 is bad")]
    with pytest.raises(OperationFailed) as caught:
        result.raise_for_failures("create things", "thing", name=lambda i: f"thing-{i}")
    assert caught.value.failures == failures
    assert str(caught.value) == "create things: 1 of 10 failed"
    run_parallel(range(3), lambda i: i, concurrency=2).raise_for_failures("fine", "thing")


def test_concurrency_is_honoured() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def work(item: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.005)
        with lock:
            active -= 1
        return item

    result = run_parallel(range(60), work, concurrency=4)
    assert result.ok
    assert 1 < peak <= 4


def test_concurrency_one_runs_in_the_calling_thread() -> None:
    threads = set()
    result = run_parallel(["a", "b", "c"], lambda s: threads.add(threading.get_ident()) or s.upper(), concurrency=1)
    assert result.values == ["A", "B", "C"]
    assert threads == {threading.get_ident()}


def test_generators_are_consumed_lazily_with_unknown_total() -> None:
    progress = RecordingProgress()
    result = run_parallel((i for i in range(25)), lambda i: i, concurrency=3, progress=progress)
    assert result.values == list(range(25))
    assert progress.started == [(None, "")]


def test_bad_concurrency_is_rejected() -> None:
    with pytest.raises(ValueError):
        run_parallel([1], lambda i: i, concurrency=0)


def test_ctrl_c_in_sequential_mode_keeps_partial_results() -> None:
    def work(item: int) -> int:
        if item == 4:
            raise KeyboardInterrupt
        return item

    progress = RecordingProgress()
    with pytest.raises(Interrupted) as caught:
        run_parallel(range(10), work, concurrency=1, progress=progress)
    partial: RunResult[int, int] = caught.value.partial
    assert partial.interrupted
    assert partial.values == [0, 1, 2, 3]
    assert partial.not_run == [4, 5, 6, 7, 8, 9]
    assert caught.value.exit_code == 130
    assert progress.finished == 1


def test_ctrl_c_cancels_pending_work_and_keeps_what_finished() -> None:
    started = threading.Event()

    def work(item: int) -> int:
        if item == 5:
            started.set()
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        return item

    with pytest.raises(Interrupted) as caught:
        run_parallel(range(400), work, concurrency=4, progress=NoProgress())
    assert started.is_set()
    partial: RunResult[int, int] = caught.value.partial
    done = [o.item for o in partial.outcomes]
    # Every item is accounted for exactly once, finished ones keep their outcome, most never ran.
    assert sorted(done + partial.not_run) == list(range(400))
    assert 5 in done
    assert len(partial.not_run) > 300
    assert all(o.ok for o in partial.outcomes)

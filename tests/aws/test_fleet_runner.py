"""run_parallel: every outcome kept in order, concurrency honoured, progress reported, Ctrl-C handled; run_in_chunks:
the same a chunk at a time."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from iotfleet.aws.errors import Interrupted, OperationFailed
from iotfleet.fleet.runner import NoProgress, RunResult, index_chunks, run_in_chunks, run_parallel


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


class CountingSource:
    """``range(count)``, read lazily, counting the items read so far."""

    def __init__(self, count: int) -> None:
        self.count, self.pulled = count, 0

    def __iter__(self) -> Iterator[int]:
        for item in range(self.count):
            self.pulled += 1
            yield item


def test_run_in_chunks_reads_items_a_chunk_at_a_time_and_settles_each_chunk_in_order() -> None:
    source = CountingSource(95)
    settled: list[tuple[list[int], int]] = []
    progress = RecordingProgress()
    run_in_chunks(
        iter(source), flaky, lambda result: settled.append(([o.item for o in result.outcomes], source.pulled)),
        concurrency=4, progress=progress, label="things", total=95, chunk=10,
    )  # fmt: skip
    # Each chunk is settled before the next is read: never more than one chunk of items held at once.
    assert [items for items, _ in settled] == [list(range(start, min(95, start + 10))) for start in range(0, 95, 10)]
    assert [seen for _, seen in settled] == [min(95, end) for end in range(10, 105, 10)]
    assert progress.started == [(95, "things")]
    assert (progress.advanced, progress.finished) == (95, 1)


def test_run_in_chunks_keeps_each_chunks_failures() -> None:
    failed: list[int] = []
    run_in_chunks(
        range(30), flaky, lambda result: failed.extend(o.item for o in result.failed), concurrency=3, chunk=7
    )
    assert failed == [i for i in range(30) if i % 7 == 3]


def test_ctrl_c_in_run_in_chunks_counts_every_chunk_and_reads_no_further() -> None:
    source = CountingSource(100)

    def work(item: int) -> int:
        if item == 25:
            raise KeyboardInterrupt
        return item

    settled: list[int] = []
    progress = RecordingProgress()
    with pytest.raises(Interrupted) as caught:
        run_in_chunks(
            iter(source), work, lambda result: settled.extend(o.item for o in result.succeeded), concurrency=1,
            progress=progress, total=100, chunk=10,
        )  # fmt: skip
    assert settled == list(range(20))
    assert caught.value.message == "interrupted after 25 item(s); 75 not run"
    partial: RunResult[int, int] = caught.value.partial
    assert partial.values == [20, 21, 22, 23, 24] and partial.not_run == list(range(25, 30))
    assert source.pulled == 30 and progress.finished == 1


def test_index_chunks_cover_every_index_once() -> None:
    assert list(index_chunks(7, 3)) == [range(0, 3), range(3, 6), range(6, 7)]
    assert list(index_chunks(0, 3)) == []
    with pytest.raises(ValueError):
        list(index_chunks(5, 0))
    with pytest.raises(ValueError):
        run_in_chunks([1], lambda i: i, lambda result: None, concurrency=1, chunk=0)

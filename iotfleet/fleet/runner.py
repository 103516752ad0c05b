"""The one way to do per-resource work in parallel: bounded threads, every outcome kept, Ctrl-C handled.

Every domain (provisioning, groups, jobs, simulation, cleanup) runs its per-resource calls through
:func:`run_parallel`. A worker's exception is recorded as that item's outcome, never dropped and never
allowed to stop the others; callers turn failures into :class:`~iotfleet.aws.errors.ResourceFailure`
lists with :meth:`RunResult.failures`. Progress is reported through the :class:`Progress` callbacks;
the library itself never prints. :func:`run_in_chunks` runs very many items (a fleet of a million things) a
chunk at a time, so the outcomes kept never outgrow one chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import Generic, Protocol, TypeVar

from iotfleet.aws.errors import Interrupted, OperationFailed, ResourceFailure

T = TypeVar("T")
R = TypeVar("R")

# Items submitted ahead of the workers: enough to keep them busy, few enough that Ctrl-C stops quickly.
QUEUE_AHEAD = 2
# Items per run_parallel call in run_in_chunks: their outcomes are all that is kept at once.
CHUNK = 5000


class Progress(Protocol):
    """Progress callbacks a long operation reports to (the CLI renders them as a bar).

    ``advance`` may be called from worker threads, so implementations must be thread-safe.
    """

    def start(self, total: int | None, label: str) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """Progress that goes nowhere: the default for library callers."""

    def start(self, total: int | None, label: str) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None

    def finish(self) -> None:
        return None


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """What happened to one item: its worker's return value, or the exception it raised."""

    item: T
    value: R | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class RunResult(Generic[T, R]):
    """The outcome of every item that ran, in input order, and the items that never ran."""

    outcomes: list[Outcome[T, R]] = field(default_factory=list)
    not_run: list[T] = field(default_factory=list)
    interrupted: bool = False

    @property
    def succeeded(self) -> list[Outcome[T, R]]:
        return [outcome for outcome in self.outcomes if outcome.ok]

    @property
    def failed(self) -> list[Outcome[T, R]]:
        return [outcome for outcome in self.outcomes if not outcome.ok]

    @property
    def values(self) -> list[R | None]:
        """The return values of the items that succeeded, in input order."""
        return [outcome.value for outcome in self.outcomes if outcome.ok]

    @property
    def ok(self) -> bool:
        """True when every item ran and none failed."""
        return not self.interrupted and not self.not_run and all(outcome.ok for outcome in self.outcomes)

    def failures(self, kind: str, name: Callable[[T], str] = str) -> list[ResourceFailure]:
        """Every failed item as a :class:`ResourceFailure` of ``kind``, named by ``name(item)``."""
        failures: list[ResourceFailure] = []
        for outcome in self.failed:
            assert outcome.error is not None
            failures.append(ResourceFailure.from_exception(kind, name(outcome.item), outcome.error))
        return failures

    def raise_for_failures(self, message: str, kind: str, name: Callable[[T], str] = str) -> None:
        """Raise :class:`OperationFailed` listing every failed item, if any failed."""
        failures = self.failures(kind, name)
        if failures:
            raise OperationFailed(f"{message}: {len(failures)} of {len(self.outcomes)} failed", failures)


def run_parallel(
    items: Iterable[T],
    worker: Callable[[T], R],
    *,
    concurrency: int,
    progress: Progress | None = None,
    label: str = "",
) -> RunResult[T, R]:
    """Call ``worker(item)`` for every item with up to ``concurrency`` threads (in this thread when 1).

    Returns a :class:`RunResult` with one :class:`Outcome` per item, in input order. On Ctrl-C the
    items not yet started are cancelled, the ones in flight finish, and :class:`Interrupted` is raised
    with the partial :class:`RunResult` as its ``partial``.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    progress = progress or NoProgress()
    total = len(items) if isinstance(items, Sized) else None
    progress.start(total, label)
    try:
        if concurrency == 1:
            return _run_here(iter(items), worker, progress)
        return _run_threads(iter(items), worker, concurrency, progress)
    finally:
        progress.finish()


def run_in_chunks(
    items: Iterable[T],
    worker: Callable[[T], R],
    each: Callable[[RunResult[T, R]], None],
    *,
    concurrency: int,
    progress: Progress | None = None,
    label: str = "",
    total: int | None = None,
    chunk: int | None = None,
) -> None:
    """:func:`run_parallel` over ``items`` (read lazily) ``chunk`` items at a time (default :data:`CHUNK`).

    Each chunk's :class:`RunResult` is handed to ``each`` as the chunk ends, then dropped, so memory is bounded
    by the chunk, not by the items. ``progress`` sees one run of ``total`` items across the chunks. On Ctrl-C,
    :class:`Interrupted` is raised with the interrupted chunk's partial result, counting every chunk.
    """
    size = _chunk_size(chunk)
    progress = progress or NoProgress()
    progress.start(total, label)
    source = iter(items)
    done = 0
    try:
        while batch := list(islice(source, size)):
            try:
                result = run_parallel(batch, worker, concurrency=concurrency, progress=ProgressPart(progress))
            except Interrupted as stop:
                partial = stop.partial if isinstance(stop.partial, RunResult) else RunResult(interrupted=True)
                finished = done + len(partial.outcomes)
                left = f"{total - finished} not run" if total is not None else "the rest not run"
                raise Interrupted(f"interrupted after {finished} item(s); {left}", partial=partial) from None
            done += len(result.outcomes)
            each(result)
    finally:
        progress.finish()


def index_chunks(count: int, chunk: int | None = None) -> Iterator[range]:
    """``range(count)`` as consecutive ranges of ``chunk`` indices (default :data:`CHUNK`), for work that is
    read or planned a chunk at a time."""
    size = _chunk_size(chunk)
    return (range(start, min(count, start + size)) for start in range(0, count, size))


def _chunk_size(chunk: int | None) -> int:
    size = CHUNK if chunk is None else chunk
    if size < 1:
        raise ValueError(f"the chunk size must be at least 1, not {size}")
    return size


class ProgressPart:
    """One part of a longer run's progress: passes on only ``advance`` (the chunks of :func:`run_in_chunks`
    share one progress run this way)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def start(self, total: int | None, label: str) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        self._progress.advance(n)

    def finish(self) -> None:
        return None


def _call(worker: Callable[[T], R], item: T) -> Outcome[T, R]:
    try:
        return Outcome(item, value=worker(item))
    except Exception as exc:  # noqa: BLE001 - recorded as this item's outcome, reported by the caller
        return Outcome(item, error=exc)


def _run_here(items: Iterator[T], worker: Callable[[T], R], progress: Progress) -> RunResult[T, R]:
    result: RunResult[T, R] = RunResult()
    current: list[T] = []
    try:
        for item in items:
            current[:] = [item]
            result.outcomes.append(_call(worker, item))
            current.clear()
            progress.advance()
    except KeyboardInterrupt:
        result.interrupted = True
        result.not_run.extend(current)
        result.not_run.extend(items)
        raise Interrupted(_interrupted_message(result), partial=result) from None
    return result


@dataclass
class _Slot(Generic[T, R]):
    """One submitted item and, once its worker is done, its outcome."""

    item: T
    outcome: Outcome[T, R] | None = None


def _run_threads(
    items: Iterator[T], worker: Callable[[T], R], concurrency: int, progress: Progress
) -> RunResult[T, R]:
    slots: list[_Slot[T, R]] = []

    def record(slot: _Slot[T, R], future: Future[Outcome[T, R]]) -> None:
        if future.cancelled():
            return
        # _call keeps ordinary exceptions; anything harsher (SystemExit in a worker) is kept here.
        error = future.exception()
        slot.outcome = future.result() if error is None else Outcome(slot.item, error=error)
        progress.advance()

    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="iotfleet-worker")
    pending: set[Future[Outcome[T, R]]] = set()
    try:
        exhausted = False
        while not exhausted or pending:
            while not exhausted and len(pending) < concurrency * QUEUE_AHEAD:
                try:
                    item = next(items)
                except StopIteration:
                    exhausted = True
                    break
                slot: _Slot[T, R] = _Slot(item)
                slots.append(slot)
                future = executor.submit(_call, worker, item)
                future.add_done_callback(partial(record, slot))
                pending.add(future)
            if pending:
                _, pending = wait(pending, return_when=FIRST_COMPLETED)
    except KeyboardInterrupt:
        # Items not started are cancelled; the ones in flight finish and keep their outcome.
        executor.shutdown(wait=True, cancel_futures=True)
        result: RunResult[T, R] = RunResult(interrupted=True)
        for slot in slots:
            if slot.outcome is None:
                result.not_run.append(slot.item)
            else:
                result.outcomes.append(slot.outcome)
        result.not_run.extend(items)
        raise Interrupted(_interrupted_message(result), partial=result) from None
    executor.shutdown(wait=True)
    return RunResult(outcomes=[slot.outcome for slot in slots if slot.outcome is not None])


def _interrupted_message(result: RunResult[T, R]) -> str:
    return f"interrupted after {len(result.outcomes)} item(s); {len(result.not_run)} not run"

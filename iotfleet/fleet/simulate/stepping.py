"""Many long-lived tasks that take one short step at a time, on a bounded pool of threads.

Why not :func:`~iotfleet.fleet.runner.run_parallel`? It runs one call per item to completion, which suits
"create 10,000 things". A simulated device is different: it lives for the whole run, polls with backoff
while a rollout releases its execution, waits for simulated download and install times, and may run
several executions (retries, several jobs). Giving each device a thread would mean 10,000 threads that
mostly sleep; giving ``run_parallel`` a worker that loops would pin a thread per device for the whole run
and starve the others. Here a device is a :class:`SteppedTask`: each :meth:`~SteppedTask.step` makes at
most one API call (or one download) and returns how long to wait before the next step, or None when the
task is done. Waiting costs no thread: the task sits in a time-ordered heap until it is due.

The principles are ``run_parallel``'s:

* at most ``concurrency`` steps run at once, so at most that many API calls are in flight; the access
  layer's per-operation rate limiter paces them, so there is no second limiter here;
* an exception escaping a step ends that task and is kept as its outcome, never dropped, never allowed to
  stop the others;
* progress is reported through the :class:`~iotfleet.fleet.runner.Progress` callbacks, one ``advance``
  per finished task;
* on Ctrl-C no new step starts, the steps in flight finish, and :class:`Interrupted` is raised with the
  partial :class:`SteppedResult`.

Waking. A task waiting for something another thread will announce (a device waiting for its service to push
``notify-next``) returns a long delay, and the announcer calls :meth:`Wakeups.wake` with the task's index:
the task is due at once (a wake that comes while the task is running makes its next step due at once).

Order. Among the tasks that are due, a :attr:`~SteppedTask.busy` one (a device in the middle of an
execution) goes before an idle one (a device polling for work), then the one due first. Without that,
10,000 devices would all start their executions before the first one finished, and the time between a
device's IN_PROGRESS report and its result would grow with the fleet, past the job's step timeout.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from iotfleet.aws.errors import Interrupted
from iotfleet.fleet.runner import NoProgress, Progress

# How often the waiting main thread wakes up to notice Ctrl-C.
_JOIN_POLL_SECONDS = 0.2


class SteppedTask(Protocol):
    """A task the loop drives: ``step()`` does a little work and says when to be called again."""

    @property
    def busy(self) -> bool:
        """True while the task is in the middle of something that should finish before others start."""
        ...

    def step(self) -> float | None:
        """Do one step; return the seconds to wait before the next one, or None when finished."""
        ...


@dataclass
class SteppedResult:
    """Which tasks finished, which raised (by index), and whether the run was interrupted."""

    total: int
    finished: int = 0
    errors: dict[int, BaseException] = field(default_factory=dict)
    unfinished: list[int] = field(default_factory=list)
    interrupted: bool = False


class Wakeups:
    """Lets other threads make a waiting task due now: ``wake(index)`` (a no-op before the run starts)."""

    def __init__(self) -> None:
        self._loop: _Loop | None = None

    def wake(self, index: int) -> None:
        loop = self._loop
        if loop is not None:
            loop.wake(index)


def run_stepped(
    tasks: Sequence[SteppedTask],
    *,
    concurrency: int,
    progress: Progress | None = None,
    label: str = "",
    monotonic: Callable[[], float] = time.monotonic,
    wakeups: Wakeups | None = None,
) -> SteppedResult:
    """Drive every task until it returns None (or raises), with at most ``concurrency`` steps at a time.

    All tasks are due at once at the start, in the order given.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    progress = progress or NoProgress()
    loop = _Loop(tasks, progress, monotonic)
    if wakeups is not None:
        wakeups._loop = loop
    progress.start(len(tasks), label)
    try:
        return loop.run(min(concurrency, max(1, len(tasks))))
    finally:
        progress.finish()


class _Loop:
    def __init__(self, tasks: Sequence[SteppedTask], progress: Progress, monotonic: Callable[[], float]) -> None:
        self._tasks = tasks
        self._progress = progress
        self._monotonic = monotonic
        self._cond = threading.Condition()
        now = monotonic()
        # Two heaps of (due, sequence, task index), for busy and idle tasks; the sequence keeps equal due
        # times in submission order.
        self._busy: list[tuple[float, int, int]] = []
        self._idle: list[tuple[float, int, int]] = [(now, index, index) for index in range(len(tasks))]
        self._sequence = len(tasks)
        self._running = 0
        self._stopping = False
        self._result = SteppedResult(total=len(tasks))
        self._done = [False] * len(tasks)
        # The sequence of each task's one valid heap entry (a wake leaves the older entry behind, stale), and
        # whether a wake came while the task was running.
        self._entry = list(range(len(tasks)))
        self._running_now = [False] * len(tasks)
        self._woken = [False] * len(tasks)

    def _push(self, index: int, due: float) -> None:
        heap = self._busy if self._tasks[index].busy else self._idle
        self._entry[index] = self._sequence
        heapq.heappush(heap, (due, self._sequence, index))
        self._sequence += 1

    def wake(self, index: int) -> None:
        with self._cond:
            if self._done[index]:
                return
            if self._running_now[index]:
                self._woken[index] = True
            else:
                self._push(index, self._monotonic())
            self._cond.notify_all()

    def run(self, workers: int) -> SteppedResult:
        threads = [
            threading.Thread(target=self._work, name=f"iotfleet-device-{n}", daemon=True) for n in range(workers)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(_JOIN_POLL_SECONDS)
        except KeyboardInterrupt:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            for thread in threads:
                thread.join()
            result = self._result
            result.interrupted = True
            result.unfinished = [index for index, done in enumerate(self._done) if not done]
            raise Interrupted(
                f"interrupted after {result.finished} of {result.total} task(s) finished", partial=result
            ) from None
        return self._result

    def _next(self) -> int | None:
        """Wait for a due task and take it; None once everything is finished (or on stop)."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                if not self._busy and not self._idle:
                    if self._running == 0:
                        self._cond.notify_all()
                        return None
                    self._cond.wait()
                    continue
                now = self._monotonic()
                for heap in (self._busy, self._idle):
                    while heap and self._entry[heap[0][2]] != heap[0][1]:
                        heapq.heappop(heap)  # stale: the task was woken and has a newer entry
                    if heap and heap[0][0] <= now:
                        _, _, index = heapq.heappop(heap)
                        self._running += 1
                        self._running_now[index] = True
                        return index
                if not self._busy and not self._idle:
                    continue
                due = min(heap[0][0] for heap in (self._busy, self._idle) if heap)
                self._cond.wait(due - now)

    def _work(self) -> None:
        while True:
            index = self._next()
            if index is None:
                return
            delay: float | None = None
            error: BaseException | None = None
            try:
                delay = self._tasks[index].step()
            except Exception as exc:  # noqa: BLE001 - kept as the task's outcome, reported by the caller
                error = exc
            with self._cond:
                self._running -= 1
                self._running_now[index] = False
                if self._woken[index]:
                    self._woken[index] = False
                    delay = 0.0 if delay is not None else None
                if error is not None or delay is None:
                    if error is not None:
                        self._result.errors[index] = error
                    self._result.finished += 1
                    self._done[index] = True
                else:
                    self._push(index, self._monotonic() + max(0.0, delay))
                self._cond.notify_all()
            if error is not None or delay is None:
                self._progress.advance()

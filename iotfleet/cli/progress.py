"""The Rich progress bar behind the library's :class:`~iotfleet.fleet.runner.Progress` callbacks."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar
from rich.text import Text

from iotfleet.cli.output import Output
from iotfleet.fleet.runner import NoProgress, Progress


class RateColumn(ProgressColumn):
    """Items per second, as measured by Rich over the last seconds."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-/s" if speed is None else f"{speed:,.1f}/s", style="cyan")


class RichProgress:
    """Count, rate per second and ETA of one labelled step at a time; thread-safe like Rich itself."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._bar: RichBar | None = None
        self._task: TaskID | None = None

    def start(self, total: int | None, label: str) -> None:
        self.finish()
        self._bar = RichBar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=self._console,
        )
        self._task = self._bar.add_task(label or "working", total=total)
        self._bar.start()

    def advance(self, n: int = 1) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar, self._task = None, None


def progress_for(output: Output) -> Progress:
    """A bar on a terminal in text mode; silence with ``--output json`` or when stdout is not a terminal."""
    if output.json or not output.stdout_is_tty():
        return NoProgress()
    return RichProgress(output.err)

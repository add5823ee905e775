"""Progress bars on stderr for long commands: on a terminal only, and only once the work passes a second.

``progress_bar(label, unit)`` returns None when stderr is not a terminal or the command prints
JSON, so piped and scripted output never carries a byte of it. Otherwise it returns a
:class:`Bar`: call it with ``(done, total)`` as often as you like. rich is imported (and the
bar drawn) only when the work is still going after ``delay`` seconds; a quick command costs
nothing and shows nothing.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

#: Seconds of work before a bar appears (LOKILOG_PROGRESS_DELAY overrides it, e.g. 0 in tests).
DELAY = 1.0


class Bar:
    """A lazily started rich progress bar: done/total, rate and ETA."""

    def __init__(self, label: str, unit: str = "events", delay: float = DELAY) -> None:
        self.label = label
        self.unit = unit
        self.started = time.monotonic()
        self.delay = delay
        self._progress: Any = None
        self._task: Any = None
        self._last = 0.0
        self._latest: tuple[int, int | None, str] = (0, None, label)

    def __call__(self, done: int, total: int | None = None, label: str | None = None) -> None:
        """Report ``done`` of ``total`` units (cheap: redraws at most ten times a second)."""
        self._latest = (done, total, label if label is not None else self.label)
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        if self._progress is None:
            if now - self.started < self.delay:
                return
            self._start()
        self._draw()

    def _draw(self) -> None:
        done, total, label = self._latest
        self._progress.update(self._task, completed=done, total=total, description=label)

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
        from rich.text import Text

        unit = self.unit

        class _Rate(ProgressColumn):
            def render(self, task) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s")

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(),
            TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(file=sys.stderr), transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=None)

    def close(self) -> None:
        """Draw the final state and release the terminal (a no-op if the bar never showed)."""
        if self._progress is not None:
            self._draw()
            self._progress.stop()
            self._progress = None


def progress_bar(label: str, unit: str = "events", *, json: bool = False, delay: float | None = None) -> Bar | None:
    """A bar for a long piece of work, or None where it must not show (JSON output, no terminal)."""
    if json or not sys.stderr.isatty():
        return None
    if delay is None:
        try:
            delay = float(os.environ.get("LOKILOG_PROGRESS_DELAY", DELAY))
        except ValueError:
            delay = DELAY
    return Bar(label, unit, delay)

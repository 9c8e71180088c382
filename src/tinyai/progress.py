"""Progress of long loops: a live bar in a terminal, plain lines otherwise (logs, CI, pipes).

    with Progress(total=600, label="finetune") as bar:
        for step in ...:
            bar.update(step, loss=0.41, lr=3e-5)

In a terminal it is a rich progress bar (step, loss, rate, ETA) on stderr; elsewhere one
line every `every` updates and at the end, so a log file shows the same figures.
"""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    def __init__(self, total: int, label: str, enabled: bool = True, every: int = 10,
                 start: int = 0, unit: str = "step") -> None:
        self.total, self.label, self.enabled, self.every = total, label, enabled, every
        self.unit = unit
        self.first, self.begin = start, time.perf_counter()
        self._bar: Any = None
        self._task: Any = None
        if enabled and sys.stderr.isatty():
            self._start_bar(start)

    def _start_bar(self, start: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TextColumn("eta"),
            TimeRemainingColumn(), console=Console(stderr=True), transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=self.total, completed=start, stats="")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, done: int, **stats: float) -> None:
        if not self.enabled:
            return
        text = " ".join(f"{k} {_fmt(v)}" for k, v in stats.items())
        if self._bar is not None:
            self._bar.update(self._task, completed=done, stats=text)
            return
        if done % self.every and done != self.total:
            return
        elapsed = time.perf_counter() - self.begin
        rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        sys.stderr.write(f"{self.label}: {self.unit} {done}/{self.total} {text} "
                         f"{rate:.2f} {self.unit}/s eta {clock(eta)}\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _fmt(value: float) -> str:
    return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"

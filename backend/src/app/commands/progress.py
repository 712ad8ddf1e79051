"""Progress of a long command: a live bar on a terminal, plain lines otherwise.

A backtest or a backfill reports ``advance(done, total, fields)`` as it goes. On a terminal
the reporter draws a bar with an ETA and the fields (rich); when the output is a file or a
pipe (CI, ``| tee``) it prints one plain line every ``every_s`` seconds and one at the end,
so logs stay readable.
"""

import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Self, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressReporter:
    """Reports the progress of one task, as a bar on a terminal and plain lines otherwise.

    Args:
        label: What is being done (``backtest``, ``backfill BTCUSDT 1h``).
        stream: Where to write; standard error by default.
        every_s: Seconds between plain lines when not on a terminal.
    """

    def __init__(self, label: str, *, stream: TextIO | None = None, every_s: float = 5.0) -> None:
        self._label = label
        self._stream = stream or sys.stderr
        self._every_s = every_s
        self._last_line = 0.0
        self._started = time.monotonic()
        self._done = 0
        self._total = 0
        self._fields: Mapping[str, object] = {}
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if self._stream.isatty():
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self._stream),
                transient=False,
            )

    def __enter__(self) -> Self:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task(self._label, total=None, detail="")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
        else:
            self._line()

    def advance(self, done: int, total: int, fields: Mapping[str, object] | None = None) -> None:
        """Record that ``done`` of ``total`` units are done; ``fields`` are shown beside."""
        self._done, self._total = done, total
        if fields is not None:
            self._fields = fields
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, total=total, detail=self._detail())
            return
        now = time.monotonic()
        if now - self._last_line >= self._every_s:
            self._last_line = now
            self._line()

    def _detail(self) -> str:
        return "  ".join(f"{name} {value}" for name, value in self._fields.items())

    def _line(self) -> None:
        elapsed = time.monotonic() - self._started
        share = self._done / self._total if self._total else 0.0
        # Too early an ETA is noise (the first cycles carry the start-up).
        eta = f"{elapsed / share - elapsed:.0f}s" if 0.01 <= share < 1 else "-"
        detail = self._detail()
        print(
            f"{self._label}: {self._done}/{self._total} ({share:.0%}) {detail} "
            f"elapsed {elapsed:.0f}s ETA {eta}".replace("  ", " "),
            file=self._stream,
            flush=True,
        )

"""Progress bars for long work (convert, backtest, sweep): Rich on stderr, only for a person.

Contract: :func:`progress_bar` is a context manager yielding ``update(done, total)`` when a
bar is drawn, else None, so library code takes an optional callback and never knows about
terminals. A bar is drawn only when the command wants one (:func:`wanted`: no
``--no-progress``, no ``--json``) *and* its console is a terminal: stdout carries results
(JSON that programs read), a log file or a pipe on stderr gets no cursor codes. The bar is
transient: it disappears when the work ends, leaving the results.

Tests draw into a buffer with ``Console(file=..., force_terminal=True)``, passed as
``console`` or returned by :func:`stderr_console`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

ProgressFn = Callable[[int, int], None]
#: What ``done`` and ``total`` count: bytes are shown as MB, anything else as "n/m".
Unit = Literal["bytes", "items"]


def wanted(*, no_progress: bool, as_json: bool = False) -> bool:
    """Whether a command asks for a bar: not with ``--no-progress``, not with ``--json``."""
    return not (no_progress or as_json)


def stderr_console() -> Console:
    """The console bars draw on: stderr (a terminal or not, Rich finds out)."""
    return Console(stderr=True)


@contextmanager
def progress_bar(
    what: str, *, enabled: bool, unit: Unit = "items", console: Console | None = None
) -> Iterator[ProgressFn | None]:
    """A transient bar labelled ``what``; yields its update function, or None when not drawn.

    Args:
        what: The label, e.g. ``"backtest peg_ladder_kgst"``.
        enabled: The command's wish (see :func:`wanted`).
        unit: ``"bytes"`` for input read, ``"items"`` for rows or points.
        console: Draw here instead of :func:`stderr_console` (tests).
    """
    con = console if console is not None else stderr_console()
    if not enabled or not con.is_terminal:
        yield None
        return
    counter: ProgressColumn = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    with Progress(
        # No markup: a label is a file or scenario name and may hold brackets.
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        counter,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=con,
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=None)  # unknown until the first update

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update

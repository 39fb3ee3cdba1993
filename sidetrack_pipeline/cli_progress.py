"""A progress line on stderr for long CLI commands (nothing when stderr is not a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress(label: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """Yield `update(advance=1, note="")`: a bar when `total` is known, else a counter."""
    try:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                                   TextColumn, TimeElapsedColumn, TimeRemainingColumn)
    except ImportError:
        Progress = None
    if Progress is None or not sys.stderr.isatty():
        yield lambda advance=1, note="": None
        return
    columns = ([TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
               if total else
               [SpinnerColumn(), TextColumn(label), TextColumn("{task.completed:.0f}"),
                TimeElapsedColumn()])
    columns.append(TextColumn("{task.fields[note]}"))
    # results printed to a terminal stdout are routed above the bar; a piped stdout is left
    # alone, so it receives nothing but results
    with Progress(*columns, console=Console(stderr=True), transient=True,
                  redirect_stdout=sys.stdout.isatty(), redirect_stderr=False) as bar:
        task = bar.add_task(label, total=total, note="")

        def update(advance: float = 1, note: str = "") -> None:
            bar.update(task, advance=advance, note=note)

        yield update

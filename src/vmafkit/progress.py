"""Rich progress bars with ETA for long work (quiet when disabled or not on a terminal)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column


def make_progress(enabled: bool = True) -> Progress:
    console = Console(file=sys.stderr)
    if not console.is_terminal:  # a log file or a pipe: no width to respect, so cut nothing
        console = Console(file=sys.stderr, width=max(console.width, 160))
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        # Last and elastic: on a narrow terminal the label is cut, never the counts or the ETA.
        TextColumn("{task.fields[note]}", table_column=Column(no_wrap=True, overflow="ellipsis", max_width=60)),
        console=console,
        disable=not enabled,
        transient=False,
    )


class CellBar:
    def __init__(self, progress: Progress, n_cells: int, total_frames: int | None):
        self._progress = progress
        self._cells = progress.add_task("cells", total=n_cells, note="")
        self._frames = progress.add_task("frames", total=total_frames, note="")

    def advance(self, cells: int = 0, frames: int = 0, label: str = "") -> None:
        self._progress.update(self._cells, advance=cells, note=label)
        self._progress.update(self._frames, advance=frames)


@contextlib.contextmanager
def cell_progress(*, enabled: bool, n_cells: int, total_frames: int | None, where: str) -> Iterator[CellBar]:
    progress = make_progress(enabled)
    with progress:
        if enabled:
            progress.console.print(f"corpus: {n_cells} cells on {where}")
        yield CellBar(progress, n_cells, total_frames)

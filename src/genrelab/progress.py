"""Progress bars on long work (rich), switched off in tests and non-interactive runs on request."""

from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


def make_progress(*, transient: bool = False) -> Progress:
    """A rich Progress with the columns used everywhere in genrelab."""
    return Progress(
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=transient,
    )


def track(items: Iterable[T], *, description: str, total: int | None = None, enabled: bool = True) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar when ``enabled``."""
    if not enabled:
        yield from items
        return
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with make_progress() as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)

"""The terminal side of the CLI: stderr's console, progress bars, ``error:`` lines, streams.

Everything that is not a result goes to stderr; results go to stdout, or to stderr when an
image is written to stdout (``-o -``). Rich is imported only when something is drawn: it costs
~45 ms of start-up, which a script calling cvtool once per file pays on every call.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

__all__ = ["stderr_console", "stderr_is_terminal", "stdout_is_terminal", "print_error",
           "results_stream", "progress_bar", "BatchProgress"]


@cache
def stderr_console() -> Console:
    """The Rich console on stderr (Rich honours NO_COLOR by itself), made on first use."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal: progress bars and summaries are shown only then."""
    return _is_terminal(sys.stderr)


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal: image bytes are never written there."""
    return _is_terminal(sys.stdout)


def print_error(message: str) -> None:
    """One line on stderr: ``error: message`` (no markup, no wrapping)."""
    line = " ".join(str(message).split())
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()


def results_stream(image_to_stdout: bool) -> TextIO:
    """Where text and JSON results go: stdout, or stderr when stdout carries an image."""
    return sys.stderr if image_to_stdout else sys.stdout


def progress_bar(*, counted: bool = True) -> Progress:
    """The one progress bar style (stderr, vanishes when done); ``counted`` shows ``done/total``.

    Callers show it only when stderr is a terminal and neither ``-q`` nor ``--json`` is given.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn()]
    if counted:
        columns.append(MofNCompleteColumn())
    return Progress(*columns, TimeElapsedColumn(), console=stderr_console(), transient=True)


class BatchProgress:
    """A Rich bar over a batch's inputs, as :func:`cvtool.pipelines.batch.run_batch` takes it."""

    def __init__(self, total: int) -> None:
        self._bar = progress_bar()
        self._task = self._bar.add_task("processing", total=total)

    def start(self) -> None:
        self._bar.start()

    def advance(self) -> None:
        self._bar.advance(self._task)

    def stop(self) -> None:
        self._bar.stop()

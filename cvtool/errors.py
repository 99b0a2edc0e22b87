"""The exceptions cvtool raises, and the exit status each one means.

The core speaks parameter names: ``UsageError("top_k must be >= 1, got 0", parameter="top_k")``.
The CLI turns the parameter into its flag through one table (``cvtool.cli.errors``), so a
message reads ``--top-k must be >= 1, got 0`` on the command line and ``top_k ...`` in Python.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """The process exit codes of the ``cvtool`` command.

    Examples
    --------
    >>> int(ExitStatus.USAGE), ExitStatus(130).name
    (2, 'SIGINT')
    """

    OK = 0
    FAILURE = 1  # a run-time failure (or find-waldo found nothing)
    USAGE = 2  # a mistake on the command line, knowable before any data is read
    SIGINT = 130
    SIGTERM = 143


class CvToolError(Exception):
    """Base of every error cvtool reports to a user; ``exit_code`` is what the CLI returns.

    ``parameter``, when given, names the argument at fault in Python's spelling (``top_k``);
    the message then starts with that name, and the CLI swaps it for the flag.
    """

    exit_code: int = ExitStatus.FAILURE

    def __init__(self, message: str = "", *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class UsageError(CvToolError, ValueError):
    """A mistake in the arguments, knowable before any data is read (exit 2).

    Also a ``ValueError`` so library callers can catch it the usual way.

    Examples
    --------
    >>> try:
    ...     raise UsageError("stride must be >= 1, got 0", parameter="stride")
    ... except ValueError as exc:
    ...     print(exc, exc.parameter, exc.exit_code)
    stride must be >= 1, got 0 stride 2
    """

    exit_code = ExitStatus.USAGE


class ProcessingError(CvToolError):
    """A problem found in the data: unreadable input, unwritable output, kernel too large (exit 1).

    Examples
    --------
    >>> ProcessingError("scene.png: cannot read").exit_code
    <ExitStatus.FAILURE: 1>
    """

    exit_code = ExitStatus.FAILURE

"""The exceptions cvtool raises for users, and the exit code each one means.

The library raises these with a message written for the user (naming the file or
option at fault); the CLI turns them into one ``error: ...`` line and an exit code.
"""

from __future__ import annotations


class CvToolError(Exception):
    """Base of every error cvtool reports to a user; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class UsageError(CvToolError, ValueError):
    """A mistake on the command line or in arguments, knowable before any data is read (exit 2).

    Also a ``ValueError`` so library callers can catch it the usual way.

    Examples
    --------
    >>> try:
    ...     raise UsageError("--stride must be >= 1, got 0")
    ... except ValueError as exc:
    ...     print(exc, exc.exit_code)
    --stride must be >= 1, got 0 2
    """

    exit_code = 2


class ProcessingError(CvToolError):
    """A problem found in the data: unreadable input, unwritable output, kernel too large (exit 1).

    Examples
    --------
    >>> ProcessingError("scene.png: cannot read").exit_code
    1
    """

    exit_code = 1

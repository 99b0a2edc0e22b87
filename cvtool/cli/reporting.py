"""Errors and signals as the user meets them: one ``error:`` line and the documented exit status.

A command body runs inside ``with reporting_errors():``. A :class:`~cvtool.errors.CvToolError`
raised anywhere below (core, pipelines, grammar) becomes ``error: <message>`` with the core's
parameter names turned into flags (:func:`cvtool.cli.errors.cli_message`) and its exit status;
Ctrl-C and SIGTERM become 130 and 143. Never a traceback for a user's mistake.
"""

from __future__ import annotations

import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from cvtool.cli.console import print_error
from cvtool.cli.errors import cli_message
from cvtool.errors import CvToolError

__all__ = ["install_signal_handlers", "in_cli_process", "reporting_errors"]

#: True in the ``cvtool`` process itself (set by :func:`install_signal_handlers`), where an
#: interrupted batch may end the process at once; False when cvtool runs inside another program.
_cli_process = False


def _raise_terminated(signum: int, frame: object) -> None:
    from cvtool.pipelines.batch import Terminated

    raise Terminated()


def install_signal_handlers() -> None:
    """Make SIGTERM unwind like Ctrl-C (temporary files removed, exit 143)."""
    global _cli_process
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
        _cli_process = True


def in_cli_process() -> bool:
    """Whether this is the ``cvtool`` process itself (see :func:`install_signal_handlers`)."""
    return _cli_process


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn a :class:`CvToolError` into ``error: ...`` and its exit code, Ctrl-C into 130.

    Python warnings (NumPy's "overflow encountered in cast" and the like) are silenced: stderr
    carries cvtool's own messages only, and a result that a warning would be about is checked
    and reported as an error (non-finite results are refused when written).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except CvToolError as exc:
        print_error(cli_message(exc))
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt as exc:
        from cvtool.pipelines.batch import interrupt_status

        sys.stderr.write("interrupted\n")
        raise typer.Exit(int(interrupt_status(exc))) from None

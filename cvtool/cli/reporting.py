"""Errors and signals as the user meets them: one ``error:`` line and the documented exit status.

A command body runs inside ``with reporting_errors():``. A :class:`~cvtool.errors.CvToolError`
raised anywhere below (core, pipelines, grammar) becomes ``error: <message>`` with the core's
parameter names turned into flags (:func:`cvtool.cli.errors.cli_message`) and its exit status;
Ctrl-C and SIGTERM become 130 and 143. Never a traceback for a user's mistake.
"""

from __future__ import annotations

import gc
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

__all__ = ["install_signal_handlers", "in_cli_process", "reporting_errors", "pause_collector",
           "start_of_work"]

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


def pause_collector() -> None:
    """Turn the cyclic garbage collector off for the ``cvtool`` process's start-up.

    Start-up builds some 10^5 objects that live as long as the process (Typer, NumPy, OpenCV,
    the command's modules); the collector would scan them dozens of times on the way and free
    nothing: about 30 ms of CPU time of a one-image ``cvtool filter`` call on the development
    machine, as much as the rest of our own start-up. :func:`start_of_work` turns it back on.

    Examples
    --------
    >>> pause_collector()
    >>> gc.isenabled()
    False
    >>> gc.enable()  # a doctest is not the cvtool process: start_of_work would not
    """
    gc.disable()


def start_of_work() -> None:
    """Start-up is over: freeze what it built out of the collector's scans and turn it back on.

    Called by the batch runner before the first input (a command that never gets there, such
    as ``entropy --probs``, ends soon after start-up anyway). Does nothing to the collector of
    a program that runs cvtool's commands in its own process.

    Examples
    --------
    >>> gc.disable()
    >>> start_of_work()  # not the cvtool process: the program's own setting stays
    >>> gc.isenabled()
    False
    >>> gc.enable()
    """
    if _cli_process and not gc.isenabled():
        gc.freeze()
        gc.enable()


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

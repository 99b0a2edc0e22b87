"""Running one piece of work per input: outcomes in input order, counts, the summary, interrupts.

A batch hands :func:`run_batch` a function ``work(index, input) -> Outcome``. The runner runs
it on ``jobs`` threads, writes each outcome's text to ``results`` in input order whatever
``jobs`` is, reports each failure on ``errors`` (the others still run), ends with the
``N written, M failed`` summary when anything failed, and returns an :class:`ExitStatus`.
On Ctrl-C (``KeyboardInterrupt``) or SIGTERM (:class:`Terminated`, raised by a handler the
caller installs) it stops at once: writes in flight finish (they are atomic), no other write
starts, the inputs finished are counted, and the status is ``SIGINT`` or ``SIGTERM``.

Plain Python: streams, callables and a status, no Typer, so a script can run batches too.

Examples
--------
>>> import io as text_io
>>> out, err = text_io.StringIO(), text_io.StringIO()
>>> def square(index, item):
...     return Outcome(f"{item}: {int(item) ** 2}")
>>> run_batch(["2", "3"], square, results=out, errors=err, jobs=2)
<ExitStatus.OK: 0>
>>> out.getvalue()
'2: 4\\n3: 9\\n'
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, TextIO

from cvtool.errors import CvToolError, ExitStatus

__all__ = ["Outcome", "Progress", "Terminated", "run_batch", "summary_line", "engine_workers",
           "interrupt_status"]


@dataclass
class Outcome:
    """What one input's work produced: a result line (or None) and whether it counts as success."""

    text: str | None = None
    ok: bool = True


class Progress(Protocol):
    """What the runner needs of a progress display (the CLI passes a Rich bar)."""

    def start(self) -> None: ...
    def advance(self) -> None: ...
    def stop(self) -> None: ...


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM arrives, so cleanup runs as for Ctrl-C."""


def interrupt_status(exc: BaseException) -> ExitStatus:
    """The exit status of an interruption: 143 for SIGTERM, 130 for Ctrl-C.

    Examples
    --------
    >>> interrupt_status(Terminated()), interrupt_status(KeyboardInterrupt())
    (<ExitStatus.SIGTERM: 143>, <ExitStatus.SIGINT: 130>)
    """
    return ExitStatus.SIGTERM if isinstance(exc, Terminated) else ExitStatus.SIGINT


def engine_workers(jobs: int) -> int:
    """Threads each input's computation may use when ``jobs`` inputs run at once.

    Examples
    --------
    >>> engine_workers(os.cpu_count() or 1)
    1
    """
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def summary_line(succeeded: int, failed: int, negative: int = 0, *, done_word: str = "written",
                 negative_word: str | None = None) -> str:
    """The batch's last line: ``12 written, 1 failed`` (``2 found, 1 not found`` for searches).

    A command without a word for "not ok" (``negative_word`` None) counts those as failed.

    Examples
    --------
    >>> summary_line(12, 1)
    '12 written, 1 failed'
    >>> summary_line(2, 0, 1, done_word="found", negative_word="not found")
    '2 found, 1 not found'
    """
    counts = [f"{succeeded} {done_word}"]
    if negative_word is not None:
        counts.append(f"{negative} {negative_word}")
    else:
        failed += negative
    if failed or negative_word is None:
        counts.append(f"{failed} failed")
    return ", ".join(counts)


def _prefixed(name: str, message: str) -> str:
    return message if message.startswith(name) else f"{name}: {message}"


class _DaemonPool:
    """Run ``work(index, input)`` for every input on ``jobs`` daemon threads, one future each.

    Daemon threads, unlike ``ThreadPoolExecutor``'s, do not hold the process open: on Ctrl-C
    the process exits at once instead of waiting for the images being computed (their writes
    are refused by the write gate, so nothing partial appears).
    """

    def __init__(self, inputs: Sequence[str], work: Callable[[int, str], Outcome],
                 jobs: int) -> None:
        self.futures: list[Future[Outcome]] = [Future() for _ in inputs]
        self.writers: dict[int, int] = {}  # thread id -> index of the input it is working on
        self._inputs, self._work = inputs, work
        self._next = iter(range(len(inputs)))
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, name=f"cvtool-{n}", daemon=True)
                        for n in range(max(1, min(jobs, len(inputs))))]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:  # inputs are taken in order, so results arrive roughly in order
                index = next(self._next, None)
            if index is None:
                return
            future = self.futures[index]
            if not future.set_running_or_notify_cancel():
                continue
            self.writers[threading.get_ident()] = index
            try:
                outcome = self._work(index, self._inputs[index])
            except BaseException as exc:  # noqa: B036 - handed to the main thread, which reports
                future.set_exception(exc)
            else:
                future.set_result(outcome)

    def cancel_pending(self) -> None:
        for future in self.futures:
            future.cancel()

    def busy(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)


def _succeeded(future: Future[Outcome]) -> bool:
    return (future.done() and not future.cancelled() and future.exception() is None
            and future.result().ok)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """A second Ctrl-C during cleanup must not turn into a traceback or a half-done cleanup."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _write_line(stream: TextIO, text: str) -> None:
    try:
        stream.write(text + "\n")
        stream.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): stop writing, as command-line tools do.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass


def run_batch(inputs: Sequence[str], work: Callable[[int, str], Outcome], *,
              results: TextIO, errors: TextIO, jobs: int = 1, json_mode: bool = False,
              done_word: str = "written", negative_word: str | None = None,
              json_key: str = "input", describe: Callable[[CvToolError], str] = str,
              display_name: Callable[[str], str] = str, progress: Progress | None = None,
              show_success_summary: bool = False, stop_writes: Callable[[], set[int]] | None = None,
              exit_now: bool = False) -> ExitStatus:
    """Run ``work(index, input)`` for every input; return ``OK``, or ``FAILURE`` on any failure.

    Parameters
    ----------
    inputs : sequence of str
        The inputs, in the order their results are written.
    work : callable
        ``work(index, input) -> Outcome``; a :class:`CvToolError` it raises is that input's
        failure (``describe`` words it), any other exception an ``internal error``.
    results, errors : text streams
        Where outcome texts go (stdout, or stderr when an image goes to stdout), and where
        failures, the summary and interruption lines go.
    jobs : int
        Inputs processed at once (threads).
    json_mode : bool
        A failing input also gets a ``{json_key: input, "error": ...}`` record on ``results``.
    done_word, negative_word : str
        The summary's words; an outcome that is not ``ok`` counts as ``negative_word``.
    describe, display_name : callable
        How an error and an input are named in messages.
    progress : Progress, optional
        Advanced once per input.
    show_success_summary : bool
        Also end a successful batch of several inputs with its count.
    stop_writes : callable, optional
        Closes the write gate on interruption and returns the threads writing at that moment.
    exit_now : bool
        In a process of its own: leave at once after an interruption (``os._exit``) when worker
        threads are still computing, instead of waiting for them.

    Returns
    -------
    ExitStatus
        ``OK``, ``FAILURE``, ``SIGINT`` or ``SIGTERM``.
    """
    succeeded = failed = negative = 0
    pool = _DaemonPool(inputs, work, jobs)

    def report_failure(name: str, message: str) -> None:
        _write_line(errors, f"error: {' '.join(message.split())}")
        if json_mode:
            _write_line(results, json.dumps({json_key: name, "error": message}))

    try:
        if progress:
            progress.start()
        for item, future in zip(inputs, pool.futures, strict=True):
            name = display_name(item)
            try:
                outcome = future.result()
            except CvToolError as exc:
                report_failure(item, _prefixed(name, describe(exc)))
                failed += 1
            except MemoryError:
                report_failure(item, f"{name}: not enough memory to process this image")
                failed += 1
            except Exception as exc:  # noqa: BLE001 - a bug must not lose the rest of the batch
                if os.environ.get("CVTOOL_DEBUG"):
                    raise
                report_failure(item, f"{name}: internal error ({type(exc).__name__}: {exc})")
                failed += 1
            else:
                if outcome.text is not None:
                    _write_line(results, outcome.text)
                if outcome.ok:
                    succeeded += 1
                else:
                    negative += 1
            if progress:
                progress.advance()
    except KeyboardInterrupt as exc:
        status = interrupt_status(exc)
        with _signals_ignored():
            _stop_after_interrupt(pool, progress, len(inputs), done_word, status, errors,
                                  stop_writes, exit_now)
        return status
    finally:
        if progress:
            progress.stop()
    if failed or negative:
        if len(inputs) > 1:
            _write_line(errors, summary_line(succeeded, failed, negative, done_word=done_word,
                                             negative_word=negative_word))
        return ExitStatus.FAILURE
    if show_success_summary and len(inputs) > 1:
        _write_line(errors, f"{succeeded} {done_word}")
    return ExitStatus.OK


def _stop_after_interrupt(pool: _DaemonPool, progress: Progress | None, total: int,
                          done_word: str, status: ExitStatus, errors: TextIO,
                          stop_writes: Callable[[], set[int]] | None, exit_now: bool) -> None:
    pool.cancel_pending()
    writers = stop_writes() if stop_writes else set()
    # An input whose write was in flight has finished its work but may not have handed its
    # result over yet: wait for exactly those (they are returning), not for the computations.
    in_flight = [pool.futures[pool.writers[t]] for t in writers if t in pool.writers]
    futures_wait(in_flight, timeout=5)
    if progress:
        progress.stop()
    done = sum(1 for f in pool.futures if _succeeded(f))
    _write_line(errors, f"interrupted: {done} {done_word}, {total - done} not finished")
    if exit_now and pool.busy():
        # Worker threads are still computing, possibly on the engine's own (non-daemon) thread
        # pools, which the interpreter would wait for at exit. Nothing is left to save: every
        # write has finished or been refused, so leave now, as the signal's default would.
        import sys

        for stream in (sys.stdout, sys.stderr, errors):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(int(status))

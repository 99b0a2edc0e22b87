"""What every subcommand shares: option parsing, error reporting, inputs, outputs and batches.

A subcommand module (see ``cvtool/cli/correlate.py`` for the pattern) does three things:

1. parses and validates its options inside ``with reporting_errors():`` (library errors become
   one ``error: ...`` line and the documented exit code; never a traceback);
2. expands its inputs with :func:`expand_inputs` and, when it writes files, plans the outputs
   with :func:`plan_outputs` (which refuses an output equal to an input before any work);
3. hands one function per input to :func:`run_batch`, which runs them (``-j`` threads), prints
   their stdout lines in input order, reports each failure and the ``N written, M failed``
   summary, and turns Ctrl-C / SIGTERM into exit 130 / 143.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cvtool import io
from cvtool.cli.errors import cli_message
from cvtool.errors import CvToolError, ProcessingError, UsageError
from cvtool.filtering.kernels import parse_number

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

#: Everything that is not a result goes to stderr (rich honours NO_COLOR by itself).
# Rich is imported only when something is drawn: it costs ~45 ms of start-up, which a script
# calling cvtool once per file pays on every call.


@cache
def stderr_console() -> Console:
    """The Rich console on stderr, made on first use."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal: progress bars and summaries are shown only then."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 2, 130, 143


# ---------------------------------------------------------------------------------------------
# Options shared by several subcommands (Annotated types, so each is declared once).

Inputs = Annotated[list[str], typer.Argument(
    metavar="INPUT...", show_default=False,
    help="Image files, shell globs or directories (their images directly inside); - is stdin.")]
Output = Annotated[str, typer.Option(
    "-o", "--output", metavar="OUT",
    help="Output file for one input, or a directory (created) for several; - is PNG on stdout.")]
Jobs = Annotated[int, typer.Option(
    "-j", "--jobs", min=1, metavar="N", help="Process this many inputs at once.")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="No progress or summary on success.")]
Json = Annotated[bool, typer.Option("--json", help="One JSON object per input on stdout.")]
Gray = Annotated[bool, typer.Option(
    "--gray", help="Convert colour input to one gray channel first.")]


# ---------------------------------------------------------------------------------------------
# Parsing option values

_SEPARATORS = re.compile(r"[\s,]+")


def parse_number_list(text: str, option: str) -> list[float]:
    """Numbers separated by spaces and/or commas; fractions like ``1/3`` are accepted.

    Examples
    --------
    >>> parse_number_list("0.5, 0.25 1/4", "--probs")
    [0.5, 0.25, 0.25]
    """
    words = [w for w in _SEPARATORS.split(text.strip()) if w]
    if not words:
        raise UsageError(f"{option} needs at least one number")
    return [parse_number(word, f"{option} value") for word in words]


def parse_stride(text: str) -> tuple[int, int]:
    """``S`` or ``SY,SX``, each a whole number >= 1.

    Examples
    --------
    >>> parse_stride("2"), parse_stride("3,1")
    ((2, 2), (3, 1))
    """
    words = [w for w in _SEPARATORS.split(text.strip()) if w]
    if len(words) not in (1, 2) or not all(re.fullmatch(r"[+-]?[0-9]+", w) for w in words):
        raise UsageError(f"--stride takes S or SY,SX (whole numbers), got {text!r}")
    values = [int(w) for w in words]
    if min(values) < 1:
        raise UsageError(f"--stride must be >= 1, got {text!r}")
    return (values[0], values[-1])


def parse_choice(value: str, choices: Sequence[str], option: str) -> str:
    """A case-insensitive choice, refused with the list of valid ones.

    Examples
    --------
    >>> parse_choice("Valid", ("same", "valid", "full"), "--shape")
    'valid'
    """
    lowered = value.lower()
    if lowered not in choices:
        raise UsageError(f"{option} must be one of {', '.join(choices)}, got {value!r}")
    return lowered


# ---------------------------------------------------------------------------------------------
# Errors and signals


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM arrives, so cleanup runs as for Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


#: True in the ``cvtool`` process itself (set by :func:`install_signal_handlers`), where an
#: interrupted batch may end the process at once; False when cvtool runs inside another program.
_cli_process = False


def install_signal_handlers() -> None:
    """Make SIGTERM unwind like Ctrl-C (temporary files removed, exit 143)."""
    global _cli_process
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
        _cli_process = True


def print_error(message: str) -> None:
    """One line on stderr: ``error: message`` (no markup, no wrapping)."""
    line = " ".join(str(message).split())
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()


def interrupt_exit_code(exc: KeyboardInterrupt) -> int:
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn a :class:`CvToolError` into ``error: ...`` and its exit code, Ctrl-C into 130.

    Python warnings (NumPy's "overflow encountered in cast" and the like) are silenced: stderr
    carries cvtool's own messages only, and a result that a warning would be about is checked
    and reported as an error (e.g. non-finite results are refused by :mod:`cvtool.io`).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except CvToolError as exc:
        print_error(cli_message(exc))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt as exc:
        sys.stderr.write("interrupted\n")
        raise typer.Exit(interrupt_exit_code(exc)) from None


# ---------------------------------------------------------------------------------------------
# Inputs and outputs


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Files as given, globs expanded (sorted), directories replaced by the images inside them.

    A name that is neither an existing path nor a matching glob is kept, so that reading it
    reports ``no such file`` for that input alone.
    """
    # A malformed CVTOOL_MAX_PIXELS is a usage error (exit 2) before any file is read, not a
    # failure of every input in turn.
    io.max_pixels()
    if list(inputs).count(io.STDIO) > 1:
        raise UsageError("- (stdin) can be given only once")
    expanded: list[str] = []
    for item in inputs:
        if item == io.STDIO:
            expanded.append(item)
        elif os.path.isdir(item):
            expanded.extend(sorted(
                str(p) for p in Path(item).iterdir()
                if p.is_file() and p.suffix.lower() in io.IMAGE_SUFFIXES
                and not p.name.startswith(".")))
        elif not os.path.exists(item) and glob.has_magic(item):
            matches = sorted(p for p in glob.glob(item) if os.path.isfile(p))
            expanded.extend(matches or [item])
        else:
            expanded.append(item)
    if not expanded:
        raise ProcessingError(f"no images found in {' '.join(inputs)}")
    return expanded


def is_batch(arguments: Sequence[str]) -> bool:
    """Whether the INPUT arguments ask for a batch: several, or a directory, or a glob.

    Decided from the arguments, not from what they expand to, so ``cvtool filter photos/ -o
    out`` writes into the directory ``out`` even on the day ``photos/`` holds one image.

    Examples
    --------
    >>> is_batch(["a.png"]), is_batch(["a.png", "b.png"]), is_batch(["shots/*.png"])
    (False, True, True)
    """
    if len(arguments) > 1:
        return True
    return any(os.path.isdir(a) or (not os.path.exists(a) and glob.has_magic(a))
               for a in arguments)


def plan_outputs(inputs: Sequence[str], output: str, *, option: str = "-o",
                 suffix: str | None = None, force_dir: bool = False,
                 batch: bool = False) -> list[str]:
    """The output path of each input: ``output`` itself for one input, else ``output/<name>``.

    ``suffix`` replaces each input's suffix (``normalize --format``); ``force_dir`` treats
    ``output`` as a directory even for one input, and so does ``batch`` (see :func:`is_batch`).
    Refuses, as usage errors, an output that is one of the inputs, two inputs that would
    write the same file, and a directory output named like an image file.
    """
    if output == io.STDIO:
        if force_dir:
            raise UsageError(f"{option} -: this command writes files into a directory, "
                             f"not to stdout")
        if len(inputs) != 1 or batch:
            raise UsageError(f"{option} - (stdout) takes a single input, not a batch")
        return [output]
    as_dir = (force_dir or batch or len(inputs) > 1 or os.path.isdir(output)
              or output.endswith(os.sep))
    if as_dir and not os.path.isdir(output) and io.suffix_of(output) in io.IMAGE_SUFFIXES:
        raise UsageError(
            f"{option} {output}: the outputs go into a directory, but this names a "
            f"{io.suffix_of(output)} file; give a directory name (it is created)")
    if not as_dir:
        targets = [output]
    else:
        targets = []
        for item in inputs:
            name = "stdin.png" if item == io.STDIO else Path(item).name
            if suffix is not None:
                name = str(Path(name).with_suffix(suffix))
            targets.append(os.path.join(output, name))
    _refuse_clobbering(inputs, targets, option)
    for target in dict.fromkeys(targets):
        io.check_output_path(target, option=option)
    if as_dir:
        try:
            os.makedirs(output, exist_ok=True)
        except OSError as exc:
            raise ProcessingError(
                f"{option} {output}: cannot create directory ({exc.strerror or exc})") from None
    return targets


def same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file (or would, once created).

    Examples
    --------
    >>> same_file("a/../b.png", "b.png"), same_file("-", "-")
    (True, False)
    """
    if io.STDIO in (a, b):  # stdin and stdout are streams, never the same file as another path
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _refuse_clobbering(inputs: Sequence[str], targets: Sequence[str], option: str) -> None:
    real_inputs = [i for i in inputs if i != io.STDIO]
    for target in targets:
        for item in real_inputs:
            if same_file(target, item):
                raise UsageError(
                    f"{option} {target} is the input {item}; refusing to overwrite an input")
    seen: dict[str, str] = {}
    for item, target in zip(inputs, targets, strict=True):
        key = os.path.abspath(target)
        if key in seen:
            raise UsageError(
                f"{option}: inputs {seen[key]} and {item} would both be written to {target}")
        seen[key] = item


# ---------------------------------------------------------------------------------------------
# Batches


@dataclass
class Outcome:
    """What one input's work produced: a stdout line (or None) and whether it counts as success."""

    text: str | None = None
    ok: bool = True


def engine_workers(jobs: int) -> int:
    """Threads each input's computation may use when ``jobs`` inputs run at once."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def _prefixed(name: str, message: str) -> str:
    return message if message.startswith(name) else f"{name}: {message}"


class _DaemonPool:
    """Run ``work(index, input)`` for every input on ``jobs`` daemon threads, one future each.

    Daemon threads, unlike ``ThreadPoolExecutor``'s, do not hold the process open: on Ctrl-C
    the CLI exits at once instead of waiting for the images being computed (their writes are
    refused by :func:`cvtool.io.stop_writes`, so nothing partial appears).
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


def run_batch(inputs: Sequence[str], work: Callable[[int, str], Outcome], *, jobs: int = 1,
              quiet: bool = False, json_mode: bool = False, done_word: str = "written",
              negative_word: str | None = None, json_key: str = "input") -> int:
    """Run ``work(index, input)`` for every input; return the exit code (0, or 1 on any failure).

    Results are printed to stdout in input order whatever ``jobs`` is. A failing input gets
    its ``error:`` line (and with ``json_mode`` a ``{json_key: input, "error": ...}`` record,
    so records pair with inputs) and the others still run; with several inputs the last stderr
    line then summarises (one input gets its one ``error:`` line only). An outcome that is not
    ``ok`` without an error (find-waldo's "not found") is counted as ``negative_word``.
    Interruption stops at once: writes in flight finish (they are atomic), no other write
    starts, the inputs finished are counted on stderr, and ``typer.Exit`` carries 130
    (SIGINT) or 143 (SIGTERM).
    """
    show_progress = stderr_is_terminal() and not quiet and not json_mode and len(inputs) > 1
    succeeded = failed = negative = 0
    pool = _DaemonPool(inputs, work, jobs)
    futures = pool.futures
    progress = progress_bar() if show_progress else None

    def report_failure(name: str, message: str) -> None:
        print_error(message)
        if json_mode:
            _print_result(json.dumps({json_key: name, "error": message}))

    try:
        task = progress.add_task("processing", total=len(inputs)) if progress else None
        if progress:
            progress.start()
        for item, future in zip(inputs, futures, strict=True):
            name = io.display_name(item)
            try:
                outcome = future.result()
            except CvToolError as exc:
                report_failure(item, _prefixed(name, cli_message(exc)))
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
                    _print_result(outcome.text)
                if outcome.ok:
                    succeeded += 1
                else:
                    negative += 1
            if progress:
                progress.advance(task)
    except KeyboardInterrupt as exc:
        with _signals_ignored():
            _stop_after_interrupt(pool, progress, len(inputs), done_word,
                                  interrupt_exit_code(exc))
        raise typer.Exit(interrupt_exit_code(exc)) from None
    finally:
        if progress:
            progress.stop()
    if failed or negative:
        if len(inputs) > 1:
            counts = [f"{succeeded} {done_word}"]
            if negative_word is not None:
                counts.append(f"{negative} {negative_word}")
            else:  # a command without a word for "not ok" counts it as failed
                failed += negative
            if failed or negative_word is None:
                counts.append(f"{failed} failed")
            sys.stderr.write(", ".join(counts) + "\n")
        return EXIT_FAILURE
    if stderr_is_terminal() and not quiet and not json_mode and len(inputs) > 1:
        stderr_console().print(f"{succeeded} {done_word}")
    return EXIT_OK


def _stop_after_interrupt(pool: _DaemonPool, progress: Progress | None, total: int,
                          done_word: str, code: int) -> None:
    pool.cancel_pending()
    writers = io.stop_writes()
    # An input whose write was in flight has finished its work but may not have handed its
    # result over yet: wait for exactly those (they are returning), not for the computations.
    in_flight = [pool.futures[pool.writers[t]] for t in writers if t in pool.writers]
    futures_wait(in_flight, timeout=5)
    if progress:
        progress.stop()
    done = sum(1 for f in pool.futures if _succeeded(f))
    sys.stderr.write(f"interrupted: {done} {done_word}, {total - done} not finished\n")
    sys.stderr.flush()
    if _cli_process and pool.busy():
        # Worker threads are still computing, possibly on the engine's own (non-daemon) thread
        # pools, which the interpreter would wait for at exit. Nothing is left to save: every
        # write has finished or been refused, so leave now, as the signal's default would.
        _flush_quietly()
        os._exit(code)


def _flush_quietly() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _print_result(text: str) -> None:
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): stop writing, as command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


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

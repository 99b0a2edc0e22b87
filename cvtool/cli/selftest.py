"""``cvtool selftest``: a fast check for CI smoke tests (checks in cvtool.cli.selftest_checks).

The checks run every subcommand through a runner made by :func:`cli_runner`: the real
``cvtool`` command (option parsing, batches, JSON, file output), in this process so that it is
fast and does not depend on ``PATH``, with its stdout and stderr captured so that only the
ok/FAIL lines are printed. The runner receives the command it runs (the command ``selftest``
itself belongs to, found through Click's context), so this module never imports the app.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from io import BytesIO, TextIOWrapper
from typing import Any

import typer

from cvtool.cli.options import Json
from cvtool.cli.reporting import reporting_errors
from cvtool.errors import ExitStatus

__all__ = ["cli_runner", "selftest"]


@contextmanager
def _captured() -> Iterator[tuple[BytesIO, BytesIO]]:
    """stdout and stderr (text, with a binary ``.buffer``) into memory; stdin empty."""
    saved = sys.stdin, sys.stdout, sys.stderr
    out, err = BytesIO(), BytesIO()
    sys.stdin = TextIOWrapper(BytesIO(), encoding="utf-8")
    sys.stdout = TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = TextIOWrapper(err, encoding="utf-8", write_through=True)
    wrappers = sys.stdin, sys.stdout, sys.stderr
    try:
        yield out, err
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        for stream in wrappers:
            stream.flush()
            stream.detach()  # else closing the wrapper (when collected) closes out and err


def cli_runner(command: Any) -> Callable[[Sequence[str]], Any]:
    """A function that runs ``cvtool ARGS`` through ``command`` in this process, output captured.

    ``command`` is the Click command behind ``cvtool`` (or the Typer app, converted once). The
    runner returns the exit code, stdout and stderr; nothing reaches this process's own
    streams. An exception that escapes the command (a bug: user errors are ``error:`` lines)
    becomes exit 1 and a line on stderr. A sub-run interrupted by Ctrl-C/SIGTERM interrupts the
    caller too.

    Examples
    --------
    >>> from cvtool.cli.app import app
    >>> run = cli_runner(app)
    >>> result = run(["entropy", "--probs", "0.5 0.5"])
    >>> result.exit_code, result.stdout.split()[:2], result.stderr
    (0, ['entropy:', '1.000000'], '')
    >>> run(["entropy", "--base", "3", "--probs", "1"]).exit_code
    2
    """
    from cvtool.cli.selftest_checks import CliResult

    if isinstance(command, typer.Typer):
        command = typer.main.get_command(command)

    def run(args: Sequence[str]) -> CliResult:
        with _captured() as (out, err):
            try:
                command.main([str(arg) for arg in args], prog_name="cvtool",
                             standalone_mode=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception as exc:  # noqa: BLE001 - reported as a failed run, not raised
                sys.stderr.write(f"internal error: {type(exc).__name__}: {exc}\n")
                code = 1
        if code in (ExitStatus.SIGINT, ExitStatus.SIGTERM):
            raise KeyboardInterrupt
        return CliResult(code, out.getvalue().decode("utf-8", "replace"),
                         err.getvalue().decode("utf-8", "replace"))

    return run


def selftest(ctx: typer.Context, json_mode: Json = False) -> None:
    """Check this installation: each subcommand on tiny built-in images, every image format.

    Runs correlate, convolve, filter, find-waldo, entropy and normalize on tiny images in a
    temporary folder (removed afterwards) and compares what they write or print with values
    known by hand. Prints one line per check (ok/FAIL), the versions of cvtool, NumPy and
    OpenCV, and the image formats this OpenCV build reads and writes. Exit 0 when every check
    holds, else 1.

    \b
    Examples:
        cvtool selftest
        cvtool selftest --json | python -m json.tool
    """
    from cvtool.cli.console import print_error
    from cvtool.cli.selftest_checks import run_selftest

    with reporting_errors():
        report = run_selftest(cli_runner(ctx.find_root().command))
    if json_mode:
        typer.echo(json.dumps(report.as_dict()))
    else:
        lines = [f"{'ok' if c.ok else 'FAIL':<4}  {c.name}" + (f": {c.detail}" if c.detail else "")
                 for c in report.checks]
        versions = ", ".join(f"{name} {version}" for name, version in report.versions.items())
        lines += [
            f"versions: {versions}",
            f"reads:  {' '.join(report.formats['read'])}",
            f"writes: {' '.join(report.formats['write'])}",
            f"pixel limit: {report.max_pixels} (CVTOOL_MAX_PIXELS)",
            *(f"note: {note}" for note in report.notes),
            f"{'all checks passed' if report.ok else 'SELFTEST FAILED'} "
            f"({sum(c.ok for c in report.checks)}/{len(report.checks)}, "
            f"{report.elapsed_ms:.0f} ms)",
        ]
        typer.echo("\n".join(lines))
    if not report.ok:
        failed = [c.name for c in report.checks if not c.ok]
        print_error(f"selftest: {len(failed)} check(s) failed: {', '.join(failed)}")
        raise typer.Exit(int(ExitStatus.FAILURE))
    raise typer.Exit(int(ExitStatus.OK))

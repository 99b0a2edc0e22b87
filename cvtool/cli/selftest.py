"""``cvtool selftest``: a fast check for CI smoke tests (the checks live in cvtool.selftest)."""

from __future__ import annotations

import json

import typer

from cvtool.cli.common import Json, print_error, reporting_errors
from cvtool.selftest import run_selftest


def selftest(json_mode: Json = False) -> None:
    """Check this installation: each subcommand on tiny built-in images, every image format.

    Prints one line per check (ok/FAIL), the versions of cvtool, NumPy and OpenCV, and the
    image formats this OpenCV build reads and writes. Exit 0 when every check holds, else 1.

    \b
    Examples:
        cvtool selftest
        cvtool selftest --json | python -m json.tool
    """
    with reporting_errors():
        report = run_selftest()
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
        raise typer.Exit(1)
    raise typer.Exit(0)

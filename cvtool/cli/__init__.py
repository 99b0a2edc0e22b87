"""The command line: the only package that imports typer or rich."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``cvtool`` console script and of ``python -m cvtool``.

    The cyclic garbage collector is paused before Typer and the rest are imported (see
    :func:`cvtool.cli.reporting.pause_collector`), so this module imports nothing at its top.
    """
    import gc

    gc.disable()
    from cvtool.cli.app import main as run_app

    run_app()

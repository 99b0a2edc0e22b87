"""The ``cvtool`` command: one Typer app; each subcommand lives in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from cvtool import __version__
from cvtool.cli import correlate as correlate_cmd
from cvtool.cli import entropy as entropy_cmd
from cvtool.cli import filter as filter_cmd
from cvtool.cli import find_waldo as find_waldo_cmd
from cvtool.cli import normalize as normalize_cmd
from cvtool.cli import selftest as selftest_cmd
from cvtool.cli.common import install_signal_handlers

app = typer.Typer(
    name="cvtool",
    add_completion=False,
    no_args_is_help=True,
    # Plain Click messages for parse errors (unknown option, missing argument): scripts and
    # users read one familiar "Usage/Error" block, not a rich panel.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 success, 1 a run-time failure (or no match for find-waldo), 2 a usage "
           "error, 130/143 interrupted. Images larger than CVTOOL_MAX_PIXELS pixels (default "
           "268435456) are refused from their header; set the variable to raise the limit. "
           "NO_COLOR is respected.",
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"cvtool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Image filtering and template matching with a NumPy core.

    \b
    Examples:
        cvtool filter photo.png -n gaussian --sigma 2 -o blurred.png
        cvtool find-waldo scene.png -t waldo.png -o found.png
        cvtool entropy photo.png --json
    """


# Subcommands: one line each, in the order `cvtool --help` lists them. To add one, import
# its module above and add `app.command("name")(module.function)` below.
app.command("correlate")(correlate_cmd.correlate)
app.command("convolve")(correlate_cmd.convolve)
app.command("filter")(filter_cmd.filter_images)
app.command("find-waldo")(find_waldo_cmd.find_waldo)
app.command("entropy")(entropy_cmd.entropy_command)
app.command("normalize")(normalize_cmd.normalize)
app.command("selftest")(selftest_cmd.selftest)


def main() -> None:
    """Entry point of the ``cvtool`` console script."""
    install_signal_handlers()
    app()

"""The ``cvtool`` command: one Typer app; each subcommand lives in its own module.

Nothing imports this module but the entry points (``cvtool``, ``python -m cvtool``) and tests.
Start-up is kept to the interpreter, Typer and Click: the command modules import NumPy,
OpenCV and their core only inside the command that runs, so ``--help``, ``--version`` and
shell completion never load them. A subcommand's module is imported, and its Click command
built from the function's signature, only when that subcommand is looked up (it runs, or
``--help`` and completion list it): a shell loop of ``cvtool filter`` calls pays for
``filter`` alone.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup

try:  # Typer >= 0.26 carries its own copy of Click; its parse errors are that copy's classes.
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older Typer runs on Click itself
    from click import exceptions as click_errors

from cvtool import __version__
from cvtool.cli.grammar import suggest
from cvtool.cli.reporting import install_signal_handlers, pause_collector
from cvtool.errors import ExitStatus

__all__ = ["app", "main"]


def _flags(param: Any) -> str:
    return "/".join(param.opts) if param is not None and param.opts else ""


def click_error_lines(exc: click_errors.ClickException) -> list[str]:
    """Click's parse error as cvtool's: ``error: ...`` (with a "did you mean"), one hint line.

    Examples
    --------
    >>> click_error_lines(click_errors.UsageError("No such command 'x'."))
    ["error: no such command 'x'"]
    """
    ctx = getattr(exc, "ctx", None)
    message = exc.format_message().strip()
    if isinstance(exc, click_errors.NoSuchOption):
        # Compared without dashes: "--" in common would make "--bogus" look like "--jobs".
        names = [o[2:] for p in ctx.command.params for o in p.opts
                 if o.startswith("--")] if ctx else []
        close = suggest(exc.option_name.lstrip("-"), names) if names else None
        message = f"no such option {exc.option_name}"
        if close:
            message += f"; did you mean --{close}?"
    elif isinstance(exc, click_errors.MissingParameter):
        kind = exc.param.param_type_name if exc.param else "parameter"
        name = _flags(exc.param) if kind == "option" else (
            exc.param.human_readable_name if exc.param else "")
        message = f"missing {kind} {name}".rstrip()
    elif isinstance(exc, click_errors.BadParameter) and exc.param is not None:
        message = f"invalid value for {_flags(exc.param) or exc.param.human_readable_name}: " \
                  f"{exc.message}"
    elif message.startswith("No such command") and ctx is not None:
        word = message.split("'")[1] if "'" in message else ""
        close = suggest(word, ctx.command.list_commands(ctx)) if word else None
        message = f"no such command '{word}'" + (f"; did you mean '{close}'?" if close else "")
    else:
        message = message[:1].lower() + message[1:]
    message = " ".join(message.rstrip(".").split())
    lines = [f"error: {message}"]
    if ctx is not None:
        lines.append(f"try '{ctx.command_path} --help'")
    return lines


#: The subcommands, in the order ``cvtool --help`` lists them: name -> (module, function).
#: To add one, write its module in cvtool/cli/ and add its line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "correlate": ("cvtool.cli.correlate", "correlate"),
    "convolve": ("cvtool.cli.correlate", "convolve"),
    "filter": ("cvtool.cli.filter", "filter_images"),
    "find-waldo": ("cvtool.cli.find_waldo", "find_waldo"),
    "entropy": ("cvtool.cli.entropy", "entropy_command"),
    "normalize": ("cvtool.cli.normalize", "normalize"),
    "selftest": ("cvtool.cli.selftest", "selftest"),
}


def build_command(name: str) -> Any:
    """The Click command of subcommand ``name``, built by Typer from its function.

    Examples
    --------
    >>> build_command("entropy").name
    'entropy'
    """
    module, function = COMMANDS[name]
    single = typer.Typer(add_completion=False, rich_markup_mode=None,
                         pretty_exceptions_enable=False)
    single.command(name)(getattr(importlib.import_module(module), function))
    return typer.main.get_command(single)  # one registered command: that command itself


class _LazyCommands(MutableMapping):
    """The group's ``commands`` mapping: every name listed, each command built on first lookup.

    Typer and Click read a group's subcommands only through this mapping (lookup, listing,
    "did you mean"), so nothing else needs to know that building is deferred.
    """

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = build_command(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*COMMANDS, *(n for n in self._built if n not in COMMANDS)])

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(self._built))


class CvtoolGroup(TyperGroup):
    """The root command: subcommands built on lookup (:data:`COMMANDS`); Click's parse errors
    become cvtool's one ``error:`` line, exit 2."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands()

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as exc:
            exc.show()  # `cvtool` alone: the help itself, as Click prints it
            sys.exit(exc.exit_code)
        except click_errors.ClickException as exc:
            sys.stderr.write("\n".join(click_error_lines(exc)) + "\n")
            usage = isinstance(exc, click_errors.UsageError)
            sys.exit(ExitStatus.USAGE if usage else exc.exit_code)
        except typer.Abort:
            sys.stderr.write("interrupted\n")
            sys.exit(ExitStatus.SIGINT)
        sys.exit(code if isinstance(code, int) else ExitStatus.OK)


app = typer.Typer(
    name="cvtool",
    cls=CvtoolGroup,
    no_args_is_help=True,
    # Plain text for help and errors: scripts and users read one familiar format, and Rich
    # stays off start-up.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 success, 1 a run-time failure (or no match for find-waldo), 2 a usage "
           "error, 130/143 interrupted. Images larger than CVTOOL_MAX_PIXELS pixels (default "
           "268435456) are refused from their header; set the variable to raise the limit. "
           "NO_COLOR is respected. Shell completion: cvtool --install-completion. Reference: "
           "docs/cli.md.",
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


def main() -> None:
    """Entry point of the ``cvtool`` console script (and ``python -m cvtool``)."""
    # Until the work starts (cvtool.cli.reporting); cvtool.cli.main has paused it already,
    # this covers a console script written for this function by an older install.
    pause_collector()
    install_signal_handlers()
    app(prog_name="cvtool")

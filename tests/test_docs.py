"""docs/cli.md is the user's reference: these tests fail when it falls behind ``--help``.

The command tree is read from Click itself (``typer.main.get_command(app)``), so a new option,
a new short name or a changed default shows up here without anyone remembering to list it.
Where an option belongs is decided by the headings of docs/cli.md: a command's options are
looked up in every section whose heading names it in backticks (`` `cvtool filter` ``, and
`` `cvtool` `` for the global options), plus the section "Options every command shares".
"""

from __future__ import annotations

import enum
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "cli.md"
README = ROOT / "README.md"
REFERENCE = "docs/cli.md"
SHARED_HEADING = "Options every command shares"

# Documents a user of the repository does not have. Built from pieces so that this file does
# not match itself; the contract's file name is matched with its case (upper-case letters), so
# the lowercase docs/cli.md does not match.
OUTSIDE_DOCUMENTS = [
    re.compile(re.escape("CLI" + ".md")),
    re.compile(re.escape("DESIGN" + ".md")),
    re.compile(re.escape(".." + "/shared")),
    re.compile("design" + r"\s+notes", re.IGNORECASE),
    re.compile("lecture" + r"\s+notes", re.IGNORECASE),
    re.compile(r"\bthe\s+" + "lecture", re.IGNORECASE),
]
CHECKED_FILES = ("*.py", "*.md", "*.sh", "*.toml", "Makefile")

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_OPTION_NAME = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


# ---------------------------------------------------------------------------------------------
# Reading docs/cli.md


def _sections(text: str) -> list[tuple[int, str, str]]:
    """(level, heading, body) of every heading, the body running to the next heading of the
    same or a higher level (so it includes subsections); code fences are not headings."""
    lines = text.splitlines()
    heads: list[tuple[int, int, str]] = []
    fenced = False
    for number, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            heads.append((number, len(match.group(1)), match.group(2)))
    sections = []
    for index, (number, level, title) in enumerate(heads):
        end = next((n for n, lvl, _ in heads[index + 1:] if lvl <= level), len(lines))
        sections.append((level, title, "\n".join(lines[number + 1:end])))
    return sections


def _doc_text_for(command_path: str, sections: list[tuple[int, str, str]]) -> str:
    """The parts of docs/cli.md that document ``command_path`` (``cvtool`` or ``cvtool NAME``)."""
    tag = f"`{command_path}`"
    parts = [body for _, title, body in sections if tag in title]
    if command_path != "cvtool":
        parts += [body for _, title, body in sections if title == SHARED_HEADING]
    return "\n".join(parts)


def _option_rows(text: str) -> list[tuple[set[str], str]]:
    """Each table row's option names (from its first cell) and its second cell (the default)."""
    rows = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("|") or set(stripped) <= set("|-: "):
            continue
        cells = [c.strip() for c in _CELL_SPLIT.split(stripped.strip("|"))]
        names = set(_OPTION_NAME.findall(cells[0]))
        if names:
            rows.append((names, cells[1] if len(cells) > 1 else ""))
    return rows


# ---------------------------------------------------------------------------------------------
# Reading the command tree


# Typer may vendor its own copy of Click (typer 0.27 does), so commands and options are
# recognised by what they have, not by their class.


def _app() -> typer.Typer:
    from cvtool.cli.app import app

    return app


@cache
def _root() -> Any:
    """The Click command behind ``cvtool``, built once."""
    return typer.main.get_command(_app())


def _commands() -> Iterator[tuple[str, Any]]:
    """``("cvtool", root)``, then every subcommand (and theirs), as a user types them."""
    def walk(path: str, command: Any) -> Iterator[tuple[str, Any]]:
        yield path, command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(f"{path} {name}", sub)

    yield from walk("cvtool", _root())


@dataclass(frozen=True)
class _Help:
    """The help option, which Click adds outside ``params``."""

    opts: tuple[str, ...]
    secondary_opts: tuple[str, ...] = ()
    default: None = None
    is_flag: bool = True
    hidden: bool = False
    metavar: None = None
    envvar: None = None
    type: None = None


def _help_names(command: Any, root: Any) -> tuple[str, ...]:
    # Subcommands inherit the root's help_option_names through Click's context.
    for source in (command, root):
        names = (getattr(source, "context_settings", None) or {}).get("help_option_names")
        if names:
            return tuple(names)
    return ("--help",)


def _options(command: Any) -> Iterator[Any]:
    """Every option of ``command`` that ``--help`` shows, the help option included."""
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and not param.hidden:
            yield param
    if getattr(command, "add_help_option", True):
        yield _Help(_help_names(command, _root()))


def _default_texts(option: Any) -> list[str] | None:
    """How the option's default may be written in the docs, or None when there is none to
    check (no default, a flag that is off, an empty list, a computed default)."""
    value = option.default
    if value is None or callable(value) or (option.is_flag and value is False):
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (list, tuple)):
        return None if not value else [", ".join(str(v) for v in value)]
    if option.is_flag:
        return ["on"]
    if isinstance(value, float):
        return sorted({str(value), f"{value:g}"})
    return [str(value)]


def _mentions(cell: str, word: str) -> bool:
    cell = cell.replace("`", " ")
    return re.search(rf"(?<![\w.-]){re.escape(word)}(?![\w-]|\.\d)", cell) is not None


def _documented_rows(path: str, option: Any, sections) -> list[tuple[set[str], str]]:
    names = set(option.opts) | set(option.secondary_opts)
    return [row for row in _option_rows(_doc_text_for(path, sections)) if names <= row[0]]


# ---------------------------------------------------------------------------------------------
# docs/cli.md against --help


@pytest.fixture(scope="module")
def sections() -> list[tuple[int, str, str]]:
    return _sections(DOCS.read_text(encoding="utf-8"))


def test_every_command_has_a_section(sections) -> None:
    """Each subcommand has a heading that names it, so a reader (and the tests below) can find
    where it is documented; a new subcommand without one fails here."""
    missing = [path for path, _ in _commands() if not _doc_text_for(path, sections).strip()]
    assert not missing, f"{REFERENCE} has no section whose heading names: {missing}"


def test_every_option_in_help_is_documented(sections) -> None:
    """Every option that `--help` shows, under every name (short, long and secondary), is in a
    table row of its command's section in docs/cli.md."""
    checked, missing = 0, []
    for path, command in _commands():
        for option in _options(command):
            checked += 1
            if not _documented_rows(path, option, sections):
                missing.append(f"{path} {'/'.join(option.opts + option.secondary_opts)}")
    # The tree is really walked: seven subcommands with dozens of options between them.
    assert checked > 40, f"only {checked} options found in the command tree"
    assert not missing, f"options in --help but not in {REFERENCE}: {missing}"


def test_documented_defaults_match_help(sections) -> None:
    """Where an option has a default, its row in docs/cli.md states that same default, so a
    changed default (as `-p` from zero to mirror) cannot leave the reference behind."""
    checked, wrong = 0, []
    for path, command in _commands():
        for option in _options(command):
            expected = _default_texts(option)
            rows = _documented_rows(path, option, sections)
            if expected is None or not rows:  # undocumented options fail the test above
                continue
            checked += 1
            if not any(_mentions(cell, text) for _, cell in rows for text in expected):
                wrong.append(f"{path} {option.opts[-1]}: --help says {expected[0]!r}, "
                             f"{REFERENCE} says {[cell for _, cell in rows]}")
    assert checked > 15, f"only {checked} defaults checked"
    assert not wrong, "defaults differ:\n" + "\n".join(wrong)


def test_every_choice_in_help_is_documented(sections) -> None:
    """Every value an option lists (`--shape same|valid|full`, `--out-range auto|...`, Click
    choices) is explained in its command's section: a new mode cannot stay undocumented."""
    missing = []
    for path, command in _commands():
        text = _doc_text_for(path, sections)
        for option in _options(command):
            choices = list(getattr(option.type, "choices", None) or [])
            metavar = option.metavar or ""
            if re.fullmatch(r"[a-z0-9][\w-]*(\|[a-z0-9][\w-]*)+", metavar):
                choices += metavar.split("|")
            # In backticks of its own, as where a value is explained: the option's own
            # `--shape same|valid|full` does not count.
            missing += [f"{path} {option.opts[-1]} {c}" for c in choices if f"`{c}`" not in text]
    assert not missing, f"values in --help but not in {REFERENCE}: {missing}"


def test_every_padding_mode_and_kernel_name_is_documented(sections) -> None:
    """Padding modes and kernel names are words, not options: their tables in docs/cli.md
    list every mode, every alias and every named kernel the code accepts."""
    from cvtool.filtering.kernels import KERNEL_ALIASES, KERNEL_NAMES
    from cvtool.imaging.padding import PADDING_ALIASES, PADDING_MODES

    padding = next(body for _, title, body in sections if title == "Padding")
    kernels = next(body for _, title, body in sections if title.startswith("Named kernels"))
    missing = [f"padding {w}" for w in (*PADDING_MODES, *PADDING_ALIASES)
               if f"`{w}`" not in padding]
    missing += [f"kernel {w}" for w in (*KERNEL_NAMES, *KERNEL_ALIASES) if f"`{w}`" not in kernels]
    assert not missing, f"not in {REFERENCE}: {missing}"


def test_every_environment_variable_is_documented(sections) -> None:
    """Each variable the code reads (os.environ.get, os.getenv, environ[...], an option's
    envvar) and each one the reference promises is in "Environment variables"."""
    env = next(body for _, title, body in sections if title == "Environment variables")
    read = re.compile(r"""(?:environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
                      r"""|environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\](?!\s*=[^=])""")
    names = {"CVTOOL_MAX_PIXELS", "NO_COLOR", "DASK_SCHEDULER_ADDRESS"}
    for source in (ROOT / "cvtool").rglob("*.py"):
        for match in read.finditer(source.read_text(encoding="utf-8")):
            names.add(match.group(1) or match.group(2))
    for _, command in _commands():
        for option in _options(command):
            envvar = option.envvar
            names.update([envvar] if isinstance(envvar, str) else list(envvar or []))
    missing = sorted(n for n in names if f"`{n}`" not in env)
    assert not missing, f"environment variables not in {REFERENCE}: {missing}"


def test_robust_default_threshold_is_documented(sections) -> None:
    """`--method robust` has its own default threshold, set in the core (it may be tuned): the
    find-waldo option table states the value the core uses, so retuning cannot go unnoticed
    even where --help shows no single default."""
    from cvtool.matching.robust import DEFAULT_THRESHOLD

    text = _doc_text_for("cvtool find-waldo", sections)
    rows = [cell for names, cell in _option_rows(text) if "--threshold" in names]
    assert rows, "no --threshold row for find-waldo"
    assert any(f"`{DEFAULT_THRESHOLD:g}` (`robust`)" in cell for cell in rows), rows


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for _, title, _ in _sections(path.read_text(encoding="utf-8")):
        slug = _slug(title)
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


@pytest.mark.parametrize("source", [DOCS, README], ids=["docs/cli.md", "README.md"])
def test_links_to_sections_resolve(source: Path) -> None:
    """Every `#section` link in docs/cli.md and README.md (to itself or to docs/cli.md) lands
    on a heading, so renaming a heading cannot leave a dead link behind."""
    targets = {"": _anchors(source), REFERENCE: _anchors(DOCS), "docs/cli.md": _anchors(DOCS)}
    links = re.findall(r"\]\(([\w./-]*)#([^)\s]+)\)", source.read_text(encoding="utf-8"))
    assert links, f"no section links found in {source.name}"
    dead = [f"{file}#{anchor}" for file, anchor in links
            if file in targets and anchor not in targets[file]]
    assert not dead, f"links in {source.name} to no heading: {dead}"


# ---------------------------------------------------------------------------------------------
# Pointers to the reference, and none to documents outside the repository


def test_readme_points_to_the_reference() -> None:
    """README.md sends readers to docs/cli.md for the full reference."""
    assert DOCS.is_file()
    assert REFERENCE in README.read_text(encoding="utf-8")


def test_help_points_to_the_reference() -> None:
    """`cvtool --help`, the first thing a user reads, names docs/cli.md."""
    result = CliRunner().invoke(_app(), ["--help"], prog_name="cvtool")
    assert result.exit_code == 0, result.output
    assert REFERENCE in result.output


def _repository_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", *CHECKED_FILES], cwd=ROOT,
                                capture_output=True, check=True).stdout
        # Also files under a directory: git's pathspec "*.py" already matches at any depth.
        paths = [ROOT / p for p in listed.decode("utf-8").split("\0") if p]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an unpacked sdist)
        skip = {".venv", ".git", "build", "dist", "node_modules", "__pycache__"}
        paths = [p for pattern in CHECKED_FILES for p in ROOT.rglob(pattern)
                 if not skip & set(p.relative_to(ROOT).parts)]
    return sorted(p for p in set(paths) if p.is_file())


def test_nothing_cites_documents_outside_the_repository() -> None:
    """A user of the repository has only the repository: no source, test, script or document
    may send them to a contract, design or course document that lives elsewhere."""
    files = _repository_files()
    assert any(p.name == "README.md" for p in files), "the file listing found nothing"
    offenders = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if any(pattern.search(line) for pattern in OUTSIDE_DOCUMENTS):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "cites documents outside the repository:\n" + "\n".join(offenders)

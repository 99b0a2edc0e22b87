"""Inputs and outputs on the command line: expanding INPUT..., planning each output path.

Both run before any image is read, so that a wrong output (one of the inputs, two inputs
written to one file, a format cvtool cannot write, image bytes to a terminal) is a usage error
(exit 2) with nothing done yet.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from cvtool.cli.console import stdout_is_terminal
from cvtool.errors import ProcessingError, UsageError

__all__ = ["STDIO", "expand_inputs", "is_batch", "plan_outputs", "same_file",
           "refuse_terminal_stdout"]

#: ``-`` as an input is stdin, as an output stdout.
STDIO = "-"


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Files as given, globs expanded (sorted), directories replaced by the images inside them.

    A name that is neither an existing path nor a matching glob is kept, so that reading it
    reports ``no such file`` for that input alone.
    """
    from cvtool import io

    # A malformed CVTOOL_MAX_PIXELS is a usage error (exit 2) before any file is read, not a
    # failure of every input in turn.
    io.max_pixels()
    if list(inputs).count(STDIO) > 1:
        raise UsageError("- (stdin) can be given only once")
    expanded: list[str] = []
    for item in inputs:
        if item == STDIO:
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


def refuse_terminal_stdout(option: str = "-o") -> None:
    """Refuse to write image bytes to a terminal (as ``gzip`` does): a usage error."""
    if stdout_is_terminal():
        raise UsageError(f"{option} -: refusing to write image data to a terminal; redirect "
                         f"stdout to a file or a pipe (> out.png, | display)")


def plan_outputs(inputs: Sequence[str], output: str, *, option: str = "-o",
                 suffix: str | None = None, force_dir: bool = False,
                 batch: bool = False,
                 check: Callable[[str], None] | None = None) -> list[str]:
    """The output path of each input: ``output`` itself for one input, else ``output/<name>``.

    ``suffix`` replaces each input's suffix in a directory (``--format``); ``force_dir`` treats
    ``output`` as a directory even for one input, and so does ``batch`` (see :func:`is_batch`).
    Refuses, as usage errors, an output that is one of the inputs, two inputs that would
    write the same file, a directory output named like an image file, and ``-`` (stdout) when
    it is a terminal. ``check(target)``, when given, runs on every output before a directory
    is created (e.g. whether the format can hold the result).
    """
    from cvtool import io

    if output == STDIO:
        if force_dir:
            raise UsageError(f"{option} -: this command writes files into a directory, "
                             f"not to stdout")
        if len(inputs) != 1 or batch:
            raise UsageError(f"{option} - (stdout) takes a single input, not a batch")
        refuse_terminal_stdout(option)
        if check is not None:
            check(output)
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
            name = "stdin.png" if item == STDIO else Path(item).name
            if suffix is not None:
                name = str(Path(name).with_suffix(suffix))
            targets.append(os.path.join(output, name))
    _refuse_clobbering(inputs, targets, option)
    for target in dict.fromkeys(targets):
        io.check_output_path(target, option=option)
        if check is not None:
            check(target)
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
    if STDIO in (a, b):  # stdin and stdout are streams, never the same file as another path
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _file_key(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _refuse_clobbering(inputs: Sequence[str], targets: Sequence[str], option: str) -> None:
    # same_file's rule (one inode when both exist, else one absolute path) through indexes:
    # one stat per path instead of one per pair (500 inputs cost 1.2 s CPU pairwise).
    by_inode: dict[tuple[int, int], str] = {}
    by_path: dict[str, str] = {}
    missing: dict[str, str] = {}
    for item in inputs:
        if item == STDIO:
            continue
        key, absolute = _file_key(item), os.path.abspath(item)
        by_path.setdefault(absolute, item)
        if key is None:
            missing.setdefault(absolute, item)
        else:
            by_inode.setdefault(key, item)
    for target in targets:
        if target == STDIO:
            continue
        key, absolute = _file_key(target), os.path.abspath(target)
        item = (by_path.get(absolute) if key is None
                else by_inode.get(key) or missing.get(absolute))
        if item is not None:
            raise UsageError(
                f"{option} {target} is the input {item}; refusing to overwrite an input")
    seen: dict[str, str] = {}
    for item, target in zip(inputs, targets, strict=True):
        key = os.path.abspath(target)
        if key in seen:
            raise UsageError(
                f"{option}: inputs {seen[key]} and {item} would both be written to {target}")
        seen[key] = item

"""File names: which suffixes are images, how paths are shown, and what cvtool can write.

``-`` (:data:`STDIO`) stands for stdin as an input and stdout (a PNG) as an output.
"""

from __future__ import annotations

import os
from pathlib import Path

from cvtool.errors import UsageError
from cvtool.io.codecs import FLOAT_SUFFIXES, RADIANCE_SUFFIXES, can_encode

__all__ = ["IMAGE_SUFFIXES", "STDIO", "check_output_path", "display_name", "keeps_floats",
           "suffix_of"]

STDIO = "-"

#: File suffixes taken as images when a directory is given as input.
IMAGE_SUFFIXES = frozenset(
    ".png .jpg .jpeg .jpe .tif .tiff .bmp .dib .webp .pgm .pbm .ppm .pnm .pxm .sr .ras "
    ".jp2 .hdr .pic .exr .gif .npy".split()
)


def suffix_of(path: str | os.PathLike) -> str:
    """The lower-case suffix of ``path``; ``-`` (stdout) counts as ``.png``.

    Examples
    --------
    >>> suffix_of("a/B.TIFF"), suffix_of("-")
    ('.tiff', '.png')
    """
    return ".png" if str(path) == STDIO else Path(path).suffix.lower()


def display_name(path: str | os.PathLike) -> str:
    """How a path is named in messages (``-`` is stdin/stdout).

    Examples
    --------
    >>> display_name("-"), display_name("a.png")
    ('<stdin>', 'a.png')
    """
    return "<stdin>" if str(path) == STDIO else str(path)


def keeps_floats(path: str | os.PathLike) -> bool:
    """Whether a file at ``path`` stores floating-point samples (``.npy``, ``.tif``).

    Examples
    --------
    >>> keeps_floats("a.TIF"), keeps_floats("a.png"), keeps_floats("-")
    (True, False, False)
    """
    return suffix_of(path) in FLOAT_SUFFIXES


def check_output_path(path: str | os.PathLike, *, option: str = "-o") -> None:
    """Refuse, before any work, an output whose format cvtool cannot write (a usage error).

    Examples
    --------
    >>> check_output_path("out.png")
    >>> check_output_path("out.xyz")
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: -o out.xyz: cannot write '.xyz' files (use .png, .tif, .jpg, .npy...)
    """
    if str(path) == STDIO:
        return
    suffix = suffix_of(path)
    if suffix == ".npy":
        return
    if suffix in RADIANCE_SUFFIXES:
        raise UsageError(
            f"{option} {path}: Radiance HDR ({suffix}) stores 3-channel floating point only; "
            f"write .tif or .npy for floating-point results")
    if suffix == ".pbm":
        raise UsageError(f"{option} {path}: PBM stores 1 bit per pixel and would turn every "
                         f"non-zero value white; write .pgm or .png")
    if not suffix or not can_encode(suffix):
        shown = suffix or "(no suffix)"
        raise UsageError(
            f"{option} {path}: cannot write '{shown}' files (use .png, .tif, .jpg, .npy...)")

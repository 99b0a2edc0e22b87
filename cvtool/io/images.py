"""Reading and writing image files: a path in, an array out, and back (atomically).

Ties the other modules of :mod:`cvtool.io` together: names (:mod:`~cvtool.io.paths`), the
pixel limit (:mod:`~cvtool.io.limits`), the formats (:mod:`~cvtool.io.codecs`,
:mod:`~cvtool.io.npy`) and atomic writes (:mod:`~cvtool.io.atomic`). Every failure is a
:class:`~cvtool.errors.ProcessingError` naming the file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from cvtool.errors import ProcessingError
from cvtool.imaging.pixels import NOT_FINITE
from cvtool.io.atomic import write_atomically, write_stdout_bytes
from cvtool.io.codecs import decode_image, encode_image, read_image_file, write_image_file
from cvtool.io.npy import read_npy
from cvtool.io.paths import STDIO, display_name, suffix_of

__all__ = ["read_image", "write_image"]


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file (any format OpenCV decodes, or ``.npy``); ``-`` reads stdin.

    Returns H×W or H×W×C with channels in R, G, B(, A) order, in the file's own dtype
    (8-bit, 16-bit or float). Anything unreadable is a :class:`ProcessingError` naming the
    file, and so is an image with no pixels ("image is empty"): the library's filters accept
    empty arrays, but a file without pixels is no image to process.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> write_image(os.path.join(folder, "a.png"), np.full((2, 3), 7, np.uint8))
    >>> read_image(os.path.join(folder, "a.png"))
    array([[7, 7, 7],
           [7, 7, 7]], dtype=uint8)
    """
    name = display_name(path)
    image = _read(path, name)
    if image.size == 0:
        raise ProcessingError(f"{name}: image is empty (shape {image.shape})")
    return image


def _read(path: str | os.PathLike, name: str) -> np.ndarray:
    if str(path) == STDIO:
        return decode_image(sys.stdin.buffer.read(), name)
    p = Path(path)
    if p.is_dir():
        raise ProcessingError(f"{name}: is a directory, not an image")
    if p.is_char_device() or p.is_block_device():
        # /dev/zero or /dev/urandom would be read until memory runs out (pipes stay allowed).
        raise ProcessingError(f"{name}: is a device, not an image file")
    if p.suffix.lower() == ".npy":
        return read_npy(p, name)
    try:
        return read_image_file(p, name)
    except FileNotFoundError:
        raise ProcessingError(f"{name}: no such file") from None
    except OSError as exc:
        raise ProcessingError(f"{name}: cannot read ({exc.strerror or exc})") from None


def write_image(path: str | os.PathLike, image: np.ndarray, *,
                overwrite_input: bool = False) -> None:
    """Write ``image`` atomically to ``path`` (format from its suffix); ``-`` writes PNG to stdout.

    An image file is encoded straight into a temporary file beside ``path`` (no encoded copy
    is held in memory), which is then renamed over ``path``. With ``overwrite_input`` the
    caller gives ``image`` up, as NumPy's ``overwrite_input`` does: the encoder may reorder
    its colour channels in place instead of copying them (a 4K colour image is 24 MiB), and
    its content is undefined afterwards.

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> write_image(target, np.eye(2))
    >>> np.load(target)
    array([[1., 0.],
           [0., 1.]])
    """
    name = display_name(path) if str(path) != STDIO else "<stdout>"
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        # cvtool refuses such files as input, so it does not write them either.
        raise ProcessingError(f"{name}: {NOT_FINITE}")
    suffix = suffix_of(path)
    if str(path) == STDIO:
        with _naming(name):
            data = encode_image(image, suffix)
        write_stdout_bytes(data)
        return

    def encode_into(temp_name: str) -> None:
        with _naming(name):
            write_image_file(image, suffix, temp_name, overwrite_input=overwrite_input)

    write_atomically(Path(path), encode_into, suffix=suffix)


@contextmanager
def _naming(name: str) -> Iterator[None]:
    """An encoder's refusal (a :class:`ProcessingError`) names the file it was meant for."""
    try:
        yield
    except ProcessingError as exc:
        raise ProcessingError(f"{name}: {exc}", parameter=exc.parameter) from None

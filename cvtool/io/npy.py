"""The ``.npy`` format: arrays read safely (never unpickled, size checked first) and written raw.

An ``.npy`` file is taken as it is (H×W or H×W×C with C ≤ 4, any real dtype; booleans read as
8-bit); its header is checked against the pixel limit through a memory map, before anything is
allocated.
"""

from __future__ import annotations

import io as _bytesio
from pathlib import Path

import numpy as np

from cvtool.errors import ProcessingError
from cvtool.io.limits import check_pixel_limit

__all__ = ["encode_npy", "read_npy"]


def encode_npy(image: np.ndarray) -> bytes:
    """The bytes of a ``.npy`` file holding ``image`` (no pickled objects).

    Examples
    --------
    >>> encode_npy(np.zeros((1, 1), np.uint8))[:6]
    b'\\x93NUMPY'
    """
    buffer = _bytesio.BytesIO()
    np.save(buffer, image, allow_pickle=False)
    return buffer.getvalue()


def read_npy(path: Path, name: str) -> np.ndarray:
    """Read an image array from a ``.npy`` file; every failure is a ProcessingError naming ``name``.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.npy"
    >>> target.write_bytes(encode_npy(np.eye(2, dtype=np.float32)))
    144
    >>> read_npy(target, "a.npy").tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
        # Without the magic, np.load would take the file for a pickle (and refuse it, as
        # allow_pickle=False): say what is really wrong instead of "holds Python objects".
        if magic != b"\x93NUMPY":
            raise ProcessingError(f"{name}: not a .npy file (no NumPy header)")
        # mmap first: the shape is checked against the pixel limit before anything is allocated.
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise ProcessingError(f"{name}: no such file") from None
    except ValueError as exc:
        if "mmap length" in str(exc):  # the header promises more bytes than the file holds
            raise ProcessingError(f"{name}: truncated .npy file") from None
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise ProcessingError(
                f"{name}: holds Python objects; cvtool never unpickles files") from None
        raise ProcessingError(f"{name}: not a valid .npy file ({exc})") from None
    except EOFError as exc:
        raise ProcessingError(f"{name}: not a valid .npy file ({exc})") from None
    except OSError as exc:
        raise ProcessingError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(mapped, np.ndarray):
        raise ProcessingError(f"{name}: not a single array")
    if mapped.dtype.kind not in "biuf":
        raise ProcessingError(f"{name}: dtype {mapped.dtype} is not a real number type")
    shape = mapped.shape
    if mapped.ndim == 3 and shape[2] == 1:
        shape = shape[:2]
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] > 4):
        raise ProcessingError(
            f"{name}: array of shape {mapped.shape} is not an image (H×W or H×W×C, C ≤ 4)")
    if 0 in shape:
        raise ProcessingError(f"{name}: image is empty (shape {mapped.shape})")
    check_pixel_limit(shape[0] * shape[1], f"{shape[1]}x{shape[0]}", name)
    try:
        array = np.array(mapped).reshape(shape)
    except (OSError, ValueError) as exc:
        raise ProcessingError(f"{name}: truncated .npy file ({exc})") from None
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ProcessingError(f"{name}: contains NaN or infinite values")
    return array

"""Colour conversions in NumPy (channels in R, G, B(, A) order, as cvtool hands arrays around)."""

from __future__ import annotations

import numpy as np

from cvtool.errors import ProcessingError

#: ITU-R BT.601 luma weights for R, G, B (what OpenCV's RGB2GRAY uses).
BT601 = (0.299, 0.587, 0.114)

#: Bytes of floating-point R,G,B converted at a time by :func:`to_gray`.
_GRAY_BAND_BYTES = 1 << 20


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luminance 0.299 R + 0.587 G + 0.114 B of an H×W×3/4 image; gray is returned as it is.

    The result of a colour image is floating point (float64 for float64 input, else float32),
    so callers decide how to round it back to a pixel type. Alpha is dropped; a gray (+alpha)
    image gives its gray plane unchanged.

    Examples
    --------
    >>> to_gray(np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8))
    array([[76.245, 29.07 ]], dtype=float32)
    """
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (1, 2):  # gray, or gray + alpha
        return image[..., 0]
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ProcessingError(f"gray conversion needs 1 to 4 channels, got shape {image.shape}")
    dtype = np.float64 if image.dtype == np.float64 else np.float32
    weights = np.asarray(BT601, dtype=dtype)
    gray = np.empty(image.shape[:2], dtype)
    # Band by band: converting the whole R,G,B to floats first would be a temporary three
    # times the result (100 MB for a 4K image). Each pixel's sum is the same in any band.
    rows = max(1, _GRAY_BAND_BYTES // max(1, 3 * image.shape[1] * gray.itemsize))
    for r0 in range(0, image.shape[0], rows):
        np.matmul(image[r0:r0 + rows, :, :3].astype(dtype, copy=False), weights,
                  out=gray[r0:r0 + rows])
    return gray


def full_scale(dtype: np.dtype) -> float:
    """The largest value a pixel of ``dtype`` holds (1.0 on the 0..1 scale): the integer
    type's maximum (255, 65535, ...), or 1 for floating point.

    Examples
    --------
    >>> full_scale(np.dtype(np.uint16)), full_scale(np.dtype(np.float32))
    (65535.0, 1.0)
    """
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split off the alpha plane: gray+alpha (H×W×2) and RGBA (H×W×4) have one.

    The one rule for every command: 2 channels are gray + alpha, 4 are R, G, B + alpha; any
    other layout has no alpha and is returned as it is (with ``None``).

    Examples
    --------
    >>> colour, alpha = split_alpha(np.zeros((2, 2, 4)))
    >>> colour.shape, alpha.shape
    ((2, 2, 3), (2, 2))
    >>> gray, alpha = split_alpha(np.zeros((2, 2, 2)))
    >>> gray.shape, alpha.shape
    ((2, 2), (2, 2))
    """
    if image.ndim == 3 and image.shape[2] == 4:
        return image[..., :3], image[..., 3]
    if image.ndim == 3 and image.shape[2] == 2:
        return image[..., 0], image[..., 1]
    return image, None

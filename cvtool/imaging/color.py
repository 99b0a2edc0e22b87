"""Colour conversions in NumPy (channels in R, G, B(, A) order, as cvtool hands arrays around)."""

from __future__ import annotations

import numpy as np

from cvtool.errors import ProcessingError

#: ITU-R BT.601 luma weights for R, G, B (what OpenCV's RGB2GRAY uses).
BT601 = (0.299, 0.587, 0.114)


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
    rgb = image[..., :3].astype(dtype, copy=False)
    weights = np.asarray(BT601, dtype=dtype)
    return rgb @ weights


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

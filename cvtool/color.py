"""Colour conversions in NumPy (channels in R, G, B(, A) order, as cvtool hands arrays around)."""

from __future__ import annotations

import numpy as np

from cvtool.errors import UsageError

#: ITU-R BT.601 luma weights for R, G, B (what OpenCV's RGB2GRAY uses).
BT601 = (0.299, 0.587, 0.114)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luminance 0.299 R + 0.587 G + 0.114 B of an H×W×3/4 image; a gray image is returned as is.

    The result is floating point (float64 for float64 input, else float32) and an alpha channel
    is dropped, so callers decide how to round it back to a pixel type.

    Examples
    --------
    >>> to_gray(np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8))
    array([[76.245, 29.07 ]], dtype=float32)
    """
    if image.ndim == 2:
        return image
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise UsageError(f"gray conversion needs 1, 3 or 4 channels, got shape {image.shape}")
    dtype = np.float64 if image.dtype == np.float64 else np.float32
    rgb = image[..., :3].astype(dtype, copy=False)
    weights = np.asarray(BT601, dtype=dtype)
    return rgb @ weights


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split an H×W×4 image into its colour part and its alpha plane (None when there is none).

    Examples
    --------
    >>> colour, alpha = split_alpha(np.zeros((2, 2, 4)))
    >>> colour.shape, alpha.shape
    ((2, 2, 3), (2, 2))
    """
    if image.ndim == 3 and image.shape[2] == 4:
        return image[..., :3], image[..., 3]
    return image, None

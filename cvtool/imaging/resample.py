"""Image resampling in NumPy: area averaging to shrink, bilinear interpolation to enlarge.

Each axis is resampled on its own (the filters are separable), as a short weighted sum
of gathered rows or columns: every output sample reads at most ``ceil(in/out) + 1``
inputs when shrinking and 2 when enlarging, so the cost is linear in the image size.
"""

from __future__ import annotations

import math

import numpy as np

from cvtool.errors import UsageError

__all__ = ["resize", "pyramid_down", "sample_bilinear"]


def _area_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights (each ``(n_out, taps)``) of exact fractional-area averaging.

    Output sample ``i`` covers the input interval ``[i * s, (i + 1) * s)`` with
    ``s = n_in / n_out``; each input pixel ``[p, p + 1)`` weighs its overlap with that
    interval, divided by ``s`` (weights sum to 1).
    """
    scale = n_in / n_out
    taps = math.ceil(scale) + 1
    start = np.arange(n_out, dtype=np.float64) * scale
    end = start + scale
    first = np.floor(start).astype(np.int64)
    idx = first[:, None] + np.arange(taps)[None, :]
    lo = np.maximum(idx, start[:, None])
    hi = np.minimum(idx + 1, end[:, None])
    weights = np.clip(hi - lo, 0.0, None) / scale
    # Taps that fall past the last pixel carry zero weight; clamp their index so the
    # gather stays in bounds.
    idx = np.minimum(idx, n_in - 1)
    return idx, weights


def _linear_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights (each ``(n_out, 2)``) of pixel-centre-aligned linear interpolation.

    Output centre ``i + 0.5`` maps to input coordinate ``(i + 0.5) * n_in / n_out - 0.5``
    (as ``cv2.INTER_LINEAR``); coordinates beyond the outer pixel centres take the edge
    pixel's value.
    """
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    left = np.minimum(np.floor(src).astype(np.int64), max(n_in - 2, 0))
    frac = src - left
    idx = np.stack([left, np.minimum(left + 1, n_in - 1)], axis=1)
    weights = np.stack([1.0 - frac, frac], axis=1)
    return idx, weights


#: Bytes of one block of gathered samples: each tap's gather, product and sum then stay
#: in a core's cache instead of streaming whole-image temporaries through memory.
BLOCK_BYTES = 512 * 1024


def _resample_axis(image: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Resample ``image`` along ``axis`` (0 or 1) to ``n_out`` samples: for every output
    sample, its taps' input samples times their weights, added tap after tap.

    Blocks of rows (output rows for axis 0, input rows for axis 1) go through all taps
    while in cache; each sum is the same float sequence as over the whole image at once.
    """
    n_in = image.shape[axis]
    if n_out == n_in:
        return image
    idx, weights = (_area_weights if n_out < n_in else _linear_weights)(n_in, n_out)
    weights = weights.astype(image.dtype)
    shape = list(image.shape)
    shape[axis] = n_out
    out = np.empty(shape, dtype=image.dtype)
    tail = (1,) * (image.ndim - 2)
    # Rows per block: output rows when resampling rows, input rows when resampling columns.
    block = max(1, BLOCK_BYTES // max(1, out[0].nbytes))
    buf = np.empty((block,) + tuple(shape[1:]), dtype=image.dtype)
    for r0 in range(0, shape[0], block):
        r1 = min(r0 + block, shape[0])
        dest, gathered = out[r0:r1], buf[:r1 - r0]
        for tap in range(idx.shape[1]):
            if axis == 0:
                np.take(image, idx[r0:r1, tap], axis=0, out=gathered)
                w = weights[r0:r1, tap].reshape((r1 - r0, 1) + tail)
            else:
                np.take(image[r0:r1], idx[:, tap], axis=1, out=gathered)
                w = weights[:, tap].reshape((1, n_out) + tail)
            if tap == 0:
                np.multiply(w, gathered, out=dest)
            else:
                np.multiply(w, gathered, out=gathered)
                np.add(dest, gathered, out=dest)
    return out


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an image to ``size = (new_h, new_w)``.

    Each axis that shrinks is area-averaged with exact fractional-area weights (as
    ``cv2.INTER_AREA``: no aliasing, and a constant stays constant); each axis that grows
    is interpolated bilinearly with pixel centres aligned (as ``cv2.INTER_LINEAR``).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Any real dtype.
    size : tuple of int
        ``(new_h, new_w)``, each at least 1.

    Returns
    -------
    ndarray, shape (new_h, new_w) or (new_h, new_w, C)
        float64 for float64 input, float32 otherwise (integers are not rounded back, so
        that a template search sees the averaged values).

    Raises
    ------
    UsageError
        When ``size`` has a value below 1 or the image is empty or not 2-D/3-D.

    Examples
    --------
    >>> resize(np.array([[0, 2], [4, 6]], dtype=np.uint8), (1, 1))
    array([[3.]], dtype=float32)
    >>> resize(np.array([[0.0, 4.0]]), (1, 4))
    array([[0., 1., 3., 4.]])
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise UsageError(f"image must be a non-empty 2-D or 3-D array, got shape {image.shape}")
    new_h, new_w = (int(v) for v in size)
    if new_h < 1 or new_w < 1:
        raise UsageError(f"size must be at least 1x1, got {new_w}x{new_h} (width x height)")
    dtype = np.float64 if image.dtype == np.float64 else np.float32
    out = image.astype(dtype, copy=False)
    out = _resample_axis(out, new_h, 0)
    out = _resample_axis(out, new_w, 1)
    return np.array(out, dtype=dtype, copy=out is image)


def pyramid_down(image: np.ndarray) -> np.ndarray:
    """Halve an image by averaging 2×2 blocks, to ``(H // 2, W // 2)``.

    An odd last row or column is dropped, so that pixel ``(i, j)`` of the result is
    exactly the mean of pixels ``2i..2i+1, 2j..2j+1``: coarse-to-fine searches can map
    coordinates back by doubling them. Images with a side of 1 keep that side.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)

    Returns
    -------
    ndarray
        The next, coarser level of an image pyramid (dtype as :func:`resize`).

    Examples
    --------
    >>> pyramid_down(np.arange(20.0).reshape(4, 5))
    array([[ 3.,  5.],
           [13., 15.]])
    """
    image = np.asarray(image)
    dtype = np.float64 if image.dtype == np.float64 else np.float32
    h, w = image.shape[:2]
    if h < 2 or w < 2:
        return resize(image, (max(1, h // 2), max(1, w // 2)))
    even = image[: h - h % 2, : w - w % 2].astype(dtype, copy=False)
    # Sum the four phases of each block in place of a generic resampling gather.
    out = even[0::2, 0::2] + even[1::2, 0::2]
    out += even[0::2, 1::2]
    out += even[1::2, 1::2]
    out *= dtype(0.25)
    return out


def sample_bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sample ``image`` bilinearly at every pair of a row and a column coordinate.

    Coordinates are in pixel indices (pixel ``k``'s centre is ``k``); beyond the outer
    pixel centres the edge pixel's value is taken. Rows are interpolated first, on the
    columns that the samples need only.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
    rows, cols : ndarray of float, shapes (M,) and (N,)

    Returns
    -------
    ndarray, shape (M, N) or (M, N, C), float64

    Examples
    --------
    >>> image = np.array([[0.0, 10.0], [20.0, 30.0]])
    >>> sample_bilinear(image, np.array([0.0, 0.5]), np.array([0.25, 1.0, 2.0])).tolist()
    [[2.5, 10.0, 10.0], [12.5, 20.0, 20.0]]
    """
    image = np.asarray(image)
    h, w = image.shape[:2]

    def taps(coords: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        coords = np.clip(np.asarray(coords, np.float64), 0.0, n - 1)
        low = np.minimum(np.floor(coords).astype(np.intp), max(n - 2, 0))
        return low, np.minimum(low + 1, n - 1), coords - low

    y0, y1, fy = taps(rows, h)
    x0, x1, fx = taps(cols, w)
    tail = (1,) * (image.ndim - 2)
    used = np.unique(np.concatenate([x0, x1]))
    cols_of = np.searchsorted(used, np.stack([x0, x1]))
    part = image[:, used].astype(np.float64)
    fy = fy.reshape((-1, 1) + tail)
    by_row = part[y0] * (1.0 - fy) + part[y1] * fy  # M × (columns used) [× C]
    fx = fx.reshape((1, -1) + tail)
    return by_row[:, cols_of[0]] * (1.0 - fx) + by_row[:, cols_of[1]] * fx

"""Entropy of images: exact histograms, whole-image entropy, and local entropy maps.

Images are histogrammed exactly, one bin per pixel value: 256 bins for 8-bit, 65536 for
16-bit. Floating-point images are taken on the 0..1 scale and quantised to 256 levels (the
8-bit value each pixel would have), because "one bin per value" over continuous data would
make almost every pixel its own bin and the entropy meaningless.

The local entropy map slides one histogram per output column down the image, updating it
for the row that enters and the row that leaves the window; all columns (and several row
strips) move together as vectorised NumPy operations, so there is no Python loop per pixel.
Values are first relabelled to the distinct values present (exact: entropy only sees which
pixels are equal), and the histograms are cut into column bands so that they never take
more than about 48 MB, even for 16-bit images with 65536 possible values; such images are
slower (narrower bands), never approximated.

Colour images use their BT.601 luminance rounded back to the input's integer type; alpha
is ignored everywhere (it is coverage, not intensity), including per-channel entropies,
which report R, G and B.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cvtool.errors import ProcessingError, UsageError
from cvtool.imaging.color import split_alpha, to_gray
from cvtool.measures.information import base_value, log_base

__all__ = [
    "luminance",
    "pixel_codes",
    "histogram",
    "image_entropy",
    "channel_entropies",
    "local_entropy",
    "max_local_entropy",
    "check_window",
    "levels_of",
]

# Memory the local entropy map may spend on its sliding histograms.
_HISTOGRAM_BUDGET_BYTES = 48 << 20
# Histograms moved together per step: long enough vectors to hide Python's overhead, few
# enough to stay in cache (measured on 1920×1080, N = 9).
_TARGET_LANES = 6144


def luminance(image: np.ndarray) -> np.ndarray:
    """BT.601 luminance of a colour image, rounded back to the input's integer type.

    Gray images are returned unchanged; alpha is ignored. Integer results are rounded to
    the nearest value and kept in the input's type, so an 8-bit image still has 256
    possible levels; floating-point inputs stay floating point.

    Examples
    --------
    >>> luminance(np.array([[[255, 0, 0], [255, 255, 255]]], dtype=np.uint8))
    array([[ 76, 255]], dtype=uint8)
    """
    colour, _ = split_alpha(image)  # the one rule for which channel is alpha
    if colour.ndim == 2:
        return colour
    if colour.ndim == 3 and colour.shape[2] == 1:
        return colour[..., 0]
    gray = to_gray(colour)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        return np.clip(np.rint(gray), info.min, info.max).astype(image.dtype)
    return gray.astype(image.dtype, copy=False)


def pixel_codes(plane: np.ndarray) -> tuple[np.ndarray, int]:
    """Map one image plane to integer bin codes 0..levels−1, one bin per pixel value.

    8-bit (and bool, int8) planes give 256 levels (2 for bool), 16-bit planes 65536; wider
    integers keep their exact values (codes are the ranks of the distinct values, and the
    levels count is the type's full range). Floating-point planes must lie in [0, 1] and are
    quantised to 256 levels, round(255·x).

    Returns
    -------
    codes : numpy.ndarray
        Non-negative integer array of the plane's shape.
    levels : int
        How many distinct values the pixel type allows (for scaling maps).

    Raises
    ------
    ProcessingError
        For NaN, infinite or out-of-range floating-point values.

    Examples
    --------
    >>> codes, levels = pixel_codes(np.array([[-128, 127]], dtype=np.int8))
    >>> codes.tolist(), levels
    ([[0, 255]], 256)
    """
    dtype = plane.dtype
    if dtype == np.bool_:
        return plane.astype(np.uint8), 2
    if dtype in (np.uint8, np.uint16):
        return plane, 1 << (8 * dtype.itemsize)
    if dtype in (np.int8, np.int16):
        bits = 8 * dtype.itemsize
        unsigned = np.dtype(f"uint{bits}")
        # Flipping the sign bit maps min..max onto 0..2**bits - 1 in order.
        return (plane.view(unsigned) ^ unsigned.type(1 << (bits - 1))), 1 << bits
    if np.issubdtype(dtype, np.integer):
        _, inverse = np.unique(plane, return_inverse=True)
        return inverse.reshape(plane.shape), 1 << (8 * dtype.itemsize)
    if np.issubdtype(dtype, np.floating):
        if not np.all(np.isfinite(plane)):
            raise ProcessingError("floating-point image contains NaN or infinity")
        lo, hi = (float(plane.min()), float(plane.max())) if plane.size else (0.0, 0.0)
        if lo < 0 or hi > 1:
            raise ProcessingError(
                "floating-point images are taken on the 0..1 scale for entropy, "
                f"but this one spans {lo:g}..{hi:g}; convert it to 8- or 16-bit first")
        return np.rint(plane * 255.0).astype(np.uint8), 256
    raise ProcessingError(f"cannot compute the entropy of a {dtype} image")


def levels_of(dtype: np.dtype) -> int:
    """How many distinct values a pixel type allows, as :func:`pixel_codes` bins them.

    Examples
    --------
    >>> levels_of(np.dtype(np.uint8)), levels_of(np.dtype(np.uint16)), levels_of(np.float32)
    (256, 65536, 256)
    """
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return 2
    if dtype.kind in "ui":
        return 1 << (8 * dtype.itemsize)
    return 256


def histogram(plane: np.ndarray) -> np.ndarray:
    """Counts of each pixel value in one plane (see :func:`pixel_codes` for the bins).

    Examples
    --------
    >>> h = histogram(np.array([[0, 0, 255]], dtype=np.uint8))
    >>> h.size, int(h[0]), int(h[255])
    (256, 2, 1)
    """
    codes, levels = pixel_codes(plane)
    minlength = levels if levels <= (1 << 16) else 0
    return np.bincount(codes.ravel(), minlength=minlength)


def _entropy_of_counts(counts: np.ndarray, base: float) -> float:
    n = counts.sum()
    if n == 0:
        return 0.0
    c = counts[counts > 0].astype(np.float64)
    p = c / n
    return float(-np.sum(p * log_base(p, base))) + 0.0


def _colour_planes(image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The named intensity planes, alpha left out (as :func:`cvtool.imaging.color.split_alpha`)."""
    if not (image.ndim == 2 or (image.ndim == 3 and 1 <= image.shape[2] <= 4)):
        raise ProcessingError(f"expected a gray, RGB or RGBA image, got an array of shape "
                              f"{image.shape}")
    colour, _ = split_alpha(image)
    if colour.ndim == 2:
        return [("L", colour)]
    if colour.shape[2] == 1:
        return [("L", colour[..., 0])]
    return [(name, colour[..., i]) for i, name in enumerate("RGB")]


def image_entropy(image: np.ndarray, base: str | float = 2) -> float:
    """Shannon entropy of an image's intensity histogram (luminance for colour images).

    Parameters
    ----------
    image : numpy.ndarray
        H×W gray or H×W×3/4 colour (R, G, B(, A)) image; alpha is ignored.
    base : {2, "e", 10} or float
        The logarithm base; 2 gives bits (at most 8 for an 8-bit image).

    Returns
    -------
    float

    Examples
    --------
    >>> image_entropy(np.arange(256, dtype=np.uint8).reshape(16, 16))
    8.0
    >>> image_entropy(np.zeros((4, 4), dtype=np.uint8))
    0.0
    """
    b = base_value(base)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    _colour_planes(image)  # validates the shape
    return _entropy_of_counts(histogram(luminance(image)), b)


def channel_entropies(image: np.ndarray, base: str | float = 2) -> dict[str, float]:
    """Entropy of each colour channel's histogram: ``{"R": ..., "G": ..., "B": ...}``.

    A gray image gives ``{"L": ...}``. Alpha is not reported: it is coverage, not intensity.

    Examples
    --------
    >>> img = np.zeros((2, 2, 3), dtype=np.uint8); img[0, :, 0] = 255
    >>> channel_entropies(img)
    {'R': 1.0, 'G': 0.0, 'B': 0.0}
    """
    b = base_value(base)
    return {name: _entropy_of_counts(histogram(plane), b)
            for name, plane in _colour_planes(image)}


def max_local_entropy(window: int, levels: int) -> float:
    """The largest value a local entropy map can hold, in bits: log2(min(N², levels)).

    Examples
    --------
    >>> max_local_entropy(9, 256), max_local_entropy(31, 256)
    (6.339850002884624, 8.0)
    """
    return math.log2(min(window * window, levels))


def check_window(window: int) -> int:
    """Validate the local entropy window N: a whole number, odd, ≥ 3.

    Examples
    --------
    >>> check_window(9)
    9
    """
    if isinstance(window, bool) or int(window) != window:
        raise UsageError(f"window must be a whole number, got {window!r}", parameter="window")
    window = int(window)
    if window < 3 or window % 2 == 0:
        raise UsageError(f"window must be odd and >= 3, got {window}", parameter="window")
    return window


def _dense_codes(plane: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel the plane's values as 0..K−1, K the number of distinct values present.

    Entropy depends only on which pixels are equal, so this is exact; it keeps the
    sliding histograms as small as the image allows (K ≤ 256 for 8-bit, usually far
    below 65536 for 16-bit).
    """
    codes, levels = pixel_codes(plane)
    if levels <= (1 << 16):
        present = np.bincount(codes.ravel(), minlength=levels) > 0
        relabel = (np.cumsum(present) - 1).astype(np.int32)
        return relabel[codes], int(present.sum())
    # Wider integers: pixel_codes already returned ranks of the distinct values.
    return codes.astype(np.int32, copy=False), int(codes.max()) + 1 if codes.size else 1


def local_entropy(image: np.ndarray, window: int, *,
                  progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Entropy, in bits, of the histogram of every N×N neighbourhood of an image.

    Near the border only the pixels that lie inside the image are counted (a corner
    pixel's 9×9 neighbourhood holds 25 pixels), as ``skimage.filters.rank.entropy`` does.
    Colour images use their luminance, as :func:`image_entropy` does.

    Parameters
    ----------
    image : numpy.ndarray
        H×W or H×W×3/4 image; integer or floating point on 0..1 (see :func:`pixel_codes`).
    window : int
        N, odd and ≥ 3.
    progress : callable, optional
        Called with the fraction done (0..1) as the sweep advances.

    Returns
    -------
    numpy.ndarray
        float64 H×W map, each value between 0 and log2(min(N², levels)).

    Notes
    -----
    Each output column keeps a histogram of its window; moving one row down adds the N
    pixels of the entering row and removes the N of the leaving one, while
    S = Σ c·log2 c over the histogram's counts is updated from a lookup table of
    c·log2 c differences, so the entropy is log2(n) − S / n with n the number of pixels
    in the window. Pixels outside the image go to an extra bin that is left out of S.
    Each update touches one bin of every histogram (never the same one twice), so a
    whole row of histograms moves in a few vectorised gathers and scatters; the image
    is cut into row strips (and, for images with many distinct values, column bands)
    that move together, bounded to about 48 MB of histograms whatever the bit depth.

    Examples
    --------
    >>> img = np.array([[0, 0, 0], [0, 255, 0], [0, 0, 0]], dtype=np.uint8)
    >>> local_entropy(img, 3).round(3)
    array([[0.811, 0.65 , 0.811],
           [0.65 , 0.503, 0.65 ],
           [0.811, 0.65 , 0.811]])
    """
    n_win = check_window(window)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    _colour_planes(image)
    plane = luminance(image)
    height, width = plane.shape
    if plane.size == 0:
        return np.zeros(plane.shape, dtype=np.float64)
    codes, k = _dense_codes(plane)
    # A window wider than 2·max(H, W) − 1 holds the same in-image pixels as that one (the
    # rest lies outside and is not counted), so the result is exact at a cost that no longer
    # grows with N: a 1×1 image with window=1501 took 9 s before.
    effective = max(3, min(n_win, 2 * max(height, width) - 1))
    return _sliding_entropy(codes, k, effective, progress)


def _sliding_entropy(codes: np.ndarray, k: int, n_win: int,
                     progress: Callable[[float], None] | None) -> np.ndarray:
    height, width = codes.shape
    r = n_win // 2
    area = n_win * n_win
    bins = k + 1                      # bin k holds the pixels outside the image
    count_dtype = np.uint8 if area < 256 else (np.uint16 if area < 65536 else np.uint32)
    max_lanes = max(64, _HISTOGRAM_BUDGET_BYTES // (bins * np.dtype(count_dtype).itemsize))
    lanes_wanted = min(max_lanes, _TARGET_LANES)

    # Column bands only when one full row of histograms would not fit in the budget.
    n_bands = math.ceil(width / min(width, max_lanes))
    band = math.ceil(width / n_bands)
    # Row strips: enough to give long vectors, but each a few windows tall so that the
    # 2r warm-up rows per strip stay a small overhead.
    n_strips = min(max(1, lanes_wanted // (band * n_bands)),
                   max(1, height // max(8 * n_win, 32)))
    strip = math.ceil(height / n_strips)

    # Sentinel-padded codes: r all round, plus whatever rounds the strips and bands up.
    padded = np.full((n_strips * strip + 2 * r, n_bands * band + 2 * r), k, dtype=np.int64)
    padded[r:r + height, r:r + width] = codes
    # Each group is one strip × band with its r-pixel margins; the window axes come last,
    # so tiles is (strips, bands, rows, cols).
    rows = sliding_window_view(padded, strip + 2 * r, axis=0)[::strip]
    tiles = sliding_window_view(rows, band + 2 * r, axis=1)[:, ::band]
    groups = tiles.reshape(n_strips * n_bands, strip + 2 * r, band + 2 * r)
    per_chunk = max(1, lanes_wanted // band)
    chunks = [groups[i:i + per_chunk] for i in range(0, len(groups), per_chunk)]

    # f(c) = c·log2 c; add_delta[c] = f(c+1) − f(c), remove_delta[c] = f(c−1) − f(c).
    c = np.arange(area + 2, dtype=np.float64)
    f = np.zeros_like(c)
    f[1:] = c[1:] * np.log2(c[1:])
    add_delta = f[1:] - f[:-1]
    remove_delta = np.zeros_like(f)
    remove_delta[1:] = f[:-1] - f[1:]

    done = 0
    total = len(chunks) * (strip + 2 * r)

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None and (done % 16 == 0 or done == total):
            progress(done / total)

    s_parts = [_sweep_chunk(chunk, n_win, bins, count_dtype, add_delta, remove_delta, tick)
               for chunk in chunks]
    s_groups = np.concatenate(s_parts, axis=0)
    s_map = (s_groups.reshape(n_strips, n_bands, strip, band).transpose(0, 2, 1, 3)
             .reshape(n_strips * strip, n_bands * band)[:height, :width])
    # Pixels inside each window: rows inside × columns inside.
    rows_in = (np.minimum(np.arange(height) + r, height - 1)
               - np.maximum(np.arange(height) - r, 0) + 1)
    cols_in = (np.minimum(np.arange(width) + r, width - 1)
               - np.maximum(np.arange(width) - r, 0) + 1)
    n = (rows_in[:, None] * cols_in[None, :]).astype(np.float64)
    outside = (area - n).astype(np.intp)
    result = np.log2(n) - (s_map - f[outside]) / n
    # Incremental sums leave ~1e-13 of rounding where the true value is exactly 0.
    result[result < 1e-9] = 0.0
    return result


def _sweep_chunk(groups: np.ndarray, n_win: int, bins: int, count_dtype: type,
                 add_delta: np.ndarray, remove_delta: np.ndarray,
                 tick: Callable[[], None]) -> np.ndarray:
    """Slide one histogram per lane down a chunk of tiles; return S = Σ c·log2 c per window.

    ``groups`` is (G, strip + 2r, band + 2r) of codes (the sentinel bin for outside pixels);
    the result is (G, strip, band).
    """
    n_groups, n_rows, n_cols = groups.shape
    r = n_win // 2
    band = n_cols - 2 * r
    lanes = n_groups * band
    # Bin-major layout (index = value·lanes + lane): neighbouring windows mostly hold the
    # same values, so one update step touches neighbouring memory.
    flat = np.ascontiguousarray(groups) * lanes
    lane_index = np.arange(lanes, dtype=np.int64).reshape(n_groups, 1, band)

    hist = np.zeros(bins * lanes, dtype=count_dtype)
    s = np.zeros(lanes, dtype=np.float64)
    out = np.empty((n_groups, n_rows - 2 * r, band), dtype=np.float64)
    before = np.empty((n_win, lanes), dtype=count_dtype)
    plus_one = count_dtype(1)
    # Unsigned counts: adding the type's maximum is subtracting 1, modulo 2**bits.
    minus_one = count_dtype(np.iinfo(count_dtype).max)

    def update(t: int, step: np.generic, delta: np.ndarray) -> None:
        # Row t of every lane's window: the j-th pixel of each, for j = 0..N−1.
        vals = sliding_window_view(flat[:, t, :], band, axis=1)        # (groups, N, band)
        indices = (vals + lane_index).transpose(1, 0, 2).reshape(n_win, lanes)
        # One pixel per lane per step, so no bin is hit twice within a gather/scatter pair.
        for j, idx in enumerate(indices):
            cnt = np.take(hist, idx, out=before[j])
            hist[idx] = cnt + step
        s[:] += delta[before].sum(axis=0)

    for t in range(n_rows):
        update(t, plus_one, add_delta)
        if t >= 2 * r:
            out[:, t - 2 * r, :] = s.reshape(n_groups, band)
            update(t - 2 * r, minus_one, remove_delta)
        tick()
    return out

"""Shannon entropy, cross-entropy, KL divergence, stable softmax, and image entropy maps.

Every function takes the logarithm base as ``base`` (2 by default: bits; ``math.e``: nats,
as deep-learning losses use; 10: hartleys). Probabilities follow the convention
0 · log 0 = 0, so an impossible outcome contributes nothing to an entropy.

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
is ignored everywhere (it is coverage, not intensity), including ``--per-channel``, which
reports R, G and B.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cvtool.errors import ProcessingError, UsageError
from cvtool.imaging.color import split_alpha, to_gray

__all__ = [
    "BASES",
    "UNITS",
    "base_value",
    "unit_of",
    "check_distribution",
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "logsumexp",
    "softmax",
    "log_softmax",
    "cross_entropy_logits",
    "kl_divergence_logits",
    "check_logits",
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

#: The bases a user can name, and the unit each one gives.
BASES: dict[str, float] = {"2": 2.0, "e": math.e, "10": 10.0}
UNITS: dict[str, str] = {"2": "bits", "e": "nats", "10": "hartleys"}

#: How far a distribution's sum may stray from 1 (rounding in hand-typed values).
SUM_TOLERANCE = 1e-6

# Memory the local entropy map may spend on its sliding histograms.
_HISTOGRAM_BUDGET_BYTES = 48 << 20
# Histograms moved together per step: long enough vectors to hide Python's overhead, few
# enough to stay in cache (measured on 1920×1080, N = 9).
_TARGET_LANES = 6144


def base_value(base: str | float) -> float:
    """The numeric logarithm base for ``"2"``, ``"e"`` or ``"10"`` (or a number > 0, ≠ 1).

    Parameters
    ----------
    base : str or float
        One of the names in :data:`BASES`, or a positive number other than 1.

    Returns
    -------
    float

    Examples
    --------
    >>> base_value("e") == math.e, base_value("10"), base_value(2)
    (True, 10.0, 2.0)
    """
    if isinstance(base, str):
        key = base.strip().lower()
        if key not in BASES:
            raise UsageError(f"--base must be one of 2, e, 10; got {base!r}")
        return BASES[key]
    value = float(base)
    if not math.isfinite(value) or value <= 0 or value == 1:
        raise UsageError(f"base must be a positive number other than 1, got {base!r}")
    return value


def unit_of(base: str | float) -> str:
    """The unit of an entropy in ``base``: bits, nats, hartleys (else ``log<base>``).

    Examples
    --------
    >>> unit_of(2), unit_of("e"), unit_of(10.0), unit_of(3)
    ('bits', 'nats', 'hartleys', 'log3 units')
    """
    value = base_value(base)
    for key, known in BASES.items():
        if value == known:
            return UNITS[key]
    return f"log{value:g} units"


def _log(values: np.ndarray, base: float) -> np.ndarray:
    if base == 2.0:
        return np.log2(values)
    if base == 10.0:
        return np.log10(values)
    return np.log(values) / math.log(base)


def check_distribution(p: Sequence[float] | np.ndarray, name: str = "--probs") -> np.ndarray:
    """Validate a probability vector: 1-D, finite, ≥ 0, summing to 1 within 1e-6.

    Parameters
    ----------
    p : array_like
        The probabilities.
    name : str
        How the argument is named in error messages (``--probs``, ``--target``).

    Returns
    -------
    numpy.ndarray
        ``p`` as a float64 array.

    Raises
    ------
    UsageError
        Naming ``name`` and what was wrong.

    Examples
    --------
    >>> check_distribution([0.25, 0.75])
    array([0.25, 0.75])
    >>> check_distribution([0.5, 0.6])
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: --probs must sum to 1 (within 1e-06), got 1.1
    """
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise UsageError(f"{name} must be a non-empty list of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise UsageError(f"{name} must contain finite numbers only, got {_fmt_list(arr)}")
    if np.any(arr < 0):
        raise UsageError(f"{name} must be >= 0, got {arr[arr < 0][0]:g}")
    total = float(arr.sum())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise UsageError(f"{name} must sum to 1 (within {SUM_TOLERANCE:g}), got {total:.10g}")
    return arr


def _fmt_list(arr: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in arr[:8]) + (", ...]" if arr.size > 8 else "]")


def entropy(p: Sequence[float] | np.ndarray, base: str | float = 2) -> float:
    """Shannon entropy H(p) = −Σ p log p, with 0 · log 0 = 0.

    Parameters
    ----------
    p : array_like
        A probability distribution (≥ 0, summing to 1 within 1e-6).
    base : {2, "e", 10} or float
        The logarithm base; 2 gives bits.

    Returns
    -------
    float

    Notes
    -----
    The lecture's worked examples: H(1/2, 1/2) = log10 2 = 0.30103 hartleys (its D2 ≈ 0.3),
    and H(1/8, 7/8) = 0.163629 hartleys (0.543564 bits). The lecture prints 0.06 for the
    latter, which is wrong; ``scipy.stats.entropy([1/8, 7/8], base=10)`` agrees with
    0.163629, and the tests pin that value.

    Examples
    --------
    >>> round(entropy([0.5, 0.5], base=10), 5)
    0.30103
    >>> round(entropy([1/8, 7/8], base=10), 6)
    0.163629
    >>> entropy([1.0, 0.0])
    0.0
    """
    b = base_value(base)
    arr = check_distribution(p, "--probs")
    nz = arr[arr > 0]
    # A certain outcome gives -(1 * log 1) = -0.0; report a clean 0.
    return float(-np.sum(nz * _log(nz, b))) + 0.0


def cross_entropy(target: Sequence[float] | np.ndarray, pred: Sequence[float] | np.ndarray,
                  base: str | float = 2) -> float:
    """Cross-entropy H(T, P) = −Σ T log P; infinite when P = 0 where T > 0.

    Terms with T = 0 contribute nothing, whatever P is (0 · log 0 = 0).

    Parameters
    ----------
    target : array_like
        The true distribution T.
    pred : array_like
        The predicted distribution P, the same length as ``target``.
    base : {2, "e", 10} or float
        The logarithm base.

    Returns
    -------
    float
        ``math.inf`` when P gives zero probability to an outcome T allows.

    Examples
    --------
    >>> round(cross_entropy([0, 1], [0.25, 0.75]), 6)
    0.415037
    >>> cross_entropy([0.5, 0.5], [1.0, 0.0])
    inf
    """
    b, t, q, mask = _pair(target, pred, base)
    if np.any(q[mask] == 0):
        return math.inf
    return float(-np.sum(t[mask] * _log(q[mask], b))) + 0.0


def kl_divergence(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray,
                  base: str | float = 2) -> float:
    """Kullback–Leibler divergence KL(p ‖ q) = Σ p log(p / q) = H(p, q) − H(p).

    Computed term by term (not as a difference of two entropies) so that KL(p, p) is
    exactly 0 and small divergences keep their precision.

    Parameters
    ----------
    p : array_like
        The reference (true) distribution.
    q : array_like
        The approximating distribution, the same length as ``p``.
    base : {2, "e", 10} or float
        The logarithm base.

    Returns
    -------
    float
        ≥ 0; ``math.inf`` when q = 0 where p > 0.

    Examples
    --------
    >>> kl_divergence([0.2, 0.8], [0.2, 0.8])
    0.0
    >>> round(kl_divergence([0.5, 0.5], [0.25, 0.75]), 6)
    0.207519
    """
    b, pp, qq, mask = _pair(p, q, base)
    if np.any(qq[mask] == 0):
        return math.inf
    terms = pp[mask] * _log(pp[mask] / qq[mask], b)
    # Gibbs' inequality: KL ≥ 0; rounding may leave a tiny negative.
    return max(float(np.sum(terms)), 0.0)


def _pair(target: Sequence[float] | np.ndarray, other: Sequence[float] | np.ndarray,
          base: str | float, other_name: str = "--probs",
          ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The checks every two-argument loss starts with; returns ``(base, t, other, t > 0)``.

    ``target`` must be a distribution; ``other`` is one too (``--probs``) or logits
    (``--logits``); both the same length. The mask picks the terms that count
    (0 · log 0 = 0).
    """
    b = base_value(base)
    t = check_distribution(target, "--target")
    if other_name == "--logits":
        q = check_logits(other)
    else:
        q = check_distribution(other, other_name)
    if t.shape != q.shape:
        raise UsageError(f"--target has {t.size} values but {other_name} has {q.size}; "
                         "they must be the same length")
    return b, t, q, t > 0


def logsumexp(z: np.ndarray | Sequence[float], axis: int = -1) -> np.ndarray | float:
    """log Σ exp(z) along ``axis``, shifted by the maximum so it never overflows.

    Examples
    --------
    >>> round(float(logsumexp([1000.0, 1000.0])) - 1000.0, 12) == round(math.log(2), 12)
    True
    """
    arr = np.asarray(z, dtype=np.float64)
    m = np.max(arr, axis=axis, keepdims=True)
    # exp(z - max) is at most 1, and equals 1 at the maximum, so the sum is in [1, n].
    with np.errstate(over="ignore"):
        out = np.log(np.sum(np.exp(arr - m), axis=axis, keepdims=True)) + m
    out = np.squeeze(out, axis=axis)
    return float(out) if out.ndim == 0 else out


def softmax(z: np.ndarray | Sequence[float], axis: int = -1) -> np.ndarray:
    """softmax(z)_i = exp(z_i) / Σ_j exp(z_j), stable for logits of any size.

    Subtracting the maximum first keeps every exponent ≤ 0, so nothing overflows and
    the largest term is exactly exp(0) = 1; the result is shift-invariant by construction.

    Examples
    --------
    >>> softmax([1000.0, -1000.0])
    array([1., 0.])
    >>> softmax([0.0, 0.0, 0.0]).round(4)
    array([0.3333, 0.3333, 0.3333])
    """
    arr = np.asarray(z, dtype=np.float64)
    # Logits ~1e308 apart overflow in the subtraction; −inf then gives exp = 0, as it should.
    with np.errstate(over="ignore"):
        e = np.exp(arr - np.max(arr, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z: np.ndarray | Sequence[float], axis: int = -1) -> np.ndarray:
    """log softmax(z) = z − logsumexp(z): finite even where softmax underflows to 0.

    Examples
    --------
    >>> log_softmax([1000.0, -1000.0])
    array([    0., -2000.])
    """
    arr = np.asarray(z, dtype=np.float64)
    # Shift first so the result is exactly z − max − log Σ exp(z − max): logsumexp of the
    # shifted logits has maximum 0, so it shifts by nothing more and adds no rounding.
    # Logits ~1e308 apart overflow in the subtraction; −inf is then the right answer.
    with np.errstate(over="ignore"):
        shifted = arr - np.max(arr, axis=axis, keepdims=True)
    return shifted - np.expand_dims(logsumexp(shifted, axis=axis), axis)


def check_logits(z: Sequence[float] | np.ndarray, name: str = "--logits") -> np.ndarray:
    """Validate logits: a non-empty 1-D list of finite numbers.

    Examples
    --------
    >>> check_logits([1, 2])
    array([1., 2.])
    """
    arr = np.asarray(z, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise UsageError(f"{name} must be a non-empty list of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise UsageError(f"{name} must contain finite numbers only, got {_fmt_list(arr)}")
    return arr


def cross_entropy_logits(logits: Sequence[float] | np.ndarray, *,
                         target: Sequence[float] | np.ndarray | None = None,
                         label: int | None = None, base: str | float = 2) -> float:
    """Cross-entropy of softmax(logits) against a distribution ``target`` or a class ``label``.

    Uses log_softmax, so the loss stays finite (and exact) where softmax itself
    underflows to 0: logits (1000, −1000) with label 1 cost 2000 nats, not infinity.

    Parameters
    ----------
    logits : array_like
        Finite unnormalised scores, one per class.
    target : array_like, optional
        The true distribution (same length as ``logits``).
    label : int, optional
        The true class, a 0-based index; exactly one of ``target`` and ``label`` is given.
    base : {2, "e", 10} or float
        The logarithm base; ``"e"`` gives the nats deep-learning losses report.

    Returns
    -------
    float

    Examples
    --------
    >>> round(cross_entropy_logits([2.0, 1.0, 0.1], label=0, base="e"), 6)
    0.417030
    >>> cross_entropy_logits([1000.0, -1000.0], label=1, base="e")
    2000.0
    """
    if (target is None) == (label is None):
        raise UsageError("give exactly one of --target and --label with --logits")
    if target is not None:
        b, t, z, mask = _pair(target, logits, base, "--logits")
        return float(-np.sum(t[mask] * log_softmax(z)[mask]) / math.log(b)) + 0.0
    b = base_value(base)
    z = check_logits(logits)
    if isinstance(label, bool) or int(label) != label:
        raise UsageError(f"--label must be a whole number, got {label!r}")
    if not 0 <= int(label) < z.size:
        raise UsageError(f"--label must be a class index from 0 to {z.size - 1} "
                         f"(0-based, {z.size} logits), got {label}")
    return float(-log_softmax(z)[int(label)] / math.log(b)) + 0.0


def kl_divergence_logits(target: Sequence[float] | np.ndarray,
                         logits: Sequence[float] | np.ndarray, base: str | float = 2) -> float:
    """KL(T ‖ softmax(logits)) = Σ T (log T − log_softmax), finite for any finite logits.

    Examples
    --------
    >>> round(kl_divergence_logits([0.5, 0.5], [0.0, 0.0]), 12)
    0.0
    >>> kl_divergence_logits([0.0, 1.0], [1000.0, -1000.0], base="e")
    2000.0
    """
    b, t, z, mask = _pair(target, logits, base, "--logits")
    terms = t[mask] * (np.log(t[mask]) - log_softmax(z)[mask])
    return max(float(np.sum(terms)) / math.log(b), 0.0)


# ---------------------------------------------------------------------------------------------
# Images


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
    return float(-np.sum(p * _log(p, base))) + 0.0


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
        raise UsageError(f"--window must be a whole number, got {window!r}")
    window = int(window)
    if window < 3 or window % 2 == 0:
        raise UsageError(f"--window must be odd and >= 3, got {window}")
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
    # grows with N: a 1×1 image with --window 1501 took 9 s before.
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

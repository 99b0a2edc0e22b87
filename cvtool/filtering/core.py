"""Correlation and convolution of images with any kernel, padding, output shape and stride.

One private core, :func:`_filter`, does everything; :func:`correlate` and :func:`convolve`
are thin wrappers (convolution is correlation with the kernel rotated by 180°, anchored so
that it equals ``scipy.ndimage.convolve``). The core validates first, naming the option
at fault, then picks the fastest applicable strategy; every strategy gives the direct
result within float32 rounding.

Definitions, for an H×W image ``f`` and a kh×kw kernel ``h``::

    correlate: g(i, j) = Σ_k Σ_l f(i + k - ay, j + l - ax) · h(k, l)   ay, ax = kh//2, kw//2
    convolve:  correlate with h[::-1, ::-1] and the anchor ((kh-1)//2, (kw-1)//2)

``same`` keeps H×W, ``valid`` keeps the (H-kh+1)×(W-kw+1) positions where the kernel lies
inside, ``full`` gives all (H+kh-1)×(W+kw-1) positions of overlap. A stride S keeps rows and
columns 0, S, 2S, ... of that, and only those are computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cvtool.errors import ProcessingError, UsageError
from cvtool.filtering import strategies as _strategies
from cvtool.filtering.source import PaddedSource, resolve_workers
from cvtool.imaging.padding import canonical_padding

__all__ = ["SHAPES", "STRATEGIES", "anchor", "choose_strategy", "convolve", "correlate",
           "separable_factors"]

#: Output shapes, as ``--shape`` accepts them.
SHAPES: tuple[str, ...] = ("same", "valid", "full")
#: Ways of computing a result (``auto`` picks one); all agree within float32 rounding.
STRATEGIES: tuple[str, ...] = ("auto", "direct", "separable", "box", "fft")

# Relative tolerance on the second singular value for a kernel to count as rank 1.
_RANK1_RTOL = 1e-9


# ----------------------------------------------------------------------------- validation

def _check_stride(stride) -> tuple[int, int]:
    values = (stride, stride) if np.ndim(stride) == 0 else tuple(stride)
    if len(values) != 2:
        raise UsageError(f"--stride must be S or SY,SX, got {stride!r}")
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                raise UsageError(f"--stride must be an integer >= 1, got {v!r}")
        if v < 1:
            raise UsageError(f"--stride must be >= 1, got {v}")
        out.append(int(v))
    return out[0], out[1]


def _check_kernel(kernel) -> np.ndarray:
    try:
        k = np.asarray(kernel, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError("kernel must be a 2-D array of real numbers") from None
    if k.ndim != 2:
        raise UsageError(f"kernel must be 2-D, got {k.ndim}-D with shape {k.shape}")
    if k.size == 0:
        raise UsageError("kernel is empty")
    if not np.isfinite(k).all():
        raise UsageError("kernel contains NaN or infinity")
    return k


def _check_image(image) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype.kind not in "biuf":
        raise UsageError(f"image must hold real numbers, got dtype {img.dtype}")
    if img.ndim not in (2, 3):
        raise UsageError(f"image must be H×W or H×W×C, got shape {img.shape}")
    if min(img.shape) == 0:
        raise ProcessingError(f"image is empty (shape {img.shape})")
    return img


def _check_pad_value(value, channels: int | None) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise UsageError(f"--pad-value must be numbers, got {value!r}") from None
    if v.size == 0 or not np.isfinite(v).all():
        raise UsageError(f"--pad-value must be finite numbers, got {value!r}")
    if v.size == 1:
        return v[0]
    if channels is None or v.size != channels:
        have = 1 if channels is None else channels
        raise UsageError(
            f"--pad-value has {v.size} values but the image has {have} "
            f"channel{'s' if have != 1 else ''}"
        )
    return v


def _working_dtype(dtype: np.dtype) -> np.dtype:
    # Float64 input keeps float64; everything else (8/16-bit, ints, bool, float16/32) is
    # computed in float32, which is exact enough for 16-bit data and twice as fast.
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


# ----------------------------------------------------------------------------- strategies

def separable_factors(kernel: np.ndarray, rtol: float = _RANK1_RTOL):
    """Factor a rank-1 kernel as ``outer(column, row)``, or return None.

    The rank is judged by SVD (second singular value ≤ ``rtol`` × the first); the factors
    are then taken from the kernel's own largest entry's row and column, so exactly
    separable kernels (box, binomial, sampled Gaussians) are reproduced without SVD rounding.

    Examples
    --------
    >>> col, row = separable_factors(np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0]))
    >>> np.allclose(np.outer(col, row), np.outer([1, 2, 1], [1, 0, -1]))
    True
    >>> separable_factors(np.eye(2)) is None
    True
    """
    k = np.asarray(kernel, dtype=np.float64)
    if min(k.shape) == 1:
        return (k[:, 0].copy(), np.ones(1)) if k.shape[1] == 1 else (np.ones(1), k[0].copy())
    s = np.linalg.svd(k, compute_uv=False)
    if s[0] == 0 or s[1] > rtol * s[0]:
        return None
    i, j = np.unravel_index(np.argmax(np.abs(k)), k.shape)
    return k[:, j].copy(), k[i] / k[i, j]


def _is_box(kernel: np.ndarray) -> bool:
    return bool(np.all(kernel == kernel.flat[0]))


def _has_fft() -> bool:
    try:
        from cvtool.imaging.fft import fft_correlate_valid  # noqa: F401
    except ImportError:
        return False
    return True


def choose_strategy(kernel_shape: tuple[int, int], *, separable: bool, box: bool,
                    stride: tuple[int, int] = (1, 1)) -> str:
    """The strategy ``auto`` uses for a kernel (by measurement on 4096² float32, 2 cores).

    Examples
    --------
    >>> choose_strategy((3, 3), separable=False, box=False)
    'direct'
    >>> choose_strategy((31, 31), separable=True, box=True)
    'separable'
    >>> choose_strategy((31, 31), separable=False, box=False)
    'fft'
    """
    kh, kw = kernel_shape
    taps = kh * kw
    # Crossovers measured on 4096² float32, 2 cores (see benchmarks/bench_filter.py): the
    # separable GEMM passes cost ~ kh + kw, box sums ~ log2(kw) + a constant (they win
    # from about 40×40), direct GEMMs ~ kh·kw / strides, the FFT is flat (wins from ~11×11).
    if box and kh + kw >= 80:
        return "box"
    if separable and kw >= 3 and taps >= 9:
        return "separable"
    if taps >= 120 * stride[0] * stride[1] and _has_fft():
        return "fft"
    return "direct"


def anchor(kernel_shape: tuple[int, int], *, convolve: bool = False) -> tuple[int, int]:
    """The (row, column) offset from output (0, 0) of ``valid`` to the input pixel it sits on.

    Correlation anchors at (kh//2, kw//2), as ``cv2.filter2D``; convolution rotates the kernel,
    which moves an even kernel's anchor to ((kh-1)//2, (kw-1)//2), as ``scipy.ndimage.convolve``.

    Examples
    --------
    >>> anchor((4, 3)), anchor((4, 3), convolve=True)
    ((2, 1), (1, 1))
    """
    kh, kw = kernel_shape
    return ((kh - 1) // 2, (kw - 1) // 2) if convolve else (kh // 2, kw // 2)


# ----------------------------------------------------------------------------- the core

def _filter(image, kernel, *, flip: bool, padding: str, pad_value, stride, shape: str,
            strategy: str, workers: int | None) -> np.ndarray:
    # Validate everything before touching the data, naming the option at fault.
    mode = canonical_padding(padding)
    if shape not in SHAPES:
        raise UsageError(f"--shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    sy, sx = _check_stride(stride)
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1
    ):
        raise UsageError(f"workers must be an integer >= 1, got {workers!r}")
    k = _check_kernel(kernel)
    if mode == "normalized" and ((k < 0).any() or k.sum() <= 0):
        raise UsageError(
            "--padding normalized needs a kernel with no negative weight and a positive sum"
        )
    img = _check_image(image)
    channels = img.shape[2] if img.ndim == 3 else None
    fill = _check_pad_value(pad_value if mode == "constant" else 0.0, channels)

    height, width = img.shape[:2]
    kh, kw = k.shape
    ay, ax = anchor((kh, kw), convolve=flip)
    if flip:
        k = k[::-1, ::-1]
    if shape == "same":
        widths = ((ay, kh - 1 - ay), (ax, kw - 1 - ax))
    elif shape == "full":
        widths = ((kh - 1, kh - 1), (kw - 1, kw - 1))
    else:
        if kh > height or kw > width:
            raise ProcessingError(
                f"kernel {kh}x{kw} is larger than the image {height}x{width}; "
                f"--shape valid needs a kernel no larger than the image (use same or full)"
            )
        widths = ((0, 0), (0, 0))

    dtype = _working_dtype(img.dtype)
    src = PaddedSource(img, widths, mode, fill, dtype)
    full_h = src.padded_height - kh + 1
    full_w = src.padded_width - kw + 1
    out = np.empty((math.ceil(full_h / sy), math.ceil(full_w / sx)) + img.shape[2:], dtype)
    nworkers = resolve_workers(workers)

    factors = separable_factors(k)
    is_box = _is_box(k)
    if strategy == "auto":
        # Tiny outputs are not worth a plan: the direct bands are fastest there.
        strategy = choose_strategy((kh, kw), separable=factors is not None, box=is_box,
                                   stride=(sy, sx)) if out.size >= 4096 else "direct"
    kw_dtype = k.astype(dtype)
    if strategy == "direct":
        _strategies.direct(src, kw_dtype, out, (sy, sx), nworkers)
    elif strategy == "separable":
        if factors is None:
            raise ValueError("strategy 'separable' needs a rank-1 kernel")
        col, row = (f.astype(dtype) for f in factors)
        _strategies.separable(src, col, row, out, (sy, sx), nworkers)
    elif strategy == "box":
        if not is_box:
            raise ValueError("strategy 'box' needs a kernel whose weights are all equal")
        _strategies.box(src, float(k.flat[0]), (kh, kw), out, (sy, sx), nworkers)
    else:
        if not _has_fft():
            raise ValueError("strategy 'fft' needs cvtool.imaging.fft, which is not available")
        _strategies.fft(src, k, out, (sy, sx), nworkers)

    if mode == "normalized":
        _renormalize(out, k, (height, width), widths, (sy, sx))
    return out


def _inside_ranges(n: int, before: int, ksize: int, count: int, step: int):
    """For each kept output position, the kernel index range [k0, k1) that lies inside."""
    start = np.arange(count) * step - before  # image coordinate under kernel index 0
    k0 = np.clip(-start, 0, ksize)
    k1 = np.clip(n - start, 0, ksize)
    return k0, np.maximum(k1, k0)


def _renormalize(out: np.ndarray, k: np.ndarray, size: tuple[int, int], widths,
                 stride: tuple[int, int]) -> None:
    """``normalized`` padding: scale each output by total / (weights that fell inside).

    The weights inside form a rectangle of the kernel, so each position's weight is one
    lookup in a table of rectangle sums over the few distinct rectangles near the border;
    positions with no positive weight inside become 0.
    """
    kh, kw = k.shape
    total = k.sum()
    r0, r1 = _inside_ranges(size[0], widths[0][0], kh, out.shape[0], stride[0])
    c0, c1 = _inside_ranges(size[1], widths[1][0], kw, out.shape[1], stride[1])
    rows, rclass = np.unique(np.stack([r0, r1], axis=1), axis=0, return_inverse=True)
    cols, cclass = np.unique(np.stack([c0, c1], axis=1), axis=0, return_inverse=True)
    rclass, cclass = rclass.reshape(-1), cclass.reshape(-1)
    factor = np.zeros((len(rows), len(cols)))
    positive = k > 0
    for a, (ka, kb) in enumerate(rows.tolist()):
        for b, (la, lb) in enumerate(cols.tolist()):
            if positive[ka:kb, la:lb].any():
                factor[a, b] = total / k[ka:kb, la:lb].sum()
    full_r = [i for i, (ka, kb) in enumerate(rows.tolist()) if (ka, kb) == (0, kh)]
    full_c = [i for i, (la, lb) in enumerate(cols.tolist()) if (la, lb) == (0, kw)]
    # Only border rows and border columns change: the interior factor is exactly 1.
    border_rows = np.flatnonzero(rclass != full_r[0]) if full_r else np.arange(len(rclass))
    border_cols = np.flatnonzero(cclass != full_c[0]) if full_c else np.arange(len(cclass))
    extra = (np.newaxis,) * (out.ndim - 2)
    if border_rows.size:
        f = factor[rclass[border_rows]][:, cclass].astype(out.dtype)
        out[border_rows] *= f[(...,) + extra]
    if full_r and border_cols.size:
        inner = np.flatnonzero(rclass == full_r[0])
        f = factor[full_r[0], cclass[border_cols]].astype(out.dtype)
        out[inner[:, None], border_cols[None, :]] *= f[(np.newaxis, ...) + extra]


# ----------------------------------------------------------------------------- public API

_PARAMS_DOC = """
    Parameters
    ----------
    image : ndarray
        H×W or H×W×C (filtered per channel), any real dtype. float64 is computed and
        returned as float64, everything else as float32.
    kernel : array_like
        2-D kernel, any size (odd or even, square or not, larger than the image).
    padding : str
        How pixels outside the image are made up: ``zero``, ``constant``, ``clamp``,
        ``mirror``, ``symmetric``, ``wrap``, ``extend``, ``normalized`` or an alias
        (see :mod:`cvtool.imaging.padding`).
    pad_value : float or sequence of float
        The border for ``constant``, one value or one per channel.
    stride : int or (int, int)
        Keep every S-th output row and column, starting with the first; only those
        are computed.
    shape : {'same', 'valid', 'full'}
        The output size before the stride.
    strategy : {'auto', 'direct', 'separable', 'box', 'fft'}
        Force a way of computing (for tests and benchmarks); ``auto`` picks the fastest.
        Forcing one that does not apply raises ValueError.
    workers : int, optional
        Threads to use (default: every CPU).

    Returns
    -------
    ndarray
        float32 (float64 for float64 input), ceil(n/S) samples along each axis of the
        ``shape``'s size.

    Raises
    ------
    UsageError
        Bad option values (naming the option), a malformed kernel, a kernel with
        negative weights under ``normalized``.
    ProcessingError
        ``valid`` with a kernel larger than the image.
"""


def correlate(image: np.ndarray, kernel: np.ndarray, *, padding: str = "zero",
              pad_value: float | Sequence[float] = 0.0, stride: int | Sequence[int] = 1,
              shape: str = "same", strategy: str = "auto",
              workers: int | None = None) -> np.ndarray:
    return _filter(image, kernel, flip=False, padding=padding, pad_value=pad_value,
                   stride=stride, shape=shape, strategy=strategy, workers=workers)


def convolve(image: np.ndarray, kernel: np.ndarray, *, padding: str = "zero",
             pad_value: float | Sequence[float] = 0.0, stride: int | Sequence[int] = 1,
             shape: str = "same", strategy: str = "auto",
             workers: int | None = None) -> np.ndarray:
    return _filter(image, kernel, flip=True, padding=padding, pad_value=pad_value,
                   stride=stride, shape=shape, strategy=strategy, workers=workers)


correlate.__doc__ = """Cross-correlate an image with a kernel: g(i,j) = Σ f(i+k, j+l)·h(k,l).

    The ``same`` anchor is (kh//2, kw//2), as in ``scipy.ndimage.correlate`` and
    ``cv2.filter2D``. On an impulse it returns the kernel rotated by 180°.
""" + _PARAMS_DOC + """
    Examples
    --------
    >>> impulse = np.zeros((3, 3)); impulse[1, 1] = 1
    >>> correlate(impulse, np.arange(1.0, 10.0).reshape(3, 3))
    array([[9., 8., 7.],
           [6., 5., 4.],
           [3., 2., 1.]])
    >>> correlate(np.ones((4, 4), np.uint8), np.ones((2, 2)), padding="clamp", stride=2)
    array([[4., 4.],
           [4., 4.]], dtype=float32)
"""

convolve.__doc__ = """Convolve an image with a kernel: correlation with the kernel rotated 180°.

    Equals ``scipy.ndimage.convolve`` for ``same`` (also for even kernel sizes) and
    ``scipy.signal.convolve2d`` for ``valid``/``full`` with zero padding. On an impulse it
    returns the kernel itself.
""" + _PARAMS_DOC + """
    Examples
    --------
    >>> impulse = np.zeros((3, 3)); impulse[1, 1] = 1
    >>> convolve(impulse, np.arange(1.0, 10.0).reshape(3, 3))
    array([[1., 2., 3.],
           [4., 5., 6.],
           [7., 8., 9.]])
"""

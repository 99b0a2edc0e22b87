"""Correlation and convolution of images with any kernel, padding, output shape and stride.

One private core, :func:`_filter`, does everything; :func:`correlate` and :func:`convolve`
are thin wrappers (convolution is correlation with the kernel rotated by 180°, anchored so
that it equals ``scipy.ndimage.convolve``). The core checks every argument once in
:func:`make_plan`, naming the one at fault, then runs the strategy that
:mod:`cvtool.filtering.registry` estimates cheapest; every strategy gives the direct result
within the working dtype's rounding (float32 or float64, see :func:`working_dtype`).

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
from cvtool.filtering.plan import Plan
from cvtool.filtering.registry import STRATEGIES as _REGISTERED
from cvtool.filtering.registry import check_name, choose
from cvtool.filtering.source import PaddedSource
from cvtool.imaging.padding import canonical_padding
from cvtool.threads import resolve_workers

__all__ = ["SHAPES", "STRATEGIES", "anchor", "choose_strategy", "convolve", "correlate",
           "make_plan", "separable_factors", "working_dtype"]

#: Output shapes, as ``shape=`` accepts them.
SHAPES: tuple[str, ...] = ("same", "valid", "full")
#: Ways of computing a result (``auto`` picks one; the others are
#: :data:`cvtool.filtering.registry.STRATEGIES`); all agree within the working dtype's rounding.
STRATEGIES: tuple[str, ...] = ("auto", *_REGISTERED)

# Relative tolerance on the second singular value for a kernel to count as rank 1.
_RANK1_RTOL = 1e-9


# ----------------------------------------------------------------------------- validation

def _check_stride(stride) -> tuple[int, int]:
    values = (stride, stride) if np.ndim(stride) == 0 else tuple(np.ravel(stride))
    if len(values) != 2:
        raise UsageError(f"stride must be S or (SY, SX), got {stride!r}", parameter="stride")
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                v = int(v)
            else:
                raise UsageError(f"stride must be an integer >= 1, got {v!r}",
                                 parameter="stride")
        if v < 1:
            raise UsageError(f"stride must be >= 1, got {v}", parameter="stride")
        out.append(int(v))
    return out[0], out[1]


def _check_kernel(kernel) -> np.ndarray:
    try:
        k = np.asarray(kernel, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError("kernel must be a 2-D array of real numbers",
                         parameter="kernel") from None
    if k.ndim != 2:
        raise UsageError(f"kernel must be 2-D, got {k.ndim}-D with shape {k.shape}",
                         parameter="kernel")
    if k.size == 0:
        raise UsageError(f"kernel is empty (shape {k.shape})", parameter="kernel")
    if not np.isfinite(k).all():
        raise UsageError("kernel contains NaN or infinity", parameter="kernel")
    return k


def _check_image(image) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype.kind not in "biuf":
        raise UsageError(f"image must hold real numbers, got dtype {img.dtype}",
                         parameter="image")
    if img.ndim not in (2, 3):
        raise UsageError(f"image must be H×W or H×W×C, got shape {img.shape}",
                         parameter="image")
    return img


def _check_pad_value(value, channels: int | None) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise UsageError(f"pad_value must be numbers, got {value!r}",
                         parameter="pad_value") from None
    if v.size == 0 or not np.isfinite(v).all():
        raise UsageError(f"pad_value must be finite numbers, got {value!r}",
                         parameter="pad_value")
    if v.size == 1:
        return v[0]
    if channels is None or v.size != channels:
        have = 1 if channels is None else channels
        raise UsageError(
            f"pad_value has {v.size} values but the image has {have} "
            f"channel{'s' if have != 1 else ''}", parameter="pad_value"
        )
    return v


def _check_normalized_kernel(k: np.ndarray) -> None:
    # Renormalising divides by the weights inside the image: they must not cancel out.
    if (k < 0).any() or k.sum() <= 0:
        raise UsageError("padding 'normalized' needs a kernel with no negative weight and a "
                         "positive sum", parameter="padding")


def working_dtype(dtype: np.dtype | type) -> np.dtype:
    """The dtype an input of ``dtype`` is computed and returned in.

    float32 where it is exact enough and twice as fast: bool, 8- and 16-bit integers,
    float16 and float32 (a 16-bit value times a few hundred small weights keeps its digits
    in a 24-bit mantissa). float64 for 32- and 64-bit integers, whose sums need more than
    24 bits (integer sums are then exact up to 2**53), and for float64 and wider floats.

    Examples
    --------
    >>> [str(working_dtype(t)) for t in (np.uint8, np.uint16, np.float32, np.uint32, np.int64)]
    ['float32', 'float32', 'float32', 'float64', 'float64']
    """
    dtype = np.dtype(dtype)
    small = dtype.kind == "b" or (dtype.kind in "iu" and dtype.itemsize <= 2) or (
        dtype.kind == "f" and dtype.itemsize <= 4)
    return np.dtype(np.float32) if small else np.dtype(np.float64)


# ----------------------------------------------------------------------------- kernels

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


# ----------------------------------------------------------------------------- the plan

def _axis_size(n: int, k: int, shape: str) -> int:
    """Output samples along one axis of n pixels for a kernel of k taps (before the stride)."""
    if shape == "same":
        return n
    if shape == "valid":
        return n - k + 1
    return n + k - 1 if n else 0  # full: every position of overlap; an empty axis has none


def make_plan(image, kernel, *, flip: bool = False, padding: str = "zero",
              pad_value: float | Sequence[float] = 0.0, stride: int | Sequence[int] = 1,
              shape: str = "same", workers: int | None = None) -> Plan:
    """Check every argument once, naming the one at fault, and build the :class:`Plan`.

    Takes the arguments of :func:`correlate` (``flip=True`` for :func:`convolve`); nothing
    is computed yet, so a plan of a large image is cheap (``extend`` padding excepted, which
    pads in full).

    Examples
    --------
    >>> plan = make_plan(np.zeros((10, 20), np.uint8), np.ones((3, 5)), stride=2)
    >>> plan.out_shape, plan.dtype, plan.is_box
    ((5, 10), dtype('float32'), True)
    """
    mode = canonical_padding(padding)
    if shape not in SHAPES:
        raise UsageError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}",
                         parameter="shape")
    sy, sx = _check_stride(stride)
    nworkers = resolve_workers(workers)
    k = _check_kernel(kernel)
    if mode == "normalized":
        _check_normalized_kernel(k)
    img = _check_image(image)
    channels = img.shape[2] if img.ndim == 3 else None
    fill = _check_pad_value(pad_value if mode == "constant" else 0.0, channels)

    height, width = img.shape[:2]
    kh, kw = k.shape
    if shape == "valid" and (kh > height or kw > width):
        raise ProcessingError(
            f"shape 'valid' needs a kernel no larger than the image, but kernel {kw}x{kh} is "
            f"larger than the image {width}x{height} (width x height); use 'same' or 'full'",
            parameter="shape")
    ay, ax = anchor((kh, kw), convolve=flip)
    if flip:
        k = k[::-1, ::-1]
    if img.size == 0:
        widths = ((0, 0), (0, 0))  # nothing to pad, and nothing will be computed
    elif shape == "same":
        widths = ((ay, kh - 1 - ay), (ax, kw - 1 - ax))
    elif shape == "full":
        widths = ((kh - 1, kh - 1), (kw - 1, kw - 1))
    else:
        widths = ((0, 0), (0, 0))
    dtype = working_dtype(img.dtype)
    out_shape = (math.ceil(_axis_size(height, kh, shape) / sy),
                 math.ceil(_axis_size(width, kw, shape) / sx)) + img.shape[2:]
    return Plan(source=PaddedSource(img, widths, mode, fill, dtype), kernel=k.astype(dtype),
                kernel64=k, factors=separable_factors(k),
                is_box=bool(np.all(k == k.flat[0])), stride=(sy, sx), out_shape=out_shape,
                workers=nworkers)


def choose_strategy(image, kernel, *, strategy: str = "auto", **options) -> str:
    """The name of the strategy :func:`correlate` would run with these arguments.

    ``options`` are :func:`make_plan`'s; nothing is computed, so ``np.empty`` of the real
    size stands in for an image.

    Examples
    --------
    >>> name = choose_strategy(np.empty((2048, 2048), np.float32), np.eye(3))
    >>> name in STRATEGIES
    True
    """
    check_name(strategy)
    return choose(make_plan(image, kernel, **options), strategy).name


def _check_out(out, plan: Plan) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise UsageError(f"out must be a NumPy array, got {type(out).__name__}",
                         parameter="out")
    if out.shape != plan.out_shape or out.dtype != plan.dtype:
        raise UsageError(f"out must have shape {plan.out_shape} and dtype {plan.dtype}, got "
                         f"shape {out.shape} and dtype {out.dtype}", parameter="out")
    if not out.flags.writeable:
        raise UsageError("out is read-only", parameter="out")
    return out


# ----------------------------------------------------------------------------- the core

def _filter(image, kernel, *, flip: bool, padding: str, pad_value, stride, shape: str,
            strategy: str, workers: int | None, out: np.ndarray | None) -> np.ndarray:
    check_name(strategy)  # before make_plan, which may pad (extend) a large image
    plan = make_plan(image, kernel, flip=flip, padding=padding, pad_value=pad_value,
                     stride=stride, shape=shape, workers=workers)
    chosen = choose(plan, strategy)
    result = np.empty(plan.out_shape, plan.dtype) if out is None else _check_out(out, plan)
    if plan.samples == 0:
        return result
    # Strategies write bands through flat views and read the image while they write:
    # give them a fresh contiguous buffer when the caller's cannot serve as one.
    direct_write = result.flags.c_contiguous and not np.may_share_memory(
        result, plan.source.image)
    target = result if direct_write else np.empty(plan.out_shape, plan.dtype)
    chosen.run(plan, target)
    if plan.source.mode == "normalized":
        _renormalize(target, plan)
    if target is not result:
        result[...] = target
    return result


def _inside_ranges(n: int, before: int, ksize: int, count: int, step: int):
    """For each kept output position, the kernel index range [k0, k1) that lies inside."""
    start = np.arange(count) * step - before  # image coordinate under kernel index 0
    k0 = np.clip(-start, 0, ksize)
    k1 = np.clip(n - start, 0, ksize)
    return k0, np.maximum(k1, k0)


def _renormalize(out: np.ndarray, plan: Plan) -> None:
    """``normalized`` padding: scale each output by total / (weights that fell inside).

    The weights inside form a rectangle of the kernel, so each position's weight is one
    lookup in a table of rectangle sums over the few distinct rectangles near the border;
    positions with no positive weight inside become 0.
    """
    k, src, stride = plan.kernel64, plan.source, plan.stride
    kh, kw = k.shape
    total = k.sum()
    r0, r1 = _inside_ranges(src.height, src.top, kh, out.shape[0], stride[0])
    c0, c1 = _inside_ranges(src.width, src.left, kw, out.shape[1], stride[1])
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
        H×W or H×W×C (filtered per channel), any real dtype; empty allowed (see Returns).
    kernel : array_like
        2-D kernel, any size (odd or even, square or not, larger than the image), finite.
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
    strategy : str
        ``auto``, or force a way of computing (for tests and benchmarks): ``direct``,
        ``separable``, ``box``, ``fft`` or any other name in
        :data:`cvtool.filtering.registry.STRATEGIES`. ``auto`` runs the one the registry's
        cost model expects to be fastest. Forcing one that does not apply to the kernel
        raises UsageError.
    workers : int, optional
        Threads to use (default: every CPU).
    out : ndarray, optional
        Where to write the result, to reuse a buffer: exactly the result's shape and its
        working dtype (below), writeable. It may even be the input image itself.

    Returns
    -------
    ndarray
        ``out`` when given. ceil(n/S) samples along each axis of the ``shape``'s size
        (``same``: H×W; ``valid``: (H-kh+1)×(W-kw+1); ``full``: (H+kh-1)×(W+kw-1)).
        The working precision, in which the result is computed and returned, follows the
        input's dtype (see :func:`working_dtype`): float32 for bool, 8- and 16-bit
        integers, float16 and float32; float64 for 32- and 64-bit integers (their sums
        need more than float32's 24-bit mantissa; integer results are exact up to 2**53)
        and for float64. An empty image (a zero-size axis) gives an empty result of the
        shape above, except that ``full`` has no position of overlap along an empty axis
        (0 there, not kh-1), and ``valid`` with a kernel larger than the image is still
        an error.

    Raises
    ------
    UsageError
        A bad argument, named first in the message and in ``parameter``: a malformed
        kernel, a kernel with negative weights or no positive sum under ``normalized``,
        a wrong ``out``.
    ProcessingError
        ``valid`` with a kernel larger than the image.
"""


def correlate(image: np.ndarray, kernel: np.ndarray, *, padding: str = "zero",
              pad_value: float | Sequence[float] = 0.0, stride: int | Sequence[int] = 1,
              shape: str = "same", strategy: str = "auto", workers: int | None = None,
              out: np.ndarray | None = None) -> np.ndarray:
    return _filter(image, kernel, flip=False, padding=padding, pad_value=pad_value,
                   stride=stride, shape=shape, strategy=strategy, workers=workers, out=out)


def convolve(image: np.ndarray, kernel: np.ndarray, *, padding: str = "zero",
             pad_value: float | Sequence[float] = 0.0, stride: int | Sequence[int] = 1,
             shape: str = "same", strategy: str = "auto", workers: int | None = None,
             out: np.ndarray | None = None) -> np.ndarray:
    return _filter(image, kernel, flip=True, padding=padding, pad_value=pad_value,
                   stride=stride, shape=shape, strategy=strategy, workers=workers, out=out)


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
    >>> correlate(np.array([[4294967294, 6, 10]], np.uint32), np.ones((1, 3)),
    ...           padding="symmetric")[0, 1]  # 32-bit input: float64, exact
    np.float64(4294967310.0)
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

"""Mapping floating-point results back to pixel values: the ``out_range`` policy.

``clip`` rounds and saturates to the output's pixel type, ``abs`` takes the magnitude first,
``rescale`` stretches one min..max over all channels to the type's full range (a constant
result maps to 0), ``raw`` keeps the floats (only formats that store floats can take them).
``auto`` is resolved per input and output by :func:`resolve_out_range`. The output keeps the
input's bit depth (8 or 16 bits; anything else is written as 8-bit).
"""

from __future__ import annotations

import numpy as np

from cvtool.errors import ProcessingError, UsageError
from cvtool.imaging.color import full_scale

__all__ = ["NOT_FINITE", "OUT_RANGES", "check_out_range", "output_dtype", "resolve_out_range",
           "to_pixel_type"]

#: The mappings ``out_range`` names; ``auto`` picks one of the others.
OUT_RANGES = ("auto", "clip", "abs", "rescale", "raw")

#: Why a result that holds NaN or infinity cannot become pixels (or be written at all).
NOT_FINITE = ("the result has infinite or NaN values (overflow: kernel or pixel values too "
              "large for the arithmetic)")

# Elements mapped at a time by to_pixel_type (256 KiB of float32).
_MAP_CHUNK = 1 << 16


def _unknown(out_range: object) -> UsageError:
    return UsageError(f"out_range must be one of {', '.join(OUT_RANGES)}, got {out_range!r}",
                      parameter="out_range")


def check_out_range(out_range: str, *, keeps_floats: bool = True, output: str = "") -> str:
    """Validate ``out_range`` (any case) against the output before anything is read.

    Parameters
    ----------
    out_range : str
        One of :data:`OUT_RANGES`.
    keeps_floats : bool
        Whether the output's format stores floating point (``raw`` needs it).
    output : str
        How the output is named in the message when ``raw`` is refused.

    Returns
    -------
    str
        The lower-case name.

    Examples
    --------
    >>> check_out_range("RAW")
    'raw'
    >>> try:
    ...     check_out_range("raw", keeps_floats=False, output="x.png")
    ... except UsageError as exc:
    ...     print(exc)
    out_range raw writes floating point, which only .npy and .tif files hold (output x.png)
    """
    if not isinstance(out_range, str) or out_range.lower() not in OUT_RANGES:
        raise _unknown(out_range)
    canonical = out_range.lower()
    if canonical == "raw" and not keeps_floats:
        raise UsageError(
            f"out_range raw writes floating point, which only .npy and .tif files hold "
            f"(output {output})", parameter="out_range")
    return canonical


def resolve_out_range(out_range: str, input_dtype: np.dtype, *, keeps_floats: bool,
                      zero_sum: bool, keeps_numbers: bool = False) -> str:
    """What ``auto`` means for this input, output and kernel; other names are returned as given.

    The one place the ``auto`` rule lives. ``auto`` is ``raw`` for an output that keeps
    numbers, sign and all (``keeps_numbers``: an array file such as ``.npy`` or ``.zarr``,
    where an edge map's negative half would otherwise be folded away); ``raw`` also for a
    float input written where floats are kept (``.tif``); else ``abs`` for a kernel whose
    weights sum to zero (edge and line detectors) and ``clip`` otherwise.

    Examples
    --------
    >>> resolve_out_range("auto", np.dtype(np.uint8), keeps_floats=True, zero_sum=True,
    ...                   keeps_numbers=True)
    'raw'
    >>> resolve_out_range("auto", np.dtype(np.float32), keeps_floats=True, zero_sum=False)
    'raw'
    >>> resolve_out_range("auto", np.dtype(np.uint8), keeps_floats=False, zero_sum=True)
    'abs'
    """
    if out_range != "auto":
        return out_range
    if keeps_numbers:
        return "raw"
    if np.dtype(input_dtype).kind == "f" and keeps_floats:
        return "raw"
    return "abs" if zero_sum else "clip"


def output_dtype(input_dtype: np.dtype) -> np.dtype:
    """The integer pixel type results are mapped to: the input's own for 8/16-bit, else 8-bit.

    Examples
    --------
    >>> output_dtype(np.dtype(np.uint16)), output_dtype(np.dtype(np.float32))
    (dtype('uint16'), dtype('uint8'))
    """
    dtype = np.dtype(input_dtype)
    return dtype if dtype in (np.dtype(np.uint8), np.dtype(np.uint16)) else np.dtype(np.uint8)


def to_pixel_type(values: np.ndarray, mode: str, dtype: np.dtype) -> np.ndarray:
    """Map floating-point results to the pixel type ``dtype`` by ``mode``, an ``out_range`` name.

    ``auto`` must have been resolved first (:func:`resolve_out_range`).

    ``clip`` rounds and saturates, ``abs`` takes the magnitude first, ``rescale`` stretches
    one min..max over all channels to the type's full range (a constant result maps to 0),
    ``raw`` returns the values unchanged.

    Examples
    --------
    >>> to_pixel_type(np.array([-3.0, 2.5, 300.0]), "clip", np.dtype(np.uint8))
    array([  0,   2, 255], dtype=uint8)
    >>> to_pixel_type(np.array([-3.0, 2.5, 300.0]), "abs", np.dtype(np.uint8))
    array([  3,   2, 255], dtype=uint8)
    >>> to_pixel_type(np.array([1.0, 2.0, 3.0]), "rescale", np.dtype(np.uint8))
    array([  0, 128, 255], dtype=uint8)
    """
    if mode == "raw":
        return values
    if mode not in ("clip", "abs", "rescale"):
        raise _unknown(mode)
    dtype = np.dtype(dtype)
    top = full_scale(dtype)
    flat = np.ascontiguousarray(values).reshape(-1)
    offset, scale = 0.0, 1.0
    if mode == "rescale" and flat.size:
        low, high = float(flat.min()), float(flat.max())
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ProcessingError(NOT_FINITE)
        if high - low <= 0:
            return np.zeros(values.shape, dtype)
        offset, scale = low, top / (high - low)
    out = np.empty(flat.shape, dtype)
    # Work in chunks that stay in cache: whole-image temporaries for abs, rint and clip cost
    # more than the filter itself on a 4K colour image.
    # rescale's (x - low) can overflow float32 near ±3e38: that mode works in float64.
    work_dtype = (flat.dtype if flat.dtype.kind == "f" and mode != "rescale"
                  else np.dtype(np.float64))
    buffer = np.empty(min(flat.size, _MAP_CHUNK), work_dtype)
    # clip of floats in the work dtype rounds as it reads (rint keeps NaN and infinities, so
    # the check after it sees them): one pass fewer than a copy and then rint.
    rounded_on_read = mode == "clip" and flat.dtype == work_dtype
    for start in range(0, flat.size, _MAP_CHUNK):
        part = flat[start:start + _MAP_CHUNK]
        chunk = buffer[:part.size]
        if mode == "abs":
            np.abs(part, out=chunk)
        elif mode == "rescale":
            # dtype= makes the subtraction itself float64: a Python float does not widen a
            # float32 part, which would overflow before the float64 output saw the result.
            np.subtract(part, offset, out=chunk, dtype=chunk.dtype)
            chunk *= scale
        elif rounded_on_read:
            np.rint(part, out=chunk)
        else:
            chunk[...] = part
        if not np.isfinite(chunk).all():  # NaN has no pixel value (the cast would be arbitrary)
            raise ProcessingError(NOT_FINITE)
        if not rounded_on_read:
            np.rint(chunk, out=chunk)
        np.clip(chunk, 0, top, out=chunk)
        out[start:start + part.size] = chunk
    return out.reshape(values.shape)

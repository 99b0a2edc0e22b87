"""Sums over every h×w window of an image, exact for unsigned pixels: the ZNCC denominator.

``window_energy`` gives ``sum(W'^2) = sum(W^2) - sum(W)^2 / n`` of every window ``W`` (its
energy about its own mean, summed over channels) from running sums of the pixels and of their
squares. Unsigned 8/16-bit pixels are summed in integers (modulo 2**64: the running sums may
wrap, their differences that form each window do not), so the difference never cancels;
float pixels are summed in float64 within short row bands, never over the whole image as an
integral image would be.
"""

from __future__ import annotations

import numpy as np

#: Window sums of unsigned pixels are packed two to a uint64 (high and low 32 bits)
#: when both fit in 32 bits: one running sum then does the work of two.
PACKED = "packed"


def exact_accumulator(n: int, peak: float, channels: int) -> str | type | None:
    """How to take exact window sums of unsigned pixels: :data:`PACKED`, a type, or None.

    Running sums may wrap around modulo 2**bits; the differences that form each window
    are still exact as long as the window's own sums fit (the largest is the sum of
    squares over all channels, ``n * channels * peak**2``).

    Examples
    --------
    >>> exact_accumulator(64 * 64, 255, 3) == PACKED, exact_accumulator(10**6, 65535, 3)
    (True, <class 'numpy.uint64'>)
    """
    largest = n * channels * peak * peak
    if largest < 2.0**32 and np.little_endian:
        return PACKED
    if largest < 2.0**63:
        return np.uint64
    return None


def _packed_energy(band: np.ndarray, h: int, w: int) -> np.ndarray:
    """``sum(W'^2)`` of unsigned pixels from exact window sums, two per uint64 lane.

    The terms are the sum of squares over channels, then each channel; they are paired
    as ``high << 32 | low`` by writing the two 32-bit halves of each lane (little-endian
    view). Sums and differences are linear modulo 2**64, so whatever carries and borrows
    happen in between, each final lane holds exactly ``high_sum << 32 | low_sum`` when
    both sums are below 2**32 (checked by :func:`exact_accumulator`).
    """
    rows, cols, channels = band.shape
    count = (channels + 2) // 2
    packed = np.zeros((rows, count, cols), dtype=np.uint64)
    halves = packed.view(np.uint32)  # (rows, count, 2 * cols): low, high, low, high, ...
    high = halves[:, 0, 1::2]
    np.multiply(band[:, :, 0], band[:, :, 0], out=high, dtype=np.uint32)
    for c in range(1, channels):
        high += np.multiply(band[:, :, c], band[:, :, c], dtype=np.uint32)
    for c in range(channels):
        lane, half = divmod(c + 1, 2)
        halves[:, lane, 1 - half::2] = band[:, :, c]
    sums = horizontal_sums(vertical_sums(packed, h), w).view(np.uint32)
    energy = sums[:, 0, 1::2].astype(np.float64)
    for c in range(channels):
        lane, half = divmod(c + 1, 2)
        linear = sums[:, lane, 1 - half::2].astype(np.float64)
        np.square(linear, out=linear)
        linear *= 1.0 / (h * w)
        # Both sides are exact integers below 2**32 before this float64 subtraction;
        # its rounding (~1e-16 relative) is far below the flat-window threshold.
        energy -= linear
    return energy


def vertical_sums(rows: np.ndarray, h: int) -> np.ndarray:
    """Sums of every ``h`` consecutive rows (axis 0), by running sums row by row.

    ``numpy.cumsum(axis=0)`` walks each column with a stride of a whole row and was 6×
    slower than adding whole rows, which vectorises across everything else.

    Examples
    --------
    >>> vertical_sums(np.arange(10).reshape(5, 2), 2).tolist()
    [[2, 4], [6, 8], [10, 12], [14, 16]]
    """
    n_out = rows.shape[0] - h + 1
    out = np.empty((n_out,) + rows.shape[1:], dtype=rows.dtype)
    np.sum(rows[:h], axis=0, out=out[0])
    if n_out > 1:
        steps = np.subtract(rows[h:], rows[:n_out - 1])
        for i in range(1, n_out):
            np.add(out[i - 1], steps[i - 1], out=out[i])
    return out


def horizontal_sums(strips: np.ndarray, w: int) -> np.ndarray:
    """Sums of every ``w`` consecutive entries along the last axis (cumulative sums).

    ``strips`` is overwritten by its running sums (it is always a temporary here).

    Examples
    --------
    >>> horizontal_sums(np.arange(5), 3).tolist()
    [3, 6, 9]
    """
    running = np.cumsum(strips, axis=-1, out=strips)
    out = np.empty(running.shape[:-1] + (running.shape[-1] - w + 1,), dtype=strips.dtype)
    out[..., 0] = running[..., w - 1]
    np.subtract(running[..., w:], running[..., :-w], out=out[..., 1:])
    return out


def window_energy(source: np.ndarray, h: int, w: int, r0: int, r1: int,
                  acc: str | type) -> np.ndarray:
    """``sum(W'^2)`` over all channels of the windows whose top row is in ``[r0, r1)``.

    ``source`` is ``H × W × C``. Returns float64. With :data:`PACKED` or an unsigned ``acc``
    the window sums are exact (running sums may wrap around; their differences do not). With
    float64 every running sum is shorter than a band (never the whole image, as an integral
    image's would be); callers shift ``source`` by its mean first, so
    ``sum(W^2) - sum(W)^2 / n`` keeps far more precision than the flat-window threshold needs.

    Examples
    --------
    >>> image = np.array([[0, 2], [4, 6]], np.uint8)[:, :, None]
    >>> window_energy(image, 2, 2, 0, 1, PACKED).tolist()   # values 0, 2, 4, 6 about mean 3
    [[20.0]]
    """
    band = source[r0:r1 + h - 1]
    if acc == PACKED:
        return _packed_energy(band, h, w)
    channels = band.shape[2]
    # One stack of planes (squares, then each channel) so every running-sum step
    # handles all of them in one call.
    planes = np.empty((band.shape[0], channels + 1, band.shape[1]), dtype=acc)
    np.multiply(band[:, :, 0], band[:, :, 0], out=planes[:, 0], dtype=acc)
    for c in range(channels):
        if c:
            planes[:, 0] += np.multiply(band[:, :, c], band[:, :, c], dtype=acc)
        planes[:, c + 1] = band[:, :, c]
    sums = horizontal_sums(vertical_sums(planes, h), w).astype(np.float64, copy=False)
    energy = sums[:, 0]
    linear = sums[:, 1:]
    np.square(linear, out=linear)
    linear *= 1.0 / (h * w)
    energy -= linear[:, 0] if channels == 1 else linear.sum(axis=1)
    return energy

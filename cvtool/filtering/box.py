"""Strategy ``box``: a constant kernel as running sums, whatever its size.

Applies when every weight is the same. Its work per pixel grows with log2(kw) only, so it
wins for large constant kernels.
"""

from __future__ import annotations

import numpy as np

from cvtool.filtering import bands
from cvtool.filtering.plan import Plan, Work
from cvtool.filtering.source import run_tiles

__all__ = ["EXACT", "BAND_BYTES", "applies", "operations", "run"]

# Bytes per row block of the horizontal pass (its scratch stays in L2).
# Tests shrink it to force many small blocks on small images.
BAND_BYTES = 256 * 1024

#: Sums the pixels one by one (running sums in float64).
EXACT = True


def applies(plan: Plan) -> bool:
    """Needs a kernel whose weights are all equal."""
    return plan.is_box


def _band_rows(plan: Plan) -> int:
    return min(plan.out_shape[0], max(16, 2 * plan.kernel.shape[0] // plan.stride[0]))


def operations(plan: Plan) -> Work:
    """Per band, one add per row entering the running sums, and per block of rows the
    log2(kw) + popcount(kw) window adds; element operations of both passes."""
    kh, kw = plan.kernel.shape
    n_out = plan.out_shape[0]
    n = _band_rows(plan)
    if n == 0:
        return Work(0, 0)
    pitch = plan.source.pitch
    rows_in = (n - 1) * plan.stride[0] + kh
    adds = kw.bit_length() + bin(kw).count("1")
    blocks = -(-n // max(1, min(n, BAND_BYTES // (pitch * plan.dtype.itemsize))))
    calls = -(-n_out // n) * (rows_in + 4 + blocks * (adds + 2))
    return Work(calls, n_out / n * (rows_in + n) * pitch + n_out * pitch * adds + plan.samples)


def _window_sums(src: np.ndarray, length: int, k: int, step: int, out: np.ndarray,
                 scratch: tuple[np.ndarray, np.ndarray]) -> None:
    """``out[i] = Σ_{m<k} src[i + m·step]`` for ``i < length``, by power-of-two windows.

    Windows of 1, 2, 4, ... samples are built by doubling (one add each), and the set bits
    of ``k`` pick which of them tile the window: ``log2(k) + popcount(k)`` vectorised adds
    in all, each a contiguous pass, and every result a short tree sum (no float32 drift of
    a long running total).
    """
    a, b = scratch
    cur = src  # sums of p samples, valid for the first length + (k - p)·step entries
    p = 1
    offset = 0  # start of the part of the window not yet covered
    first = True
    while True:
        if k & p:
            part = cur[offset * step:offset * step + length]
            if first:
                np.copyto(out[:length], part)
                first = False
            else:
                np.add(out[:length], part, out=out[:length])
            offset += p
        if 2 * p > k:
            break
        n_next = length + (k - 2 * p) * step
        nxt = a[:n_next]
        np.add(cur[:n_next], cur[p * step:p * step + n_next], out=nxt)
        cur = nxt
        a, b = b, a
        p *= 2


def _running_rows(x: np.ndarray, k: int, count: int, step: int, dest: np.ndarray,
                  prefix: np.ndarray) -> None:
    """``dest[i] = Σ_{m<k} x[i·step + m]`` (sums of k rows) from running sums down the rows.

    ``prefix[r]`` is the sum of rows ``0..r-1`` (one row add each, in float64 so that the
    differences keep float32 precision), and each output row is a difference of two of
    them: the cost per pixel does not depend on ``k``.
    """
    rows = (count - 1) * step + k
    prefix[0] = 0
    for r in range(rows):
        np.add(prefix[r], x[r], out=prefix[r + 1])
    np.subtract(prefix[bands.span(k, count, step)], prefix[bands.span(0, count, step)],
                out=dest, casting="same_kind")



def band_quantum(plan: Plan) -> int:
    """Bands of a banded run start where this strategy's own row groups start."""
    return max(1, _band_rows(plan))


def run(plan: Plan, out: np.ndarray) -> None:
    """Vertical running sums, then horizontal sums, times the weight.

    Vertically, each output row is the previous one plus the row entering the window minus
    the row leaving it: a cost per pixel independent of the kernel's height. Horizontally,
    a running sum along a row is a sequential ``cumsum`` (a scalar loop in NumPy, ~20× the
    cost of a vectorised add), so windows are built instead from sums over 1, 2, 4, ...
    pixels: ``log2(kw) + popcount(kw)`` vectorised adds (8 for 31 pixels), every result a
    short tree sum. Bands inside the image are read in place.
    """
    src = plan.source
    weight = float(plan.kernel64.flat[0])
    sy, sx = plan.stride
    kh, kw = plan.kernel.shape
    n_out, m_out = out.shape[:2]
    c = src.channels
    dtype = out.dtype
    n = _band_rows(plan)
    rows_in = (n - 1) * sy + kh
    pitch = src.pitch
    sub = max(1, min(n, BAND_BYTES // (pitch * dtype.itemsize)))  # rows per h-pass
    image2d = src.image_rows() if src.padded is None else None
    left, width = src.left, src.width
    fill_after = src.fill * kh if src.is_fill else None

    def scratch():
        return (src.buffer(rows_in), np.empty((n, pitch), dtype),
                *(np.empty(sub * pitch, dtype) for _ in range(3)),
                np.empty((rows_in + 1, pitch), np.float64))

    def do_tile(o0: int, o1: int, bufs) -> None:
        buf, vbuf, hsum, a, b, prefix = bufs
        nb = o1 - o0
        r0 = o0 * sy
        k_in = (nb - 1) * sy + kh
        v = vbuf[:nb]
        if image2d is not None and src.rows_inside(r0, r0 + k_in):
            _running_rows(image2d[r0 - src.top:r0 - src.top + k_in], kh, nb, sy,
                          v[:, left * c:(left + width) * c], prefix[:, :width * c])
            src.pad_columns(v.reshape(nb, src.padded_width, *src.tail), fill_after)
        else:
            x = src.tile(r0, r0 + k_in, 0, src.padded_width, buf).reshape(k_in, -1)
            _running_rows(x, kh, nb, sy, v, prefix)
        for s0 in range(0, nb, sub):
            s1 = min(s0 + sub, nb)
            rows = s1 - s0
            length = rows * pitch - (kw - 1) * c
            _window_sums(v[s0:s1].reshape(-1), length, kw, c, hsum, (a, b))
            sums = hsum[:rows * pitch].reshape(rows, src.padded_width, c)
            kept = sums[:, bands.span(0, m_out, sx)]
            np.multiply(kept.reshape(out[o0 + s0:o0 + s1].shape), weight,
                        out=out[o0 + s0:o0 + s1])

    run_tiles(bands.row_bands(n_out, n), scratch, do_tile, plan.workers)

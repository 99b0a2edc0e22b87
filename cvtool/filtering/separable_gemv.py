"""Strategy ``separable_gemv``: a rank-1 kernel as two passes of matrix-vector products.

Applies to every rank-1 kernel; it wins over ``separable`` for small and middling kernels
(a 7×7 Gaussian runs without a single small GEMM).

Vertical pass, per output row ``i``: the ``kh`` input rows it needs are ``kh`` rows of the
image at one stride, so ``column @ rows`` is one ``gemv`` reading the image in place
(border bands through a small padded copy); a band of rows is one batched call. The
padding columns are then made up from the band (padding columns and filtering down the
columns commute).

Horizontal pass, on the band flattened to one long row ``V``: a symmetric row of taps
(every blur) adds its mirrored pairs first, ``U_j[t] = V[t + j] + V[t + kw − 1 − j]``
(``kw // 2`` vectorised adds over the whole band), and one ``gemv`` per output row of the
``U_j`` (and ``V`` for a middle tap) with the distinct taps writes it in place; other rows
use ``kw − 1`` shifted copies instead. With a column stride the products run over the
flat band and the kept columns are copied out.

Memory traffic and work per output pixel for a 7×7: the image is read from memory once;
7 (8, see ``PAD_TAPS``) multiply-adds down, 3 adds and 4 multiply-adds along, every pass
a contiguous stream through a band that stays in cache. A ``gemv`` streams its matrix once
whatever the BLAS kernel family: nothing depends on a small-matrix path.
"""

from __future__ import annotations

import functools

import numpy as np

from cvtool.filtering.bands import row_bands
from cvtool.filtering.blas import one_thread
from cvtool.filtering.plan import Plan, Work
from cvtool.filtering.source import PaddedSource, run_tiles

__all__ = ["EXACT", "SCRATCH_BYTES", "applies", "operations", "padded_rows",
           "pitch_far_from_aliasing", "run", "vertical_views"]

# Bytes of one band's horizontal scratch (pairs or shifted copies of the band): 32 rows of
# a 4096-wide float32 7×7 band, in a core's L2 and L3 share. Larger than the L2 alone
# because every NumPy call of a band releases and retakes the GIL, and with two threads a
# retake that finds the other thread holding it sleeps until woken (measured on 2 cores,
# 4096² float32 7×7, 2 threads, with one call per shifted row as before: 1 MiB 412 -> 2 MiB
# 133 such sleeps per call, wall 38 -> 33 ms; one thread alone: 50 -> 46 ms; 8 MiB spills
# and takes 60-70 ms. The one call for all shifted rows then brought 2 MiB to 65 sleeps and
# 31 ms). Tests shrink it.
SCRATCH_BYTES = 2 * 1024 * 1024
PAD_TAPS = True

#: Sums the taps one by one (two passes, as ``separable``).
EXACT = True


def applies(plan: Plan) -> bool:
    """Needs a kernel of rank 1 (an outer product of a column and a row)."""
    return plan.factors is not None


def _symmetric(row: np.ndarray) -> bool:
    return bool(np.array_equal(row, row[::-1]))


def _band_rows(plan: Plan, scratch_rows: int) -> int:
    n_out, width = plan.out_shape[:2]
    row_bytes = width * plan.source.channels * plan.dtype.itemsize
    return max(1, min(n_out, SCRATCH_BYTES // max(1, scratch_rows * row_bytes)))


def operations(plan: Plan) -> Work:
    """Calls: per band, the two products, the horizontal adds or copies and the border
    redo. Operations per output: ``kh`` multiply-adds down, then a symmetric row's
    ``kw // 2`` adds and ``(kw + 1) // 2`` multiply-adds, or another row's ``kw − 1``
    copies and ``kw`` multiply-adds (an add or copy counted as 2 multiply-adds).
    """
    kh, kw = plan.kernel.shape
    n_out = plan.out_shape[0]
    if n_out == 0 or plan.factors is None:
        return Work(0, 0)
    if _symmetric(plan.factors[1].astype(plan.dtype)):
        horizontal, passes, rows = 2 * (kw // 2) + (kw + 1) // 2, kw // 2, kw // 2 + 1
    else:
        horizontal, passes, rows = 2 * (kw - 1) + kw, kw - 1, kw
    bands = -(-n_out // _band_rows(plan, rows))
    # Both passes run over every padded column of the kept rows (a column stride is
    # applied by the final copy).
    # + 6: the passes every pixel pays whatever the taps (writing V, padding, the output).
    return Work(bands * (passes + 8), n_out * plan.source.pitch * (6 + kh + horizontal))


def pitch_far_from_aliasing(base: int, row_steps: list[int], item: int) -> int:
    """A row pitch >= ``base`` elements whose multiples ``row_steps`` are far from 4 KiB.

    Passes that read one scratch row and write another run several times slower when the
    written row sits just ahead of the read one modulo 4096 bytes ("4K aliasing"); the pitch
    is padded by a multiple of 16 elements to keep every such distance near the middle.

    Examples
    --------
    >>> pitch_far_from_aliasing(4096, [1, 2, 3], 4) >= 4096
    True
    """
    return _far_pitch(base, tuple(row_steps), item)


@functools.lru_cache(maxsize=64)
def _far_pitch(base: int, row_steps: tuple[int, ...], item: int) -> int:
    # Cached: a banded run asks once per band with the same numbers (~0.2 ms each).
    def worst(p: int) -> int:
        return min(min(d, 4096 - d) for d in ((s * p * item) % 4096 for s in row_steps))

    return max((base + 16 * t for t in range(64)), key=worst)


def padded_rows(src: PaddedSource) -> tuple[np.ndarray | None, int, int]:
    """``(rows, top, left)``: source rows to read in place, and where the image sits in P.

    For a pre-padded source every padded row and column (``top = left = 0``); otherwise
    the image's own rows when no dtype conversion is needed (else None: read through tiles).
    """
    if src.padded is not None:
        return src.padded.reshape(src.padded_height, src.pitch), 0, 0
    return src.image_rows(), src.top, src.left


def vertical_views(src: PaddedSource, taps: int, sy: int) -> tuple[np.ndarray | None, int, int]:
    """``(windows, first, last)``: for output rows ``first:last``, their ``taps`` input rows
    as one strided view of the source (made once: a view costs microseconds to build)."""
    rows, top, left = padded_rows(src)
    width = src.pitch if src.padded is not None else src.width * src.channels
    first = -(-top // sy)  # first output row whose window starts inside the rows
    last = (top + (len(rows) if rows is not None else 0) - taps) // sy + 1
    if rows is None or last <= first:
        return None, 0, 0
    step = rows.strides[0]
    return np.lib.stride_tricks.as_strided(
        rows[first * sy - top:], (last - first, taps, width),
        (sy * step, step, rows.itemsize)), first, last


def _scratch_rows(row: np.ndarray, sx: int) -> int:
    """Scratch rows of a band: the pair sums of a symmetric row (or every tap), the row V
    itself, plus a result row for a column stride."""
    kw = len(row)
    n_rows, v_row = (kw // 2 + kw % 2, kw // 2) if _symmetric(row) else (kw, 0)
    return max(n_rows, v_row + 1) + (sx > 1)


def band_quantum(plan: Plan) -> int:
    """Bands of a banded run start where this strategy's own row groups start."""
    row = np.ascontiguousarray(plan.factors[1].astype(plan.dtype))
    return max(1, _band_rows(plan, _scratch_rows(row, plan.stride[1])))


def run(plan: Plan, out: np.ndarray) -> None:
    """Write the correlation into ``out`` (see the module docstring)."""
    src = plan.source
    dtype = plan.dtype
    item = dtype.itemsize
    column, row = (np.ascontiguousarray(f.astype(dtype)) for f in plan.factors)
    sy, sx = plan.stride
    kh, kw = plan.kernel.shape
    n_out, m_out = plan.out_shape[:2]
    c = src.channels
    vpitch = src.pitch  # one padded row of V
    out_len = m_out * c
    symmetric = _symmetric(row)
    if symmetric:
        pairs = kw // 2
        mid = kw % 2  # a middle tap reads V itself, shifted by kw // 2
        n_rows = pairs + mid
        weights = np.ascontiguousarray(row[:n_rows])
        v_row, base = pairs, (kw // 2) * c * mid
    else:
        n_rows = kw
        weights = row
        v_row, base = 0, 0  # V is the shift-0 row itself
    total_rows = _scratch_rows(row, sx)
    n = _band_rows(plan, total_rows)
    pitch = pitch_far_from_aliasing(n * vpitch + kw * c, list(range(1, total_rows + 1)), item)
    rows_in = (n - 1) * sy + kh
    prepadded = src.padded is not None
    image_cols = slice(src.left * c, (src.left + src.width) * c)
    fill_after = (src.fill * column.astype(np.float64).sum()) if src.is_fill else None
    # OpenBLAS-style gemv kernels take 4 (or 8) matrix rows per sweep of the output and
    # sweep once more for each leftover row: kh = 3 (mod 4) costs 4 sweeps for 7 rows.
    # Reading one more row with a zero weight makes it 2 (7×7: ~10-20 % less CPU measured).
    kv = kh + 1 if PAD_TAPS and kh % 4 == 3 else kh
    column_padded = np.ascontiguousarray(np.r_[column, np.zeros(kv - kh, dtype)])
    in_place, first, last = vertical_views(src, kv, sy)
    if in_place is None and kv != kh:
        kv, column_padded = kh, column
        in_place, first, last = vertical_views(src, kh, sy)

    def scratch():
        h = np.zeros((total_rows, pitch), dtype)
        # Output row i of the band: its n_rows horizontal rows, from flat i·vpitch.
        matrix = np.lib.stride_tricks.as_strided(
            h[0, base:], (n, n_rows, out_len), (vpitch * item, pitch * item, item))
        flat = np.lib.stride_tricks.as_strided(h[0, base:], (n_rows, n * vpitch),
                                               (pitch * item, item))
        # Every horizontal row of the band made by one call, not one per tap: each call
        # is a point where the worker threads contend for the GIL (see _band_rows).
        if symmetric:  # rows j < pairs: V shifted by j plus V shifted by kw - 1 - j
            near = np.lib.stride_tricks.as_strided(h[v_row], (pairs, n * vpitch),
                                                   (c * item, item))
            far = np.lib.stride_tricks.as_strided(h[v_row, (kw - 1) * c:], (pairs, n * vpitch),
                                                  (-c * item, item))
            shifted = (near, far, h[:pairs, base:base + n * vpitch])
        else:  # rows 1..kw-1: V shifted by j
            shifted = (np.lib.stride_tricks.as_strided(h[0, c:], (kw - 1, n * vpitch),
                                                       (c * item, item)),
                       None, h[1:kw, :n * vpitch])
        return h, matrix, flat, src.buffer(rows_in, src.width), shifted

    def do_band(o0: int, o1: int, bufs) -> None:
        h, matrix, flat, tile_buf, (near, far, rows_out) = bufs
        nb = o1 - o0
        length = nb * vpitch
        v = h[v_row, :length].reshape(nb, vpitch)
        target = v if prepadded else v[:, image_cols]
        if in_place is not None and first <= o0 and o1 <= last:
            np.matmul(column_padded, in_place[o0 - first:o1 - first], out=target)
        else:
            r0 = o0 * sy
            k_in = (nb - 1) * sy + kh
            if prepadded:
                tile = src.padded[r0:r0 + k_in].reshape(k_in, vpitch)
            else:
                tile = src.tile(r0, r0 + k_in, src.left, src.left + src.width,
                                tile_buf).reshape(k_in, -1)
            step = tile.strides[0]
            windows = np.lib.stride_tricks.as_strided(
                tile, (nb, kh, tile.shape[1]), (sy * step, step, item))
            np.matmul(column, windows, out=target)
        if not prepadded:  # padding columns commute with the vertical pass
            src.pad_columns(v.reshape((nb, src.padded_width) + src.tail), fill_after)
        if symmetric:
            np.add(near[:, :length], far[:, :length], out=rows_out[:, :length])
        else:
            rows_out[:, :length] = near[:, :length]
        if sx == 1:
            np.matmul(weights, matrix[:nb], out=out[o0:o1].reshape(nb, out_len))
        else:
            result = h[-1, :length]
            np.matmul(weights, flat[:, :length], out=result)
            kept = result.reshape((nb, src.padded_width) + src.tail)
            out[o0:o1] = kept[:, 0:(m_out - 1) * sx + 1:sx]

    with one_thread():
        run_tiles(row_bands(n_out, n), scratch, do_band, plan.workers)

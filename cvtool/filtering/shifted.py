"""Strategy ``shifted``: small kernels as one matrix-vector product per output row.

Applies to every kernel; it wins for small ones (3×3, 5×5) and for strides.

For each padded input row ``r`` of a band, the ``kw`` column-shifted copies of the row that
the kernel's columns need are laid one after another in a scratch buffer, keeping only the
kept output columns (``S[r, j, q] = P[r, q·sx + j]``). The ``kh·kw`` taps of output row
``i`` are then ``kh·kw`` consecutive rows of the scratch (from row ``i·sy·kw``), so the
whole output row is one product ``h.ravel() @ S[i·sy·kw : i·sy·kw + kh·kw]``: a
matrix-vector product (``gemv``) whose result is written in place into ``out``.

Why this is fast on any CPU: ``gemv`` streams its matrix once, doing ``kh·kw``
multiply-adds per output in vector registers (no NumPy temporaries, one write per
output), and every BLAS kernel family has a streaming ``gemv``; there is no small-matrix
packing for it to refuse. Memory traffic per output: ``kw`` scratch writes per input row
(3 for a 3×3, while the band stays in L2) plus ``kh·kw`` cached reads; the image is read
from memory once, in place (padding comes from the index maps, no padded copy). With unit
column stride each input row is copied once from the image, as its whole padded row, and
the other shifts are copied from it inside the scratch; the scratch pitch is chosen so
that neither copy hits 4K aliasing (see :func:`scratch_pitch`). With a stride, only the
kept columns are gathered, and only the kept rows' inputs are laid out (one strided view
of the image per band), so the work is that of the kept samples only.

Measured on 4096² float32 (AMD EPYC Zen 3, one thread, CPU time): a 3×3 in ~45 ms (the
padded-row copy ~10, the two shift copies ~10, the products ~16, the rest Python calls),
where the banded GEMMs of ``direct`` take ~95 ms and ``cv2.filter2D`` ~27 ms.
"""

from __future__ import annotations

import numpy as np

from cvtool.filtering.bands import row_bands
from cvtool.filtering.blas import one_thread
from cvtool.filtering.plan import Plan, Work
from cvtool.filtering.source import PaddedSource, _runs, run_tiles

__all__ = ["EXACT", "SCRATCH_BYTES", "applies", "gather_columns", "operations", "run",
           "scratch_pitch"]

# Bytes of the scratch of one band (its kw shifted copies of the band's input rows). One
# thread alone does best with the band in a core's L2 (768 KiB, 16 rows of a 4096-wide
# float32 3×3); two threads do better with fewer, larger bands, because every NumPy call
# releases and retakes the GIL and a retake that finds the other thread holding it sleeps
# until woken. Measured on 2 cores (AMD EPYC), 4096² float32, 2 threads, 768 KiB -> 2 MiB,
# medians of 9, two rounds: 3×3 zero 57-59 -> 41-46 ms and 236-309 -> 27-47 such sleeps;
# 5×5 mirror 93-119 -> 69-77 ms and 1208-1491 -> 175-217 sleeps; 3×3 stride 4 13 -> 15 ms
# (3 MiB: 18 ms). A plan with a stride keeps 3/8 of it (the former 768 KiB): its bands read
# more input rows per output row, and with 2 MiB the cost model picked ``shifted`` for
# strided plans where it was up to 2.3x slower (1080×640×3, 7×15, stride 2: 42 -> 96 ms
# against ``direct``). Tests shrink it to force one-row bands.
SCRATCH_BYTES = 2 * 1024 * 1024

#: Sums the taps one by one (in one matrix-vector product per output row).
EXACT = True


def applies(plan: Plan) -> bool:
    """Applies to every kernel."""
    return True


def _band_rows(plan: Plan) -> int:
    kh, kw = plan.kernel.shape
    n_out, m_out = plan.out_shape[:2]
    per_row = min(plan.stride[0], kh) * kw * m_out * plan.source.channels * plan.dtype.itemsize
    budget = SCRATCH_BYTES if plan.stride == (1, 1) else SCRATCH_BYTES * 3 // 8
    return max(1, min(n_out, budget // max(1, per_row)))


def operations(plan: Plan) -> Work:
    """Calls: per band, three copies per kernel column and one batched product (a ``gemv``
    per output row). Operations: multiply-adds plus scratch writes, a write counted as 3.5
    multiply-adds (their measured cost ratio): per kept sample ``kh·kw`` multiply-adds and
    ``kw`` scratch values for each of the ``min(sy, kh)`` input rows that are its own.
    """
    kh, kw = plan.kernel.shape
    n_out = plan.out_shape[0]
    if n_out == 0:
        return Work(0, 0)
    rows_per_out = min(plan.stride[0], kh)
    bands = -(-n_out // _band_rows(plan))
    calls = bands * (3 * kw + 1) + n_out / 4
    return Work(calls, plan.samples * (kh * kw + 3.5 * kw * rows_per_out))


class _ColumnPlan:
    """For padded columns ``start + q·step`` (q < count): where each comes from in the image.

    ``inner`` is ``(qa, qb, image_col)``: outputs ``qa:qb`` read image columns
    ``image_col, image_col + step, ...`` (one strided slice); ``copies`` are the few border
    outputs copied from image columns (``q_array, col_array``), ``fills`` those that take
    the constant fill.
    """

    def __init__(self, src: PaddedSource, start: int, step: int, count: int,
                 col_index: np.ndarray | None) -> None:
        x = start + step * np.arange(count)
        if col_index is None:  # a pre-padded source: every column is read as it is
            self.inner = (0, count, start)
            self.copies = self.fills = None
            return
        width, left = src.width, src.left
        qa = min(count, max(0, -(-(left - start) // step)))
        qb = max(qa, min(count, -(-(left + width - start) // step)))
        self.inner = (qa, qb, start + qa * step - left) if qb > qa else None
        border = np.r_[0:qa, qb:count]
        idx = col_index[x[border]]
        self.copies = (border[idx >= 0], idx[idx >= 0]) if (idx >= 0).any() else None
        self.fills = border[idx < 0] if (idx < 0).any() else None


def _column_plans(src: PaddedSource, starts: list[int], step: int, count: int,
                  cache: dict | None) -> list[_ColumnPlan]:
    col_index = None if src.padded is not None else src.col_index
    plans = []
    for s in starts:
        key = (s, step, count)
        p = None if cache is None else cache.get(key)
        if p is None:
            p = _ColumnPlan(src, s, step, count, col_index)
            if cache is not None:
                cache[key] = p
        plans.append(p)
    return plans


def _copy_columns(rows: np.ndarray, plans: list[_ColumnPlan], step: int, dest: np.ndarray,
                  fill) -> None:
    """``dest[..., j, q, :] = rows[..., x_j(q), :]`` for source rows ``(..., W, C)``."""
    for j, p in enumerate(plans):
        d = dest[..., j, :, :]
        if p.inner is not None:
            qa, qb, col = p.inner
            d[..., qa:qb, :] = rows[..., col:col + (qb - qa - 1) * step + 1:step, :]
        if p.copies is not None:
            d[..., p.copies[0], :] = rows[..., p.copies[1], :]
        if p.fills is not None:
            d[..., p.fills, :] = fill


def _source_rows(src: PaddedSource) -> np.ndarray:
    """The rows the column plans index: the pre-padded array, or the image itself."""
    if src.padded is not None:
        return src.padded.reshape(src.padded_height, src.padded_width, src.channels)
    return src.image.reshape(src.height, src.width, src.channels)


def gather_columns(src: PaddedSource, r0: int, r1: int, starts: list[int], step: int,
                   count: int, dest: np.ndarray, cache: dict | None = None) -> None:
    """``dest[r, j, q] = P[r0 + r, starts[j] + q·step]`` for padded rows ``r0:r1``.

    ``dest`` has shape ``(r1 - r0, len(starts), count, C)``. The image is read in place
    (converting its dtype on the way); padded rows and columns come from the source's index
    maps or its fill, so no padded copy of the image is ever made. ``cache`` keeps the
    column plans between calls of one run.
    """
    base = _source_rows(src)
    if src.padded is not None:
        row_runs = [(0, r1 - r0, r0)]
    elif src.rows_inside(r0, r1):
        row_runs = [(0, r1 - r0, r0 - src.top)]
    else:
        row_runs = _runs(src.row_index[r0:r1])
    plans = _column_plans(src, starts, step, count, cache)
    for a, b, s in row_runs:
        if s < 0:
            dest[a:b] = src.fill
        else:
            _copy_columns(base[s:s + (b - a)], plans, step, dest[a:b], src.fill)


def padded_rows_into(src: PaddedSource, r0: int, r1: int, dest: np.ndarray) -> None:
    """``dest[r] = P[r0 + r]`` (every padded column) for rows whose pitch is ``dest``'s own.

    Like :meth:`PaddedSource.tile`, but into rows of a larger scratch (a strided
    destination): the image is read in place, border columns come from the column map or
    the fill.
    """
    c = src.channels
    if src.padded is not None:
        dest[:] = src.padded[r0:r1].reshape(r1 - r0, -1)
        return
    left, width = src.left, src.width
    d3 = dest.reshape(r1 - r0, src.padded_width, c)
    image = src.image.reshape(src.height, width, c)
    if src.rows_inside(r0, r1):
        row_runs = [(0, r1 - r0, r0 - src.top)]
    else:
        row_runs = _runs(src.row_index[r0:r1])
    right = src.padded_width - left - width
    for a, b, s in row_runs:
        if s < 0:
            d3[a:b] = src.fill
            continue
        rows = image[s:s + (b - a)]
        d3[a:b, left:left + width] = rows
        if src.is_fill:
            if left:
                d3[a:b, :left] = src.fill
            if right:
                d3[a:b, left + width:] = src.fill
        else:
            if left:
                d3[a:b, :left] = rows[:, src.col_index[:left]]
            if right:
                d3[a:b, left + width:] = rows[:, src.col_index[left + width:]]


def scratch_pitch(row_len: int, shifts: int, channels: int, source_row: int,
                  item: int) -> int:
    """Elements from one scratch row to the next: at least ``row_len + 16``.

    A copy runs up to 3× slower when its destination sits a little ahead of its source
    modulo 4096 bytes (each load then waits on an unrelated store to the same page offset:
    "4K aliasing"), and power-of-two image widths make that offset the same on every row.
    Two copies matter here: image row → scratch row (its offset drifts by
    ``shifts·pitch − source_row`` per row, which must not be a near-multiple of 4096 bytes,
    so that few rows land in the bad window), and shift 0 → shift j inside the scratch
    (``j·(pitch − C)`` ahead, which must stay out of the window for every shift j).

    Examples
    --------
    >>> scratch_pitch(4098, 3, 1, 4096, 4) >= 4098 + 16
    True
    """
    def bad(pad: int) -> bool:
        pitch = row_len + pad
        drift = (shifts * pitch - source_row) * item % 4096
        if min(drift, 4096 - drift) < 128:
            return True
        return any(0 < j * (pitch - channels) * item % 4096 <= 768 for j in range(1, shifts))

    return row_len + next((pad for pad in range(16, 16 + 1024, 4) if not bad(pad)), 16)



def band_quantum(plan: Plan) -> int:
    """Bands of a banded run start where this strategy's own row groups start."""
    return max(1, _band_rows(plan))


def run(plan: Plan, out: np.ndarray) -> None:
    """Write the correlation into ``out`` (see the module docstring)."""
    src = plan.source
    sy, sx = plan.stride
    kh, kw = plan.kernel.shape
    n_out, m_out = plan.out_shape[:2]
    c = src.channels
    dtype = plan.dtype
    item = dtype.itemsize
    row_len = m_out * c
    taps = np.ascontiguousarray(plan.kernel.reshape(-1))
    # With sy <= kh the kernel windows of consecutive output rows overlap and share scratch
    # rows; with sy > kh each output row gets its own kh rows (the rows between are unused).
    period = min(sy, kh)
    n = _band_rows(plan)
    rows_in = (n - 1) * period + kh
    starts = list(range(kw))

    # With unit column stride, shift 0 of each input row is written as the whole padded row
    # (m_out + kw − 1 samples, into the row's slack), and the other shifts are copied from
    # it inside the scratch: one copy from the image per row, no border work per shift.
    whole_rows = sx == 1 and sy <= kh
    padded_len = src.pitch
    lda = scratch_pitch(padded_len if whole_rows else row_len, kw, c, src.width * c, item)

    def scratch():
        flat = np.empty(rows_in * kw * lda, dtype)
        rows = flat.reshape(rows_in, kw, lda)[:, :, :row_len].reshape(rows_in, kw, m_out, c)
        # Output row i's taps: kh·kw consecutive scratch rows from row i·period·kw.
        windows = np.lib.stride_tricks.as_strided(
            flat, (n, kh * kw, row_len), (period * kw * lda * item, lda * item, item))
        return rows, windows, {}, flat.reshape(rows_in, kw, lda)

    def do_band(o0: int, o1: int, bufs) -> None:
        buf, windows, cache, grid = bufs
        nb = o1 - o0
        if whole_rows:
            k_in = (nb - 1) * sy + kh
            padded_rows_into(src, o0 * sy, o0 * sy + k_in, grid[:k_in, 0, :padded_len])
            for j in range(1, kw):
                grid[:k_in, j, :row_len] = grid[:k_in, 0, j * c:j * c + row_len]
        elif sy <= kh:
            k_in = (nb - 1) * sy + kh
            gather_columns(src, o0 * sy, o0 * sy + k_in, starts, sx, m_out, buf[:k_in], cache)
        elif src.padded is not None or src.rows_inside(o0 * sy, (o1 - 1) * sy + kh):
            # Every output row's own kh rows, as one strided view of the image: one copy
            # per kernel column for the whole band.
            base = _source_rows(src)
            first = o0 * sy - (0 if src.padded is not None else src.top)
            rows = np.lib.stride_tricks.as_strided(
                base[first:], (nb, kh) + base.shape[1:],
                (sy * base.strides[0],) + base.strides)
            _copy_columns(rows, _column_plans(src, starts, sx, m_out, cache), sx,
                          buf[:nb * kh].reshape(nb, kh, kw, m_out, c), src.fill)
        else:
            for i in range(nb):
                r = (o0 + i) * sy
                gather_columns(src, r, r + kh, starts, sx, m_out, buf[i * kh:(i + 1) * kh],
                               cache)
        np.matmul(taps, windows[:nb], out=out[o0:o1].reshape(nb, row_len))

    with one_thread():
        run_tiles(row_bands(n_out, n), scratch, do_band, plan.workers)

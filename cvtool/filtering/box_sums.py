"""Strategy ``box_sums``: a constant kernel as running sums down and window doubling along.

Applies to kernels whose weights are all equal; it wins for box kernels from about 5×5 on,
where the work of the other strategies grows with the kernel.

Vertical pass: every output row is the previous one plus (entering row − leaving row).
All the differences of a band are one subtraction of the image read in place, then one
add per row: a cost per pixel that does not depend on ``kh``. A band carries the running
sum on from the band above it (its first row is one more difference and add, the same
arithmetic as any other row, so how a group is cut into bands changes no bit); only the
first band of every :data:`RESTART_ROWS` rows starts from an exact sum, one ``gemv`` of
``ones(kh)`` over its ``kh`` input rows, which bounds the float32 drift. The band is then
scaled by the weight ``w`` (one pass in cache, skipped for ``w = 1``) and its padding
columns made up. With a row stride each kept row is a ``gemv`` of ``w·ones(kh)`` over its
own ``kh`` rows.

Horizontal pass, on the band flattened to one long row: sums over 2, 4, 8, ... samples by
doubling (one vectorised add each), and the window from the binary digits of ``kw``, or as
a power-of-two window minus one sample when ``kw + 1`` is a power of two (31 = 32 − 1: 5
doublings and 1 subtraction instead of 4 doublings and 4 adds); partial sums stay in
scratch and only the last pass writes the output band, in place (with a column stride, the
kept columns are copied out). Fewer passes are not to be had with two-operand adds: a pass
at most doubles the window, and 31 needs one step back (31 = 16 + 16 − 1 is 4 doublings and
2 passes, the same 6).

Per output pixel of a 31×31: 1 difference, 1 add and 1 scaling down, 6 passes along, and
31/126 of a restart pass on 4096-wide float32 (31/42 when every band restarted); the image
is read from memory once and the output written once.
"""

from __future__ import annotations

import numpy as np

from cvtool.filtering.bands import row_bands
from cvtool.filtering.blas import one_thread
from cvtool.filtering.plan import Plan, Work
from cvtool.filtering.separable_gemv import (
    padded_rows,
    pitch_far_from_aliasing,
    vertical_views,
)
from cvtool.filtering.source import run_tiles

__all__ = ["EXACT", "SCRATCH_BYTES", "applies", "operations", "run", "window_plan"]

# Bytes of one band's scratch (three rows of band length). Larger than a core's L2: each
# band costs ~15 NumPy calls and each row one more, which dominate below ~20 rows of 4096
# pixels (4096² float32, one thread: 103 / 87 / 83 / 65 / 62 ms for 0.25 / 0.5 / 1 / 2 / 4
# MiB, AMD EPYC Zen 3). Tests shrink it.
SCRATCH_BYTES = 2 * 1024 * 1024

# Output rows between exact restarts of the float32 running sums down the columns (rounded
# down to whole bands, at least one). A restart is a ``gemv`` over ``kh`` input rows, so it
# costs kh / RESTART_ROWS of a pass per pixel. Until the next restart, a large value that
# has left the window still spoils its column by cancellation (a 1e9 spike in data of 0..1:
# errors of 1e-2), and a NaN or inf turns it to NaN: 128 rows (one band of a 4096-wide
# image carried into the next two) spread that 2.5x further down than restarting at every
# band, for ~5 % of the time, so the restart stays at about one band of 4096 float32
# columns (tests/test_box_sums.py bounds the reach of a spike).
RESTART_ROWS = 42

#: Integer data with integer weights stays exact: every partial sum is a whole number
#: (running differences and doublings in the working dtype, well within its 24 bits).
EXACT = True


def applies(plan: Plan) -> bool:
    """Needs a kernel whose weights are all equal."""
    return plan.is_box


def window_plan(k: int) -> tuple[int, bool]:
    """How a window of ``k`` samples is built: ``(doublings, minus_one)``.

    Either the power-of-two windows named by the binary digits of ``k`` added up
    (``minus_one`` False: ``log2(k)`` doublings and ``popcount(k) − 1`` adds), or, when
    ``k + 1`` is a power of two, that window minus its last sample (``log2(k + 1)``
    doublings and one subtraction), whichever takes fewer passes.

    Examples
    --------
    >>> window_plan(31), window_plan(5), window_plan(3)
    ((5, True), (2, False), (1, False))
    """
    adding = (k.bit_length() - 1) + bin(k).count("1") - 1
    if (k + 1) & k == 0 and k.bit_length() + 1 < adding:
        return k.bit_length(), True
    return k.bit_length() - 1, False


def _scratch_rows(plan: Plan) -> int:
    """Output rows per band when the scratch alone decides (not capped by the output)."""
    row_bytes = plan.out_shape[1] * plan.source.channels * plan.dtype.itemsize
    return max(1, SCRATCH_BYTES // max(1, 3 * row_bytes))


def _band_rows(plan: Plan) -> int:
    return max(1, min(plan.out_shape[0], _scratch_rows(plan)))


def _group_rows(plan: Plan) -> int:
    """Output rows between two exact restarts of the running sums: whole bands of the
    uncapped size, so that the restarts sit at the same rows whatever ``n_out`` is (a
    banded run's pieces start at multiples of this)."""
    rows = _scratch_rows(plan)
    return rows * max(1, RESTART_ROWS // rows)


def operations(plan: Plan) -> Work:
    """Calls: per band the products, one add per row, the passes along and the border
    redo. Operations per output, counted as multiply-adds (an element pass counts 2): the
    vertical difference and add (or ``kh`` taps per kept row with a row stride), then the
    doublings and window adds or the subtraction along the row."""
    kh, kw = plan.kernel.shape
    n_out = plan.out_shape[0]
    if n_out == 0:
        return Work(0, 0)
    doublings, minus_one = window_plan(kw)
    passes = doublings + (1 if minus_one else bin(kw).count("1") - 1)
    vertical = 2 * 2 if plan.stride[0] == 1 else kh
    bands = -(-n_out // _band_rows(plan))
    # Every pass runs over each padded column of the kept rows (a column stride is applied
    # by the final copy).
    return Work(bands * (passes + 9) + n_out,
                n_out * plan.source.pitch * (vertical + 2 * passes))



def band_quantum(plan: Plan) -> int:
    """Bands of a banded run start where this strategy's running sums restart."""
    return _group_rows(plan)


def run(plan: Plan, out: np.ndarray) -> None:
    """Write the box filter into ``out`` (see the module docstring)."""
    src = plan.source
    dtype = plan.dtype
    item = dtype.itemsize
    sy, sx = plan.stride
    kh, kw = plan.kernel.shape
    n_out, m_out = plan.out_shape[:2]
    c = src.channels
    vpitch = src.pitch
    out_len = m_out * c
    doublings, minus_one = window_plan(kw)
    reach = kw + 1 if minus_one else kw  # the widest window the doubling builds
    n = _band_rows(plan)
    pitch = pitch_far_from_aliasing(n * vpitch + reach * c, [1, 2, 3], item)
    rows_in = (n - 1) * sy + kh
    prepadded = src.padded is not None
    image_cols = slice(src.left * c, (src.left + src.width) * c)
    weight = plan.kernel64.flat[0]
    column = np.full(kh, weight, dtype)
    ones = np.ones(kh, dtype)
    weight = dtype.type(weight)
    scale = weight != 1  # a weight-1 box (integer sums) needs no scaling pass
    add = np.add
    fill_after = (src.fill * weight * kh) if src.is_fill else None
    rows2d, top, _ = padded_rows(src)
    in_place, first, last = vertical_views(src, kh, sy)

    def scratch():
        # Row 0: V (the band after the vertical pass); rows 1, 2: doubling; row 3: the
        # result of a band with a column stride; row 3 (4 with a column stride): the binary
        # window's partial sum. Then the input tile, and the running sum's
        # carry from one band to the next (last unscaled sum, last leaving input row).
        return (np.zeros((4 + (sx > 1), pitch), dtype), src.buffer(rows_in, src.width),
                np.zeros((2, vpitch if prepadded else src.width * c), dtype))

    def vertical(base: np.ndarray, windows: np.ndarray, nb: int, v: np.ndarray,
                 carry: np.ndarray, fresh: bool, keep: bool) -> None:
        """v (nb rows) = weight × sums of kh rows of ``base`` (rows 0, sy, 2·sy, ...).

        Unless ``fresh``, the first row continues the running sum from ``carry`` (the
        previous band's last unscaled sum and the input row just above ``base``) instead of
        restarting from an exact sum; ``keep`` stores this band's pair into ``carry``."""
        if sy > 1:
            np.matmul(column, windows, out=v)
            return
        if fresh:
            np.matmul(ones, base[:kh], out=v[0])
        else:  # the same difference-then-add as every other row: bands do not show
            np.subtract(base[kh - 1], carry[1], out=v[0])
            add(carry[0], v[0], v[0])
        if nb > 1:
            # Row i = row i − 1 + (row i + kh − 1 − row i − 1): the differences in one pass,
            # then one add per row (NumPy's accumulate along axis 0 is ~30× slower than these
            # adds; positional arguments over row views halve each add's call overhead).
            np.subtract(base[kh:kh + nb - 1], base[:nb - 1], out=v[1:])
            prev = v[0]
            for row in v[1:]:
                add(prev, row, row)
                prev = row
        if keep:
            np.copyto(carry[0], v[nb - 1])
            np.copyto(carry[1], base[nb - 1])
        if scale:
            np.multiply(v, weight, v)

    def rows_view(flat: np.ndarray, offset: int, nb: int) -> np.ndarray:
        """The kept outputs' samples of a flat band row, as ``nb × out_len`` (sx = 1)."""
        return np.lib.stride_tricks.as_strided(flat[offset:], (nb, out_len),
                                               (vpitch * item, item))

    def do_band(o0: int, o1: int, bufs, fresh: bool, keep: bool) -> None:
        h, tile_buf, carry = bufs
        nb = o1 - o0
        length = nb * vpitch
        v = h[0, :length].reshape(nb, vpitch)
        target = v if prepadded else v[:, image_cols]
        r0 = o0 * sy
        if in_place is not None and first <= o0 and o1 <= last:
            base = rows2d[r0 - top:]
            windows = in_place[o0 - first:o1 - first]
        else:
            k_in = (nb - 1) * sy + kh
            if prepadded:
                base = src.padded[r0:r0 + k_in].reshape(k_in, vpitch)
            else:
                base = src.tile(r0, r0 + k_in, src.left, src.left + src.width,
                                tile_buf).reshape(k_in, -1)
            step = base.strides[0]
            windows = np.lib.stride_tricks.as_strided(
                base, (nb, kh, base.shape[1]), (sy * step, step, item))
        vertical(base, windows, nb, target, carry, fresh, keep)
        if not prepadded:  # padding columns commute with the vertical pass
            src.pad_columns(v.reshape((nb, src.padded_width) + src.tail), fill_after)
        # Output t's window is V[t + j·C], j < kw, over the flat band. Windows of p samples
        # by doubling, ping-ponging between rows 1 and 2 (row 0 keeps V); with minus_one
        # the last doubling reaches kw + 1 samples.
        total = length + (reach - 1) * c
        x = h[0]
        if sx == 1:
            dest = out[o0:o1].reshape(nb, out_len)

            def part(row: np.ndarray, offset: int) -> np.ndarray:
                return rows_view(row, offset, nb)
        else:
            dest = h[3, :length]

            def part(row: np.ndarray, offset: int) -> np.ndarray:
                return row[offset:offset + length]
        # The binary pieces add up in scratch (in cache); only the last add writes ``dest``,
        # so the output is written once and never read back.
        acc = part(h[3 if sx == 1 else 4], 0)
        cur, p, offset, pending, spare = x, 1, 0, None, 1
        while True:
            if not minus_one and kw & p:
                piece = part(cur, offset * c)
                into = dest if p == 1 << doublings else acc
                if p == 1:
                    pending = piece  # V itself stays in row 0: add it with the next piece
                elif pending is not None:
                    add(pending, piece, into)
                    pending = None
                elif offset == 0:
                    np.copyto(into, piece)
                else:
                    add(acc, piece, into)
                offset += p
            if p == 1 << doublings:
                break
            valid = total - (2 * p - 1) * c
            nxt = h[spare]
            spare = 3 - spare
            np.add(cur[:valid], cur[p * c:p * c + valid], out=nxt[:valid])
            cur = nxt
            p *= 2
        if minus_one:
            np.subtract(part(cur, 0), part(x, kw * c), out=dest)
        elif pending is not None:  # kw == 1
            np.copyto(dest, pending)
        if sx > 1:
            kept = dest.reshape((nb, src.padded_width) + src.tail)
            out[o0:o1] = kept[:, 0:(m_out - 1) * sx + 1:sx]

    def do_group(g0: int, g1: int, bufs) -> None:
        """The bands of one restart group in order, each carrying its running sum on."""
        for o0, o1 in row_bands(g1 - g0, n):
            do_band(g0 + o0, g0 + o1, bufs, o0 == 0, g0 + o1 < g1)

    with one_thread():
        run_tiles(row_bands(n_out, _group_rows(plan)), scratch, do_group, plan.workers)

"""The ways of computing one correlation; each gives the direct result within rounding.

Every strategy computes ``out[i, j] = Σ_k Σ_l P[i·sy + k, j·sx + l] · h[k, l]`` for the
padded image ``P`` (a :class:`PaddedSource`) and writes it into ``out``, kept positions
only: a stride is never computed in full and then thrown away.

The work is cut into tiles (row bands, and column ranges when a kernel needs tall bands)
that fit a core's cache, and the tiles run on a thread pool. The speed trick shared by the
strategies: a tile of padded pixels is one contiguous buffer, so with unit stride the tap
``(k, l)`` is the *flat* slice starting at ``k·pitch + l·C`` (pitch = tile row length).
Every tap is then a 1-D contiguous multiply-add, about twice as fast in NumPy as the same
work on 2-D shifted views; the results that straddle two rows land in the last ``kw − 1``
columns of each row, which are never copied out.
"""

from __future__ import annotations

import numpy as np

from cvtool._filter_source import PaddedSource, run_tiles

# Bytes of padded input per tile: small enough that a tile, its accumulator and one
# temporary stay in a core's L2 cache while every tap sweeps over them (256 KiB measured
# best for 3×3 on 4096-wide float32). Tests shrink it to force many small tiles, and
# kernels taller and wider than a tile, on small images.
BAND_BYTES = 256 * 1024


def _span(start: int, count: int, step: int) -> slice:
    """The slice ``start, start+step, ...`` with ``count`` elements."""
    return slice(start, start + (count - 1) * step + 1, step)


class _Plan:
    """How an output is cut into tiles, and the largest tile's input size."""

    def __init__(self, src: PaddedSource, ksize: tuple[int, int], stride: tuple[int, int],
                 out_shape: tuple[int, ...], min_rows: int = 1) -> None:
        kh, kw = ksize
        sy, sx = stride
        n_out, m_out = out_shape[:2]
        item = src.dtype.itemsize
        rows = BAND_BYTES // max(1, src.pitch * item * sy)
        if rows >= min_rows:  # whole-width bands fit the budget
            rows, cols = min(rows, n_out), m_out
            rows_in = (rows - 1) * sy + kh
        else:  # a tall kernel needs tall bands: cut them into column ranges too
            rows = min(min_rows, n_out)
            rows_in = (rows - 1) * sy + kh
            cols_in = BAND_BYTES // max(1, rows_in * src.channels * item)
            # At least a few kernel widths wide, so the horizontal overlap costs little.
            cols = min(max((cols_in - kw) // sx + 1, (2 * kw) // sx + 8, 1), m_out)
        self.rows, self.cols = rows, cols
        self.rows_in = rows_in
        self.cols_in = (cols - 1) * sx + kw
        self.tiles = [(o0, min(o0 + rows, n_out), q0, min(q0 + cols, m_out))
                      for o0 in range(0, n_out, rows) for q0 in range(0, m_out, cols)]
        self.stride = stride
        self.ksize = ksize

    def input_tile(self, src: PaddedSource, o0: int, o1: int, q0: int, q1: int,
                   buf: np.ndarray) -> np.ndarray:
        sy, sx = self.stride
        kh, kw = self.ksize
        return src.tile(o0 * sy, (o1 - 1) * sy + kh, q0 * sx, (q1 - 1) * sx + kw, buf)


def _taps(kernel: np.ndarray) -> list[tuple[int, int, float]]:
    """Non-zero taps (zeros cost a pass each and add nothing: Sobel has three)."""
    kh, kw = kernel.shape
    return [(k, j, kernel[k, j]) for k in range(kh) for j in range(kw) if kernel[k, j] != 0]


def _accumulate(parts, out: np.ndarray, tmp: np.ndarray) -> None:
    """``out = Σ view·w`` over ``parts = [(view, w), ...]`` with one temporary."""
    (view, w), rest = parts[0], parts[1:]
    np.multiply(view, w, out=out)
    for view, w in rest:
        np.multiply(view, w, out=tmp)
        np.add(out, tmp, out=out)


def _accumulate_1d(views, weights, out: np.ndarray, tmp: np.ndarray) -> None:
    """``out = Σ views[i]·weights[i]`` for a 1-D kernel.

    Symmetric kernels (Gaussians, binomials) pair their taps: (a + b)·w costs three passes
    for two taps instead of four.
    """
    n = len(weights)
    if n >= 3 and all(weights[i] == weights[n - 1 - i] for i in range(n // 2)):
        parts = [(views[i], views[n - 1 - i], weights[i]) for i in range(n // 2)]
        if n % 2:
            parts.append((views[n // 2], None, weights[n // 2]))
    else:
        parts = [(v, None, w) for v, w in zip(views, weights, strict=True)]
    parts = [p for p in parts if p[2] != 0]
    if not parts:
        out[...] = 0
        return
    for i, (a, b, w) in enumerate(parts):
        dest = out if i == 0 else tmp
        if b is None:
            np.multiply(a, w, out=dest)
        else:
            np.add(a, b, out=dest)
            np.multiply(dest, w, out=dest)
        if i:
            np.add(out, tmp, out=out)


def _store(dest: np.ndarray, rows2d: np.ndarray) -> None:
    """Copy ``n × (m·C)`` results into an ``n × m [× C]`` output view."""
    np.copyto(dest, rows2d.reshape(dest.shape))


# ----------------------------------------------------------------------------- direct

def direct(src: PaddedSource, kernel: np.ndarray, out: np.ndarray, stride: tuple[int, int],
           workers: int) -> None:
    """Tap by tap over cache-sized tiles: out += h[k, l] · (shifted view of the tile)."""
    sy, sx = stride
    taps = _taps(kernel)
    if not taps:
        out[...] = 0
        return
    plan = _Plan(src, kernel.shape, stride, out.shape)
    c = src.channels
    flat = sy == 1 and sx == 1
    size = plan.rows * (plan.cols_in if flat else plan.cols) * c

    def scratch():
        return (src.buffer(plan.rows_in, plan.cols_in), np.empty(size, out.dtype),
                np.empty(size, out.dtype))

    def do_tile(o0: int, o1: int, q0: int, q1: int, bufs) -> None:
        buf, accbuf, tmpbuf = bufs
        n, m = o1 - o0, q1 - q0
        tile = plan.input_tile(src, o0, o1, q0, q1, buf)
        dest = out[o0:o1, q0:q1]
        if not flat:
            parts = [(tile[_span(k, n, sy), _span(j, m, sx)], w) for k, j, w in taps]
            _accumulate(parts, dest, tmpbuf[: dest.size].reshape(dest.shape))
            return
        p = tile.reshape(-1)
        pitch = tile.shape[1] * c
        length = (n - 1) * pitch + m * c
        acc, tmp = accbuf[:length], tmpbuf[:length]
        parts = [(p[k * pitch + j * c:k * pitch + j * c + length], w) for k, j, w in taps]
        _accumulate(parts[:-1] or parts, acc, tmp)
        acc2d = accbuf[: n * pitch].reshape(n, pitch)[:, : m * c]
        if len(parts) == 1:
            _store(dest, acc2d)
            return
        # The last tap adds straight into the output, dropping the straddling columns.
        view, w = parts[-1]
        np.multiply(view, w, out=tmp)
        tmp2d = tmpbuf[: n * pitch].reshape(n, pitch)[:, : m * c]
        np.add(acc2d.reshape(dest.shape), tmp2d.reshape(dest.shape), out=dest)

    run_tiles(plan.tiles, scratch, do_tile, workers)


# ----------------------------------------------------------------------------- separable

def separable(src: PaddedSource, column: np.ndarray, row: np.ndarray, out: np.ndarray,
              stride: tuple[int, int], workers: int) -> None:
    """A rank-1 kernel ``outer(column, row)`` as a horizontal then a vertical 1-D pass."""
    sy, sx = stride
    kh, kw = len(column), len(row)
    # Bands tall compared with the kernel, so the rows shared between bands cost little.
    plan = _Plan(src, (kh, kw), stride, out.shape, min_rows=2 * kh)
    c = src.channels
    flat = sx == 1
    hsize = plan.rows_in * (plan.cols_in if flat else plan.cols) * c

    def scratch():
        return (src.buffer(plan.rows_in, plan.cols_in), np.empty(hsize, out.dtype),
                np.empty(hsize, out.dtype), np.empty(hsize, out.dtype))

    def do_tile(o0: int, o1: int, q0: int, q1: int, bufs) -> None:
        buf, hbuf, tbuf, vbuf = bufs
        n, m = o1 - o0, q1 - q0
        tile = plan.input_tile(src, o0, o1, q0, q1, buf)
        nrows = tile.shape[0]
        row_len = m * c
        if flat:
            hpitch = tile.shape[1] * c
            p = tile.reshape(-1)
            hlen = nrows * hpitch - (kw - 1) * c
            views = [p[j * c:j * c + hlen] for j in range(kw)]
            _accumulate_1d(views, row, hbuf[:hlen], tbuf[:hlen])
        else:
            hpitch = row_len
            shape = (nrows, m) + tile.shape[2:]
            views = [tile[:, _span(j, m, sx)] for j in range(kw)]
            _accumulate_1d(views, row, hbuf[: nrows * hpitch].reshape(shape),
                           tbuf[: nrows * hpitch].reshape(shape))
        dest = out[o0:o1, q0:q1]
        if sy == 1:
            length = (n - 1) * hpitch + row_len
            views = [hbuf[k * hpitch:k * hpitch + length] for k in range(kh)]
            _accumulate_1d(views, column, vbuf[:length], tbuf[:length])
            _store(dest, vbuf[: n * hpitch].reshape(n, hpitch)[:, :row_len])
        else:
            h2 = hbuf[: nrows * hpitch].reshape(nrows, hpitch)[:, :row_len]
            views = [h2[_span(k, n, sy)] for k in range(kh)]
            _accumulate_1d(views, column, vbuf[: n * row_len].reshape(n, row_len),
                           tbuf[: n * row_len].reshape(n, row_len))
            _store(dest, vbuf[: n * row_len].reshape(n, row_len))

    run_tiles(plan.tiles, scratch, do_tile, workers)


# ----------------------------------------------------------------------------- box

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


def box(src: PaddedSource, weight: float, shape: tuple[int, int], out: np.ndarray,
        stride: tuple[int, int], workers: int) -> None:
    """A constant kernel as sums over power-of-two windows, horizontal then vertical.

    The cost grows with log2 of the kernel's side, not with its area: a 31×31 box takes
    8 + 8 vectorised adds per pixel. (NumPy's ``cumsum`` is a scalar loop, about 20× slower
    per element than a vectorised add, so O(1) running sums would only win for boxes wider
    than a few thousand pixels.) With a stride, the horizontal sums are compacted to the
    kept columns before the vertical pass, and only kept rows are scaled and stored.
    """
    sy, sx = stride
    kh, kw = shape
    plan = _Plan(src, shape, stride, out.shape, min_rows=2 * kh)
    c = src.channels
    size = plan.rows_in * plan.cols_in * c

    def scratch():
        return (src.buffer(plan.rows_in, plan.cols_in), np.empty(size, out.dtype),
                np.empty(size, out.dtype), np.empty(size, out.dtype),
                np.empty(size, out.dtype))

    def do_tile(o0: int, o1: int, q0: int, q1: int, bufs) -> None:
        buf, hsum, a, b, compact = bufs
        n, m = o1 - o0, q1 - q0
        tile = plan.input_tile(src, o0, o1, q0, q1, buf)
        nrows, ncols = tile.shape[:2]
        pitch = ncols * c
        row_len = m * c
        p = tile.reshape(-1)
        _window_sums(p, nrows * pitch - (kw - 1) * c, kw, c, hsum, (a, b))
        if sx == 1:
            h, hpitch, spare = hsum, pitch, compact
        else:  # keep only the kept columns before the vertical pass
            grid = hsum[: nrows * pitch].reshape(nrows, ncols, c)
            compact[: nrows * row_len].reshape(nrows, m, c)[...] = grid[:, _span(0, m, sx)]
            h, hpitch, spare = compact, row_len, hsum
        length = (n - 1) * sy * hpitch + row_len
        _window_sums(h, length, kh, hpitch, a, (b, spare))
        # Rows 0, sy, 2sy, ... of the vertical sums (the rows between were only needed as
        # parts of windows), scaled by the kernel's one weight.
        kept = np.lib.stride_tricks.as_strided(a[:length], (n, row_len),
                                               (sy * hpitch * a.itemsize, a.itemsize))
        dest = out[o0:o1, q0:q1]
        np.multiply(kept.reshape(dest.shape), weight, out=dest)

    run_tiles(plan.tiles, scratch, do_tile, workers)


# ----------------------------------------------------------------------------- fft

def fft(src: PaddedSource, kernel: np.ndarray, out: np.ndarray, stride: tuple[int, int],
        workers: int) -> None:
    """Large kernels through ``cvtool.fft`` (overlap-save tiles at 2·3·5-smooth sizes)."""
    from cvtool.fft import fft_correlate_valid

    sy, sx = stride
    padded = src.full()
    k = kernel.astype(out.dtype)
    if padded.ndim == 2:
        out[...] = fft_correlate_valid(padded, k, workers=workers)[::sy, ::sx]
        return
    for ch in range(padded.shape[2]):
        plane = np.ascontiguousarray(padded[..., ch])
        out[..., ch] = fft_correlate_valid(plane, k, workers=workers)[::sy, ::sx]

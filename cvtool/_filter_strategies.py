"""The ways of computing one correlation; each gives the direct result within rounding.

Every strategy computes ``out[i, j] = Σ_k Σ_l P[i·sy + k, j·sx + l] · h[k, l]`` for the
padded image ``P`` (a :class:`PaddedSource`) and writes it into ``out`` (kept positions
only: a stride is never computed in full and then thrown away).
"""

from __future__ import annotations

import numpy as np

from cvtool._filter_source import PaddedSource, run_bands

# Bytes of padded input per band: small enough that a band, its output and one temporary
# stay in a core's L2 cache while every tap sweeps over them. Tests shrink it to force
# many bands (and kernels taller than a band) on small images.
BAND_BYTES = 256 * 1024


def _span(start: int, count: int, step: int) -> slice:
    """The slice ``start, start+step, ...`` with ``count`` elements."""
    return slice(start, start + (count - 1) * step + 1, step)


def _band_rows(src: PaddedSource, sy: int, floor: int = 1) -> int:
    row_bytes = src.padded_width * int(np.prod(src.tail, dtype=np.int64)) * src.dtype.itemsize
    return max(floor, BAND_BYTES // max(1, row_bytes * sy))


def direct(src: PaddedSource, kernel: np.ndarray, out: np.ndarray, stride: tuple[int, int],
           workers: int) -> None:
    """Tap by tap over cache-sized row bands: out += h[k, j] · (shifted view of the band)."""
    sy, sx = stride
    kh, kw = kernel.shape
    n_out, m_out = out.shape[:2]
    taps = [(k, j, kernel[k, j]) for k in range(kh) for j in range(kw) if kernel[k, j] != 0]
    if not taps:
        out[...] = 0
        return
    band = _band_rows(src, sy)

    def scratch():
        return src.buffer((band - 1) * sy + kh), np.empty((band,) + out.shape[1:], out.dtype)

    def do_band(o0: int, o1: int, bufs) -> None:
        buf, tmp = bufs
        n = o1 - o0
        rows = src.rows(o0 * sy, (o1 - 1) * sy + kh, buf)
        acc = out[o0:o1]
        t = tmp[:n]
        cols = m_out
        k, j, w = taps[0]
        np.multiply(rows[_span(k, n, sy), _span(j, cols, sx)], w, out=acc)
        for k, j, w in taps[1:]:
            np.multiply(rows[_span(k, n, sy), _span(j, cols, sx)], w, out=t)
            np.add(acc, t, out=acc)

    run_bands(n_out, band, scratch, do_band, workers)


def separable(src: PaddedSource, column: np.ndarray, row: np.ndarray, out: np.ndarray,
              stride: tuple[int, int], workers: int) -> None:
    """A rank-1 kernel ``outer(column, row)`` as a horizontal then a vertical 1-D pass."""
    sy, sx = stride
    kh, kw = len(column), len(row)
    n_out, m_out = out.shape[:2]
    # Bands tall compared with the kernel, so the rows shared between bands cost little.
    band = _band_rows(src, sy, floor=max(8, 2 * kh))
    tail = out.shape[1:]

    def scratch():
        nrows = (band - 1) * sy + kh
        return (src.buffer(nrows), np.empty((nrows,) + tail, out.dtype),
                np.empty((nrows,) + tail, out.dtype))

    def do_band(o0: int, o1: int, bufs) -> None:
        buf, hsum, tmp = bufs
        n = o1 - o0
        nrows = (n - 1) * sy + kh
        rows = src.rows(o0 * sy, o0 * sy + nrows, buf)
        h = hsum[:nrows]
        t = tmp[:nrows]
        np.multiply(rows[:, _span(0, m_out, sx)], row[0], out=h)
        for j in range(1, kw):
            np.multiply(rows[:, _span(j, m_out, sx)], row[j], out=t)
            np.add(h, t, out=h)
        acc = out[o0:o1]
        t = tmp[:n]
        np.multiply(h[_span(0, n, sy)], column[0], out=acc)
        for k in range(1, kh):
            np.multiply(h[_span(k, n, sy)], column[k], out=t)
            np.add(acc, t, out=acc)

    run_bands(n_out, band, scratch, do_band, workers)


def box(src: PaddedSource, weight: float, shape: tuple[int, int], out: np.ndarray,
        stride: tuple[int, int], workers: int) -> None:
    """A constant kernel as running sums: cost independent of the kernel size.

    The running sums are taken in float64 within each band: a float32 cumulative sum along
    a 4096-pixel row would lose about 1e-5 of relative precision in the differences.
    """
    sy, sx = stride
    kh, kw = shape
    n_out, m_out = out.shape[:2]
    band = _band_rows(src, sy, floor=max(16, 2 * kh))
    tail = src.tail
    cols = src.padded_width

    def scratch():
        nrows = (band - 1) * sy + kh
        return (src.buffer(nrows), np.zeros((nrows, cols + 1) + tail, np.float64),
                np.zeros((nrows + 1, m_out) + tail, np.float64))

    def do_band(o0: int, o1: int, bufs) -> None:
        buf, csum, vsum = bufs
        n = o1 - o0
        nrows = (n - 1) * sy + kh
        rows = src.rows(o0 * sy, o0 * sy + nrows, buf)
        c = csum[:nrows]  # column 0 stays 0: the sum of no pixels
        np.cumsum(rows, axis=1, dtype=np.float64, out=c[:, 1:])
        v = vsum[: nrows + 1]  # row 0 stays 0
        np.subtract(c[:, _span(kw, m_out, sx)], c[:, _span(0, m_out, sx)], out=v[1:])
        np.cumsum(v[1:], axis=0, out=v[1:])
        acc = out[o0:o1]
        np.subtract(v[_span(kh, n, sy)], v[_span(0, n, sy)], out=acc, casting="same_kind")
        np.multiply(acc, weight, out=acc)

    run_bands(n_out, band, scratch, do_band, workers)


def fft(src: PaddedSource, kernel: np.ndarray, out: np.ndarray, stride: tuple[int, int],
        workers: int) -> None:
    """Large kernels through ``cvtool.fft`` (overlap-save tiles at 2·3·5-smooth sizes)."""
    from cvtool.fft import fft_correlate_valid

    sy, sx = stride
    padded = src.full()
    if padded.ndim == 2:
        res = fft_correlate_valid(padded, kernel, workers=workers)
        out[...] = res[::sy, ::sx]
        return
    for c in range(padded.shape[2]):
        res = fft_correlate_valid(np.ascontiguousarray(padded[..., c]), kernel, workers=workers)
        out[..., c] = res[::sy, ::sx]

"""The ways of computing one correlation; each gives the direct result within rounding.

Every strategy computes ``out[i, j] = Σ_k Σ_l P[i·sy + k, j·sx + l] · h[k, l]`` for the
padded image ``P`` (a :class:`PaddedSource`) and writes it into ``out``, kept positions
only: a stride is never computed in full and then thrown away.

The work is cut into bands of rows that fit a core's cache, and the bands run on a thread
pool (NumPy and BLAS release the GIL). The multiply-adds are done by BLAS wherever they
can be: a band of output rows is a banded matrix times the band of input rows, one small
GEMM per kernel column, which keeps the partial sums in registers instead of making two
NumPy passes over memory per tap. Bands that lie inside the image read it in place, so
only border strips are ever assembled with padding (and converted from 8/16-bit).
"""

from __future__ import annotations

import numpy as np

from cvtool.filtering.source import PaddedSource, run_tiles

# Bytes per row block of the box filter's horizontal pass (its scratch stays in L2).
# Tests shrink it to force many small blocks on small images.
BAND_BYTES = 256 * 1024


def _span(start: int, count: int, step: int) -> slice:
    """The slice ``start, start+step, ...`` with ``count`` elements."""
    return slice(start, start + (count - 1) * step + 1, step)


# ----------------------------------------------------------------------------- direct

# Largest multiply-adds per GEMM call. OpenBLAS runs calls above 2·4·65536 m·n·k on its
# own thread pool, whose spinning workers collide with ours (a 4-10× slowdown measured on
# 2 busy cores); calls below run on the calling thread, and our tiles give the parallelism.
GEMM_MACS = 480_000
# Output rows per band for the banded-matrix products: the band matrix has n·(n+kh−1)
# entries for n·kh useful ones, so small bands waste less arithmetic (8 measured best).
GEMM_ROWS = 8


def _band_matrices(kernel: np.ndarray, n: int, sy: int) -> list[tuple[int, np.ndarray]]:
    """For each kernel column j, the n × K matrix taking band rows to output rows.

    ``M_j[i, i·sy + k] = h[k, j]``: one product per kernel column then sums the kernel's
    rows for n output rows at once. Columns of zeros are skipped.
    """
    kh, kw = kernel.shape
    rows_in = (n - 1) * sy + kh
    mats = []
    for j in range(kw):
        if not kernel[:, j].any():
            continue
        m = np.zeros((n, rows_in), kernel.dtype)
        for i in range(n):
            m[i, i * sy:i * sy + kh] = kernel[:, j]
        mats.append((j, m))
    return mats


def _column_strip(src: PaddedSource, kernel: np.ndarray, out: np.ndarray, o0: int, o1: int,
                  q0: int, q1: int, sy: int) -> None:
    """Outputs ``o0:o1`` × ``q0:q1`` (unit column stride) for a narrow strip of columns.

    The roles of rows and columns swap: per kernel row k, the strip's padded rows times a
    small Toeplitz matrix holding kernel row k (``N_k[(q + j)·C + ch, q·C + ch] = h[k, j]``).
    """
    kh, kw = kernel.shape
    c = src.channels
    w = q1 - q0
    width_in = (w + kw - 1) * c
    rows = o1 - o0
    rows_in = (rows - 1) * sy + kh
    tile = src.tile(o0 * sy, o0 * sy + rows_in, q0, q1 + kw - 1,
                    src.buffer(rows_in, w + kw - 1)).reshape(rows_in, width_in)
    eye = np.eye(c, dtype=out.dtype)
    dest = out[o0:o1, q0:q1].reshape(rows, w * c)
    step = max(1, GEMM_MACS // (width_in * w * c))
    first = True
    for k in range(kh):
        if not kernel[k].any():
            continue
        toeplitz = np.zeros((w + kw - 1, w), out.dtype)
        for q in range(w):
            toeplitz[q:q + kw, q] = kernel[k]
        n_k = np.kron(toeplitz, eye)
        rows_k = tile[k:k + (rows - 1) * sy + 1:sy]
        for r in range(0, rows, step):
            part = np.matmul(rows_k[r:r + step], n_k)
            if first:
                dest[r:r + step] = part
            else:
                dest[r:r + step] += part
        first = False
    if first:
        dest[...] = 0


def direct(src: PaddedSource, kernel: np.ndarray, out: np.ndarray, stride: tuple[int, int],
           workers: int) -> None:
    """Every tap, as one small matrix product per kernel column over bands of rows.

    ``out[band] = Σ_j M_j @ P[band rows, j :: sx]`` where ``M_j`` is a banded matrix holding
    kernel column j (see :func:`_band_matrices`). BLAS does the multiply-adds in registers,
    so each kernel column costs one pass over the band instead of two NumPy passes per tap;
    bands are 8 rows, so the band matrices waste little, and calls are split into column
    chunks that keep each one single-threaded inside BLAS.

    With unit column stride and an input already in the working dtype, the bands that lie
    inside the image read it in place (no padded copy) for the columns whose taps all fall
    inside; the two narrow border strips are then done by :func:`_column_strip`.
    """
    sy, sx = stride
    kh, kw = kernel.shape
    n_out, m_out = out.shape[:2]
    c = src.channels
    n = min(GEMM_ROWS, n_out)
    mats = _band_matrices(kernel, n, sy)
    if not mats:
        out[...] = 0
        return
    rows_in = (n - 1) * sy + kh
    row_len = m_out * c
    chunk = max(c, GEMM_MACS // (n * rows_in) // c * c)
    phases = sorted({j % sx for j, _ in mats}) if sx > 1 else []
    width_ph = -(-src.padded_width // sx)
    tiles = [(o0, min(o0 + n, n_out)) for o0 in range(0, n_out, n)]

    image2d = src.image_rows() if sx == 1 else None
    q_lo = min(src.left, m_out)
    q_hi = max(q_lo, min(m_out, src.width - kw + src.left + 1))
    if q_hi - q_lo < 2 * kw:  # too narrow an interior to be worth reading in place
        image2d = None

    def inside(o0: int, o1: int) -> bool:
        return src.top <= o0 * sy and (o1 - 1) * sy + kh <= src.top + src.height

    def scratch():
        planes = {p: np.empty((rows_in, width_ph) + src.tail, out.dtype) for p in phases}
        return (src.buffer(rows_in), np.empty((n, min(chunk, row_len)), out.dtype), planes)

    def products(rows2d: np.ndarray, offset: int, length: int, step: int, dest: np.ndarray,
                 nb: int, k_in: int, tmp: np.ndarray) -> None:
        """dest = Σ_j M_j @ rows2d[:, offset + j·step : ... + length], in column chunks."""
        for e0 in range(0, length, chunk):
            e1 = min(e0 + chunk, length)
            d = dest[:, e0:e1]
            t = tmp[:nb, :e1 - e0]
            for idx, (j, m) in enumerate(mats):
                a = offset + j * step + e0
                np.matmul(m[:nb, :k_in], rows2d[:, a:a + e1 - e0], out=d if idx == 0 else t)
                if idx:
                    np.add(d, t, out=d)

    def do_tile(o0: int, o1: int, bufs) -> None:
        buf, tmp, planes = bufs
        nb = o1 - o0
        r0 = o0 * sy
        k_in = (nb - 1) * sy + kh
        dest = out[o0:o1].reshape(nb, row_len)
        if image2d is not None and inside(o0, o1):
            rows2d = image2d[r0 - src.top:r0 - src.top + k_in]
            products(rows2d, (q_lo - src.left) * c, (q_hi - q_lo) * c, c,
                     dest[:, q_lo * c:q_hi * c], nb, k_in, tmp)
            return
        tile = src.tile(r0, r0 + k_in, 0, src.padded_width, buf)
        if sx == 1:
            products(tile.reshape(k_in, -1), 0, row_len, c, dest, nb, k_in, tmp)
            return
        # A column stride: one strided gather per column phase makes every tap's columns
        # contiguous, so the products still run on blasable views.
        for p in phases:
            cols = len(range(p, src.padded_width, sx))
            planes[p][:k_in, :cols] = tile[:, p::sx]
        for e0 in range(0, row_len, chunk):
            e1 = min(e0 + chunk, row_len)
            d = dest[:, e0:e1]
            t = tmp[:nb, :e1 - e0]
            for idx, (j, m) in enumerate(mats):
                plane = planes[j % sx][:k_in].reshape(k_in, -1)
                a = (j // sx) * c + e0
                np.matmul(m[:nb, :k_in], plane[:, a:a + e1 - e0], out=d if idx == 0 else t)
                if idx:
                    np.add(d, t, out=d)

    run_tiles(tiles, scratch, do_tile, workers)
    if image2d is not None:
        read_in_place = [t for t in tiles if inside(*t)]
        if read_in_place:
            o0, o1 = read_in_place[0][0], read_in_place[-1][1]
            for q0, q1 in ((0, q_lo), (q_hi, m_out)):
                if q1 > q0:
                    _column_strip(src, kernel, out, o0, o1, q0, q1, sy)


# ----------------------------------------------------------------------------- separable

# Output pixels per block of the horizontal pass (a block is one small GEMM against a
# Toeplitz matrix of (b−1)·sx + kw rows): 32 measured best for 7-tap kernels.
ROW_BLOCK = 32


def _row_toeplitz(row: np.ndarray, b: int, sx: int, c: int) -> np.ndarray:
    """``N[(q·sx + j)·C + ch, q·C + ch] = row[j]``: b outputs of a 1-D correlation at once."""
    kw = len(row)
    t = np.zeros(((b - 1) * sx + kw, b), row.dtype)
    for q in range(b):
        t[q * sx:q * sx + kw, q] = row
    return np.kron(t, np.eye(c, dtype=row.dtype)) if c > 1 else t


def separable(src: PaddedSource, column: np.ndarray, row: np.ndarray, out: np.ndarray,
              stride: tuple[int, int], workers: int) -> None:
    """A rank-1 kernel ``outer(column, row)`` as a vertical then a horizontal pass of GEMMs.

    Vertical: one banded-matrix product per band of rows, as in :func:`direct`, computing
    kept rows only; bands inside the image read it in place, and the columns of padding
    are then made up from the filtered band (padding a column and filtering it vertically
    commute). Horizontal: blocks of ``ROW_BLOCK`` kept outputs of each row are one product
    of an overlapping strided view with a small Toeplitz matrix, batched by ``np.matmul``.
    """
    sy, sx = stride
    kh = len(column)
    n_out, m_out = out.shape[:2]
    c = src.channels
    dtype = out.dtype
    n = min(n_out, max(GEMM_ROWS, 2 * kh))
    rows_in = (n - 1) * sy + kh
    vmat = np.zeros((n, rows_in), dtype)
    for i in range(n):
        vmat[i, i * sy:i * sy + kh] = column
    b = min(ROW_BLOCK, m_out)
    hmat = _row_toeplitz(row.astype(dtype), b, sx, c)
    n_blocks, rest = divmod(m_out, b)
    hmat_rest = _row_toeplitz(row.astype(dtype), rest, sx, c) if rest else None
    pitch = src.pitch
    row_len = m_out * c
    chunk = max(c, GEMM_MACS // (n * rows_in) // c * c)
    item = np.dtype(dtype).itemsize
    tiles = [(o0, min(o0 + n, n_out)) for o0 in range(0, n_out, n)]
    image2d = src.image_rows() if src.padded is None else None
    left, width = src.left, src.width
    # The value a padded column takes after the vertical pass, for constant-fill modes.
    fill_after = src.fill * np.asarray(column, np.float64).sum() if src.is_fill else None

    def scratch():
        return src.buffer(rows_in), np.empty((n, pitch), dtype)

    def vertical(x: np.ndarray, dest: np.ndarray, nb: int, k_in: int) -> None:
        for e0 in range(0, x.shape[1], chunk):
            e1 = min(e0 + chunk, x.shape[1])
            np.matmul(vmat[:nb, :k_in], x[:, e0:e1], out=dest[:, e0:e1])

    def do_tile(o0: int, o1: int, bufs) -> None:
        buf, vbuf = bufs
        nb = o1 - o0
        r0 = o0 * sy
        k_in = (nb - 1) * sy + kh
        v = vbuf[:nb]
        if image2d is not None and src.top <= r0 and r0 + k_in <= src.top + src.height:
            vertical(image2d[r0 - src.top:r0 - src.top + k_in],
                     v[:, left * c:(left + width) * c], nb, k_in)
            src.pad_columns(v.reshape(nb, src.padded_width, *src.tail), fill_after)
        else:
            x = src.tile(r0, r0 + k_in, 0, src.padded_width, buf).reshape(k_in, -1)
            vertical(x, v, nb, k_in)
        dest = out[o0:o1].reshape(nb, row_len)
        if n_blocks:
            a = np.lib.stride_tricks.as_strided(
                v, (n_blocks, nb, hmat.shape[0]), (b * sx * c * item, v.strides[0], item))
            o = np.lib.stride_tricks.as_strided(
                dest, (n_blocks, nb, b * c), (b * c * item, dest.strides[0], item))
            np.matmul(a, hmat, out=o)
        if rest:
            start = n_blocks * b * sx * c
            np.matmul(v[:, start:start + hmat_rest.shape[0]], hmat_rest,
                      out=dest[:, n_blocks * b * c:])

    run_tiles(tiles, scratch, do_tile, workers)


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
    np.subtract(prefix[_span(k, count, step)], prefix[_span(0, count, step)], out=dest,
                casting="same_kind")


def box(src: PaddedSource, weight: float, shape: tuple[int, int], out: np.ndarray,
        stride: tuple[int, int], workers: int) -> None:
    """A constant kernel: vertical running sums, then horizontal sums, times the weight.

    Vertically, each output row is the previous one plus the row entering the window minus
    the row leaving it: a cost per pixel independent of the kernel's height. Horizontally,
    a running sum along a row is a sequential ``cumsum`` (a scalar loop in NumPy, ~20× the
    cost of a vectorised add), so windows are built instead from sums over 1, 2, 4, ...
    pixels: ``log2(kw) + popcount(kw)`` vectorised adds (8 for 31 pixels), every result a
    short tree sum. Bands inside the image are read in place.
    """
    sy, sx = stride
    kh, kw = shape
    n_out, m_out = out.shape[:2]
    c = src.channels
    dtype = out.dtype
    n = min(n_out, max(16, 2 * kh // sy))
    rows_in = (n - 1) * sy + kh
    pitch = src.pitch
    sub = max(1, min(n, BAND_BYTES // (pitch * dtype.itemsize)))  # rows per h-pass
    tiles = [(o0, min(o0 + n, n_out)) for o0 in range(0, n_out, n)]
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
        if image2d is not None and src.top <= r0 and r0 + k_in <= src.top + src.height:
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
            kept = sums[:, _span(0, m_out, sx)]
            np.multiply(kept.reshape(out[o0 + s0:o0 + s1].shape), weight,
                        out=out[o0 + s0:o0 + s1])

    run_tiles(tiles, scratch, do_tile, workers)


# ----------------------------------------------------------------------------- fft

def fft(src: PaddedSource, kernel: np.ndarray, out: np.ndarray, stride: tuple[int, int],
        workers: int) -> None:
    """Large kernels through ``cvtool.imaging.fft`` (overlap-save tiles at 2·3·5-smooth sizes)."""
    from cvtool.imaging.fft import fft_correlate_valid

    sy, sx = stride
    padded = src.full()
    k = kernel.astype(out.dtype)
    if padded.ndim == 2:
        out[...] = fft_correlate_valid(padded, k, workers=workers)[::sy, ::sx]
        return
    for ch in range(padded.shape[2]):
        plane = np.ascontiguousarray(padded[..., ch])
        out[..., ch] = fft_correlate_valid(plane, k, workers=workers)[::sy, ::sx]

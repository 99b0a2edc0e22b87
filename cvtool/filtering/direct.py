"""Strategy ``direct``: every tap, as one small matrix product per kernel column.

Applies to every kernel. Its work grows with kh·kw, so it wins for small kernels and as
the fallback for tiny outputs, where the other strategies' set-up costs more than the taps.
"""

from __future__ import annotations

import numpy as np

from cvtool.filtering import bands
from cvtool.filtering.plan import Plan, Work
from cvtool.filtering.source import PaddedSource, run_tiles

__all__ = ["EXACT", "applies", "operations", "run"]

#: Sums the taps one by one.
EXACT = True


def applies(plan: Plan) -> bool:
    """Takes any kernel, tap by tap."""
    return True


def band_quantum(plan: Plan) -> int | None:
    """Bands of a banded run start where this strategy's own row groups start; no band is
    bit-identical when the image is read in place with unit column stride.

    Then the two border column strips are computed over every in-place row at once, grouped
    from the first such row: a band would group them differently (other BLAS shapes, other
    rounding).
    """
    if plan.stride[1] == 1 and plan.source.image_rows() is not None:
        return None
    return bands.GEMM_ROWS


def operations(plan: Plan) -> Work:
    """Per band of rows, a GEMM and an add per kernel column and column chunk; multiply-adds
    of the banded products ((n−1)·sy + kh rows per output and column) plus the adds."""
    kh, _ = plan.kernel.shape
    n_out, m_out = plan.out_shape[:2]
    n = min(bands.GEMM_ROWS, n_out)
    if n == 0:
        return Work(0, 0)
    c = plan.source.channels
    columns = int(np.count_nonzero(plan.kernel.any(axis=0)))
    rows_in = (n - 1) * plan.stride[0] + kh
    chunks = -(-m_out * c // max(c, bands.GEMM_MACS // (n * rows_in) // c * c))
    calls = -(-n_out // n) * (2 * columns * chunks + 4)
    return Work(calls, plan.samples * columns * (rows_in + 1))


def _column_strip(src: PaddedSource, kernel: np.ndarray, out: np.ndarray, o0: int, o1: int,
                  q0: int, q1: int, sy: int) -> None:
    """Outputs ``o0:o1`` × ``q0:q1`` (unit column stride) for a narrow strip of columns.

    The roles of rows and columns swap: per kernel row k, the strip's padded rows times a
    small Toeplitz matrix holding kernel row k.
    """
    kh, kw = kernel.shape
    c = src.channels
    w = q1 - q0
    width_in = (w + kw - 1) * c
    rows = o1 - o0
    rows_in = (rows - 1) * sy + kh
    tile = src.tile(o0 * sy, o0 * sy + rows_in, q0, q1 + kw - 1,
                    src.buffer(rows_in, w + kw - 1)).reshape(rows_in, width_in)
    dest = out[o0:o1, q0:q1].reshape(rows, w * c)
    step = max(1, bands.GEMM_MACS // (width_in * w * c))
    first = True
    for k in range(kh):
        if not kernel[k].any():
            continue
        n_k = bands.toeplitz(kernel[k], w, 1, c)
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


def run(plan: Plan, out: np.ndarray) -> None:
    """``out[band] = Σ_j M_j @ P[band rows, j :: sx]``, ``M_j`` the banded matrix of column j.

    BLAS does the multiply-adds in registers, so each kernel column costs one pass over the
    band instead of two NumPy passes per tap; bands are ``GEMM_ROWS`` rows, so the band
    matrices waste little, and calls are split into column chunks that keep each one
    single-threaded inside BLAS.

    With unit column stride and an input already in the working dtype, the bands that lie
    inside the image read it in place (no padded copy) for the columns whose taps all fall
    inside; the two narrow border strips are then done by :func:`_column_strip`.
    """
    src, kernel = plan.source, plan.kernel
    sy, sx = plan.stride
    kh, kw = kernel.shape
    n_out, m_out = out.shape[:2]
    c = src.channels
    n = min(bands.GEMM_ROWS, n_out)
    mats = [(j, np.ascontiguousarray(bands.toeplitz(kernel[:, j], n, sy).T))
            for j in range(kw) if kernel[:, j].any()]  # columns of zeros cost nothing
    if not mats:
        out[...] = 0
        return
    rows_in = (n - 1) * sy + kh
    row_len = m_out * c
    chunk = max(c, bands.GEMM_MACS // (n * rows_in) // c * c)
    phases = sorted({j % sx for j, _ in mats}) if sx > 1 else []
    width_ph = -(-src.padded_width // sx)
    tiles = bands.row_bands(n_out, n)

    image2d = src.image_rows() if sx == 1 else None
    q_lo = min(src.left, m_out)
    q_hi = max(q_lo, min(m_out, src.width - kw + src.left + 1))
    if q_hi - q_lo < 2 * kw:  # too narrow an interior to be worth reading in place
        image2d = None

    def inside(o0: int, o1: int) -> bool:
        return src.rows_inside(o0 * sy, (o1 - 1) * sy + kh)

    def scratch():
        planes = {p: np.empty((rows_in, width_ph) + src.tail, out.dtype) for p in phases}
        return (src.buffer(rows_in), np.empty((n, min(chunk, row_len)), out.dtype), planes)

    def products(plane_of, offset: int, length: int, step: int, dest: np.ndarray,
                 nb: int, k_in: int, tmp: np.ndarray) -> None:
        """dest = Σ_j M_j @ plane_of(j)[:, offset + (j // sx)·step : ... + length], chunked."""
        for e0 in range(0, length, chunk):
            e1 = min(e0 + chunk, length)
            d = dest[:, e0:e1]
            t = tmp[:nb, :e1 - e0]
            for idx, (j, m) in enumerate(mats):
                a = offset + (j // sx) * step + e0
                np.matmul(m[:nb, :k_in], plane_of(j)[:, a:a + e1 - e0],
                          out=d if idx == 0 else t)
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
            products(lambda j: rows2d, (q_lo - src.left) * c, (q_hi - q_lo) * c, c,
                     dest[:, q_lo * c:q_hi * c], nb, k_in, tmp)
            return
        tile = src.tile(r0, r0 + k_in, 0, src.padded_width, buf)
        if sx == 1:
            rows2d = tile.reshape(k_in, -1)
            products(lambda j: rows2d, 0, row_len, c, dest, nb, k_in, tmp)
            return
        # A column stride: one strided gather per column phase makes every tap's columns
        # contiguous, so the products still run on blasable views.
        for p in phases:
            cols = len(range(p, src.padded_width, sx))
            planes[p][:k_in, :cols] = tile[:, p::sx]
        products(lambda j: planes[j % sx][:k_in].reshape(k_in, -1), 0, row_len, c, dest,
                 nb, k_in, tmp)

    run_tiles(tiles, scratch, do_tile, plan.workers)
    if image2d is not None:
        read_in_place = [t for t in tiles if inside(*t)]
        if read_in_place:
            o0, o1 = read_in_place[0][0], read_in_place[-1][1]
            for q0, q1 in ((0, q_lo), (q_hi, m_out)):
                if q1 > q0:
                    _column_strip(src, kernel, out, o0, o1, q0, q1, sy)

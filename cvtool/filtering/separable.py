"""Strategy ``separable``: a rank-1 kernel ``outer(column, row)`` as two 1-D passes of GEMMs.

Applies to kernels of rank 1 (box, binomial, sampled Gaussian, Sobel): its work grows with
kh + kw instead of kh·kw.
"""

from __future__ import annotations

import numpy as np

from cvtool.filtering import bands
from cvtool.filtering.plan import Plan, Work
from cvtool.filtering.source import run_tiles

__all__ = ["EXACT", "ROW_BLOCK", "applies", "operations", "run"]

# Output pixels per block of the horizontal pass (a block is one small GEMM against a
# Toeplitz matrix of (b−1)·sx + kw rows): 32 measured best for 7-tap kernels.
ROW_BLOCK = 32

#: Sums the taps one by one (two passes).
EXACT = True


def applies(plan: Plan) -> bool:
    """Needs a kernel of rank 1 (an outer product of a column and a row)."""
    return plan.factors is not None


def _band_rows(plan: Plan) -> int:
    return min(plan.out_shape[0], max(bands.GEMM_ROWS, 2 * plan.kernel.shape[0]))


def operations(plan: Plan) -> Work:
    """Per band, the vertical GEMMs (one per column chunk) and one batched horizontal GEMM;
    multiply-adds of the vertical band products over every padded column, then of the
    horizontal Toeplitz blocks ((b−1)·sx + kw taps per output, times C with channels)."""
    kh, kw = plan.kernel.shape
    sy, sx = plan.stride
    n_out, m_out = plan.out_shape[:2]
    n = _band_rows(plan)
    if n == 0:
        return Work(0, 0)
    c = plan.source.channels
    rows_in = (n - 1) * sy + kh
    b = min(ROW_BLOCK, m_out)
    chunks = -(-plan.source.pitch // max(c, bands.GEMM_MACS // (n * rows_in) // c * c))
    calls = -(-n_out // n) * (chunks + 6)
    return Work(calls, n_out * rows_in * plan.source.pitch
                + plan.samples * ((b - 1) * sx + kw) * c)



def band_quantum(plan: Plan) -> int:
    """Bands of a banded run start where this strategy's own row groups start."""
    return max(1, _band_rows(plan))


def run(plan: Plan, out: np.ndarray) -> None:
    """A vertical then a horizontal pass of GEMMs.

    Vertical: one banded-matrix product per band of rows, computing kept rows only; bands
    inside the image read it in place, and the columns of padding are then made up from the
    filtered band (padding a column and filtering it vertically commute). Horizontal: blocks
    of ``ROW_BLOCK`` kept outputs of each row are one product of an overlapping strided view
    with a small Toeplitz matrix, batched by ``np.matmul``.
    """
    src = plan.source
    column, row = (f.astype(plan.dtype) for f in plan.factors)
    sy, sx = plan.stride
    kh = len(column)
    n_out, m_out = out.shape[:2]
    c = src.channels
    dtype = out.dtype
    n = _band_rows(plan)
    rows_in = (n - 1) * sy + kh
    vmat = np.ascontiguousarray(bands.toeplitz(column, n, sy).T)
    b = min(ROW_BLOCK, m_out)
    hmat = bands.toeplitz(row, b, sx, c)
    n_blocks, rest = divmod(m_out, b)
    hmat_rest = bands.toeplitz(row, rest, sx, c) if rest else None
    pitch = src.pitch
    row_len = m_out * c
    chunk = max(c, bands.GEMM_MACS // (n * rows_in) // c * c)
    item = np.dtype(dtype).itemsize
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
        if image2d is not None and src.rows_inside(r0, r0 + k_in):
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

    run_tiles(bands.row_bands(n_out, n), scratch, do_tile, plan.workers)

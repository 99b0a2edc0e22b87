"""Pieces shared by the strategies that walk an output in bands of rows with small GEMMs.

A band of output rows is a banded matrix times the band of input rows, and a block of
outputs along a row is a strided view times a small Toeplitz matrix: both matrices are
:func:`toeplitz`. BLAS does the multiply-adds in registers, so a kernel column (or row) costs
one pass over the band instead of two NumPy passes per tap.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GEMM_MACS", "GEMM_ROWS", "row_bands", "span", "toeplitz"]

# Largest multiply-adds per GEMM call. OpenBLAS runs calls above 2·4·65536 m·n·k on its
# own thread pool, whose spinning workers collide with ours (a 4-10× slowdown measured on
# 2 busy cores); calls below run on the calling thread, and our tiles give the parallelism.
GEMM_MACS = 480_000
# Output rows per band for the banded-matrix products: the band matrix has n·(n+kh−1)
# entries for n·kh useful ones, so small bands waste less arithmetic (8 measured best).
GEMM_ROWS = 8


def span(start: int, count: int, step: int) -> slice:
    """The slice ``start, start+step, ...`` with ``count`` elements.

    Examples
    --------
    >>> list(range(10))[span(1, 3, 4)]
    [1, 5, 9]
    """
    return slice(start, start + (count - 1) * step + 1, step)


def row_bands(n_out: int, rows: int) -> list[tuple[int, int]]:
    """``(o0, o1)`` for consecutive bands of ``rows`` output rows (the last may be shorter).

    Examples
    --------
    >>> row_bands(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    return [(o0, min(o0 + rows, n_out)) for o0 in range(0, n_out, rows)]


def toeplitz(taps: np.ndarray, count: int, step: int = 1, channels: int = 1) -> np.ndarray:
    """``T[(q·step + j)·C + c, q·C + c] = taps[j]``: ``count`` outputs of a 1-D correlation.

    ``x @ T`` correlates each row of ``x`` (interleaved channels, ``C`` of them) with
    ``taps`` at ``count`` positions ``step`` apart; ``T.T @ x`` does it down the columns,
    which makes the banded matrix of a band of output rows.

    Examples
    --------
    >>> toeplitz(np.array([1.0, 2.0]), 2)
    array([[1., 0.],
           [2., 1.],
           [0., 2.]])
    """
    k = len(taps)
    t = np.zeros(((count - 1) * step + k, count), taps.dtype)
    for q in range(count):
        t[q * step:q * step + k, q] = taps
    return np.kron(t, np.eye(channels, dtype=taps.dtype)) if channels > 1 else t

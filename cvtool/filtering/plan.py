"""The checked inputs of one correlation, as every strategy receives them.

:func:`cvtool.filtering.core` validates the arguments once and builds a :class:`Plan`; the
registry (:mod:`cvtool.filtering.registry`) asks each strategy whether it applies to the plan
and what it would cost, and runs the cheapest. Strategies read the plan and never re-check it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from cvtool.filtering.source import PaddedSource

__all__ = ["Plan", "Work"]


@dataclass(frozen=True)
class Plan:
    """One correlation, ready to run: ``out[i, j] = Σ P[i·sy + k, j·sx + l] · kernel[k, l]``.

    Attributes
    ----------
    source : PaddedSource
        The image as if padded (``P``), read in bands, in the working dtype.
    kernel : ndarray
        kh×kw weights in the working dtype, already rotated for a convolution.
    kernel64 : ndarray
        The same weights in float64 (exact as the caller gave them).
    factors : (ndarray, ndarray) or None
        float64 ``(column, row)`` with ``outer(column, row) == kernel64`` for a rank-1
        kernel, else None.
    is_box : bool
        Whether every weight is the same.
    stride : (int, int)
        Rows and columns kept: 0, sy, 2·sy, ... and 0, sx, 2·sx, ...
    out_shape : tuple of int
        ``(rows, columns[, channels])`` of the result.
    workers : int
        Threads the strategy may use.
    """

    source: PaddedSource
    kernel: np.ndarray
    kernel64: np.ndarray
    factors: tuple[np.ndarray, np.ndarray] | None
    is_box: bool
    stride: tuple[int, int]
    out_shape: tuple[int, ...]
    workers: int

    @property
    def dtype(self) -> np.dtype:
        """The working (and output) dtype."""
        return self.source.dtype

    @property
    def samples(self) -> int:
        """Output values to compute (rows × columns × channels)."""
        return math.prod(self.out_shape)


class Work(NamedTuple):
    """What a strategy would do for a plan, counted (not timed): the registry's cost table
    turns it into seconds.

    ``calls`` are the NumPy/BLAS calls it makes (each pays Python's and NumPy's dispatch,
    microseconds that dominate small images); ``ops`` its arithmetic, in the strategy's own
    unit (multiply-adds, element passes, n·log2 n of FFTs).
    """

    calls: float
    ops: float

"""Correlation and convolution: the public functions, their strategies and the named kernels.

``core`` checks the arguments once and builds a plan; ``registry`` picks a strategy by its
cost model; ``direct``, ``separable``, ``box`` and ``fft`` are the strategies (one module
each, sharing ``bands`` and ``source``); ``kernels`` holds the named kernels.
"""

from cvtool.filtering.core import (
    SHAPES,
    STRATEGIES,
    anchor,
    choose_strategy,
    convolve,
    correlate,
    make_plan,
    separable_factors,
    working_dtype,
)

__all__ = ["SHAPES", "STRATEGIES", "anchor", "choose_strategy", "convolve", "correlate",
           "make_plan", "separable_factors", "working_dtype"]

"""Correlation and convolution: the public functions, their strategies and the named kernels."""

from cvtool.filtering.core import (
    SHAPES,
    STRATEGIES,
    anchor,
    choose_strategy,
    convolve,
    correlate,
    separable_factors,
)

__all__ = ["SHAPES", "STRATEGIES", "anchor", "choose_strategy", "convolve", "correlate",
           "separable_factors"]

"""Correlation and convolution: the public functions, their strategies and the named kernels.

``core`` checks the arguments once and builds a plan; ``registry`` picks a strategy by its
cost model; ``direct``, ``separable``, ``box`` and ``fft`` are the strategies (one module
each, sharing ``bands`` and ``source``); ``kernels`` holds the named kernels.

The names below come from ``core`` on first use (PEP 562): importing a NumPy-free module of
the package, such as :mod:`cvtool.filtering.blas`, does not load NumPy.
"""

from __future__ import annotations

import importlib

__all__ = ["SHAPES", "STRATEGIES", "anchor", "choose_strategy", "convolve", "correlate",
           "make_plan", "separable_factors", "working_dtype"]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'cvtool.filtering' has no attribute {name!r}")
    value = getattr(importlib.import_module("cvtool.filtering.core"), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

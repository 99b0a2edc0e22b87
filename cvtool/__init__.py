"""cvtool: image filtering and template matching with a pure-NumPy core.

The functions below work on plain NumPy arrays (H×W or H×W×C, channels R, G, B(, A)) and
never import OpenCV, Typer or Rich; errors name the Python parameter at fault
(``top_k must be >= 1``, with ``exc.parameter == "top_k"``). The packages, one job each:

- ``cvtool.filtering``: ``correlate``/``convolve`` (checked once) over a registry of
  strategies, and named kernels;
- ``cvtool.matching``: score maps (``zncc``) apart from the search over them (``search``,
  ``find``: scales, pyramid, peaks, suppression);
- ``cvtool.measures``: information measures (``entropy``, ``cross_entropy``, ``softmax``...),
  image entropy, batch statistics;
- ``cvtool.imaging``: colour and alpha, padding, resampling, FFT correlation, pixel mapping,
  drawing;
- ``cvtool.io``: image files in and out (the only user of OpenCV), size limits, atomic writes;
- ``cvtool.cli``: the ``cvtool`` command, which turns parameter names into its flags.

Each name below is imported on first use (PEP 562), so ``import cvtool`` alone (as ``cvtool
--version`` and shell completion do) does not load NumPy.

Examples
--------
>>> import numpy as np, cvtool
>>> impulse = np.zeros((3, 3)); impulse[1, 1] = 1
>>> cvtool.convolve(impulse, np.arange(9.0).reshape(3, 3)).astype(int).tolist()
[[0, 1, 2], [3, 4, 5], [6, 7, 8]]
>>> cvtool.softmax([0.0, 0.0]).tolist(), cvtool.entropy([0.5, 0.5])
([0.5, 0.5], 1.0)
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from cvtool.errors import CvToolError, ExitStatus, ProcessingError, UsageError  # noqa: E402

#: Public name -> the module that defines it.
_LAZY = {
    "correlate": "cvtool.filtering", "convolve": "cvtool.filtering",
    "gaussian_kernel": "cvtool.filtering.kernels", "named_kernel": "cvtool.filtering.kernels",
    "pad": "cvtool.imaging.padding", "resize": "cvtool.imaging.resample",
    "Match": "cvtool.matching.peaks", "SearchResult": "cvtool.matching.search",
    "find": "cvtool.matching.search", "search": "cvtool.matching.search",
    "zncc": "cvtool.matching.zncc_map", "prepare_template": "cvtool.matching.zncc_map",
    "RunningStats": "cvtool.measures.batch_stats", "batch_norm": "cvtool.measures.batch_stats",
    "entropy": "cvtool.measures.information",
    "cross_entropy": "cvtool.measures.information",
    "kl_divergence": "cvtool.measures.information",
    "logsumexp": "cvtool.measures.information",
    "softmax": "cvtool.measures.information",
    "log_softmax": "cvtool.measures.information",
    "image_entropy": "cvtool.measures.image_entropy",
    "local_entropy": "cvtool.measures.image_entropy",
}

__all__ = [
    "__version__", "CvToolError", "ExitStatus", "UsageError", "ProcessingError",
    "correlate", "convolve", "pad", "named_kernel", "gaussian_kernel", "resize",
    "zncc", "prepare_template", "search", "find", "Match", "SearchResult",
    "entropy", "cross_entropy", "kl_divergence", "logsumexp", "softmax", "log_softmax",
    "image_entropy", "local_entropy", "RunningStats", "batch_norm",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cvtool' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

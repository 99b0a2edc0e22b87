"""cvtool: image filtering and template matching with a pure-NumPy core.

The functions below work on plain NumPy arrays (H×W or H×W×C, channels R, G, B(, A)) and
never import OpenCV, Typer or Rich; ``cvtool.io`` reads and writes image files. (The
entropy function is ``cvtool.measures.entropy.entropy``: the module name is not shadowed.)

Examples
--------
>>> import numpy as np, cvtool
>>> impulse = np.zeros((3, 3)); impulse[1, 1] = 1
>>> cvtool.convolve(impulse, np.arange(9.0).reshape(3, 3)).astype(int).tolist()
[[0, 1, 2], [3, 4, 5], [6, 7, 8]]
"""

__version__ = "0.1.0"

from cvtool.errors import CvToolError, ProcessingError, UsageError  # noqa: E402
from cvtool.filtering import convolve, correlate  # noqa: E402
from cvtool.filtering.kernels import gaussian_kernel, named_kernel, parse_kernel  # noqa: E402
from cvtool.imaging.padding import pad  # noqa: E402
from cvtool.imaging.resample import resize  # noqa: E402
from cvtool.matching import Match, find, zncc  # noqa: E402
from cvtool.measures.batch_stats import RunningStats, batch_norm  # noqa: E402
from cvtool.measures.entropy import (  # noqa: E402
    cross_entropy,
    image_entropy,
    kl_divergence,
    local_entropy,
    log_softmax,
    softmax,
)

__all__ = [
    "__version__", "CvToolError", "UsageError", "ProcessingError",
    "correlate", "convolve", "pad", "parse_kernel", "named_kernel", "gaussian_kernel",
    "zncc", "find", "Match", "resize",
    "cross_entropy", "kl_divergence", "softmax", "log_softmax", "image_entropy",
    "local_entropy", "RunningStats", "batch_norm",
]

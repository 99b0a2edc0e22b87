"""Strategy ``fft``: large kernels through tiled FFTs (:mod:`cvtool.imaging.fft`).

Applies to every kernel. Its work hardly grows with the kernel's size, so it wins for large
kernels that are neither rank 1 nor constant; it computes every output, so a stride helps it
less than it helps the others.
"""

from __future__ import annotations

import numpy as np

from cvtool.filtering.plan import Plan, Work
from cvtool.imaging.fft import fft_correlate_valid, fft_work

__all__ = ["EXACT", "applies", "operations", "run"]

#: Rounding spreads over the whole tile (about 1e-6 of the energy under the kernel in float32).
EXACT = False


def applies(plan: Plan) -> bool:
    """Takes any kernel (every kernel has a spectrum)."""
    return True


def operations(plan: Plan) -> Work:
    """Per tile and channel, a forward and an inverse transform and a product; n·log2(n) of
    the tiles' transforms, for every output (stride or not), plus the padded copy."""
    src = plan.source
    kh, kw = plan.kernel.shape
    tiles, work = fft_work(src.padded_height - kh + 1, src.padded_width - kw + 1, kh, kw)
    return Work(src.channels * (4 * tiles + 3),
                src.channels * work + src.padded_height * src.pitch)


def run(plan: Plan, out: np.ndarray) -> None:
    """Correlate the padded image, channel by channel, and keep the strided samples."""
    sy, sx = plan.stride
    padded = plan.source.full()
    k = plan.kernel
    if padded.ndim == 2:
        out[...] = fft_correlate_valid(padded, k, workers=plan.workers)[::sy, ::sx]
        return
    for ch in range(padded.shape[2]):
        plane = np.ascontiguousarray(padded[..., ch])
        out[..., ch] = fft_correlate_valid(plane, k, workers=plan.workers)[::sy, ::sx]

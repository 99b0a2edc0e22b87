"""Strategy ``fft``: large kernels through tiled FFTs (:mod:`cvtool.imaging.fft`).

Applies to every kernel. Its work hardly grows with the kernel's size, so it wins for large
kernels that are neither rank 1 nor constant; it computes every output of a tile, so a stride
helps it less than it helps the others (only the kept rows are transformed back).

Tiles are read from the padded source where they lie: a view of the image for the tiles
inside it, assembled in a small per-thread buffer only where a tile reaches into the padding
(or the dtype must be converted); outputs are written straight into ``out``. No image-sized
array is made (the padded copy, the unstrided result and its copy into ``out`` are gone).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cvtool.filtering.plan import Plan, Work
from cvtool.filtering.source import PaddedSource
from cvtool.imaging.fft import fft_correlate_tiles, fft_work

__all__ = ["EXACT", "applies", "operations", "run"]

#: Rounding spreads over the whole tile (about 1e-6 of the energy under the kernel in float32).
EXACT = False


def applies(plan: Plan) -> bool:
    """Takes any kernel (every kernel has a spectrum)."""
    return True


def operations(plan: Plan) -> Work:
    """Per tile and channel, a forward and an inverse transform and a product (five NumPy
    calls and the copy out); n·log2(n) of the tiles' transforms, for every output (stride or
    not)."""
    src = plan.source
    kh, kw = plan.kernel.shape
    tiles, work = fft_work(src.padded_height - kh + 1, src.padded_width - kw + 1, kh, kw)
    return Work(src.channels * 6 * tiles + 2, src.channels * work)


def _reader(src: PaddedSource) -> Callable[[int, int, int, int], np.ndarray]:
    """One thread's tile reader over the padded image (see ``fft_correlate_tiles``)."""
    tail = 1 if not src.tail else src.tail[0]
    buffer: list[np.ndarray] = []

    def read(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        if src.padded is not None:  # pre-padded (or unpadded): always a view
            tile = src.padded[r0:r1, c0:c1]
        elif (src.image.dtype == src.dtype and src.rows_inside(r0, r1)
              and src.left <= c0 and c1 <= src.left + src.width):
            tile = src.image[r0 - src.top:r1 - src.top, c0 - src.left:c1 - src.left]
        else:
            if not buffer or buffer[0].size < (r1 - r0) * (c1 - c0) * tail:
                buffer[:] = [src.buffer(r1 - r0, c1 - c0)]
            tile = src.tile(r0, r1, c0, c1, buffer[0])
        return tile if tile.ndim == 3 else tile[:, :, None]

    return read


def run(plan: Plan, out: np.ndarray) -> None:
    """Correlate the padded image (each channel with the kernel), strided, into ``out``."""
    src = plan.source
    target = out if out.ndim == 3 else out[:, :, None]
    fft_correlate_tiles(lambda: _reader(src), (src.padded_height, src.padded_width),
                        plan.kernel64, target, stride=plan.stride, workers=plan.workers)

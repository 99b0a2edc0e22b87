"""A correlation delivered in bands of output rows, so a caller never holds the whole result.

:func:`correlate_bands` yields ``(o0, o1, values)`` for consecutive bands of output rows of
exactly what :func:`cvtool.filtering.correlate` (or ``convolve``) returns, computed band by
band: the strategy the whole image would run is run on a window of the plan's
:class:`~cvtool.filtering.source.PaddedSource`, the padded rows ``o0·sy .. (o1-1)·sy + kh``
that the band needs (a view, not a copy), so every output is computed by the same operations
as in the whole image and the bands are bit-identical to it. The ``values`` buffer
is reused from one band to the next: copy what you keep.

Three cases are not banded (one band of every row is yielded): ``normalized`` padding, whose
renormalisation depends on where an output lies in the whole image; a strategy that does not
sum tap by tap (FFT), whose rounding depends on the tile it transforms; and ``direct`` on an
image already in the working dtype (float32/float64), whose border strips span every band.

Examples
--------
>>> import numpy as np
>>> image = np.arange(30.0).reshape(6, 5)
>>> parts = [v.copy() for _, _, v in correlate_bands(image, np.ones((3, 3)), rows=2,
...                                                 padding="mirror")]
>>> from cvtool.filtering import correlate
>>> bool((np.concatenate(parts) == correlate(image, np.ones((3, 3)), padding="mirror")).all())
True
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from cvtool.filtering.core import _filter, make_plan
from cvtool.filtering.registry import check_name, choose
from cvtool.filtering.source import PaddedSource

__all__ = ["BAND_BYTES", "correlate_bands"]

#: Bytes of working-dtype output per band by default (a few MiB: small beside a 4K image,
#: large enough that each band's fixed cost is negligible).
BAND_BYTES = 4 << 20


def correlate_bands(image: np.ndarray, kernel: np.ndarray, *, rows: int | None = None,
                    flip: bool = False, padding: str = "zero",
                    pad_value: float | Sequence[float] = 0.0, stride: int | Sequence[int] = 1,
                    shape: str = "same", strategy: str = "auto",
                    workers: int | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(o0, o1, values)``: output rows ``o0:o1`` of the correlation, band by band.

    Parameters
    ----------
    image, kernel, padding, pad_value, stride, shape, strategy, workers
        As :func:`cvtool.filtering.correlate`; the arguments are checked once, before the
        first band.
    rows : int, optional
        Output rows per band (default: about :data:`BAND_BYTES` of output).
    flip : bool
        Convolve instead of correlate (the kernel rotated, as
        :func:`cvtool.filtering.convolve`).

    Yields
    ------
    (int, int, ndarray)
        The band's first and end output row and its values, shape ``(o1 - o0, ...)``; the
        array is reused for the next band.
    """
    check_name(strategy)
    plan = make_plan(image, kernel, flip=flip, padding=padding, pad_value=pad_value,
                     stride=stride, shape=shape, workers=workers)
    chosen = choose(plan, strategy)
    n_out = plan.out_shape[0]
    row_size = max(1, int(np.prod(plan.out_shape[1:], dtype=np.int64)) * plan.dtype.itemsize)
    quantum = chosen.band_quantum(plan)
    if rows is None:
        rows = max(1, BAND_BYTES // row_size)
    if quantum is not None:
        rows = -(-rows // quantum) * quantum
    if plan.samples == 0 or plan.source.mode == "normalized" or not chosen.exact \
            or quantum is None or rows >= n_out:
        yield 0, n_out, _filter(image, kernel, flip=flip, padding=padding,
                                pad_value=pad_value, stride=stride, shape=shape,
                                strategy=chosen.name, workers=workers, out=None)
        return
    sy = plan.stride[0]
    kh = plan.kernel.shape[0]
    out = np.empty((rows,) + plan.out_shape[1:], plan.dtype)
    for o0 in range(0, n_out, rows):
        o1 = min(o0 + rows, n_out)
        r0, r1 = o0 * sy, (o1 - 1) * sy + kh
        sub = dataclasses.replace(plan, source=_window(plan.source, r0, r1 - r0),
                                  out_shape=(o1 - o0,) + plan.out_shape[1:])
        target = out[:o1 - o0]
        chosen.run(sub, target)
        yield o0, o1, target


def _window(src: PaddedSource, r0: int, count: int) -> PaddedSource:
    """Padded rows ``r0:r0+count`` of ``src`` as a source of their own, reading the same image.

    Not a copy of the rows: the strategies read the window exactly as they read the whole
    source (the image in place where a band lies inside, assembled rows near the border, the
    same column strips), so each output row is computed by the same operations as in the
    whole image. Only the row coordinates move: padded row ``r`` of the window is padded row
    ``r0 + r`` of ``src``.
    """
    window = copy.copy(src)
    window.top = src.top - r0  # image row = padded row - top, in the window's coordinates
    window.padded_height = count
    if src.padded is not None:
        window.padded = src.padded[r0:r0 + count]
    if hasattr(src, "row_index"):
        window.row_index = src.row_index[r0:r0 + count]
    return window

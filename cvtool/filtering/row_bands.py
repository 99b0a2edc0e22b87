"""A correlation delivered in bands of output rows, so a caller never holds the whole result.

:func:`correlate_bands` gives ``(o0, o1, values)`` for consecutive bands of output rows of
exactly what :func:`cvtool.filtering.correlate` (or ``convolve``) returns, computed band by
band: the strategy the whole image would run is run on a window of the plan's
:class:`~cvtool.filtering.source.PaddedSource`, the padded rows ``o0·sy .. (o1-1)·sy + kh``
that the band needs (a view, not a copy), so every output is computed by the same operations
as in the whole image and the bands are bit-identical to it. Iterating yields the bands in
order, each computed on every worker; :meth:`BandedCorrelation.map` instead hands whole bands
to the workers and calls a function on each band in the thread that computed it, while it is
still in cache (the whole ``filter`` command maps each band to pixels there). The
``values`` buffer is reused for the next band: copy what you keep.

Three cases are not banded (one band of every row is given): ``normalized`` padding, whose
renormalisation depends on where an output lies in the whole image; a strategy that does not
sum tap by tap (FFT), whose rounding depends on the tile it transforms; and a strategy whose
band quantum is None (``direct`` on an image already in the working dtype, whose border
strips span every band).

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
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from cvtool.filtering.core import _filter, make_plan
from cvtool.filtering.registry import check_name, choose
from cvtool.filtering.source import PaddedSource

__all__ = ["BAND_BYTES", "BandedCorrelation", "correlate_bands"]

#: Bytes of working-dtype output per band by default: small beside a 4K image, large enough
#: that each band's fixed cost (a strategy's set-up and scratch) is small, and small enough
#: that :meth:`BandedCorrelation.map`'s consumer reads the band from cache (2 MiB: a 4K
#: colour band is 42 rows; 1 and 4 MiB measured slower there).
BAND_BYTES = 2 << 20


def correlate_bands(image: np.ndarray, kernel: np.ndarray, *, rows: int | None = None,
                    flip: bool = False, padding: str = "zero",
                    pad_value: float | Sequence[float] = 0.0, stride: int | Sequence[int] = 1,
                    shape: str = "same", strategy: str = "auto",
                    workers: int | None = None) -> BandedCorrelation:
    """The correlation in bands of output rows: iterate it, or :meth:`~BandedCorrelation.map`.

    Parameters
    ----------
    image, kernel, padding, pad_value, stride, shape, strategy, workers
        As :func:`cvtool.filtering.correlate`; the arguments are checked here, before any
        band is computed.
    rows : int, optional
        Output rows per band (default: about :data:`BAND_BYTES` of output), rounded up to
        the strategy's own row groups.
    flip : bool
        Convolve instead of correlate (the kernel rotated, as
        :func:`cvtool.filtering.convolve`).

    Returns
    -------
    BandedCorrelation
        Iterating it yields ``(o0, o1, values)``: the band's first and end output row and
        its values, shape ``(o1 - o0, ...)``; the array is reused for the next band.

    Examples
    --------
    >>> bands = correlate_bands(np.zeros((5, 4)), np.ones((1, 1)), rows=2)
    >>> bands.out_shape, bands.spans[0][0], bands.spans[-1][1]
    ((5, 4), 0, 5)
    """
    check_name(strategy)
    plan = make_plan(image, kernel, flip=flip, padding=padding, pad_value=pad_value,
                     stride=stride, shape=shape, workers=workers)
    whole = dict(image=image, kernel=kernel, flip=flip, padding=padding, pad_value=pad_value,
                 stride=stride, shape=shape, workers=workers)
    return BandedCorrelation(plan, choose(plan, strategy), rows, whole)


class BandedCorrelation:
    """One planned correlation, computed band by band (see :func:`correlate_bands`).

    Attributes
    ----------
    out_shape : tuple of int
        Shape of the whole result (the bands stacked).
    dtype : numpy.dtype
        The values' dtype (the working dtype).
    spans : list of (int, int)
        Each band's first and end output row, in order.
    """

    def __init__(self, plan, chosen, rows: int | None, whole: dict) -> None:
        self._plan, self._chosen, self._whole = plan, chosen, whole
        self.out_shape: tuple[int, ...] = plan.out_shape
        self.dtype = plan.dtype
        n_out = plan.out_shape[0]
        row_size = max(1, int(np.prod(plan.out_shape[1:], dtype=np.int64)) * plan.dtype.itemsize)
        quantum = chosen.band_quantum(plan)
        if rows is None:
            rows = max(1, BAND_BYTES // row_size)
        if quantum is not None:
            rows = -(-rows // quantum) * quantum
        self._banded = not (plan.samples == 0 or plan.source.mode == "normalized"
                            or not chosen.exact or quantum is None or rows >= n_out)
        self._rows = rows if self._banded else max(1, n_out)
        self.spans: list[tuple[int, int]] = [
            (o0, min(o0 + self._rows, n_out)) for o0 in range(0, max(1, n_out), self._rows)]

    def _whole_result(self) -> np.ndarray:
        return _filter(**self._whole, strategy=self._chosen.name, out=None)

    def _compute(self, o0: int, o1: int, out: np.ndarray, workers: int) -> np.ndarray:
        """Output rows ``o0:o1`` into ``out[:o1 - o0]``, the strategy on ``workers`` threads."""
        plan = self._plan
        sy = plan.stride[0]
        r0, r1 = o0 * sy, (o1 - 1) * sy + plan.kernel.shape[0]
        sub = dataclasses.replace(plan, source=_window(plan.source, r0, r1 - r0),
                                  out_shape=(o1 - o0,) + plan.out_shape[1:], workers=workers)
        target = out[:o1 - o0]
        self._chosen.run(sub, target)
        return target

    def __iter__(self) -> Iterator[tuple[int, int, np.ndarray]]:
        if not self._banded:
            yield 0, self.out_shape[0], self._whole_result()
            return
        out = np.empty((self._rows,) + self.out_shape[1:], self.dtype)
        for o0, o1 in self.spans:
            yield o0, o1, self._compute(o0, o1, out, self._plan.workers)

    def map(self, consume: Callable[[int, int, np.ndarray], None]) -> None:
        """Call ``consume(o0, o1, values)`` once per band, bands spread over the workers.

        Each worker (the calling thread is one of them) takes the next band not yet taken,
        computes it with the strategy on that one thread and calls ``consume`` right away
        in the same thread, while the band is in cache: calls come from several threads at
        once, in no fixed order. Each band is computed exactly as when iterating. ``values``
        is the worker's own buffer, reused for its next band. The first exception (or an
        interrupt in the calling thread) stops every worker after its current band and is
        raised here.

        Examples
        --------
        >>> from cvtool.filtering import correlate
        >>> image, parts = np.arange(18.0).reshape(6, 3), {}
        >>> bands = correlate_bands(image, np.ones((3, 1)), rows=2, workers=2)
        >>> bands.map(lambda o0, o1, values: parts.update({o0: values.copy()}))
        >>> whole = np.concatenate([parts[o0] for o0, _ in bands.spans])
        >>> bool((whole == correlate(image, np.ones((3, 1)))).all())
        True
        """
        if not self._banded:
            result = self._whole_result()
            consume(0, self.out_shape[0], result)
            return
        todo = iter(self.spans)
        taking = threading.Lock()
        stop = threading.Event()
        failures: list[BaseException] = []

        def work() -> None:
            out = np.empty((self._rows,) + self.out_shape[1:], self.dtype)
            while not stop.is_set():
                with taking:
                    span = next(todo, None)
                if span is None:
                    return
                consume(*span, self._compute(*span, out, 1))

        def helper() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                failures.append(exc)
                stop.set()

        workers = max(1, min(self._plan.workers, len(self.spans)))
        # The calling thread works too, so an interrupt reaches it between two numpy calls
        # and the helpers stop after their current band (a pool's map would wait for all).
        helpers = [threading.Thread(target=helper, daemon=True) for _ in range(workers - 1)]
        for thread in helpers:
            thread.start()
        try:
            work()
        except BaseException:
            stop.set()
            raise
        finally:
            for thread in helpers:
                thread.join()
        if failures:
            raise failures[0]


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

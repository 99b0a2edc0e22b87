"""Padded rows on demand, and the thread pool that walks an output in row bands.

Strategies never build the whole padded image when they can avoid it: a band of padded rows
is assembled into a small reusable buffer (converting the input's dtype on the way), so a
4096×4096 uint8 image is never copied to a full-size float array just to be padded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cvtool.padding import pad, pad_indices

# Modes whose padded pixels are a constant (``normalized`` pads with zeros).
_FILL_MODES = ("zero", "constant", "normalized")


class PaddedSource:
    """The image as if padded by ``widths`` with ``mode``, in the working dtype.

    ``rows(r0, r1, buf)`` returns padded rows ``r0:r1`` (every padded column), either as a
    view of a pre-padded array or assembled into ``buf``; ``full()`` returns everything.
    """

    def __init__(self, image: np.ndarray, widths, mode: str, fill: np.ndarray,
                 dtype: np.dtype) -> None:
        self.image = image
        self.dtype = np.dtype(dtype)
        self.height, self.width = image.shape[:2]
        self.tail = image.shape[2:]
        (self.top, self.bottom), (self.left, self.right) = widths
        self.padded_height = self.height + self.top + self.bottom
        self.padded_width = self.width + self.left + self.right
        self.mode = mode
        self.fill = np.asarray(fill, dtype=self.dtype)
        no_pad = not (self.top or self.bottom or self.left or self.right)
        self.padded: np.ndarray | None = None
        if no_pad and image.dtype == self.dtype:
            self.padded = image
        elif mode == "extend":
            # Odd reflection is not an index map (2a - x), and is rare: pad once, in full.
            self.padded = pad(image.astype(self.dtype), widths, "extend")
        else:
            self.row_index = pad_indices(self.height, self.top, self.bottom, mode)
            self.col_index = pad_indices(self.width, self.left, self.right, mode)

    @property
    def row_shape(self) -> tuple[int, ...]:
        return (self.padded_width,) + self.tail

    def buffer(self, nrows: int) -> np.ndarray | None:
        """A scratch buffer for ``rows`` (None when rows are views and need none)."""
        if self.padded is not None:
            return None
        return np.empty((nrows,) + self.row_shape, self.dtype)

    def rows(self, r0: int, r1: int, buf: np.ndarray | None) -> np.ndarray:
        """Padded rows ``r0:r1`` (0 ≤ r0 < r1 ≤ padded height), all padded columns."""
        if self.padded is not None:
            return self.padded[r0:r1]
        out = buf[: r1 - r0]
        seg = self.row_index[r0:r1]
        left, width = self.left, self.width
        body = out[:, left:left + width]
        # Copy runs of consecutive source rows with one slice each (usually one run per band).
        breaks = np.flatnonzero((np.diff(seg) != 1) | (seg[1:] < 0) | (seg[:-1] < 0)) + 1
        starts = np.concatenate(([0], breaks))
        ends = np.concatenate((breaks, [len(seg)]))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            s = int(seg[a])
            if s < 0:
                out[a:b] = self.fill
            else:
                body[a:b] = self.image[s:s + (b - a)]
        right_start = left + width
        if self.mode in _FILL_MODES:
            if left:
                out[:, :left] = self.fill
            if self.right:
                out[:, right_start:] = self.fill
        else:
            if left:
                out[:, :left] = out[:, left + self.col_index[:left]]
            if self.right:
                out[:, right_start:] = out[:, left + self.col_index[right_start:]]
        return out

    def full(self) -> np.ndarray:
        """The whole padded image in the working dtype."""
        if self.padded is not None:
            return self.padded
        return self.rows(0, self.padded_height, self.buffer(self.padded_height))


def resolve_workers(workers: int | None) -> int:
    return max(1, os.cpu_count() or 1) if workers is None else workers


def run_bands(n_rows: int, band_rows: int, make_scratch: Callable[[], object],
              do_band: Callable[[int, int, object], None], workers: int) -> None:
    """Call ``do_band(o0, o1, scratch)`` over ``0:n_rows`` in bands, on ``workers`` threads.

    Bands are grouped into a few contiguous chunks per thread; each chunk allocates its
    scratch once and reuses it, so buffers stay hot in cache and nothing is full-size.
    """
    band_rows = max(1, band_rows)
    bands = [(o, min(o + band_rows, n_rows)) for o in range(0, n_rows, band_rows)]
    workers = max(1, min(workers, len(bands)))

    def chunk(part: list[tuple[int, int]]) -> None:
        scratch = make_scratch()
        for o0, o1 in part:
            do_band(o0, o1, scratch)

    if workers == 1:
        chunk(bands)
        return
    n_chunks = min(len(bands), workers * 4)
    parts = [bands[i * len(bands) // n_chunks:(i + 1) * len(bands) // n_chunks]
             for i in range(n_chunks)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(chunk, parts):
            del result  # re-raises the first exception from a worker

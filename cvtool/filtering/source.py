"""Padded rows on demand, and the thread pool that walks an output in row bands.

Strategies never build the whole padded image when they can avoid it: a band of padded rows
is assembled into a small reusable buffer (converting the input's dtype on the way), so a
4096×4096 uint8 image is never copied to a full-size float array just to be padded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from cvtool.imaging.padding import pad, pad_indices
from cvtool.threads import map_threads

__all__ = ["PaddedSource", "run_tiles"]


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
        self.channels = int(np.prod(self.tail, dtype=np.int64))
        self.pitch = self.padded_width * self.channels  # elements per padded row
        self.padded: np.ndarray | None = None
        if no_pad and image.dtype == self.dtype:
            # Strategies treat a band of rows as one flat run of memory.
            self.padded = np.ascontiguousarray(image)
        elif mode == "extend":
            # Odd reflection is not an index map (2a - x), and is rare: pad once, in full.
            self.padded = pad(image.astype(self.dtype), widths, "extend")
        else:
            self.row_index = pad_indices(self.height, self.top, self.bottom, mode)
            self._col_runs: dict[tuple[int, int], list] = {}
            self.col_index = pad_indices(self.width, self.left, self.right, mode)

    @property
    def is_fill(self) -> bool:
        """Whether padded pixels are a constant (zero, constant, normalized)."""
        return self.padded is None and self.mode in ("zero", "constant", "normalized")

    def rows_inside(self, r0: int, r1: int) -> bool:
        """Whether padded rows ``r0:r1`` are all image rows (a band that can be read in place)."""
        return self.top <= r0 and r1 <= self.top + self.height

    def pad_columns(self, band: np.ndarray, fill: np.ndarray | None) -> None:
        """Make up the padding columns of a band whose image columns are filled in.

        For index modes the padded columns copy image columns; for fill modes they are
        ``fill`` (the caller passes the constant as it is after any per-column filtering).
        """
        left, right = self.left, self.right
        stop = left + self.width
        if self.is_fill:
            if left:
                band[:, :left] = fill
            if right:
                band[:, stop:] = fill
            return
        if left:
            band[:, :left] = band[:, left + self.col_index[:left]]
        if right:
            band[:, stop:] = band[:, left + self.col_index[stop:]]

    def image_rows(self) -> np.ndarray | None:
        """The unpadded image as rows of ``W·C`` working-dtype values, if no copy is needed."""
        img = self.image
        if img.dtype != self.dtype or not img.flags.c_contiguous:
            return None
        return img.reshape(self.height, self.width * self.channels)

    def buffer(self, nrows: int, ncols: int | None = None) -> np.ndarray:
        """A scratch buffer big enough for a tile of ``nrows`` × ``ncols`` padded pixels."""
        ncols = self.padded_width if ncols is None else ncols
        return np.empty((nrows * ncols * self.channels,), self.dtype)

    def tile(self, r0: int, r1: int, c0: int, c1: int, buf: np.ndarray) -> np.ndarray:
        """Padded rows ``r0:r1`` × columns ``c0:c1`` as one C-contiguous array.

        A view when the image is pre-padded and the tile spans whole rows; otherwise the
        tile is assembled in ``buf`` (converting the dtype on the way).
        """
        if self.padded is not None:
            if c0 == 0 and c1 == self.padded_width:
                return self.padded[r0:r1]
            out = buf[: (r1 - r0) * (c1 - c0) * self.channels].reshape(
                (r1 - r0, c1 - c0) + self.tail)
            np.copyto(out, self.padded[r0:r1, c0:c1])
            return out
        out = buf[: (r1 - r0) * (c1 - c0) * self.channels].reshape((r1 - r0, c1 - c0) + self.tail)
        key = (c0, c1)
        col_runs = self._col_runs.get(key)
        if col_runs is None:  # tiles of a plan share a few column ranges: cache them
            col_runs = self._col_runs[key] = _runs(self.col_index[c0:c1])
        if self.top <= r0 and r1 <= self.top + self.height:  # interior band: one run
            row_runs = [(0, r1 - r0, r0 - self.top)]
        else:
            row_runs = _runs(self.row_index[r0:r1])
        for a, b, s in row_runs:
            if s < 0:
                out[a:b] = self.fill
                continue
            for x, y, t in col_runs:
                if t < 0:
                    out[a:b, x:y] = self.fill
                else:
                    out[a:b, x:y] = self.image[s:s + (b - a), t:t + (y - x)]
        return out

    def full(self) -> np.ndarray:
        """The whole padded image in the working dtype."""
        if self.padded is not None:
            return self.padded
        return self.tile(0, self.padded_height, 0, self.padded_width,
                         self.buffer(self.padded_height))


def _runs(index: np.ndarray) -> list[tuple[int, int, int]]:
    """Split an index map into runs ``(start, stop, source_start)`` of consecutive sources.

    A run copies with one slice; ``source_start`` is -1 for a run of constant fill. Mirror
    and wrap borders give short runs, the image body one long run.
    """
    breaks = np.flatnonzero((np.diff(index) != 1) | (index[1:] < 0) | (index[:-1] < 0)) + 1
    starts = [0] + breaks.tolist()
    stops = breaks.tolist() + [len(index)]
    return [(a, b, int(index[a])) for a, b in zip(starts, stops, strict=True)]


def run_tiles(tiles: list, make_scratch: Callable[[], object],
              do_tile: Callable[..., None], workers: int) -> None:
    """Call ``do_tile(*tile, scratch)`` for every tile, on ``workers`` threads.

    Each thread takes the next tile not yet taken (in order, so neighbouring tiles run at
    about the same time and their shared rows are still in cache) and reuses one scratch of
    its own for all its tiles: ``make_scratch`` runs once per thread, and nothing is
    full-size. A tile must not depend on which tiles its thread did before. NumPy releases
    the GIL inside each operation, so the threads really run in parallel.
    """
    scratch_of: dict[int, object] = {}

    def one(tile) -> None:
        thread = threading.get_ident()
        scratch = scratch_of.get(thread)
        if scratch is None:
            scratch = scratch_of[thread] = make_scratch()
        do_tile(*tile, scratch)

    map_threads(one, tiles, workers)

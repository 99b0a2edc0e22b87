"""Correlation and convolution of images larger than memory, one output tile at a time.

The output is cut into tiles (``chunk`` input pixels a side, rounded to a multiple of the
stride, so every tile starts on a kept sample). For each tile the exact piece of the *padded*
image it needs is assembled (:func:`padded_region`): the pixels inside the image are read
from the store, the border is made up by cvtool's own padding rules (the index maps of
:func:`cvtool.imaging.padding.pad_indices`, and :func:`cvtool.pad` for ``extend``), never by
Dask's boundary names, which are not our modes (Dask's ``reflect`` is our ``symmetric``,
``mirror``/``extend``/``normalized`` have no equivalent, and its odd reflection is wrong:
dask issue 6882). The piece is then filtered in memory by :func:`cvtool.correlate` with
``shape='valid'``, renormalised for ``normalized`` padding from the tile's global position,
mapped to the output's pixel type and written into the output store. So each tile equals the
same piece of the in-memory result, to float32 rounding.

Why a tile loop of our own rather than ``dask.array.map_overlap``: the prototype built on
``map_overlap`` grew with the image (0.78 GB at 30000², 1.5 GB at 60000²) because an overlap
graph keeps every input block alive until all its neighbours have taken their slices of it,
and Dask's ordering walks the image row by row: about two rows of blocks of the whole width
stay in memory, so memory grows with the image's width. Here a tile reads its own halo from
the store, nothing is shared between tiles, and at most ``2 × workers`` tiles are in flight:
peak memory is a few tile-sized buffers per worker whatever the image's size. The same tile
function runs on a Dask distributed cluster (``scheduler=``), each task reading and writing
its own regions of files the workers share.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from cvtool.errors import ProcessingError, UsageError
from cvtool.filtering import SHAPES, anchor, correlate, working_dtype
from cvtool.filtering.kernels import is_zero_sum
from cvtool.imaging.color import full_scale, split_alpha, to_gray
from cvtool.imaging.padding import canonical_padding, pad, pad_indices
from cvtool.imaging.pixels import check_out_range, output_dtype, to_pixel_type
from cvtool.pipelines.filter_image import out_range_for_file, split_pad_value
from cvtool.scaleout.stores import (
    ChunkedImage,
    OutputStore,
    check_output_path,
    create_output,
    open_input,
)
from cvtool.threads import resolve_workers

__all__ = ["DEFAULT_CHUNK", "ChunkedResult", "FilterJob", "filter_chunked", "padded_region",
           "tile_grid"]

#: Default tile side in input pixels (``--chunk``).
DEFAULT_CHUNK = 4096

#: Source runs closer than this many pixels are read as one block (one decode of the tiles
#: between them is cheaper than two reads).
_READ_GAP = 256

_NOT_FINITE = ("the result has infinite or NaN values (overflow: kernel or pixel values too "
               "large for the arithmetic)")


@dataclass(frozen=True)
class ChunkedResult:
    """What :func:`filter_chunked` wrote: the output's path, shape, dtype and pixel mapping."""

    path: str
    shape: tuple[int, ...]
    dtype: np.dtype
    out_range: str
    tiles: int


@dataclass
class FilterJob:
    """Everything a tile needs, checked once; picklable, so cluster workers get one copy.

    ``kernel`` is oriented for correlation (rotated for convolution); ``widths`` is the
    padding of the whole image for the ``shape``; ``fill`` the border value per channel of
    the working image (colour channels, then alpha); ``tile`` the output tile size.
    """

    source: ChunkedImage
    output: OutputStore | None
    kernel: np.ndarray
    flip: bool
    mode: str
    fill: np.ndarray
    widths: tuple[tuple[int, int], tuple[int, int]]
    stride: tuple[int, int]
    out_shape: tuple[int, int]
    tile: tuple[int, int]
    dtype: np.dtype
    gray: bool
    has_alpha: bool
    colour_channels: int
    keep_channel_axis: bool
    out_range: str
    pixel_dtype: np.dtype
    rescale: tuple[float, float] | None = None

    # ------------------------------------------------------------------ one tile

    def values(self, tile: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray | None]:
        """Filtered colour values (working dtype) and the alpha plane of one output tile."""
        oy0, oy1, ox0, ox1 = tile
        sy, sx = self.stride
        kh, kw = self.kernel.shape
        p0, p1 = oy0 * sy, (oy1 - 1) * sy + kh
        q0, q1 = ox0 * sx, (ox1 - 1) * sx + kw
        region = padded_region(self, p0, p1, q0, q1)
        colour = region[..., :self.colour_channels]
        if not self.keep_channel_axis:
            colour = colour[..., 0]
        values = correlate(colour, self.kernel, shape="valid", stride=(sy, sx), workers=1)
        if self.mode == "normalized":
            self._renormalize(values, oy0, ox0)
        alpha = None
        if self.has_alpha:
            ay, ax = anchor((kh, kw), convolve=self.flip)
            alpha = region[ay:ay + (oy1 - oy0 - 1) * sy + 1:sy,
                           ax:ax + (ox1 - ox0 - 1) * sx + 1:sx, -1]
        return values, alpha

    def _renormalize(self, out: np.ndarray, oy0: int, ox0: int) -> None:
        """``normalized`` padding: scale by total / (weights inside the image), per position.

        The same arithmetic as the in-memory filter (float64 factors cast to the working
        dtype, one multiplication), from the tile's global position.
        """
        k = self.kernel
        kh, kw = k.shape
        height, width = self.source.height, self.source.width
        (top, _), (left, _) = self.widths
        sy, sx = self.stride

        def ranges(n, before, ksize, first, count, step):
            start = (first + np.arange(count)) * step - before
            k0 = np.clip(-start, 0, ksize)
            return k0, np.maximum(np.clip(n - start, 0, ksize), k0)

        r0, r1 = ranges(height, top, kh, oy0, out.shape[0], sy)
        c0, c1 = ranges(width, left, kw, ox0, out.shape[1], sx)
        rows, rclass = np.unique(np.stack([r0, r1], 1), axis=0, return_inverse=True)
        cols, cclass = np.unique(np.stack([c0, c1], 1), axis=0, return_inverse=True)
        total = k.sum()
        positive = k > 0
        factor = np.zeros((len(rows), len(cols)))
        for a, (ka, kb) in enumerate(rows.tolist()):
            for b, (la, lb) in enumerate(cols.tolist()):
                if positive[ka:kb, la:lb].any():
                    factor[a, b] = total / k[ka:kb, la:lb].sum()
        f = factor[rclass.reshape(-1)][:, cclass.reshape(-1)].astype(out.dtype)
        out *= f[(...,) + (np.newaxis,) * (out.ndim - 2)]

    def pixels(self, tile: tuple[int, int, int, int]) -> np.ndarray:
        """One output tile mapped to the output's pixel type, alpha appended last."""
        values, alpha = self.values(tile)
        if self.out_range == "raw":
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                raise ProcessingError(_NOT_FINITE)
            colour = values
        else:
            colour = map_pixels(values, self.out_range, self.pixel_dtype, self.rescale)
        if alpha is None:
            return colour
        alpha = (alpha.astype(colour.dtype) if self.out_range == "raw"
                 else map_pixels(alpha, "clip", colour.dtype))
        channels = 1 if colour.ndim == 2 else colour.shape[2]
        out = np.empty(colour.shape[:2] + (channels + 1,), colour.dtype)
        out[..., :channels] = colour.reshape(colour.shape[:2] + (channels,))
        out[..., channels] = alpha
        return out

    def extremes(self, tile: tuple[int, int, int, int]) -> tuple[float, float]:
        """min and max of one tile's colour values (the extra pass of ``rescale``)."""
        values, _ = self.values(tile)
        low, high = float(values.min()), float(values.max())
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ProcessingError(_NOT_FINITE)
        return low, high

    def write(self, tile: tuple[int, int, int, int]) -> None:
        """Compute one tile and store it at its place in the output."""
        self.output.write(tile[0], tile[2], self.pixels(tile))


# ---------------------------------------------------------------------------------------------
# Padded pieces of the image


def _runs(index: np.ndarray) -> list[tuple[int, int, int]]:
    """Split an index map into runs ``(start, stop, source_start)`` of consecutive sources.

    ``source_start`` is -1 for a run of fill. Mirror and wrap borders give short runs, the
    image body one long run.
    """
    if index.size == 0:
        return []
    breaks = np.flatnonzero((np.diff(index) != 1) | (index[1:] < 0) | (index[:-1] < 0)) + 1
    starts = [0] + breaks.tolist()
    stops = breaks.tolist() + [len(index)]
    return [(a, b, int(index[a])) for a, b in zip(starts, stops, strict=True)]


def _clusters(runs: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """Source ranges ``[lo, hi)`` to read so that every run lies inside one of them."""
    spans = sorted((s, s + (b - a)) for a, b, s in runs if s >= 0)
    merged: list[list[int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1] + _READ_GAP:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def _working_block(job: FilterJob, block: np.ndarray) -> np.ndarray:
    """A block as read from the store, made H×W×C' in the working dtype: gray conversion of
    the colour channels when asked, alpha kept as the last channel."""
    colour, alpha = split_alpha(block)
    if job.gray:
        colour = to_gray(colour)
    colour = colour if colour.ndim == 3 else colour[..., None]
    parts = [colour] if alpha is None else [colour, alpha[..., None]]
    out = np.empty(block.shape[:2] + (sum(p.shape[2] for p in parts),), job.dtype)
    start = 0
    for part in parts:
        out[..., start:start + part.shape[2]] = part
        start += part.shape[2]
    return out


def padded_region(job: FilterJob, p0: int, p1: int, q0: int, q1: int) -> np.ndarray:
    """Rows ``p0:p1`` × columns ``q0:q1`` of the whole image padded by ``job.widths``.

    In the working dtype, H×W×C' (colour or gray channels, then alpha). Only the source
    pixels this piece needs are read; the result equals the same slice of
    ``cvtool.pad(image, job.widths, job.mode, job.fill)`` (which is never built).
    """
    if job.mode == "extend":
        return _extended_region(job, p0, p1, q0, q1)
    src = job.source
    (top, bottom), (left, right) = job.widths
    row_runs = _runs(pad_indices(src.height, top, bottom, job.mode)[p0:p1])
    col_runs = _runs(pad_indices(src.width, left, right, job.mode)[q0:q1])
    channels = job.fill.shape[0]
    out = np.empty((p1 - p0, q1 - q0, channels), job.dtype)
    col_clusters = _clusters(col_runs)
    for r_lo, r_hi in _clusters(row_runs):
        for c_lo, c_hi in col_clusters:
            block = _working_block(job, src.read(r_lo, r_hi, c_lo, c_hi))
            for a, b, s in row_runs:
                if not r_lo <= s < r_hi:
                    continue
                for x, y, t in col_runs:
                    if c_lo <= t < c_hi:
                        out[a:b, x:y] = block[s - r_lo:s - r_lo + (b - a),
                                              t - c_lo:t - c_lo + (y - x)]
    for a, b, s in row_runs:
        if s < 0:
            out[a:b] = job.fill
            continue
        for x, y, t in col_runs:
            if t < 0:
                out[a:b, x:y] = job.fill
    return out


def _extend_axis(n: int, before: int, after: int, p0: int, p1: int):
    """For odd reflection along one axis: the source range to read, the padding to give it
    with ``numpy.pad``, and where ``p0:p1`` then starts in the padded block.

    ``extend`` is not an index map (2a - x), so the piece is padded for real; near an edge the
    block includes every source pixel the reflection uses (``before + 1`` of them), so
    ``numpy.pad`` sees what it would see on the whole image. A padding at least as wide as
    the axis repeats the rule over the whole axis, which is then read whole (it is shorter
    than the kernel).
    """
    if before >= n or after >= n:
        return 0, n, before, after, p0
    touches_top, touches_bottom = p0 < before, p1 > before + n
    s0 = 0 if touches_top else max(p0 - before, 0)
    s1 = n if touches_bottom else min(p1 - before, n)
    if touches_top:
        s1 = max(s1, before + 1)
    if touches_bottom:
        s0 = min(s0, n - after - 1)
    bt = before if touches_top else 0
    bb = after if touches_bottom else 0
    return s0, s1, bt, bb, p0 - (s0 + before - bt)


def _extended_region(job: FilterJob, p0: int, p1: int, q0: int, q1: int) -> np.ndarray:
    src = job.source
    (top, bottom), (left, right) = job.widths
    s0, s1, bt, bb, u0 = _extend_axis(src.height, top, bottom, p0, p1)
    t0, t1, bl, br, v0 = _extend_axis(src.width, left, right, q0, q1)
    block = _working_block(job, src.read(s0, s1, t0, t1))
    padded = pad(block, ((bt, bb), (bl, br)), "extend")
    return padded[u0:u0 + (p1 - p0), v0:v0 + (q1 - q0)]


# ---------------------------------------------------------------------------------------------
# Pixel mapping


def map_pixels(values: np.ndarray, mode: str, dtype: np.dtype,
               rescale: tuple[float, float] | None = None) -> np.ndarray:
    """Map one tile to a pixel type as :func:`cvtool.imaging.pixels.to_pixel_type` maps a
    whole image.

    ``clip`` and ``abs`` are per pixel, so they are applied to the tile as they are.
    ``rescale`` needs the whole result's ``(low, high)`` (from a first pass over every tile);
    the arithmetic is then the in-memory one: float64 ``(x - low) · (top / (high - low))``,
    rounded half to even and saturated, and a constant result maps to 0.

    Examples
    --------
    >>> map_pixels(np.array([1.0, 2.0, 3.0]), "rescale", np.dtype(np.uint8), (1.0, 3.0))
    array([  0, 128, 255], dtype=uint8)
    """
    if mode != "rescale":
        return to_pixel_type(values, mode, dtype)
    low, high = rescale
    dtype = np.dtype(dtype)
    if high - low <= 0:
        return np.zeros(values.shape, dtype)
    work = np.subtract(values, low, dtype=np.float64)
    work *= full_scale(dtype) / (high - low)
    np.rint(work, out=work)
    np.clip(work, 0, full_scale(dtype), out=work)
    return work.astype(dtype)


# ---------------------------------------------------------------------------------------------
# Planning and running


def tile_grid(out_shape: tuple[int, int], tile: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Output tiles ``(row0, row1, col0, col1)`` covering ``out_shape``, row by row.

    Examples
    --------
    >>> tile_grid((5, 4), (2, 3))
    [(0, 2, 0, 3), (0, 2, 3, 4), (2, 4, 0, 3), (2, 4, 3, 4), (4, 5, 0, 3), (4, 5, 3, 4)]
    """
    th, tw = tile
    return [(r, min(r + th, out_shape[0]), c, min(c + tw, out_shape[1]))
            for r in range(0, out_shape[0], th) for c in range(0, out_shape[1], tw)]


def _check_chunk(chunk) -> int:
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise UsageError(f"chunk must be an integer >= 1, got {chunk!r}", parameter="chunk")
    return int(chunk)


def _pad_values(values, colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """The border per working channel (colour channels, then alpha), split by the in-memory
    pipeline's rule (:func:`cvtool.pipelines.filter_image.split_pad_value`)."""
    flat = tuple(float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1))
    colour_value, alpha_value = split_pad_value(colour, alpha, flat)
    channels = 1 if colour.ndim == 2 else colour.shape[2]
    fill = np.broadcast_to(np.asarray(colour_value, np.float64), (channels,))
    return np.append(fill, [] if alpha is None else [alpha_value])


def _out_range_for(out_range: str, input_dtype: np.dtype, dst, zero_sum: bool) -> str:
    """``out_range`` checked and resolved for ``dst`` as for an in-memory output; a ``.zarr``
    keeps numbers as a ``.npy`` does (``auto`` is ``raw`` there)."""
    zarr_out = os.fspath(dst).rstrip("/\\").lower().endswith(".zarr")
    like = "output.npy" if zarr_out else os.fspath(dst)
    from cvtool import io

    check_out_range(out_range, keeps_floats=zarr_out or io.keeps_floats(like),
                    output=os.fspath(dst))
    return out_range_for_file(out_range.lower(), input_dtype, like, zero_sum)


def plan_filter(src: str | os.PathLike | ChunkedImage, dst: str | os.PathLike, kernel, *,
                operation: str = "correlate", padding: str = "zero",
                pad_value: float | Sequence[float] = 0.0, stride: int | Sequence[int] = 1,
                shape: str = "same", out_range: str = "auto", gray: bool = False,
                chunk: int = DEFAULT_CHUNK) -> FilterJob:
    """Check every argument and the input's header, and plan the tiles (no output yet)."""
    if operation not in ("correlate", "convolve"):
        raise UsageError(f"operation must be 'correlate' or 'convolve', got {operation!r}",
                         parameter="operation")
    mode = canonical_padding(padding)
    if shape not in SHAPES:
        raise UsageError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}",
                         parameter="shape")
    chunk = _check_chunk(chunk)
    check_output_path(dst)
    if not isinstance(out_range, str):
        raise UsageError(f"out_range must be a string, got {out_range!r}", parameter="out_range")
    resolved = _out_range_for(out_range, np.dtype(np.uint8), dst, False)  # checks it early
    folder = os.path.dirname(os.path.abspath(os.fspath(dst).rstrip("/\\")))
    if not os.path.isdir(folder):  # before any tile is computed (rescale's pass included)
        raise ProcessingError(f"{dst}: cannot write (folder {folder} does not exist)")
    source = src if isinstance(src, ChunkedImage) else open_input(src)
    sample = np.zeros((1, 1) + source.shape[2:], source.dtype)
    colour_sample, alpha_sample = split_alpha(sample)
    if gray:
        colour_sample = to_gray(colour_sample)
    has_alpha = alpha_sample is not None
    colour_channels = 1 if colour_sample.ndim == 2 else colour_sample.shape[2]
    fill = _pad_values(pad_value, colour_sample, alpha_sample)
    if mode != "constant":  # zero/normalized borders are 0 for every plane, alpha included
        fill = np.zeros_like(fill)
    colour_fill = fill[:colour_channels]
    # The in-memory filter checks kernel, stride, padding rules and the pad value: ask it, on
    # a one-pixel image of the same layout, so that every rule stays written once.
    probe = correlate(colour_sample, kernel, padding=mode,
                      pad_value=colour_fill[0] if colour_fill.size == 1 else colour_fill,
                      stride=stride, workers=1)
    del probe
    k = np.asarray(kernel, dtype=np.float64)
    kh, kw = k.shape
    sy, sx = (stride, stride) if np.ndim(stride) == 0 else tuple(stride)
    sy, sx = int(sy), int(sx)
    height, width = source.shape[:2]
    if shape == "valid" and (kh > height or kw > width):
        raise ProcessingError(
            f"shape 'valid' needs a kernel no larger than the image, but kernel {kw}x{kh} is "
            f"larger than the image {width}x{height} (width x height); use 'same' or 'full'",
            parameter="shape")
    flip = operation == "convolve"
    ay, ax = anchor((kh, kw), convolve=flip)
    if shape == "same":
        widths = ((ay, kh - 1 - ay), (ax, kw - 1 - ax))
        size = (height, width)
    elif shape == "full":
        widths = ((kh - 1, kh - 1), (kw - 1, kw - 1))
        size = (height + kh - 1, width + kw - 1)
    else:
        widths = ((0, 0), (0, 0))
        size = (height - kh + 1, width - kw + 1)
    out_shape = (math.ceil(size[0] / sy), math.ceil(size[1] / sx))
    tile = (max(1, chunk // sy), max(1, chunk // sx))
    resolved = _out_range_for(out_range, source.dtype, dst, is_zero_sum(k))
    dtype = working_dtype(colour_sample.dtype)
    pixel_dtype = dtype if resolved == "raw" else output_dtype(source.dtype)
    return FilterJob(
        source=source, output=None, kernel=(k[::-1, ::-1] if flip else k), flip=flip,
        mode=mode, fill=fill.astype(dtype), widths=widths, stride=(sy, sx),
        out_shape=out_shape, tile=tile, dtype=dtype, gray=gray, has_alpha=has_alpha,
        colour_channels=colour_channels, keep_channel_axis=colour_sample.ndim == 3,
        out_range=resolved, pixel_dtype=np.dtype(pixel_dtype))


def output_layout(job: FilterJob) -> tuple[int, ...]:
    """The output array's shape: values' shape, plus a channel for alpha."""
    channels = job.colour_channels + job.has_alpha
    if channels == 1 and not job.keep_channel_axis:
        return job.out_shape
    return job.out_shape + (channels,)


def _run_local(fn: Callable, tiles: list, workers: int,
               progress: Callable[[int, int], None] | None) -> list:
    """``[fn(t) for t in tiles]`` on threads, at most ``2 × workers`` tiles in flight."""
    results: list = [None] * len(tiles)
    done = 0
    if workers <= 1:
        for i, t in enumerate(tiles):
            results[i] = fn(t)
            done += 1
            if progress is not None:
                progress(done, len(tiles))
        return results
    pending: dict = {}
    queue = iter(enumerate(tiles))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            while True:
                while len(pending) < 2 * workers:
                    item = next(queue, None)
                    if item is None:
                        break
                    pending[pool.submit(fn, item[1])] = item[0]
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    results[pending.pop(future)] = future.result()
                    done += 1
                    if progress is not None:
                        progress(done, len(tiles))
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return results


def filter_chunked(src: str | os.PathLike, dst: str | os.PathLike, kernel, *,
                   operation: str = "correlate", padding: str = "zero",
                   pad_value: float | Sequence[float] = 0.0, stride: int | Sequence[int] = 1,
                   shape: str = "same", out_range: str = "auto", gray: bool = False,
                   chunk: int = DEFAULT_CHUNK, workers: int | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   scheduler: str | None = None) -> ChunkedResult:
    """Filter an image file into another, tile by tile, with memory bounded by the tile size.

    The result equals reading the whole image, :func:`cvtool.correlate` (or ``convolve``)
    with the same arguments, and the CLI's mapping to the output's pixel type, to float32
    rounding, for every padding mode, shape and stride; colour images are filtered per
    channel and an alpha channel is carried through unchanged, as in memory.

    Parameters
    ----------
    src : str or path-like
        Tiled or striped ``.tif``/``.tiff`` (BigTIFF too), a ``.zarr`` array or a ``.npy``.
    dst : str or path-like
        ``.zarr``, ``.tif``/``.tiff`` (tiled; BigTIFF beyond 4 GB) or ``.npy``; written under a
        temporary name beside it, renamed when complete (nothing is left on failure).
    kernel : array_like
        2-D kernel, as for :func:`cvtool.correlate`.
    operation : {'correlate', 'convolve'}
    padding, pad_value, stride, shape
        As for :func:`cvtool.correlate`; ``pad_value`` may also give alpha's border last.
    out_range : {'auto', 'clip', 'abs', 'rescale', 'raw'}
        How values map to the output's pixel type (``auto`` as the CLI: raw for ``.npy`` and
        for float input to ``.tif``; else clip, or abs for zero-sum kernels). ``rescale`` runs
        the tiles twice: once for the min/max, once to write.
    gray : bool
        Convert a colour input to BT.601 gray first.
    chunk : int
        Tile side in input pixels (default 4096), rounded down to a multiple of the stride.
    workers : int, optional
        Tiles computed at once on this machine's threads (default: every CPU). Memory is
        about ``workers × 4 × (chunk + kernel)²`` × 4 bytes per channel.
    progress : callable, optional
        Called as ``progress(done, total)`` after each tile.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``): the tiles run there,
        reading and writing the files directly, which must be on a filesystem the workers
        share (relative paths are made absolute).

    Returns
    -------
    ChunkedResult
        The output's path, shape, dtype, the ``out_range`` that applied and the tile count.

    Raises
    ------
    UsageError
        Bad arguments (named as ``cvtool.correlate`` names them; ``chunk``), an input format
        that cannot be read by region, an output format that cannot be written by tiles,
        ``out_range='raw'`` to an integer-only output, the extra not installed.
    ProcessingError
        Unreadable input, ``valid`` with a kernel larger than the image, non-finite results,
        an output that cannot be written, an unreachable scheduler.

    Examples
    --------
    >>> import tempfile, cvtool
    >>> folder = tempfile.mkdtemp()
    >>> image = np.arange(35, dtype=np.uint8).reshape(5, 7)
    >>> np.save(os.path.join(folder, "in.npy"), image)
    >>> result = filter_chunked(os.path.join(folder, "in.npy"), os.path.join(folder, "out.npy"),
    ...                         np.ones((3, 3)) / 9, padding="mirror", chunk=2, out_range="raw")
    >>> result.tiles, result.shape, result.dtype
    (12, (5, 7), dtype('float32'))
    >>> expected = cvtool.correlate(image, np.ones((3, 3)) / 9, padding="mirror")
    >>> bool(np.allclose(np.load(os.path.join(folder, "out.npy")), expected))
    True
    """
    if scheduler is not None:
        src, dst = os.path.abspath(src), os.path.abspath(dst)
    job = plan_filter(src, dst, kernel, operation=operation, padding=padding,
                      pad_value=pad_value, stride=stride, shape=shape, out_range=out_range,
                      gray=gray, chunk=chunk)
    nworkers = resolve_workers(workers)
    tiles = tile_grid(job.out_shape, job.tile)
    layout = output_layout(job)
    client = None
    try:
        if scheduler is not None:
            from cvtool.scaleout.cluster import connect

            client = connect(scheduler)
        total = len(tiles) * (2 if job.out_range == "rescale" else 1)
        offset = 0

        def step(done: int, _total: int) -> None:
            if progress is not None:
                progress(offset + done, total)

        if job.out_range == "rescale":
            extremes = _run(client, job, "extremes", tiles, nworkers, step)
            job.rescale = (min(e[0] for e in extremes), max(e[1] for e in extremes))
            offset = len(tiles)
        job.output = create_output(dst, layout, job.pixel_dtype, chunks=job.tile)
        try:
            _run(client, job, "write", tiles, nworkers, step)
            job.output.commit()
        except BaseException:
            job.output.abort()
            raise
    finally:
        if client is not None:
            client.close()
        if not isinstance(src, ChunkedImage):
            job.source.close()
    return ChunkedResult(path=job.output.path, shape=layout, dtype=job.pixel_dtype,
                         out_range=job.out_range, tiles=len(tiles))


def _run(client, job: FilterJob, method: str, tiles: list, workers: int, progress) -> list:
    if client is None:
        return _run_local(getattr(job, method), tiles, workers, progress)
    from cvtool.scaleout.cluster import run_tiles

    return run_tiles(client, job, method, tiles, progress)


def run_tile(job: FilterJob, method: str, tile: tuple[int, int, int, int]):
    """``job.<method>(tile)``: the module-level function cluster workers import and run."""
    return getattr(job, method)(tile)

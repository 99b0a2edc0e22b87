"""Batch normalization of a set of image files: exact two-pass statistics, then each image.

Training takes two passes over the paths: :func:`gather_stats` streams every image into exact
per-channel statistics (one image in memory per thread), then each image is normalised with
them (:func:`normalize_one`). Evaluation loads saved statistics (:func:`load_stats`) instead.
An input that fails in the first pass is left out of the statistics and handed back with its
error, so the caller reports it in input order with the second pass's failures.

Messages name parameters (``stats``, ``gamma``), never flags: the CLI turns them into flags.

Examples
--------
>>> import tempfile, os, numpy as np
>>> from cvtool import io
>>> folder = tempfile.mkdtemp()
>>> paths = [os.path.join(folder, n) for n in ("a.png", "b.png")]
>>> io.write_image(paths[0], np.zeros((2, 2), np.uint8))
>>> io.write_image(paths[1], np.full((2, 2), 255, np.uint8))
>>> first = gather_stats(paths)
>>> first.stats.mean.tolist(), first.stats.count, first.failures
([127.5], 8, {})
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cvtool import io
from cvtool.errors import CvToolError, ProcessingError, UsageError
from cvtool.imaging.pixels import check_out_range, output_dtype, to_pixel_type
from cvtool.measures.batch_stats import (
    NormStats,
    RunningStats,
    channel_order,
    colour_part,
    per_channel,
    pixel_scale,
)

__all__ = ["FirstPass", "gather_stats", "training_stats", "load_stats", "write_stats",
           "normalize_one", "to_pixels", "resolve_out_range", "output_suffix"]


def _depth_name(scale: float) -> str:
    return {255.0: "8-bit (0..255)", 65535.0: "16-bit (0..65535)",
            1.0: "floating-point (0..1)"}.get(scale, f"0..{scale:g}")


def _layout(channels: int) -> str:
    return f"{channels} channel{'s' if channels != 1 else ''} ({channel_order(channels)})"


def image_layout(image: np.ndarray) -> tuple[int, float]:
    """The colour channel count and pixel scale (255, 65535 or 1) of an image."""
    colour, _ = colour_part(image)
    return colour.shape[2], pixel_scale(image.dtype)


def output_suffix(fmt: str) -> str:
    """The file suffix ``format`` names (``npy`` -> ``.npy``), refused when cvtool cannot write it.

    Examples
    --------
    >>> output_suffix("TIF"), output_suffix(".npy")
    ('.tif', '.npy')
    """
    suffix = "." + fmt.strip().lower().lstrip(".")
    try:
        io.check_output_path("x" + suffix, option="format")
    except UsageError:
        raise UsageError(f"format {fmt}: cvtool cannot write such files "
                         "(use npy, tif, png, ...)", parameter="format") from None
    return suffix


def resolve_out_range(mode: str, suffix: str) -> str:
    """What ``out_range`` means for normalised values written as ``suffix`` files.

    ``auto`` is ``raw`` for ``.npy``/``.tif``; any other format needs an explicit mapping,
    because normalised values sit around 0 and clipping them would write a mostly black image.

    Examples
    --------
    >>> resolve_out_range("auto", ".npy"), resolve_out_range("rescale", ".png")
    ('raw', 'rescale')
    """
    floats = io.keeps_floats("x" + suffix)
    # The mode names, and that raw needs a float format: the pixel module's rule.
    mode = check_out_range(mode, keeps_floats=floats, output=f"format {suffix[1:]}")
    if mode == "auto":
        if floats:
            return "raw"
        raise UsageError(
            f"format {suffix[1:]} holds pixels, not normalised values: pass `out_range` clip "
            f"(with, say, `gamma` 40 `beta` 128) or `out_range` rescale", parameter="format")
    return mode


@dataclass
class FirstPass:
    """The merged statistics, the batch's pixel scale, the inputs that failed (their errors, to
    report in input order later), and images that cannot be read twice (stdin)."""

    stats: RunningStats
    scale: float
    failures: dict[int, Exception] = field(default_factory=dict)
    kept: dict[int, np.ndarray] = field(default_factory=dict)


def gather_stats(paths: Sequence[str], jobs: int = 1,
                 read: Callable[[str], np.ndarray] = io.read_image) -> FirstPass:
    """First pass: per-image statistics (``jobs`` at once), merged in input order.

    Images of another channel layout or bit depth than the first good one fail with their
    names: one batch needs one layout and one 0..1 scale.
    """
    def one(index: int) -> tuple[RunningStats, int, float, np.ndarray | None]:
        image = read(paths[index])
        channels, scale = image_layout(image)
        stats = RunningStats().update(colour_part(image)[0])
        keep = image if paths[index] == io.STDIO else None
        return stats, channels, scale, keep

    merged = RunningStats()
    failures: dict[int, Exception] = {}
    kept: dict[int, np.ndarray] = {}
    first: tuple[str, int, float] | None = None
    executor = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="cvtool-stats")
    futures: list[Future | None] = [executor.submit(one, i) for i in range(len(paths))]
    try:
        for index, future in enumerate(futures):
            try:
                stats, channels, scale, keep = future.result()
            except (CvToolError, MemoryError) as exc:
                failures[index] = exc
                continue
            name = io.display_name(paths[index])
            if first is None:
                first = (name, channels, scale)
            elif channels != first[1]:
                failures[index] = ProcessingError(
                    f"{name}: has {_layout(channels)}, but {first[0]} has {_layout(first[1])}; "
                    "one batch needs one channel layout")
                continue
            elif scale != first[2]:
                failures[index] = ProcessingError(
                    f"{name}: is {_depth_name(scale)}, but {first[0]} is "
                    f"{_depth_name(first[2])}; one batch needs one bit depth")
                continue
            merged.merge(stats)
            if keep is not None:
                kept[index] = keep
            futures[index] = None  # let the finished future's result be freed
    except KeyboardInterrupt:
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    return FirstPass(merged, first[2] if first else 1.0, failures, kept)


def training_stats(first: FirstPass, *, gamma: Sequence[float], beta: Sequence[float],
                   eps: float, images: int) -> NormStats | None:
    """The statistics to apply after the first pass (None when no image could be read).

    ``gamma``/``beta`` are fitted to the images' channels here, once the data is known, so a
    mismatch is a data error (exit 1).
    """
    merged = first.stats
    if not merged.count:
        return None
    channels = merged.channels

    def fit(values: Sequence[float], name: str) -> np.ndarray:
        try:
            return per_channel(list(values), channels, name)
        except UsageError as exc:
            raise ProcessingError(str(exc), parameter=name) from None

    return NormStats(mean=merged.mean, var=merged.var, count=merged.count, scale=first.scale,
                     eps=eps, gamma=fit(gamma, "gamma"), beta=fit(beta, "beta"), images=images)


def load_stats(path: str) -> NormStats:
    """Saved statistics from a JSON file; any problem with the file is a data error (exit 1)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProcessingError(f"stats {path}: no such file", parameter="stats") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProcessingError(f"stats {path}: cannot read ({exc})", parameter="stats") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProcessingError(f"stats {path}: not valid JSON ({exc})",
                              parameter="stats") from None
    except RecursionError:  # nesting deeper than the JSON decoder's stack
        raise ProcessingError(f"stats {path}: not a statistics file (nested too deeply)",
                              parameter="stats") from None
    try:
        return NormStats.from_dict(data, f"stats {path}")
    except ProcessingError as exc:
        raise ProcessingError(str(exc), parameter="stats") from None


def write_stats(path: str, stats: NormStats) -> None:
    """Write statistics as indented JSON, atomically."""
    data = (json.dumps(stats.to_dict(), indent=2) + "\n").encode("utf-8")
    io.write_bytes_atomically(Path(path), data)


def normalize_one(image: np.ndarray, norm: NormStats, source: str) -> np.ndarray:
    """Normalise one image with ``norm``; its layout and bit depth must be those of ``source``."""
    channels, scale = image_layout(image)
    if channels != norm.channels:
        raise ProcessingError(f"has {_layout(channels)}, but the statistics of {source} "
                              f"cover {_layout(norm.channels)}")
    if scale != norm.scale:
        raise ProcessingError(f"is {_depth_name(scale)}, but the statistics of {source} "
                              f"are for {_depth_name(norm.scale)} images")
    return norm.apply(image)


def to_pixels(values: np.ndarray, image: np.ndarray, mode: str) -> np.ndarray:
    """Normalised values as output pixels of the input's bit depth (alpha mapped back as is)."""
    if mode == "raw":
        return values
    dtype = output_dtype(image.dtype)
    colour, alpha = colour_part(values)
    pixels = to_pixel_type(colour, mode, dtype)
    if values.ndim == 2:
        return pixels[..., 0]
    if alpha is not None:
        # Alpha was passed through in its own units: it maps back unchanged.
        pixels = np.concatenate([pixels, to_pixel_type(alpha, "clip", dtype)[..., None]],
                                axis=2)
    return pixels

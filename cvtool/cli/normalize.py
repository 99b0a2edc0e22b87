"""``cvtool normalize``: batch normalization of a set of images, with training or saved statistics.

Training (the default) takes two passes over the inputs: the first streams every image into
exact per-channel statistics (one image in memory at a time, ``-j`` at once), the second
normalises and writes each one. ``--stats`` skips the first pass and applies saved statistics.
An input that fails in the first pass is left out of the statistics and reported, in input
order, with the second pass's failures, so the batch still ends with one summary line.

Choices where CLI.md is silent:

- ``--out-range auto`` is ``raw`` for npy/tif; for any other format it is a usage error that
  says to pass ``clip`` (with a ``--gamma``/``--beta`` that lands in the pixel range) or
  ``rescale``, because clipping values centred on 0 would silently write a dark image.
- Alpha is left out of the statistics and passed through unchanged; ``channel_order`` is
  ``"RGB"``, or ``"L"`` for gray batches. RGB and RGBA images mix in one batch; gray and
  colour do not, nor 8-bit and 16-bit (the 0..1 scale would be ambiguous): such an input
  fails with its file name and the rest of the batch still runs.
- The stats file also records ``scale`` (255, 65535, or 1 for float images, which are taken
  to be on 0..1 already) and ``images``; ``--stats`` refuses images of another bit depth or
  channel layout. ``--stats`` carries γ, β and ε, so ``--gamma``/``--beta``/``--eps``/
  ``--save-stats`` with it are usage errors rather than silent overrides.
- ``-`` (stdin) works: its image is kept from the first pass, as stdin cannot be read twice.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from cvtool import io
from cvtool.cli.common import (
    Inputs,
    Jobs,
    Json,
    Outcome,
    Quiet,
    expand_inputs,
    parse_number_list,
    plan_outputs,
    reporting_errors,
    run_batch,
    same_file,
)
from cvtool.errors import CvToolError, ProcessingError, UsageError
from cvtool.measures.batch_stats import (
    NormStats,
    RunningStats,
    channel_order,
    check_eps,
    colour_part,
    per_channel,
    pixel_scale,
)


def _depth_name(scale: float) -> str:
    return {255.0: "8-bit (0..255)", 65535.0: "16-bit (0..65535)",
            1.0: "floating-point (0..1)"}.get(scale, f"0..{scale:g}")


def _layout(channels: int) -> str:
    return f"{channels} channel{'s' if channels != 1 else ''} ({channel_order(channels)})"


def _check_format(fmt: str) -> str:
    suffix = "." + fmt.strip().lower().lstrip(".")
    try:
        io.check_output_path("x" + suffix, option="--format")
    except UsageError:
        raise UsageError(f"--format {fmt}: cvtool cannot write such files "
                         "(use npy, tif, png, ...)") from None
    return suffix


def _check_out_range(mode: str, suffix: str) -> str:
    mode = mode.lower()
    if mode not in io.OUT_RANGES:
        raise UsageError(f"--out-range must be one of {', '.join(io.OUT_RANGES)}, got {mode!r}")
    floats = suffix in io.FLOAT_SUFFIXES
    if mode == "raw" and not floats:
        raise UsageError(f"--out-range raw keeps floating point, which --format "
                         f"{suffix[1:]} cannot hold (use npy or tif)")
    if mode == "auto":
        if floats:
            return "raw"
        # Normalised values sit around 0, half of them negative: clipping them silently to
        # 0..255 would write a mostly black image, so the user picks the mapping.
        raise UsageError(
            f"--format {suffix[1:]} holds pixels, not normalised values: pass --out-range clip "
            f"(with, say, --gamma 40 --beta 128) or --out-range rescale")
    return mode


def _load_stats(path: str) -> NormStats:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProcessingError(f"--stats {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProcessingError(f"--stats {path}: cannot read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProcessingError(f"--stats {path}: not valid JSON ({exc})") from None
    except RecursionError:  # nesting deeper than the JSON decoder's stack
        raise ProcessingError(f"--stats {path}: not a statistics file (nested too deeply)"
                              ) from None
    return NormStats.from_dict(data, f"--stats {path}")


def _image_layout(image: np.ndarray) -> tuple[int, float]:
    colour, _ = colour_part(image)
    return colour.shape[2], pixel_scale(image.dtype)


def _gather_stats(paths: list[str], jobs: int) -> tuple[RunningStats, float, dict[int, Exception],
                                                        dict[int, np.ndarray]]:
    """First pass: per-image statistics (in parallel), merged in input order.

    Returns the merged statistics, the batch's pixel scale, the inputs that failed (their
    errors, to report in order later), and stdin's image (which cannot be read twice).
    """
    def one(index: int) -> tuple[RunningStats, int, float, np.ndarray | None]:
        image = io.read_image(paths[index])
        channels, scale = _image_layout(image)
        stats = RunningStats().update(colour_part(image)[0])
        keep = image if paths[index] == io.STDIO else None
        return stats, channels, scale, keep

    merged = RunningStats()
    failures: dict[int, Exception] = {}
    kept: dict[int, np.ndarray] = {}
    first: tuple[str, int, float] | None = None
    executor = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="cvtool-stats")
    futures: list[Future] = [executor.submit(one, i) for i in range(len(paths))]
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
    return merged, (first[2] if first else 1.0), failures, kept


def _to_pixels(values: np.ndarray, image: np.ndarray, mode: str) -> np.ndarray:
    if mode == "raw":
        return values
    dtype = io.output_dtype(image.dtype)
    colour, alpha = colour_part(values)
    pixels = io.to_pixel_type(colour, mode, dtype)
    if values.ndim == 2:
        return pixels[..., 0]
    if alpha is not None:
        # Alpha was passed through in its own units: it maps back unchanged.
        pixels = np.concatenate([pixels, io.to_pixel_type(alpha, "clip", dtype)[..., None]],
                                axis=2)
    return pixels


def _write_stats(path: str, stats: NormStats) -> None:
    data = (json.dumps(stats.to_dict(), indent=2) + "\n").encode("utf-8")
    io.write_bytes_atomically(Path(path), data)


def normalize(
    inputs: Inputs,
    output: Annotated[str, typer.Option(
        "-o", "--output", metavar="OUTDIR",
        help="Directory for the outputs (created), each named after its input.")],
    save_stats: Annotated[str | None, typer.Option(
        "--save-stats", metavar="STATS.json",
        help="Write the batch's statistics (and gamma, beta, eps) as JSON.")] = None,
    stats_path: Annotated[str | None, typer.Option(
        "--stats", metavar="STATS.json",
        help="Evaluation: apply these saved statistics instead of the batch's own.")] = None,
    gamma: Annotated[str | None, typer.Option(
        "--gamma", metavar="G", help="Scale after normalising: one value or one per channel "
        "(default 1).")] = None,
    beta: Annotated[str | None, typer.Option(
        "--beta", metavar="B", help="Shift after normalising: one value or one per channel "
        "(default 0).")] = None,
    eps: Annotated[float | None, typer.Option(
        "--eps", metavar="E", help="Added to the variance (default 1e-5).",
        show_default=False)] = None,
    out_range: Annotated[str, typer.Option(
        "--out-range", metavar="auto|clip|abs|rescale|raw",
        help="How values map to pixels; auto is raw for npy/tif, other formats need clip or "
             "rescale.")] = "auto",
    fmt: Annotated[str, typer.Option(
        "--format", metavar="npy|tif|png|...", help="Output file type.")] = "npy",
    jobs: Jobs = 1, quiet: Quiet = False, json_mode: Json = False,
) -> None:
    """Batch-normalize images: y = gamma * (x - mean) / sqrt(var + eps) + beta per channel.

    The mean and population variance of each channel (R, G, B, or L for gray; alpha is left
    out and passed through) are taken over every pixel of every image given, streamed one
    image at a time and exact. --save-stats writes them, with mean01/std01 on the 0..1
    scale for a deep-learning Normalize transform; --stats applies saved ones, so a test
    image is normalised exactly as the training set was.

    \b
    Examples:
        cvtool normalize train/ -o train_norm/ --save-stats stats.json
        cvtool normalize test/*.png -o test_norm/ --stats stats.json
        cvtool normalize shots/ -o preview/ --format png --gamma 40 --beta 128 --out-range clip
    """
    with reporting_errors():
        suffix = _check_format(fmt)
        mode = _check_out_range(out_range, suffix)
        if stats_path is not None:
            for flag, value in (("--save-stats", save_stats), ("--gamma", gamma),
                                ("--beta", beta), ("--eps", eps)):
                if value is not None:
                    raise UsageError(f"{flag} cannot be combined with --stats: the saved file "
                                     "carries the statistics, gamma, beta and eps")
        gammas = parse_number_list(gamma, "--gamma") if gamma is not None else [1.0]
        betas = parse_number_list(beta, "--beta") if beta is not None else [0.0]
        for flag, values in (("--gamma", gammas), ("--beta", betas)):
            if len(values) not in (1, 3):
                raise UsageError(f"{flag} takes one value, or three (R, G, B); "
                                 f"got {len(values)}")
        epsilon = check_eps(1e-5 if eps is None else eps)
        paths = expand_inputs(inputs)
        targets = plan_outputs(paths, output, suffix=suffix, force_dir=True)
        if save_stats is not None:
            _refuse_overwriting(save_stats, paths + targets)

        failures: dict[int, Exception] = {}
        kept: dict[int, np.ndarray] = {}
        if stats_path is not None:
            norm = _load_stats(stats_path)
            source = f"{stats_path}"
        else:
            merged, scale, failures, kept = _gather_stats(paths, jobs)
            norm = None
            if merged.count:
                channels = merged.channels
                norm = NormStats(mean=merged.mean, var=merged.var, count=merged.count,
                                 scale=scale, eps=epsilon,
                                 gamma=_fit_channels(gammas, channels, "--gamma"),
                                 beta=_fit_channels(betas, channels, "--beta"),
                                 images=len(paths) - len(failures))
                if save_stats is not None:
                    _write_stats(save_stats, norm)
            source = "the batch"
        code = _write_batch(paths, targets, norm, source, mode, failures, kept,
                            training=stats_path is None, jobs=jobs, quiet=quiet,
                            json_mode=json_mode)
    raise typer.Exit(code)


def _fit_channels(values: list[float], channels: int, flag: str) -> np.ndarray:
    """Per-channel values for the images' channels; a mismatch is known only from the data,
    so it is a data error (exit 1), as CLI.md sorts failures."""
    try:
        return per_channel(values, channels, flag)
    except UsageError as exc:
        raise ProcessingError(str(exc)) from None


def _refuse_overwriting(stats_file: str, paths: list[str]) -> None:
    for item in paths:
        if same_file(item, stats_file):
            raise UsageError(f"--save-stats {stats_file} is also an input or output; "
                             "refusing to overwrite it")


def _write_batch(paths: list[str], targets: list[str], norm: NormStats | None, source: str,
                 mode: str, failures: dict[int, Exception], kept: dict[int, np.ndarray], *,
                 training: bool, jobs: int, quiet: bool, json_mode: bool) -> int:
    def work(index: int, path: str) -> Outcome:
        if index in failures:
            raise failures[index]
        assert norm is not None  # some input succeeded, or it would be in failures
        image = kept.pop(index) if index in kept else io.read_image(path)
        channels, scale = _image_layout(image)
        if channels != norm.channels:
            raise ProcessingError(f"has {_layout(channels)}, but the statistics of {source} "
                                  f"cover {_layout(norm.channels)}")
        if scale != norm.scale:
            raise ProcessingError(f"is {_depth_name(scale)}, but the statistics of {source} "
                                  f"are for {_depth_name(norm.scale)} images")
        values = norm.apply(image)
        pixels = _to_pixels(values, image, mode)
        io.write_image(targets[index], pixels)
        if not json_mode:
            return Outcome()
        colour = colour_part(values)[0].reshape(-1, channels).astype(np.float64)
        record = {"input": path, "output": targets[index],
                  "statistics": "training" if training else "saved",
                  "channel_order": channel_order(channels), "height": int(image.shape[0]),
                  "width": int(image.shape[1]), "dtype": str(pixels.dtype), "out_range": mode,
                  "mean": colour.mean(axis=0).tolist(), "std": colour.std(axis=0).tolist()}
        return Outcome(json.dumps(record))

    return run_batch(paths, work, jobs=jobs, quiet=quiet, json_mode=json_mode)

"""``cvtool normalize``: batch normalization of a set of images, with training or saved statistics.

Training (the default) takes two passes over the inputs: the first streams every image into
exact per-channel statistics (one image in memory at a time, ``-j`` at once), the second
normalises and writes each one. ``--stats`` skips the first pass and applies saved statistics.
An input that fails in the first pass is left out of the statistics and reported, in input
order, with the second pass's failures, so the batch still ends with one summary line.

Choices made here (documented in docs/cli.md):

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
from typing import Annotated

import typer

from cvtool.cli.options import (
    Beta,
    Eps,
    Gamma,
    Inputs,
    Jobs,
    Json,
    Quiet,
    SaveStats,
    Stats,
    format_option,
    out_range_option,
    output_option,
)
from cvtool.cli.reporting import reporting_errors
from cvtool.errors import ExitStatus, UsageError

__all__ = ["normalize"]

OutDir = Annotated[str, output_option(
    "OUTDIR", "Directory for the outputs (created), each named after its input.")]
NormOutRange = Annotated[str, out_range_option(
    "How values map to pixels; auto is raw for npy/tif, other formats need clip or rescale.")]
NormFormat = Annotated[str, format_option("npy|tif|png|...", "Output file type.")]


def normalize(
    inputs: Inputs, output: OutDir, save_stats: SaveStats = None, stats_path: Stats = None,
    gamma: Gamma = None, beta: Beta = None, eps: Eps = None,
    out_range: NormOutRange = "auto", fmt: NormFormat = "npy",
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
        from cvtool.cli.grammar import parse_number_list, suggesting
        from cvtool.cli.paths import expand_inputs, plan_outputs
        from cvtool.imaging.pixels import OUT_RANGES
        from cvtool.measures.batch_stats import check_eps
        from cvtool.pipelines import normalize_set as pipeline

        suffix = pipeline.output_suffix(fmt)
        with suggesting(out_range, OUT_RANGES):
            mode = pipeline.resolve_out_range(out_range, suffix)
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

        if stats_path is not None:
            first = None
            norm = pipeline.load_stats(stats_path)
            source = f"{stats_path}"
        else:
            first = pipeline.gather_stats(paths, jobs)
            norm = pipeline.training_stats(first, gamma=gammas, beta=betas, eps=epsilon,
                                           images=len(paths) - len(first.failures))
            if norm is not None and save_stats is not None:
                pipeline.write_stats(save_stats, norm)
            source = "the batch"
        code = _write_batch(paths, targets, norm, source, mode, first, jobs=jobs, quiet=quiet,
                            json_mode=json_mode)
    raise typer.Exit(int(code))


def _refuse_overwriting(stats_file: str, paths: list[str]) -> None:
    from cvtool.cli.paths import same_file

    for item in paths:
        if same_file(item, stats_file):
            raise UsageError(f"--save-stats {stats_file} is also an input or output; "
                             "refusing to overwrite it")


def _write_batch(paths: list[str], targets: list[str], norm, source: str, mode: str, first, *,
                 jobs: int, quiet: bool, json_mode: bool) -> ExitStatus:
    import numpy as np

    from cvtool import io
    from cvtool.cli.batch import run_batch
    from cvtool.measures.batch_stats import channel_order, colour_part
    from cvtool.pipelines.batch import Outcome
    from cvtool.pipelines.normalize_set import normalize_one, to_pixels

    failures = first.failures if first is not None else {}
    kept = first.kept if first is not None else {}

    def work(index: int, path: str) -> Outcome:
        if index in failures:
            raise failures[index]
        assert norm is not None  # some input succeeded, or it would be in failures
        image = kept.pop(index) if index in kept else io.read_image(path)
        values = normalize_one(image, norm, source)
        pixels = to_pixels(values, image, mode)
        io.write_image(targets[index], pixels)
        if not json_mode:
            return Outcome()
        channels = norm.channels
        colour = colour_part(values)[0].reshape(-1, channels).astype(np.float64)
        record = {"input": path, "output": targets[index],
                  "statistics": "training" if first is not None else "saved",
                  "channel_order": channel_order(channels), "height": int(image.shape[0]),
                  "width": int(image.shape[1]), "dtype": str(pixels.dtype), "out_range": mode,
                  "mean": colour.mean(axis=0).tolist(), "std": colour.std(axis=0).tolist()}
        return Outcome(json.dumps(record))

    return run_batch(paths, work, jobs=jobs, quiet=quiet, json_mode=json_mode)

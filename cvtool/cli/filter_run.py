"""The shared body of ``correlate``, ``convolve`` and ``filter``: options to settings, then a batch.

The options arrive as text and become values through :mod:`cvtool.cli.grammar`; the core checks
them once, on a tiny image, before any input is read
(:func:`cvtool.pipelines.filter_image.check_settings`); each input then goes through
:mod:`cvtool.pipelines.filter_image` and is written to its planned output.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from cvtool.cli.batch import run_batch
from cvtool.cli.grammar import parse_number_list, parse_stride, suggesting
from cvtool.cli.paths import STDIO, expand_inputs, is_batch, plan_outputs
from cvtool.errors import ExitStatus, UsageError

if TYPE_CHECKING:
    import numpy as np

    from cvtool.pipelines.filter_image import FilterSettings

__all__ = ["make_settings", "run_filter_batch", "output_suffix"]


def output_suffix(fmt: str | None) -> str | None:
    """``--format EXT`` as a suffix (``jpg`` -> ``.jpg``); None when not given.

    Examples
    --------
    >>> output_suffix("JPG"), output_suffix(None)
    ('.jpg', None)
    """
    if fmt is None:
        return None
    return "." + fmt.strip().lower().lstrip(".")


def make_settings(operation: str, kernel: np.ndarray, *, padding: str, pad_value: str,
                  stride: str, shape: str, out_range: str, gray: bool,
                  output: str) -> FilterSettings:
    """The options as :class:`FilterSettings`, checked by the core before any input is read."""
    from cvtool.filtering import SHAPES
    from cvtool.imaging.padding import PADDING_ALIASES, PADDING_MODES
    from cvtool.imaging.pixels import OUT_RANGES, check_out_range
    from cvtool.pipelines.filter_image import FilterSettings, check_settings

    settings = FilterSettings(
        operation=operation, kernel=kernel, padding=padding,
        pad_value=tuple(parse_number_list(pad_value, "--pad-value")),
        stride=parse_stride(stride), shape=shape.strip().lower(), out_range=out_range,
        gray=gray)
    with suggesting(padding, (*PADDING_MODES, *PADDING_ALIASES)):
        with suggesting(shape, SHAPES):
            settings = check_settings(settings)
    # The mode's name now; whether the output format can hold it once the outputs are planned.
    with suggesting(out_range, OUT_RANGES):
        mode = check_out_range(out_range)
    return FilterSettings(settings.operation, settings.kernel, settings.padding,
                          settings.pad_value, settings.stride, settings.shape, mode,
                          settings.gray)


def run_filter_batch(inputs: list[str], output: str, settings: FilterSettings, *, jobs: int,
                     quiet: bool, json_mode: bool, fmt: str | None = None,
                     chunked: bool = False, chunk: int = 4096,
                     scheduler: str | None = None) -> ExitStatus:
    """Filter every input into its planned output; returns the exit status.

    ``chunked`` (tile by tile) and ``scheduler`` (a Dask cluster) go through
    :mod:`cvtool.cli.filter_scaleout`.
    """
    from cvtool import io
    from cvtool.imaging.pixels import check_out_range
    from cvtool.pipelines.batch import engine_workers
    from cvtool.pipelines.filter_image import filter_to_pixels

    paths = expand_inputs(inputs)
    batch = is_batch(inputs)
    suffix = output_suffix(fmt)
    if suffix is not None and (output == STDIO or not (batch or len(paths) > 1
                                                       or os.path.isdir(output))):
        raise UsageError("--format renames the outputs of a batch (-o DIR); for one output "
                         "file, give the suffix in its name")
    if chunked or scheduler:
        from cvtool.cli.filter_scaleout import run_scaleout_batch

        return run_scaleout_batch(inputs, output, settings, suffix=suffix, jobs=jobs,
                                  quiet=quiet, json_mode=json_mode, chunked=chunked,
                                  chunk=chunk, scheduler=scheduler)
    targets = plan_outputs(paths, output, batch=batch, suffix=suffix,
                           check=lambda target: check_out_range(
                               settings.out_range, keeps_floats=io.keeps_floats(target),
                               output=io.display_name(target)))
    workers = engine_workers(jobs)

    def work(index: int, path: str):
        from cvtool.pipelines.batch import Outcome

        # In bands of rows mapped straight to pixels: no whole-image float result is kept. The
        # input is ours: the output may be written over it (else it is freed once filtered),
        # and the encoder reorders the output's channels in place (only shape and dtype are
        # read after): the process's peak memory.
        pixels, mode = filter_to_pixels(io.read_image(path), settings, targets[index],
                                        workers=workers, overwrite_input=True)
        io.write_image(targets[index], pixels, overwrite_input=True)
        if not json_mode:
            return Outcome()
        record = {"input": path, "output": targets[index], "operation": settings.operation,
                  "height": int(pixels.shape[0]), "width": int(pixels.shape[1]),
                  "channels": 1 if pixels.ndim == 2 else int(pixels.shape[2]),
                  "dtype": str(pixels.dtype), "out_range": mode}
        return Outcome(json.dumps(record))

    return run_batch(paths, work, jobs=jobs, quiet=quiet, json_mode=json_mode,
                     image_to_stdout=output == STDIO)

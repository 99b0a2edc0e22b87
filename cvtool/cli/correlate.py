"""``cvtool correlate`` and ``cvtool convolve``, and the kernel pipeline ``filter`` shares."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import typer

from cvtool import io
from cvtool.cli.common import (
    Gray,
    Inputs,
    Jobs,
    Json,
    Outcome,
    Output,
    Quiet,
    engine_workers,
    expand_inputs,
    is_batch,
    parse_choice,
    parse_number_list,
    parse_stride,
    plan_outputs,
    reporting_errors,
    run_batch,
)
from cvtool.errors import ProcessingError, UsageError
from cvtool.filtering import SHAPES, anchor
from cvtool.filtering import convolve as convolve_array
from cvtool.filtering import correlate as correlate_array
from cvtool.filtering.kernels import is_zero_sum, normalize_kernel, parse_kernel
from cvtool.imaging.color import full_scale, split_alpha, to_gray
from cvtool.imaging.padding import canonical_padding, pad

OPERATIONS = {"correlate": correlate_array, "convolve": convolve_array}

Padding = Annotated[str, typer.Option(
    "-p", "--padding", metavar="MODE",
    help="zero, constant, clamp, mirror, symmetric, wrap, extend or normalized "
         "(aliases: replicate/edge/nearest, reflect101, circular, odd).")]
PadValue = Annotated[str, typer.Option(
    "--pad-value", metavar="V|V1,V2,V3[,V4]",
    help="Border colour for --padding constant, in the input's own units.")]
Stride = Annotated[str, typer.Option(
    "-s", "--stride", metavar="S|SY,SX", help="Keep every S-th output sample (each >= 1).")]
Shape = Annotated[str, typer.Option("--shape", metavar="same|valid|full",
                                    help="Output size before the stride.")]
OutRange = Annotated[str, typer.Option(
    "--out-range", metavar="auto|clip|abs|rescale|raw",
    help="How results map back to the output's pixel type.")]
KernelSpec = Annotated[str, typer.Option(
    "-k", "--kernel", metavar="KERNEL",
    help='Inline rows "1 2 1; 2 4 2; 1 2 1" (fractions allowed), or a .txt/.csv/.npy file.')]
NormalizeKernel = Annotated[bool, typer.Option(
    "--normalize-kernel", help="Divide the kernel by its sum.")]


@dataclass(frozen=True)
class FilterSettings:
    """The options of correlate/convolve/filter, parsed and checked before any file is read."""

    operation: str
    kernel: np.ndarray
    padding: str
    pad_value: tuple[float, ...]
    stride: tuple[int, int]
    shape: str
    out_range: str
    gray: bool


def parse_settings(operation: str, kernel: np.ndarray, *, padding: str, pad_value: str,
                   stride: str, shape: str, out_range: str, gray: bool,
                   output: str) -> FilterSettings:
    """Validate every shared option (usage errors, exit 2) before any input is touched."""
    mode = canonical_padding(padding)
    if mode == "normalized" and (kernel.min() < 0 or kernel.sum() <= 0):
        raise UsageError("--padding normalized needs a kernel with no negative weight and a "
                         "positive sum")
    values = tuple(parse_number_list(pad_value, "--pad-value"))
    if len(values) not in (1, 3, 4):
        raise UsageError(f"--pad-value takes 1, 3 or 4 values, got {len(values)}")
    return FilterSettings(
        operation=operation, kernel=kernel, padding=mode, pad_value=values,
        stride=parse_stride(stride), shape=parse_choice(shape, SHAPES, "--shape"),
        out_range=io.check_out_range(out_range, output), gray=gray)


def _pad_values_for(colour: np.ndarray, alpha: np.ndarray | None,
                    values: tuple[float, ...]) -> tuple[float | list[float], float]:
    """Split ``--pad-value`` into the colour channels' values and the alpha plane's.

    One value is a gray level for every colour channel; otherwise one per colour channel,
    plus optionally one for alpha (whose border is otherwise opaque).
    """
    colour_channels = 1 if colour.ndim == 2 else colour.shape[2]
    opaque = full_scale(alpha.dtype) if alpha is not None else 0.0
    if len(values) == 1:
        return values[0], opaque
    if alpha is not None and len(values) == colour_channels + 1:
        return list(values[:-1]), values[-1]
    if len(values) != colour_channels:
        channels = colour_channels + (alpha is not None)
        raise ProcessingError(
            f"--pad-value has {len(values)} values but the image has {channels} channel(s)")
    return list(values), opaque


def _alpha_through(alpha: np.ndarray, settings: FilterSettings, value: float) -> np.ndarray:
    """The alpha plane carried onto the output grid unchanged: for ``same`` alpha itself, for
    ``valid``/``full`` the alpha under the kernel's anchor (the border made up by --padding),
    then the stride."""
    rows, cols = settings.kernel.shape
    top, left = anchor((rows, cols), convolve=settings.operation == "convolve")
    if settings.shape == "valid":
        plane = alpha[top:top + alpha.shape[0] - rows + 1, left:left + alpha.shape[1] - cols + 1]
    elif settings.shape == "full":
        mode = "zero" if settings.padding == "normalized" else settings.padding
        # In floating point, as the colour is: an out-of-range border value or an `extend`
        # reflection must saturate when mapped back, not wrap around in the pixel type.
        plane = pad(alpha.astype(np.float64), ((rows - 1 - top, top), (cols - 1 - left, left)),
                    mode, value)
    else:
        plane = alpha
    step_y, step_x = settings.stride
    return plane[::step_y, ::step_x]


def filter_image(image: np.ndarray, settings: FilterSettings, *,
                 workers: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply the settings' kernel to one image: gray first if asked, alpha passed through.

    Returns the filtered colour (or gray) values, floating point (float32, or float64 for
    float64 input), and the alpha plane on the same output grid (None without alpha).
    """
    colour, alpha = split_alpha(image)
    if settings.gray:
        colour = to_gray(colour)
    colour_pad, alpha_pad = _pad_values_for(colour, alpha, settings.pad_value)
    operation = OPERATIONS[settings.operation]
    result = operation(colour, settings.kernel, padding=settings.padding, pad_value=colour_pad,
                       stride=settings.stride, shape=settings.shape, workers=workers)
    if alpha is None:
        return result, None
    return result, _alpha_through(alpha, settings, alpha_pad)


def to_output_pixels(values: np.ndarray, alpha: np.ndarray | None, input_dtype: np.dtype,
                     settings: FilterSettings, output: str) -> tuple[np.ndarray, str]:
    """Map filtered values to the output's pixel type, alpha appended last.

    Returns the pixels and the ``--out-range`` mode that ``auto`` resolved to.
    """
    mode = io.resolve_out_range(settings.out_range, input_dtype, output,
                                is_zero_sum(settings.kernel))
    if mode == "raw":
        colour = values
    else:
        colour = io.to_pixel_type(values, mode, io.output_dtype(input_dtype))
    if alpha is None:
        return colour, mode
    if alpha.dtype != colour.dtype:
        alpha = (alpha.astype(colour.dtype) if mode == "raw"
                 else io.to_pixel_type(alpha, "clip", colour.dtype))
    channels = 1 if colour.ndim == 2 else colour.shape[2]
    pixels = np.empty(colour.shape[:2] + (channels + 1,), colour.dtype)
    pixels[..., :channels] = colour.reshape(colour.shape[:2] + (channels,))
    pixels[..., channels] = alpha
    return pixels, mode


def run_filter_batch(inputs: list[str], output: str, settings: FilterSettings, *, jobs: int,
                     quiet: bool, json_mode: bool) -> int:
    """Filter every input into its planned output; returns the exit code."""
    paths = expand_inputs(inputs)
    targets = plan_outputs(paths, output, batch=is_batch(inputs))
    workers = engine_workers(jobs)

    def work(index: int, path: str) -> Outcome:
        image = io.read_image(path)
        values, alpha = filter_image(image, settings, workers=workers)
        pixels, mode = to_output_pixels(values, alpha, image.dtype, settings, targets[index])
        io.write_image(targets[index], pixels)
        if not json_mode:
            return Outcome()
        record = {"input": path, "output": targets[index], "operation": settings.operation,
                  "height": int(pixels.shape[0]), "width": int(pixels.shape[1]),
                  "channels": 1 if pixels.ndim == 2 else int(pixels.shape[2]),
                  "dtype": str(pixels.dtype), "out_range": mode}
        return Outcome(json.dumps(record))

    return run_batch(paths, work, jobs=jobs, quiet=quiet, json_mode=json_mode)


def _kernel_command(operation: str, inputs: list[str], kernel: str, output: str, padding: str,
                    pad_value: str, stride: str, shape: str, out_range: str, gray: bool,
                    normalize: bool, jobs: int, quiet: bool, json_mode: bool) -> None:
    with reporting_errors():
        array = parse_kernel(kernel)
        if normalize:
            array = normalize_kernel(array)
        settings = parse_settings(operation, array, padding=padding, pad_value=pad_value,
                                  stride=stride, shape=shape, out_range=out_range, gray=gray,
                                  output=output)
        code = run_filter_batch(inputs, output, settings, jobs=jobs, quiet=quiet,
                                json_mode=json_mode)
    raise typer.Exit(code)


def correlate(
    inputs: Inputs, kernel: KernelSpec, output: Output, padding: Padding = "zero",
    pad_value: PadValue = "0", stride: Stride = "1", shape: Shape = "same",
    out_range: OutRange = "auto", gray: Gray = False, normalize_kernel: NormalizeKernel = False,
    jobs: Jobs = 1, quiet: Quiet = False, json_mode: Json = False,
) -> None:
    """Correlate images with a kernel: g(i,j) = sum over k,l of f(i+k, j+l) * h(k,l).

    \b
    Examples:
        cvtool correlate photo.png -k "1 2 1; 2 4 2; 1 2 1" --normalize-kernel -o out.png
        cvtool correlate shots/ -k "-1 0 1" -p mirror --shape valid -o edges/ -j 2
    """
    _kernel_command("correlate", inputs, kernel, output, padding, pad_value, stride, shape,
                    out_range, gray, normalize_kernel, jobs, quiet, json_mode)


def convolve(
    inputs: Inputs, kernel: KernelSpec, output: Output, padding: Padding = "zero",
    pad_value: PadValue = "0", stride: Stride = "1", shape: Shape = "same",
    out_range: OutRange = "auto", gray: Gray = False, normalize_kernel: NormalizeKernel = False,
    jobs: Jobs = 1, quiet: Quiet = False, json_mode: Json = False,
) -> None:
    """Convolve images with a kernel (correlation with the kernel rotated by 180 degrees).

    \b
    Examples:
        cvtool convolve photo.png -k "0 1 0; 1 -4 1; 0 1 0" -o laplace.png
        cvtool convolve scan.tif -k kernel.npy --shape full --out-range raw -o out.npy
    """
    _kernel_command("convolve", inputs, kernel, output, padding, pad_value, stride, shape,
                    out_range, gray, normalize_kernel, jobs, quiet, json_mode)

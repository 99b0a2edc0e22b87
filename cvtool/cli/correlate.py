"""``cvtool correlate`` and ``cvtool convolve``: filter images with a kernel (text or a file)."""

from __future__ import annotations

import typer

from cvtool.cli.options import (
    DEFAULT_PADDING,
    Chunk,
    Chunked,
    Format,
    Gray,
    Inputs,
    Jobs,
    Json,
    KernelSpec,
    NormalizeKernel,
    Output,
    OutRange,
    Padding,
    PadValue,
    Quiet,
    Scheduler,
    Shape,
    Stride,
)
from cvtool.cli.reporting import in_cli_process, reporting_errors

__all__ = ["correlate", "convolve"]


def _kernel_command(operation: str, inputs: list[str], kernel: str, output: str, padding: str,
                    pad_value: str, stride: str, shape: str, out_range: str, gray: bool,
                    normalize: bool, jobs: int, quiet: bool, json_mode: bool,
                    fmt: str | None, chunked: bool = False, chunk: int = 4096,
                    scheduler: str | None = None) -> None:
    with reporting_errors():
        from cvtool.filtering.blas import start_single_threaded

        # The cvtool process only filters, on one BLAS thread: BLAS loads that way (before
        # NumPy). A program running this command in its own process keeps its BLAS as it is.
        if in_cli_process():
            start_single_threaded()
        from cvtool.cli.filter_run import make_settings, run_filter_batch
        from cvtool.cli.grammar import parse_kernel
        from cvtool.filtering.kernels import normalize_kernel

        array = parse_kernel(kernel)
        if normalize:
            array = normalize_kernel(array)
        settings = make_settings(operation, array, padding=padding, pad_value=pad_value,
                                 stride=stride, shape=shape, out_range=out_range, gray=gray,
                                 output=output)
        code = run_filter_batch(inputs, output, settings, jobs=jobs, quiet=quiet,
                                json_mode=json_mode, fmt=fmt, chunked=chunked, chunk=chunk,
                                scheduler=scheduler)
    raise typer.Exit(int(code))


def correlate(
    inputs: Inputs, kernel: KernelSpec, output: Output, padding: Padding = DEFAULT_PADDING,
    pad_value: PadValue = "0", stride: Stride = "1", shape: Shape = "same",
    out_range: OutRange = "auto", gray: Gray = False, normalize_kernel: NormalizeKernel = False,
    fmt: Format = None, jobs: Jobs = 1, quiet: Quiet = False, json_mode: Json = False,
    chunked: Chunked = False, chunk: Chunk = 4096, scheduler: Scheduler = None,
) -> None:
    """Correlate images with a kernel: g(i,j) = sum over k,l of f(i+k, j+l) * h(k,l).

    \b
    Examples:
        cvtool correlate photo.png -k "1 2 1; 2 4 2; 1 2 1" --normalize-kernel -o out.png
        cvtool correlate shots/ -k "-1 0 1" --shape valid -o edges/ --format npy -j 2
    """
    _kernel_command("correlate", inputs, kernel, output, padding, pad_value, stride, shape,
                    out_range, gray, normalize_kernel, jobs, quiet, json_mode, fmt,
                    chunked, chunk, scheduler)


def convolve(
    inputs: Inputs, kernel: KernelSpec, output: Output, padding: Padding = DEFAULT_PADDING,
    pad_value: PadValue = "0", stride: Stride = "1", shape: Shape = "same",
    out_range: OutRange = "auto", gray: Gray = False, normalize_kernel: NormalizeKernel = False,
    fmt: Format = None, jobs: Jobs = 1, quiet: Quiet = False, json_mode: Json = False,
    chunked: Chunked = False, chunk: Chunk = 4096, scheduler: Scheduler = None,
) -> None:
    """Convolve images with a kernel (correlation with the kernel rotated by 180 degrees).

    \b
    Examples:
        cvtool convolve photo.png -k "0 1 0; 1 -4 1; 0 1 0" -o laplace.png
        cvtool convolve scan.tif -k kernel.npy --shape full -o out.npy
    """
    _kernel_command("convolve", inputs, kernel, output, padding, pad_value, stride, shape,
                    out_range, gray, normalize_kernel, jobs, quiet, json_mode, fmt,
                    chunked, chunk, scheduler)

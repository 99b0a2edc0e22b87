"""``cvtool filter``: correlation with a named kernel, exactly as ``correlate -k <that kernel>``."""

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
    KernelName,
    ListKernels,
    Output,
    OutRange,
    Padding,
    PadValue,
    Quiet,
    Scheduler,
    Shape,
    Sigma,
    Size,
    Stride,
)
from cvtool.cli.reporting import in_cli_process, reporting_errors
from cvtool.errors import UsageError

__all__ = ["filter_images", "print_kernel_table"]

_NOTES = {
    "identity": "copies the image",
    "box": "--size N (default 5): the N×N mean",
    "gaussian": "--size and/or --sigma (default size 5), sums to 1",
    "sharpen": "",
    "laplacian": "alias: edge",
    "lines-h": "horizontal lines",
    "lines-v": "vertical lines",
    "lines-45": "rising diagonal lines",
    "lines-135": "falling diagonal lines",
    "sobel-x": "positive where brightness grows to the right",
    "sobel-y": "positive where brightness grows downwards",
    "emboss": "",
}


def _format_matrix(kernel) -> str:
    cells = [[f"{v:g}" if float(v).is_integer() else f"{v:.4f}".lstrip("0") for v in row]
             for row in kernel]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)


def print_kernel_table() -> None:
    """Print every named kernel's matrix (defaults for box and gaussian) as a table on stdout."""
    from rich.console import Console  # only --list draws a table: keep rich off start-up
    from rich.table import Table

    from cvtool.filtering.kernels import KERNEL_ALIASES, KERNEL_NAMES, named_kernel

    table = Table(title="cvtool filter -n NAME", show_lines=True)
    table.add_column("name", style="bold")
    table.add_column("kernel (correlated, as cv2.filter2D)", no_wrap=True)
    table.add_column("notes")
    aliases = {target: name for name, target in KERNEL_ALIASES.items()}
    for name in KERNEL_NAMES:
        shown = f"{name}\n({aliases[name]})" if name in aliases else name
        table.add_row(shown, _format_matrix(named_kernel(name)), _NOTES.get(name, ""))
    Console(highlight=False).print(table)


def filter_images(
    inputs: Inputs = None, name: KernelName = None, size: Size = None, sigma: Sigma = None,
    output: Output = None, padding: Padding = DEFAULT_PADDING, pad_value: PadValue = "0",
    stride: Stride = "1", shape: Shape = "same", out_range: OutRange = "auto",
    gray: Gray = False, fmt: Format = None, jobs: Jobs = 1, quiet: Quiet = False,
    json_mode: Json = False, list_kernels: ListKernels = False, chunked: Chunked = False,
    chunk: Chunk = 4096, scheduler: Scheduler = None,
) -> None:
    """Filter images with a named kernel (box, gaussian, sharpen, sobel-x, ...).

    \b
    Examples:
        cvtool filter photo.png -n gaussian --sigma 2 -o blurred.png
        cvtool filter photos/ -n sobel-x --gray -o edges/ --format npy -j 2
        cvtool filter --list
    """
    with reporting_errors():
        if list_kernels:
            print_kernel_table()
            raise typer.Exit(0)
        from cvtool.filtering.blas import start_single_threaded

        # The cvtool process only filters, on one BLAS thread: BLAS loads that way (before
        # NumPy). A program running this command in its own process keeps its BLAS as it is.
        if in_cli_process():
            start_single_threaded()
        from cvtool.cli.filter_run import make_settings, run_filter_batch
        from cvtool.cli.grammar import suggesting
        from cvtool.filtering.kernels import KERNEL_ALIASES, KERNEL_NAMES, named_kernel

        if name is None:
            raise UsageError("filter needs -n/--name NAME (see cvtool filter --list)")
        with suggesting(name, (*KERNEL_NAMES, *KERNEL_ALIASES)):
            kernel = named_kernel(name, size=size, sigma=sigma)
        if not inputs:
            raise UsageError("filter needs at least one INPUT")
        if output is None:
            raise UsageError("filter needs -o/--output OUT")
        settings = make_settings("correlate", kernel, padding=padding, pad_value=pad_value,
                                 stride=stride, shape=shape, out_range=out_range, gray=gray,
                                 output=output)
        code = run_filter_batch(inputs, output, settings, jobs=jobs, quiet=quiet,
                                json_mode=json_mode, fmt=fmt, chunked=chunked, chunk=chunk,
                                scheduler=scheduler)
    raise typer.Exit(int(code))

"""Every option and argument of the command line, declared once (Typer ``Annotated`` types).

A command takes its parameters from here: ``def correlate(inputs: Inputs, output: Output, ...)``.
Where one flag means something slightly different per command (``-o`` is a file, a map or a
directory), the flag's spelling is still written once, in a factory that takes the help text.
Values stay text here: :mod:`cvtool.cli.grammar` turns them into numbers and arrays, and the
core checks them. Nothing here imports NumPy: ``--help`` and shell completion read this module.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

__all__ = [
    "Inputs", "Scenes", "Output", "output_option", "Jobs", "Quiet", "Json", "Gray",
    "Padding", "PadValue", "Stride", "Shape", "OutRange", "out_range_option", "Format",
    "format_option", "KernelSpec", "NormalizeKernel", "KernelName", "Size", "Sigma", "ListKernels",
    "Template", "Threshold", "TopK", "Scales", "Heatmap", "Method", "Chunked", "Chunk",
    "Scheduler",
    "Base", "PerChannel", "Window", "Probs", "Target", "Logits", "Label",
    "SaveStats", "Stats", "Gamma", "Beta", "Eps",
    "DEFAULT_PADDING",
]

#: The default border rule of correlate/convolve/filter: OpenCV's BORDER_REFLECT_101.
DEFAULT_PADDING = "mirror"


# Shell completion of values: the names come from the core's own tables, imported only when a
# value is being completed (a <TAB> after -p pays for NumPy, a <TAB> after `cvtool fi` does not).

def _starting(incomplete: str, names: Any) -> list[str]:
    return [name for name in names if name.startswith(incomplete.lower())]


def _complete_padding(incomplete: str) -> list[str]:
    from cvtool.imaging.padding import PADDING_MODES

    return _starting(incomplete, PADDING_MODES)


def _complete_kernel_name(incomplete: str) -> list[str]:
    from cvtool.filtering.kernels import KERNEL_NAMES

    return _starting(incomplete, KERNEL_NAMES)


def _complete_out_range(incomplete: str) -> list[str]:
    from cvtool.imaging.pixels import OUT_RANGES

    return _starting(incomplete, OUT_RANGES)


def _complete_shape(incomplete: str) -> list[str]:
    from cvtool.filtering import SHAPES

    return _starting(incomplete, SHAPES)


def output_option(metavar: str = "OUT", help: str | None = None, **kwargs: Any) -> Any:
    """The ``-o/--output`` option, with the metavar and help of one command."""
    return typer.Option(
        "-o", "--output", metavar=metavar, show_default=False,
        help=help or "Output file for one input, or a directory (created) for several; "
                     "- writes a PNG to stdout (results then go to stderr).", **kwargs)


def out_range_option(help: str) -> Any:
    """The ``--out-range`` option, with the help of one command (its ``auto`` differs)."""
    return typer.Option("--out-range", metavar="auto|clip|abs|rescale|raw", help=help,
                        autocompletion=_complete_out_range)


def format_option(metavar: str, help: str) -> Any:
    """The ``--format`` option, with the help of one command."""
    return typer.Option("--format", metavar=metavar, show_default=False, help=help)


# --- inputs, outputs, batches --------------------------------------------------------------------

Inputs = Annotated[list[str] | None, typer.Argument(
    metavar="INPUT...", show_default=False,
    help="Image files, shell globs or directories (their images directly inside); - is stdin.")]
Scenes = Annotated[list[str], typer.Argument(
    metavar="SCENE...", show_default=False,
    help="Scene images, shell globs or directories (their images directly inside); - is stdin.")]
Output = Annotated[str | None, output_option()]
def _check_jobs(ctx: typer.Context, value: int) -> int:
    """The core's worker rule, applied while parsing so that a bad -j is refused up front."""
    if value == 1 or ctx.resilient_parsing:  # the default, or shell completion: nothing to load
        return value
    from cvtool.cli.errors import cli_message
    from cvtool.errors import UsageError
    from cvtool.threads import resolve_workers

    try:
        return resolve_workers(value)
    except UsageError as exc:
        try:  # Typer >= 0.26 carries its own copy of Click
            from typer._click.exceptions import UsageError as ClickUsageError
        except ImportError:  # pragma: no cover
            from click.exceptions import UsageError as ClickUsageError
        raise ClickUsageError(cli_message(exc), ctx) from None


Jobs = Annotated[int, typer.Option(
    "-j", "--jobs", metavar="N", callback=_check_jobs,
    help="Process this many inputs at once (>= 1).")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="No progress or summary on success.")]
Json = Annotated[bool, typer.Option(
    "--json", help="One JSON object per input on stdout (on stderr with -o -).")]
Gray = Annotated[bool, typer.Option(
    "--gray", help="Convert colour input to one gray channel first (BT.601 luminance).")]

# --- correlate, convolve, filter -----------------------------------------------------------------

Padding = Annotated[str, typer.Option(
    "-p", "--padding", metavar="MODE", autocompletion=_complete_padding,
    help="mirror (default, as OpenCV's BORDER_REFLECT_101), zero, constant, clamp, symmetric, "
         "wrap, extend or normalized (aliases: replicate/edge/nearest, reflect101, circular, "
         "odd).")]
PadValue = Annotated[str, typer.Option(
    "--pad-value", metavar="V|V1,V2,V3[,V4]",
    help="Border colour for --padding constant, in the input's own units.")]
Stride = Annotated[str, typer.Option(
    "-s", "--stride", metavar="S|SY,SX", help="Keep every S-th output sample (each >= 1).")]
Shape = Annotated[str, typer.Option("--shape", metavar="same|valid|full",
                                    autocompletion=_complete_shape,
                                    help="Output size before the stride.")]
OutRange = Annotated[str, out_range_option(
    "How results map to the output's pixel type. auto: raw for .npy (and for a float input "
    "written to .tif), else clip, or abs when the kernel sums to 0.")]
Format = Annotated[str | None, format_option(
    "EXT", "For a batch: write each output with this suffix (png, jpg, tif, npy, ...) instead "
           "of its input's, as mogrify -format.")]
KernelSpec = Annotated[str, typer.Option(
    "-k", "--kernel", metavar="KERNEL", show_default=False,
    help='Inline rows "1 2 1; 2 4 2; 1 2 1" (fractions allowed), or a .txt/.csv (# lines are '
         'comments) or .npy file.')]
NormalizeKernel = Annotated[bool, typer.Option(
    "--normalize-kernel", help="Divide the kernel by its sum.")]
KernelName = Annotated[str | None, typer.Option(
    "-n", "--name", metavar="NAME", show_default=False, autocompletion=_complete_kernel_name,
    help="Kernel name; see --list.")]
Size = Annotated[int | None, typer.Option(
    "--size", show_default=False, help="Size of box/gaussian.")]
Sigma = Annotated[float | None, typer.Option(
    "--sigma", show_default=False, help="Sigma of gaussian.")]
ListKernels = Annotated[bool, typer.Option("--list", help="Print every named kernel and exit.")]

# --- find-waldo ----------------------------------------------------------------------------------

Template = Annotated[str, typer.Option(
    "-t", "--template", metavar="TEMPLATE", show_default=False,
    help="The image to look for (a gray template is compared with each scene's gray).")]
Threshold = Annotated[float | None, typer.Option(
    "--threshold", metavar="T", show_default=False,
    help="Least score that counts as found: -1..1 for zncc (default 0.8), 0..1 for robust "
         "(default 0.78, its own).")]
TopK = Annotated[int, typer.Option(
    "--top-k", metavar="K", help="Report up to K matches, best first, overlapping <= half.")]
Scales = Annotated[str | None, typer.Option(
    "--scales", metavar="MIN:MAX:N|S1,S2,...", show_default=False,
    help="Template resize factors: N factors spaced geometrically, or a list (default: 1 for "
         "zncc, 0.5 to 2 for robust).")]
Method = Annotated[str, typer.Option(
    "--method", metavar="zncc|robust",
    help="zncc: exact copies (ZNCC); robust: another drawing of the character (pose, size, "
         "angle; a partly hidden one is still often missed).")]
Heatmap = Annotated[str | None, typer.Option(
    "--heatmap", metavar="PATH", show_default=False,
    help="Write the scale-1 score map at the scene's width x height: each window's score at "
         "its centre pixel (anchor h//2, w//2), 0 where no window fits; 8-bit: -1..1 -> "
         "0..255 (robust: 0..1 -> 0..255), .npy/.tif: raw scores. A directory for several "
         "scenes.")]

# --- huge images and clusters (the dask extra) ------------------------------------------------

Chunked = Annotated[bool, typer.Option(
    "--chunked", help="Read, process and write the image tile by tile (TIFF, .zarr, .npy; "
                      "needs the dask extra).")]
Chunk = Annotated[int, typer.Option(
    "--chunk", metavar="N", help="With --chunked: the tile side in pixels.")]
Scheduler = Annotated[str | None, typer.Option(
    "--scheduler", metavar="ADDRESS", show_default=False, envvar="DASK_SCHEDULER_ADDRESS",
    help="Run the batch or the chunked work on this Dask distributed scheduler "
         "(default: $DASK_SCHEDULER_ADDRESS, else this machine).")]

# --- entropy -------------------------------------------------------------------------------------

Base = Annotated[str | None, typer.Option(
    "--base", metavar="2|e|10", show_default=False,
    help="Logarithm base: 2 (bits, the default), e (nats) or 10 (hartleys).")]
PerChannel = Annotated[bool, typer.Option(
    "--per-channel", help="Entropy of R, G and B each, instead of the luminance.")]
Window = Annotated[int | None, typer.Option(
    "--window", metavar="N", help="Local entropy map over N×N windows (N odd, >= 3).",
    show_default=False)]
Probs = Annotated[str | None, typer.Option(
    "--probs", metavar="P", show_default=False,
    help='A distribution, e.g. "0.125 0.875" or "0.125,0.875".')]
Target = Annotated[str | None, typer.Option(
    "--target", metavar="T", show_default=False,
    help="The true distribution, for cross-entropy and KL divergence.")]
Logits = Annotated[str | None, typer.Option(
    "--logits", metavar="Z", show_default=False,
    help="Unnormalised scores; their softmax is computed stably.")]
Label = Annotated[int | None, typer.Option(
    "--label", metavar="I", help="The true class of --logits, a 0-based index.",
    show_default=False)]

# --- normalize -----------------------------------------------------------------------------------

SaveStats = Annotated[str | None, typer.Option(
    "--save-stats", metavar="STATS.json", show_default=False,
    help="Write the batch's statistics (and gamma, beta, eps) as JSON.")]
Stats = Annotated[str | None, typer.Option(
    "--stats", metavar="STATS.json", show_default=False,
    help="Evaluation: apply these saved statistics instead of the batch's own.")]
Gamma = Annotated[str | None, typer.Option(
    "--gamma", metavar="G", show_default=False,
    help="Scale after normalising: one value or one per channel (default 1).")]
Beta = Annotated[str | None, typer.Option(
    "--beta", metavar="B", show_default=False,
    help="Shift after normalising: one value or one per channel (default 0).")]
Eps = Annotated[float | None, typer.Option(
    "--eps", metavar="E", help="Added to the variance (default 1e-5).", show_default=False)]

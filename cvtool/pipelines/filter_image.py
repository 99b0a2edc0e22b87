"""One image through correlate/convolve as the command line does it, as plain functions on arrays.

The steps around the core filter: gray conversion first when asked, the border colour split
between the colour channels and the alpha plane, the alpha plane carried onto the output grid
unchanged (same anchor, shape and stride as the colour), and the mapping of float results back
to output pixels (``out_range``). Usable from Python without Typer or files:

>>> import numpy as np
>>> settings = FilterSettings("correlate", np.ones((1, 3)) / 3, padding="zero")
>>> values, alpha = filter_image(np.array([[3.0, 6.0, 9.0]]), settings)
>>> values.tolist(), alpha
([[3.0, 6.0, 5.0]], None)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cvtool import io
from cvtool.errors import ProcessingError, UsageError
from cvtool.filtering import anchor, make_plan
from cvtool.filtering import convolve as convolve_array
from cvtool.filtering import correlate as correlate_array
from cvtool.filtering.kernels import is_zero_sum
from cvtool.filtering.row_bands import correlate_bands
from cvtool.imaging.color import full_scale, split_alpha, to_gray
from cvtool.imaging.padding import canonical_padding, pad
from cvtool.imaging.pixels import output_dtype, resolve_out_range, to_pixel_type

__all__ = ["OPERATIONS", "FilterSettings", "check_settings", "filter_image", "to_output_pixels",
           "split_pad_value", "out_range_for_file", "filter_to_pixels"]

#: The two operations, by name; ``filter -n`` correlates, as ``cv2.filter2D`` does.
OPERATIONS = {"correlate": correlate_array, "convolve": convolve_array}


@dataclass(frozen=True)
class FilterSettings:
    """What to do to each image: the operation, its kernel and the core's keyword arguments.

    ``pad_value`` holds 1 value (every channel), one per colour channel, or one per colour
    channel plus one for alpha. ``out_range`` is an ``out_range`` mode of :mod:`cvtool.io`.
    """

    operation: str
    kernel: np.ndarray
    padding: str = "mirror"
    pad_value: tuple[float, ...] = (0.0,)
    stride: tuple[int, int] | int = 1
    shape: str = "same"
    out_range: str = "auto"
    gray: bool = False


def check_settings(settings: FilterSettings) -> FilterSettings:
    """Let the core check the settings on a tiny image, before any real image is read.

    Every rule (padding names, the kernel ``normalized`` padding accepts, strides, shapes, finite
    border values) is the core's and is checked there, once, by :func:`cvtool.filtering.make_plan`
    (which checks and plans without computing) on a zero image the kernel's size: a bad option
    is a usage error before any input is read. Returns the settings with the padding name
    made canonical.

    Examples
    --------
    >>> check_settings(FilterSettings("correlate", np.ones((3, 3)), stride=0))
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: stride must be >= 1, got 0
    """
    if settings.operation not in OPERATIONS:
        raise UsageError(f"operation must be one of {', '.join(OPERATIONS)}, got "
                         f"{settings.operation!r}", parameter="operation")
    if len(settings.pad_value) not in (1, 3, 4):
        raise UsageError(f"pad_value takes 1, 3 or 4 values, got {len(settings.pad_value)}",
                         parameter="pad_value")
    mode = canonical_padding(settings.padding)
    kernel = np.asarray(settings.kernel)
    channels = min(len(settings.pad_value), 3)
    shape = kernel.shape[:2] if kernel.ndim >= 2 else (1, max(1, kernel.size))
    probe = np.zeros(shape + ((channels,) if channels > 1 else ()), np.float32)
    make_plan(probe, kernel, flip=settings.operation == "convolve", padding=mode,
              pad_value=list(settings.pad_value[:channels]), stride=settings.stride,
              shape=settings.shape, workers=1)
    return FilterSettings(settings.operation, settings.kernel, mode, settings.pad_value,
                          settings.stride, settings.shape, settings.out_range, settings.gray)


def split_pad_value(colour: np.ndarray, alpha: np.ndarray | None,
                    values: tuple[float, ...]) -> tuple[float | list[float], float]:
    """Split the border values into the colour channels' and the alpha plane's.

    One value is a gray level for every colour channel; otherwise one per colour channel, plus
    optionally one for alpha (whose border is otherwise opaque). A count that does not fit the
    image is found in the data, so it is a :class:`ProcessingError`.

    Examples
    --------
    >>> rgb, a = np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8)
    >>> split_pad_value(rgb, a, (1, 2, 3))
    ([1, 2, 3], 255.0)
    >>> split_pad_value(rgb, a, (1, 2, 3, 4))
    ([1, 2, 3], 4)
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
            f"pad_value has {len(values)} values but the image has {channels} channel(s)",
            parameter="pad_value")
    return list(values), opaque


def _alpha_through(alpha: np.ndarray, settings: FilterSettings, value: float) -> np.ndarray:
    """The alpha plane carried onto the output grid unchanged: for ``same`` alpha itself, for
    ``valid``/``full`` the alpha under the kernel's anchor (the border made up by the padding),
    then the stride."""
    rows, cols = np.asarray(settings.kernel).shape
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
    stride = settings.stride
    step_y, step_x = (stride, stride) if isinstance(stride, int) else stride
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
    colour_pad, alpha_pad = split_pad_value(colour, alpha, settings.pad_value)
    operation = OPERATIONS[settings.operation]
    result = operation(colour, settings.kernel, padding=settings.padding, pad_value=colour_pad,
                       stride=settings.stride, shape=settings.shape, workers=workers)
    if alpha is None:
        return result, None
    return result, _alpha_through(alpha, settings, alpha_pad)


def out_range_for_file(out_range: str, input_dtype: np.dtype, output: str,
                       zero_sum: bool) -> str:
    """What ``out_range`` means for results written to the file ``output``.

    The rule is :func:`cvtool.imaging.pixels.resolve_out_range`'s; this says what the file
    keeps: a ``.npy`` keeps numbers (``auto`` is ``raw``, sign and all), a ``.tif`` floats.

    Examples
    --------
    >>> out_range_for_file("auto", np.dtype(np.uint8), "edges.npy", zero_sum=True)
    'raw'
    >>> out_range_for_file("auto", np.dtype(np.uint8), "edges.tif", zero_sum=True)
    'abs'
    """
    # Only the file name's part: what the file keeps. The rule itself is imaging.pixels'.
    return resolve_out_range(out_range, input_dtype, keeps_floats=io.keeps_floats(output),
                             zero_sum=zero_sum, keeps_numbers=io.suffix_of(output) == ".npy")


def to_output_pixels(values: np.ndarray, alpha: np.ndarray | None, input_dtype: np.dtype,
                     settings: FilterSettings, output: str) -> tuple[np.ndarray, str]:
    """Map filtered values to the output's pixel type, alpha appended last.

    Returns the pixels and the ``out_range`` mode that ``auto`` resolved to (see
    :func:`out_range_for_file`).

    Examples
    --------
    >>> settings = FilterSettings("correlate", np.array([[-1.0, 1.0]]))
    >>> pixels, mode = to_output_pixels(np.array([[-2.0, 3.0]]), None, np.dtype(np.uint8),
    ...                                 settings, "out.png")
    >>> pixels.tolist(), mode
    ([[2, 3]], 'abs')
    """
    mode = out_range_for_file(settings.out_range, input_dtype, output,
                              is_zero_sum(settings.kernel))
    if mode == "raw":
        colour = values
    else:
        colour = to_pixel_type(values, mode, output_dtype(input_dtype))
    if alpha is None:
        return colour, mode
    if alpha.dtype != colour.dtype:
        alpha = (alpha.astype(colour.dtype) if mode == "raw"
                 else to_pixel_type(alpha, "clip", colour.dtype))
    channels = 1 if colour.ndim == 2 else colour.shape[2]
    pixels = np.empty(colour.shape[:2] + (channels + 1,), colour.dtype)
    pixels[..., :channels] = colour.reshape(colour.shape[:2] + (channels,))
    pixels[..., channels] = alpha
    return pixels, mode


def filter_to_pixels(image: np.ndarray, settings: FilterSettings, output: str, *,
                     workers: int = 1, rows: int | None = None,
                     overwrite_input: bool = False) -> tuple[np.ndarray, str]:
    """:func:`filter_image` then :func:`to_output_pixels`, without the whole float result.

    The filter runs in bands of output rows (:func:`cvtool.filtering.row_bands.correlate_bands`)
    spread over the ``workers`` threads, and each band is mapped into the output pixel array
    by the thread that computed it, while it is in cache, so besides the input and the output
    only a band of floats per worker is alive. ``rescale`` needs the result's global min and
    max before any pixel can be mapped, and ``raw`` keeps the floats as the output: those two
    keep the whole float result (one pass, as :func:`filter_image`). The pixels are exactly
    :func:`to_output_pixels` of :func:`filter_image`'s result.

    With ``overwrite_input`` the caller gives ``image`` up (as NumPy's ``overwrite_input``):
    when the output has the input's shape and pixel type (``same``, stride 1, no gray
    conversion, an 8/16-bit input) and no padding reads far rows (not ``wrap``), the output
    rows are written over input rows that no later band reads, and the array returned is
    ``image`` itself: no second image is allocated. Otherwise ``image`` is left as it was.

    Examples
    --------
    >>> settings = FilterSettings("correlate", np.array([[-1.0, 1.0]]), padding="zero")
    >>> pixels, mode = filter_to_pixels(np.array([[1, 4, 2]], np.uint8), settings, "o.png")
    >>> pixels.tolist(), mode
    ([[1, 3, 2]], 'abs')
    """
    mode = out_range_for_file(settings.out_range, image.dtype, output,
                              is_zero_sum(settings.kernel))
    if mode in ("raw", "rescale"):
        values, alpha = filter_image(image, settings, workers=workers)
        return to_output_pixels(values, alpha, image.dtype, settings, output)
    colour, alpha = split_alpha(image)
    if settings.gray:
        colour = to_gray(colour)
    colour_pad, alpha_pad = split_pad_value(colour, alpha, settings.pad_value)
    dtype = output_dtype(image.dtype)
    bands = correlate_bands(
        colour, settings.kernel, rows=rows, flip=settings.operation == "convolve",
        padding=settings.padding, pad_value=colour_pad, stride=settings.stride,
        shape=settings.shape, workers=workers)
    out_shape = bands.out_shape
    channels = 1 if len(out_shape) == 2 else out_shape[2]
    shape = out_shape[:2] + ((channels + 1,) if alpha is not None else out_shape[2:])
    in_place = (overwrite_input and _output_fits_input(image, settings, dtype)
                and shape == image.shape)
    pixels = image if in_place else np.empty(shape, dtype)
    with_alpha = alpha is not None

    def write(o0: int, o1: int, band: np.ndarray) -> None:
        _put_band(pixels, o0, o1, band, channels, with_alpha)

    # Each band is mapped to pixels by the worker that computed it, while it is in cache.
    if in_place:
        held = _HeldBands(out_shape[0], max(np.asarray(settings.kernel).shape), write)
        bands.map(lambda o0, o1, values: held.put(o0, o1, to_pixel_type(values, mode, dtype)))
        held.flush()
    else:
        bands.map(lambda o0, o1, values: write(o0, o1, to_pixel_type(values, mode, dtype)))
    if alpha is not None:
        # Written over in place, this is the input's alpha plane assigned to itself.
        plane = _alpha_through(alpha, settings, alpha_pad)
        if plane.dtype != dtype:
            plane = to_pixel_type(plane, "clip", dtype)
        pixels[..., channels] = plane
    return pixels, mode


#: Paddings whose rows near one border are read only by the bands at that border.
_LOCAL_PADDINGS = frozenset({"zero", "constant", "clamp", "mirror", "symmetric", "extend",
                             "normalized"})


def _output_fits_input(image: np.ndarray, settings: FilterSettings, dtype: np.dtype) -> bool:
    """Whether output rows may overwrite input rows (see :func:`filter_to_pixels`)."""
    stride = settings.stride
    unit = stride == 1 if isinstance(stride, int) else tuple(stride) == (1, 1)
    return (unit and settings.shape == "same" and not settings.gray
            and settings.padding in _LOCAL_PADDINGS and image.dtype == dtype
            and image.flags.writeable and image.flags.c_contiguous)


def _put_band(pixels: np.ndarray, o0: int, o1: int, band: np.ndarray, channels: int,
              with_alpha: bool) -> None:
    """Output rows ``o0:o1`` of the colour (before the alpha plane, if any)."""
    if with_alpha:
        pixels[o0:o1, :, :channels] = band.reshape(band.shape[:2] + (channels,))
    else:
        pixels[o0:o1] = band


class _HeldBands:
    """Output bands written over the input rows once no band still to be computed reads them.

    Bands are computed in any order, on several threads. Output row ``i`` of a ``same``,
    stride-1 result with a local padding reads input rows less than ``reach`` (the kernel's
    extent) from ``i`` (``wrap`` reads the far border too, so it is never done in place), so
    a band's pixels are held until every output row within ``reach`` of it has been computed.
    """

    def __init__(self, n_out: int, reach: int,
                 write: Callable[[int, int, np.ndarray], None]) -> None:
        self._reach = reach
        self._done = np.zeros(n_out, bool)
        self._held: list[tuple[int, int, np.ndarray]] = []
        self._lock = threading.Lock()
        self._write = write

    def put(self, o0: int, o1: int, band: np.ndarray) -> None:
        """Take the pixels of output rows ``o0:o1`` (their input rows are all read now), and
        write every held band that no band still to come reads."""
        reach = self._reach
        with self._lock:
            self._done[o0:o1] = True
            self._held.append((o0, o1, band))
            free = [h for h in self._held if self._done[max(0, h[0] - reach):h[1] + reach].all()]
            self._held = [h for h in self._held if not any(h is f for f in free)]
        # Outside the lock: the rows written are read by no band any more.
        for h in free:
            self._write(*h)

    def flush(self) -> None:
        """Write what is still held (nothing, once every band has been put)."""
        for h in self._held:
            self._write(*h)
        self._held = []

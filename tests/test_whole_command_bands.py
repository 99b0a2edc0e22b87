"""The banded path of a whole command (filter in row bands, map each band to pixels) against
the whole-image path it replaces: the results must be bit-identical, not merely close."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cvtool.filtering import convolve, correlate
from cvtool.filtering.core import make_plan
from cvtool.filtering.registry import STRATEGIES
from cvtool.filtering.row_bands import correlate_bands
from cvtool.imaging.pixels import resolve_out_range
from cvtool.pipelines.filter_image import (
    FilterSettings,
    filter_image,
    filter_to_pixels,
    out_range_for_file,
    to_output_pixels,
)

RNG = np.random.default_rng(11)
KERNELS = {
    "3x3 random": RNG.normal(size=(3, 3)),
    "4x2 random": RNG.normal(size=(4, 2)),
    "5x5 binomial": np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256,
    "7x7 box": np.ones((7, 7)) / 49,
}
IMAGES = {
    "uint8 rgb": RNG.integers(0, 256, (45, 37, 3)).astype(np.uint8),
    "uint16 gray": RNG.integers(0, 65536, (45, 37)).astype(np.uint16),
    "float32 rgb": RNG.normal(size=(45, 37, 3)).astype(np.float32),
    "uint32 gray": RNG.integers(0, 2**32, (45, 37), dtype=np.uint64).astype(np.uint32),
}


@pytest.mark.parametrize("strategy", ["auto", *STRATEGIES])
@pytest.mark.parametrize("image_name", list(IMAGES))
def test_bands_equal_whole_result_for_every_strategy(strategy, image_name):
    """Each strategy, run band by band (bands of awkward sizes), gives exactly the whole
    image's floats for every padding, shape, stride and both operations: a band must start
    where the strategy's own tiles start, or BLAS sums in another order."""
    image = IMAGES[image_name]
    for (name, kernel), padding, shape, stride, flip, rows in itertools.product(
            KERNELS.items(), ["zero", "mirror", "extend", "wrap", "constant"],
            ["same", "valid", "full"], [1, (2, 3)], [False, True], [1, 7]):
        plan = make_plan(image, kernel, padding=padding, shape=shape, stride=stride, flip=flip)
        if strategy != "auto" and not STRATEGIES[strategy].applies(plan):
            continue
        whole = (convolve if flip else correlate)(
            image, kernel, padding=padding, pad_value=5, stride=stride, shape=shape,
            strategy=strategy, workers=2)
        bands = [(o0, o1, values.copy()) for o0, o1, values in correlate_bands(
            image, kernel, rows=rows, flip=flip, padding=padding, pad_value=5, stride=stride,
            shape=shape, strategy=strategy, workers=2)]
        assert [b[0] for b in bands] == sorted(b[0] for b in bands)
        got = np.concatenate([b[2] for b in bands])
        assert got.dtype == whole.dtype
        assert np.array_equal(got, whole), (name, padding, shape, stride, flip, rows)


def test_bands_are_real_bands():
    """A large image comes in several bands, each no taller than asked (the point: no
    whole-image float array)."""
    image = np.zeros((100, 10), np.uint8)
    spans = [(o0, o1) for o0, o1, _ in correlate_bands(image, np.ones((3, 3)), rows=16)]
    assert spans[0] == (0, 16) and spans[-1][1] == 100 and len(spans) == 7


PIXEL_IMAGES = {
    "rgb8": RNG.integers(0, 256, (40, 29, 3)).astype(np.uint8),
    "rgba16": RNG.integers(0, 65536, (40, 29, 4)).astype(np.uint16),
    "gray8": RNG.integers(0, 256, (40, 29)).astype(np.uint8),
    "gray+alpha8": RNG.integers(0, 256, (40, 29, 2)).astype(np.uint8),
    "rgb float32": RNG.normal(size=(40, 29, 3)).astype(np.float32),
}


@pytest.mark.parametrize("image_name", list(PIXEL_IMAGES))
@pytest.mark.parametrize("out_range", ["auto", "clip", "abs", "rescale"])
def test_filter_to_pixels_equals_whole_image_path(image_name, out_range):
    """The banded command path writes exactly the pixels of filter_image + to_output_pixels,
    for every out_range mode, alpha, gray, stride, shape and padding (normalized included),
    to a PNG and to a .npy."""
    image = PIXEL_IMAGES[image_name]
    kernels = {"sobel": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1.0]]),
               "random": RNG.normal(size=(3, 4)), "box": np.ones((5, 5)) / 25}
    for (name, kernel), op, padding, shape, stride, gray, output in itertools.product(
            kernels.items(), ["correlate", "convolve"],
            ["mirror", "zero", "extend", "normalized", "constant"], ["same", "valid", "full"],
            [1, (3, 2)], [False, True], ["o.png", "o.npy"]):
        if padding == "normalized" and (kernel < 0).any():
            continue
        settings = FilterSettings(op, kernel, padding=padding, pad_value=(9.0,),
                                  stride=stride, shape=shape, out_range=out_range, gray=gray)
        values, alpha = filter_image(image, settings, workers=2)
        want, want_mode = to_output_pixels(values, alpha, image.dtype, settings, output)
        got, mode = filter_to_pixels(image, settings, output, workers=2, rows=5)
        case = (name, op, padding, shape, stride, gray, output)
        assert mode == want_mode, case
        assert got.dtype == want.dtype and got.shape == want.shape, case
        assert np.array_equal(got, want), case


def test_auto_rule_lives_in_one_place():
    """out_range_for_file is only a file-name adapter over imaging.pixels.resolve_out_range:
    .npy keeps numbers (auto is raw) whatever the input and kernel."""
    assert resolve_out_range("auto", np.dtype(np.uint8), keeps_floats=False, zero_sum=True,
                             keeps_numbers=True) == "raw"
    assert out_range_for_file("auto", np.dtype(np.uint8), "e.npy", zero_sum=True) == "raw"
    assert out_range_for_file("auto", np.dtype(np.uint8), "e.png", zero_sum=True) == "abs"
    assert out_range_for_file("clip", np.dtype(np.uint8), "e.npy", zero_sum=True) == "clip"


@pytest.mark.parametrize("strategy", ["auto", *STRATEGIES])
def test_bands_mapped_on_workers_equal_whole_result(strategy):
    """``map`` hands whole bands to the workers (each band's strategy on one thread) and
    calls back from the thread that computed it: every band comes exactly once, with exactly
    the whole image's floats (the buffer is the worker's own, so it is copied at once)."""
    image = IMAGES["uint8 rgb"]
    for (name, kernel), padding, shape, stride, rows in itertools.product(
            KERNELS.items(), ["zero", "mirror", "wrap"], ["same", "full"], [1, (2, 3)],
            [1, 7]):
        plan = make_plan(image, kernel, padding=padding, shape=shape, stride=stride)
        if strategy != "auto" and not STRATEGIES[strategy].applies(plan):
            continue
        whole = correlate(image, kernel, padding=padding, pad_value=5, stride=stride,
                          shape=shape, strategy=strategy, workers=2)
        bands = correlate_bands(image, kernel, rows=rows, padding=padding, pad_value=5,
                                stride=stride, shape=shape, strategy=strategy, workers=2)
        seen: list = []
        bands.map(lambda o0, o1, values, seen=seen: seen.append((o0, o1, values.copy())))
        seen.sort(key=lambda band: band[0])
        assert [band[:2] for band in seen] == bands.spans
        got = np.concatenate([band[2] for band in seen])
        assert np.array_equal(got, whole), (name, padding, shape, stride, rows)


def test_a_failing_band_stops_the_map_and_is_raised():
    """An exception in the consumer, in whichever worker, reaches the caller, and the other
    workers take no new band after it."""
    calls = []

    def consume(o0, o1, values):
        calls.append(o0)
        if o0 == 8:
            raise ValueError("band 8")

    bands = correlate_bands(np.zeros((200, 5), np.uint8), np.ones((3, 3)), rows=4,
                            strategy="direct", workers=2)
    assert len(bands.spans) > 20
    with pytest.raises(ValueError, match="band 8"):
        bands.map(consume)
    assert 8 in calls and len(calls) < len(bands.spans)

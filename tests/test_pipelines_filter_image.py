"""cvtool.pipelines.filter_image without Typer or files: arrays in, arrays out, SciPy as oracle."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.ndimage as ndi

from cvtool.errors import ProcessingError, UsageError
from cvtool.filtering.registry import STRATEGIES
from cvtool.pipelines.filter_image import (
    FilterSettings,
    check_settings,
    filter_image,
    out_range_for_file,
    split_pad_value,
    to_output_pixels,
)

KERNEL = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [3.0, 0.0, 1.0]])


def _rgba(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (7, 9, 4), dtype=np.uint8)


def test_pipelines_import_neither_typer_nor_rich():
    """Usable from a notebook or a script: the pipelines pull in no CLI library."""
    code = ("import sys, cvtool.pipelines.filter_image, cvtool.pipelines.normalize_set, "
            "cvtool.pipelines.batch; print(sorted({'typer', 'rich', 'click'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_colour_is_filtered_per_channel_and_alpha_passes_through():
    """same shape: each colour channel equals scipy's correlate; alpha is the input's own."""
    image = _rgba()
    settings = FilterSettings("correlate", KERNEL, padding="mirror")
    values, alpha = filter_image(image, settings)
    for c in range(3):
        expected = ndi.correlate(image[..., c].astype(float), KERNEL, mode="mirror")
        np.testing.assert_allclose(values[..., c], expected, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(alpha, image[..., 3])


def test_alpha_follows_the_valid_grid_under_the_anchor():
    """valid: the alpha under each kernel position's anchor (kh//2, kw//2), then the stride."""
    image = _rgba(1)
    settings = FilterSettings("correlate", np.ones((3, 5)), padding="zero", shape="valid",
                              stride=(2, 1))
    values, alpha = filter_image(image, settings)
    assert values.shape[:2] == alpha.shape == ((7 - 3) // 2 + 1, 9 - 5 + 1)
    np.testing.assert_array_equal(alpha, image[1:1 + 5:2, 2:2 + 5, 3])


def test_gray_first_then_alpha():
    """--gray: one BT.601 luminance channel is filtered; alpha still rides along."""
    image = _rgba(2)
    values, alpha = filter_image(image, FilterSettings("correlate", np.ones((1, 1)), gray=True))
    rgb = image[..., :3].astype(float)
    luminance = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    assert values.ndim == 2
    np.testing.assert_allclose(values, luminance, atol=0.01)
    np.testing.assert_array_equal(alpha, image[..., 3])


@pytest.mark.parametrize("values, expected", [
    ((7,), (7, 255.0)),
    ((1, 2, 3), ([1, 2, 3], 255.0)),
    ((1, 2, 3, 4), ([1, 2, 3], 4)),
])
def test_pad_value_splits_between_colour_and_alpha(values, expected):
    """One value for every colour channel; three per colour (alpha opaque); four with alpha."""
    image = _rgba()
    assert split_pad_value(image[..., :3], image[..., 3], values) == expected


def test_pad_value_that_does_not_fit_the_image_is_a_data_error():
    """Two values for an RGB image is known only once the image is read: exit 1, named."""
    with pytest.raises(ProcessingError, match="pad_value has 2 values") as info:
        split_pad_value(np.zeros((2, 2, 3)), None, (1.0, 2.0))
    assert info.value.parameter == "pad_value"


@pytest.mark.parametrize("settings, parameter", [
    (FilterSettings("correlate", KERNEL, stride=0), "stride"),
    (FilterSettings("correlate", KERNEL, padding="normalized"), None),
    (FilterSettings("correlate", KERNEL, shape="big"), "shape"),
    (FilterSettings("correlate", KERNEL, padding="constant", pad_value=(np.nan,)), "pad_value"),
    (FilterSettings("correlate", KERNEL, pad_value=(1.0, 2.0)), "pad_value"),
])
def test_check_settings_lets_the_core_refuse_before_any_image(settings, parameter):
    """Bad options are the core's usage errors, raised on a probe before real data exists."""
    with pytest.raises(UsageError) as info:
        check_settings(settings)
    if parameter is not None:
        assert info.value.parameter == parameter


def test_check_settings_makes_the_padding_name_canonical():
    """Aliases become the mode's own name, so the alpha pass-through pads the same way."""
    assert check_settings(FilterSettings("convolve", KERNEL, padding="Reflect101")).padding \
        == "mirror"


def test_npy_keeps_raw_values_and_pixel_formats_map():
    """auto: .npy keeps floats, sign and all; a PNG of a zero-sum kernel takes |x|; a TIFF of
    an 8-bit input clips (8-bit pixels, not floats)."""
    assert out_range_for_file("auto", np.dtype(np.uint8), "a.npy", zero_sum=True) == "raw"
    assert out_range_for_file("auto", np.dtype(np.uint8), "a.png", zero_sum=True) == "abs"
    assert out_range_for_file("auto", np.dtype(np.uint8), "a.tif", zero_sum=False) == "clip"
    assert out_range_for_file("auto", np.dtype(np.float32), "a.tif", zero_sum=False) == "raw"
    assert out_range_for_file("rescale", np.dtype(np.uint8), "a.npy", zero_sum=False) == \
        "rescale"


def test_output_pixels_append_alpha_in_the_output_type():
    """8-bit output: colour clipped and rounded, alpha appended last, unchanged."""
    settings = FilterSettings("correlate", np.ones((1, 1)))
    values = np.array([[[-5.0, 100.4, 300.0]]])
    alpha = np.array([[77]], np.uint8)
    pixels, mode = to_output_pixels(values, alpha, np.dtype(np.uint8), settings, "o.png")
    assert mode == "clip" and pixels.dtype == np.uint8
    assert pixels.tolist() == [[[0, 100, 255, 77]]]
    raw, mode = to_output_pixels(values, alpha, np.dtype(np.uint8), settings, "o.npy")
    assert mode == "raw" and raw.dtype.kind == "f" and raw[0, 0].tolist() == [-5, 100.4, 300, 77]


# ------------------------------------------------------------- output written over the input

OVERWRITE_IMAGES = {
    "rgb8": np.random.default_rng(21).integers(0, 256, (37, 23, 3)).astype(np.uint8),
    "rgba16": np.random.default_rng(22).integers(0, 65536, (37, 23, 4)).astype(np.uint16),
    "gray8": np.random.default_rng(23).integers(0, 256, (37, 23)).astype(np.uint8),
    "gray+alpha8": np.random.default_rng(24).integers(0, 256, (37, 23, 2)).astype(np.uint8),
    "rgb float32": np.random.default_rng(25).normal(size=(37, 23, 3)).astype(np.float32),
}


@pytest.mark.parametrize("strategy", ["auto", *STRATEGIES])
@pytest.mark.parametrize("image_name", list(OVERWRITE_IMAGES))
def test_output_written_over_the_input_has_the_same_pixels(monkeypatch, strategy, image_name):
    """``overwrite_input`` gives exactly the pixels of the ordinary path for every strategy
    (forced where it applies), padding (``wrap`` included, which must not be done in place),
    operation, alpha and band height: an input row overwritten while a later band still
    reads it would change some output pixel. (Other shapes and strides are never done in
    place: see the next test.)"""
    import itertools

    from cvtool.filtering import row_bands
    from cvtool.pipelines.filter_image import filter_to_pixels

    real_choose = row_bands.choose

    def forced(plan, name):
        chosen = STRATEGIES.get(strategy)
        return chosen if chosen is not None and chosen.applies(plan) else real_choose(plan, name)

    monkeypatch.setattr(row_bands, "choose", forced)
    image = OVERWRITE_IMAGES[image_name]
    kernels = {"5x5 binomial": np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256,
               "4x3 random": np.random.default_rng(5).normal(size=(4, 3)),
               "7x7 box": np.ones((7, 7)) / 49,
               # taller than a band of any strategy's quantum: its reach spans several bands
               "21x5 random": np.random.default_rng(7).normal(size=(21, 5))}
    for (name, kernel), op, padding, shape, stride, rows in itertools.product(
            kernels.items(), ["correlate", "convolve"],
            ["mirror", "zero", "wrap", "clamp", "extend", "constant"], ["same"], [1],
            [1, 5]):
        settings = FilterSettings(op, kernel, padding=padding, pad_value=(7.0,),
                                  stride=stride, shape=shape)
        want, want_mode = filter_to_pixels(image, settings, "o.png", workers=2, rows=rows)
        work = image.copy()
        got, mode = filter_to_pixels(work, settings, "o.png", workers=2, rows=rows,
                                     overwrite_input=True)
        case = (name, op, padding, shape, stride, rows)
        assert mode == want_mode and got.dtype == want.dtype, case
        assert np.array_equal(got, want), case


def test_output_is_written_over_the_input_only_when_given_up():
    """With ``overwrite_input`` a same-shape 8-bit output is the input array itself (no
    second image); without it, or when the output cannot fit (valid, wrap, gray), the input
    is left as it was."""
    from cvtool.pipelines.filter_image import filter_to_pixels

    image = OVERWRITE_IMAGES["rgba16"]
    settings = FilterSettings("correlate", np.ones((3, 3)) / 9)
    work = image.copy()
    got, _ = filter_to_pixels(work, settings, "o.png", rows=4, overwrite_input=True)
    assert got is work
    for overwrite, changed in [(False, settings), (True, FilterSettings(
            "correlate", np.ones((3, 3)) / 9, shape="valid")), (True, FilterSettings(
            "correlate", np.ones((3, 3)) / 9, padding="wrap")), (True, FilterSettings(
            "correlate", np.ones((3, 3)) / 9, gray=True))]:
        work = image.copy()
        got, _ = filter_to_pixels(work, changed, "o.png", rows=4, overwrite_input=overwrite)
        assert not np.shares_memory(got, work)
        assert np.array_equal(work, image)


@pytest.mark.parametrize("order", ["reversed", "shuffled"])
def test_bands_done_in_any_order_are_written_over_the_input_safely(monkeypatch, order):
    """Written over the input, a band's pixels wait until every band that reads its rows is
    done, whatever order the workers finish bands in: bands delivered last to first, or
    shuffled, give exactly the pixels of the ordinary path."""
    import itertools

    from cvtool.filtering import row_bands
    from cvtool.pipelines.filter_image import filter_to_pixels

    def map_in_order(self, consume):
        spans = list(self.spans)
        if order == "reversed":
            spans.reverse()
        else:
            np.random.default_rng(len(spans)).shuffle(spans)
        out = np.empty((max(o1 - o0 for o0, o1 in spans),) + self.out_shape[1:], self.dtype)
        for o0, o1 in spans:
            consume(o0, o1, self._compute(o0, o1, out, 1))

    image = OVERWRITE_IMAGES["rgba16"]
    for kernel, padding, rows in itertools.product(
            [np.ones((5, 5)) / 25, np.random.default_rng(6).normal(size=(4, 3))],
            ["mirror", "zero", "clamp"], [1, 2, 5]):
        settings = FilterSettings("correlate", kernel, padding=padding)
        want, _ = filter_to_pixels(image, settings, "o.png", rows=rows)
        with monkeypatch.context() as patch:
            patch.setattr(row_bands.BandedCorrelation, "map", map_in_order)
            work = image.copy()
            got, _ = filter_to_pixels(work, settings, "o.png", rows=rows, overwrite_input=True)
        assert got is work
        assert np.array_equal(got, want), (padding, rows)

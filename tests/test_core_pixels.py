"""Pixel mapping (``out_range``): clip, abs, rescale and raw, and what ``auto`` resolves to.

Moved from tests/test_io.py with the code (cvtool.io -> cvtool.imaging.pixels).
"""

from __future__ import annotations

import numpy as np
import pytest

from cvtool.errors import ProcessingError, UsageError
from cvtool.imaging import pixels
from cvtool.imaging.pixels import check_out_range, resolve_out_range, to_pixel_type


def test_raw_out_range_needs_a_float_format():
    """raw keeps floats: refused, naming ``out_range``, where the output cannot hold them."""
    with pytest.raises(UsageError, match="^out_range raw .*only .npy and .tif") as info:
        check_out_range("raw", keeps_floats=False, output="a.png")
    assert info.value.parameter == "out_range"
    assert check_out_range("RAW", keeps_floats=True) == "raw"


@pytest.mark.parametrize("bad", ["wrap", "", None])
def test_unknown_out_range_is_a_usage_error_naming_the_parameter(bad):
    """An unknown mapping is refused with the list of known ones, naming ``out_range``."""
    with pytest.raises(UsageError, match="^out_range must be one of auto, clip") as info:
        check_out_range(bad)
    assert info.value.parameter == "out_range"


@pytest.mark.parametrize(("dtype", "keeps_floats", "zero_sum", "expected"), [
    (np.float32, True, False, "raw"), (np.float64, True, True, "raw"),
    (np.float32, False, False, "clip"), (np.uint8, True, False, "clip"),
    (np.uint8, False, True, "abs"), (np.uint16, True, True, "abs"),
])
def test_auto_resolves_by_input_output_and_kernel(dtype, keeps_floats, zero_sum, expected):
    """auto: raw for floats where floats are kept, else abs for zero-sum kernels, else clip."""
    assert resolve_out_range("auto", np.dtype(dtype), keeps_floats=keeps_floats,
                             zero_sum=zero_sum) == expected
    assert resolve_out_range("clip", np.dtype(dtype), keeps_floats=keeps_floats,
                             zero_sum=zero_sum) == "clip"


@pytest.mark.parametrize("mode,expected", [
    ("clip", [0, 0, 128, 255]), ("abs", [200, 0, 128, 255]), ("rescale", [0, 85, 139, 255]),
])
def test_out_range_modes(mode, expected):
    values = np.array([-200.0, 0.0, 127.6, 400.0])
    np.testing.assert_array_equal(to_pixel_type(values, mode, np.dtype(np.uint8)), expected)


def test_rescale_of_constant_result_is_zero():
    out = to_pixel_type(np.full((2, 2), 5.0), "rescale", np.dtype(np.uint16))
    assert out.dtype == np.uint16 and not out.any()


@pytest.mark.parametrize("mode", ["clip", "abs", "rescale"])
def test_chunked_mapping_equals_the_whole_array_formula(mode):
    """to_pixel_type works in cache-sized chunks; across chunk edges it equals the one-shot map."""
    rng = np.random.default_rng(4)
    values = (rng.random((3 * pixels._MAP_CHUNK // 7 + 5, 7), dtype=np.float32) * 700 - 200)
    if mode == "abs":
        ref = np.abs(values)
    elif mode == "rescale":
        ref = (values - values.min()) * (65535.0 / (values.max() - values.min()))
    else:
        ref = values
    expected = np.clip(np.rint(ref), 0, 65535).astype(np.uint16)
    got = to_pixel_type(values, mode, np.dtype(np.uint16))
    np.testing.assert_allclose(got.astype(int), expected.astype(int), atol=1 if mode == "rescale"
                               else 0)


def test_nan_in_a_later_chunk_is_refused():
    values = np.zeros(pixels._MAP_CHUNK * 2 + 3, np.float32)
    values[-2] = np.nan
    with pytest.raises(ProcessingError):
        to_pixel_type(values, "clip", np.dtype(np.uint8))




def test_rescale_of_float32_results_near_their_limit_does_not_overflow():
    """max - min of ±3e38 is past float32's range: rescale works in float64 and maps the two
    ends to 0 and 255 (in float32 the span is inf, every value would map to 0 or be NaN)."""
    values = np.array([-3e38, 0.0, 3e38], np.float32)
    assert to_pixel_type(values, "rescale", np.dtype(np.uint8)).tolist() == [0, 128, 255]

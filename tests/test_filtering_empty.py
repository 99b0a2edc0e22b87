"""Empty images in the library API (issue 14): an empty result, as SciPy gives.

``scipy.ndimage.correlate`` returns an empty array for an empty input; so do correlate and
convolve, with the shape the size rules give: ``same`` keeps H×W; ``full`` is every position
of overlap, and an empty axis overlaps nowhere (0, where scipy.signal.correlate2d's zero
fill gives kh-1 rows of zeros: other paddings have no pixel to copy from); ``valid`` needs a
kernel no larger than the image, which no kernel is, so it stays an error. The command line
refuses empty images before they reach the core (io.read_image).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from cvtool.errors import ProcessingError, UsageError
from cvtool.filtering import convolve, correlate, registry

MODES = ("zero", "constant", "clamp", "mirror", "symmetric", "wrap", "extend", "normalized")
KERNEL = np.ones((3, 4))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn", [correlate, convolve])
@pytest.mark.parametrize(("image", "same", "full"), [
    (np.zeros((0, 5), np.uint8), (0, 5), (0, 8)),
    (np.zeros((6, 0)), (6, 0), (8, 0)),
    (np.zeros((0, 0), np.int32), (0, 0), (0, 0)),
    (np.zeros((0, 5, 3), np.uint16), (0, 5, 3), (0, 8, 3)),
    (np.zeros((4, 5, 0)), (4, 5, 0), (6, 8, 0)),  # no channel: every position, no value
])
def test_empty_image_gives_an_empty_result(mode, fn, image, same, full):
    """Every padding, correlate and convolve: an empty array of the rules' shape, in the
    working dtype, not an error."""
    for shape, expected in (("same", same), ("full", full)):
        got = fn(image, KERNEL, padding=mode, shape=shape, pad_value=7)
        assert got.shape == expected and got.size == 0
        assert got.dtype == (np.float64 if image.dtype in (np.float64, np.int32)
                             else np.float32)


def test_empty_same_matches_scipy_ndimage():
    """``same`` on an empty image has scipy.ndimage.correlate's shape."""
    image = np.zeros((0, 7))
    assert correlate(image, KERNEL, padding="mirror").shape == \
        ndi.correlate(image, KERNEL, mode="mirror").shape


@pytest.mark.parametrize("image", [np.zeros((0, 5)), np.zeros((5, 0)), np.zeros((0, 0))])
def test_empty_image_with_valid_is_still_an_error(image):
    """``valid`` needs the kernel inside the image: even a 1x1 kernel does not fit an empty
    one, so it is the data error of a kernel larger than the image."""
    with pytest.raises(ProcessingError, match="^shape 'valid' needs a kernel no larger"):
        correlate(image, np.ones((1, 1)), shape="valid")


def test_empty_image_with_a_stride():
    """A stride keeps ceil(0/S) = 0 samples of an empty axis and ceil(n/S) of the other."""
    assert correlate(np.zeros((0, 9)), KERNEL, shape="full", stride=(2, 4)).shape == (0, 3)


@pytest.mark.parametrize("strategy", list(registry.STRATEGIES))
def test_empty_image_with_a_forced_strategy(strategy):
    """Forcing any strategy that takes the kernel on an empty image is an empty result."""
    assert correlate(np.zeros((0, 5)), KERNEL, strategy=strategy).shape == (0, 5)


def test_empty_image_is_still_checked():
    """The arguments are checked as for any image: an empty image is no excuse for a bad
    kernel, stride or pad value, nor for a wrong ``out``."""
    image = np.zeros((0, 5, 3))
    with pytest.raises(UsageError, match="^kernel is empty"):
        correlate(image, np.ones((0, 3)))
    with pytest.raises(UsageError, match="^stride must be >= 1"):
        correlate(image, KERNEL, stride=0)
    with pytest.raises(UsageError, match="^pad_value has 2 values"):
        correlate(image, KERNEL, padding="constant", pad_value=(1, 2))
    with pytest.raises(UsageError, match="^out must have shape"):
        correlate(image, KERNEL, out=np.empty((0, 5), np.float64))
    out = np.empty((0, 5, 3))
    assert correlate(image, KERNEL, out=out) is out

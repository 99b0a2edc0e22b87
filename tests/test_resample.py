"""Tests for cvtool.imaging.resample against OpenCV's INTER_AREA / INTER_LINEAR as oracles."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cvtool.errors import UsageError
from cvtool.imaging.resample import pyramid_down, resize


def _image(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32) * 255


@pytest.mark.parametrize(("src", "dst"), [((64, 64), (32, 32)), ((60, 90), (40, 36)),
                                          ((97, 83), (13, 29)), ((50, 50), (49, 48)),
                                          ((10, 300), (1, 7))])
def test_shrinking_matches_cv2_inter_area(src, dst):
    """Shrinking by integer or fractional factors equals cv2.INTER_AREA's exact area average."""
    image = _image(src)
    expected = cv2.resize(image, (dst[1], dst[0]), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(resize(image, dst), expected, atol=2e-3)


@pytest.mark.parametrize(("src", "dst"), [((32, 32), (64, 64)), ((21, 17), (50, 40)),
                                          ((5, 9), (6, 10)), ((1, 4), (3, 8))])
def test_enlarging_matches_cv2_inter_linear(src, dst):
    """Enlarging interpolates bilinearly with centres aligned, as cv2.INTER_LINEAR on floats."""
    image = _image(src, 1)
    expected = cv2.resize(image, (dst[1], dst[0]), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(resize(image, dst), expected, atol=2e-3)


def _cv2_per_axis(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """OpenCV's answer, one axis at a time: INTER_AREA where it shrinks, else INTER_LINEAR."""
    def step(a, h, w, shrinks):
        return cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA if shrinks
                          else cv2.INTER_LINEAR)
    rows = step(plane, size[0], plane.shape[1], size[0] < plane.shape[0])
    return step(rows, size[0], size[1], size[1] < plane.shape[1])


@pytest.mark.parametrize("size", [(25, 18), (55, 45), (25, 45)],
                         ids=["shrink", "enlarge", "shrink-rows-enlarge-columns"])
def test_colour_channels_resize_independently(size):
    """A colour image is resized channel by channel: each channel equals OpenCV's resize of
    that channel alone (INTER_AREA on a shrinking axis, INTER_LINEAR on a growing one)."""
    image = _image((40, 30, 3), 2)
    got = resize(image, size)
    assert got.shape == (*size, 3)
    for c in range(3):
        np.testing.assert_allclose(got[:, :, c], _cv2_per_axis(image[:, :, c], size),
                                   atol=2e-3)


@pytest.mark.parametrize("block_bytes", [1, 3500, 10**6])
@pytest.mark.parametrize("size", [(13, 29), (70, 50), (13, 50)],
                         ids=["shrink", "enlarge", "shrink-rows-enlarge-columns"])
def test_blocks_of_rows_give_the_same_resize(monkeypatch, block_bytes, size):
    """Rows go through the taps in blocks (one row each; 3 or 4 rows, with a short last
    block; or one block): each equals OpenCV's resize of the whole seven-channel image."""
    monkeypatch.setattr("cvtool.imaging.resample.BLOCK_BYTES", block_bytes)
    image = _image((37, 41, 7), 3)
    got = resize(image, size)
    for c in range(7):
        np.testing.assert_allclose(got[:, :, c], _cv2_per_axis(image[:, :, c], size),
                                   atol=2e-3)


def test_constant_stays_constant():
    """Weights sum to one on both paths, so a flat image stays exactly flat."""
    image = np.full((37, 41), 123.0)
    for size in [(10, 11), (80, 90), (37, 100)]:
        np.testing.assert_allclose(resize(image, size), 123.0, rtol=1e-12)


def test_same_size_returns_a_copy_of_the_values():
    """Resizing to the same size changes nothing and never aliases the caller's array."""
    image = _image((8, 9))
    got = resize(image, (8, 9))
    np.testing.assert_array_equal(got, image)
    assert got is not image and not np.shares_memory(got, image)


def test_dtypes():
    """Integers come back as float32 (not rounded), float64 stays float64."""
    assert resize(np.zeros((4, 4), np.uint16), (2, 2)).dtype == np.float32
    assert resize(np.zeros((4, 4)), (2, 2)).dtype == np.float64


def test_pyramid_down_halves_with_floor():
    """An odd size halves to its floor, as the next pyramid level."""
    assert pyramid_down(np.zeros((9, 5, 3))).shape == (4, 2, 3)


def test_pyramid_down_is_the_exact_2x2_block_mean():
    """Each coarse pixel is the mean of its 2×2 block (the odd edge dropped), so coarse
    coordinates map back to full resolution by doubling."""
    image = _image((11, 14, 3), 3)
    expected = image[:10, :14].reshape(5, 2, 7, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(pyramid_down(image), expected, rtol=1e-6)


@pytest.mark.parametrize("size", [(0, 5), (5, -1)])
def test_bad_size_is_a_usage_error(size):
    """A target size below 1 is refused with UsageError naming the size."""
    with pytest.raises(UsageError, match="size"):
        resize(np.zeros((4, 4)), size)

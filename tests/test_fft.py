"""Tests for cvtool.imaging.fft: smooth sizes and tiled FFT valid-mode correlation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import correlate2d

from cvtool.imaging import fft
from cvtool.imaging.fft import fft_correlate_valid, smooth_size


def _is_smooth(m: int) -> bool:
    for p in (2, 3, 5):
        while m % p == 0:
            m //= p
    return m == 1


def test_smooth_size_matches_brute_force():
    """smooth_size is the least 2·3·5-smooth number >= n, for every n up to 5000."""
    expected = None
    for n in range(5000, 0, -1):
        if _is_smooth(n):
            expected = n
        assert smooth_size(n) == expected, n


def test_smooth_size_awkward_prime_factor():
    """The size that made pocketfft 4x slower (4098 = 2·3·683) is avoided."""
    assert smooth_size(4098) == 4320


def test_smooth_size_below_one():
    """Zero and negative sizes round up to 1 instead of looping or failing."""
    assert smooth_size(0) == 1 and smooth_size(-5) == 1


def _oracle(image, kernel):
    return correlate2d(image.astype(np.float64), kernel.astype(np.float64), mode="valid")


@pytest.mark.parametrize(
    ("image_shape", "kernel_shape"),
    [
        ((37, 53), (5, 7)),  # odd sizes, one tile
        ((40, 40), (40, 40)),  # kernel equal to the image: a single output
        ((1, 50), (1, 9)),  # 1×N
        ((50, 1), (9, 1)),  # N×1
        ((61, 45), (1, 1)),  # 1×1 kernel: the image itself
        ((300, 700), (4, 6)),  # even kernel, several tiles across
        ((260, 250), (200, 210)),  # kernel larger than a usual tile
    ],
)
def test_matches_scipy_on_awkward_shapes(image_shape, kernel_shape):
    """Every output position of the tiled FFT equals scipy's direct correlate2d."""
    rng = np.random.default_rng(sum(image_shape) + sum(kernel_shape))
    image = rng.standard_normal(image_shape)
    kernel = rng.standard_normal(kernel_shape)
    got = fft_correlate_valid(image, kernel)
    np.testing.assert_allclose(got, _oracle(image, kernel), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("plan", "image_shape", "kernel_shape", "seed", "workers"), [
    # 24×20 outputs per tile: many tiles, with edge tiles narrower than the plan.
    ((32, 30), (101, 77), (9, 11), 3, 3),
    # 11×12 outputs per tile: tiles barely larger than the kernel.
    ((40, 36), (95, 120), (30, 25), 7, 2),
], ids=["partial-edge-tiles", "kernel-fills-the-tile"])
def test_forced_small_tiles_stitch_exactly(monkeypatch, plan, image_shape, kernel_shape, seed,
                                           workers):
    """With the tile plan forced small, the tiles (on the pool) stitch into scipy's result."""
    monkeypatch.setattr(fft, "_plan", lambda h, w, kh, kw: plan)
    rng = np.random.default_rng(seed)
    image = rng.standard_normal(image_shape)
    kernel = rng.standard_normal(kernel_shape)
    got = fft_correlate_valid(image, kernel, workers=workers)
    np.testing.assert_allclose(got, _oracle(image, kernel), rtol=1e-9, atol=1e-9)


def test_workers_do_not_change_the_result():
    """One thread and several threads compute bit-identical tiles."""
    rng = np.random.default_rng(4)
    image = rng.standard_normal((900, 1300)).astype(np.float32)
    kernel = rng.standard_normal((31, 17)).astype(np.float32)
    one = fft_correlate_valid(image, kernel, workers=1)
    many = fft_correlate_valid(image, kernel, workers=4)
    np.testing.assert_array_equal(one, many)


def test_float32_stays_float32_and_is_accurate():
    """float32 in gives float32 out, within single-precision error of the exact result."""
    rng = np.random.default_rng(5)
    image = rng.random((400, 380)).astype(np.float32)
    kernel = rng.standard_normal((25, 25)).astype(np.float32)
    got = fft_correlate_valid(image, kernel)
    assert got.dtype == np.float32
    exact = _oracle(image, kernel)
    scale = np.sqrt(np.sum(kernel.astype(np.float64) ** 2) * 25 * 25)  # |window|·|kernel|
    assert np.max(np.abs(got - exact)) < 1e-5 * scale


def test_float64_stays_float64():
    """float64 input keeps double precision end to end."""
    got = fft_correlate_valid(np.ones((8, 8)), np.ones((3, 3)))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, 9.0, rtol=1e-14)


def test_uint8_image_computes_in_float32():
    """8-bit images with a float32 kernel are worked in float32 (exact enough, twice as fast)."""
    image = np.full((10, 12), 200, dtype=np.uint8)
    got = fft_correlate_valid(image, np.ones((2, 2), dtype=np.float32))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, 800.0, rtol=1e-6)


def test_channels_are_correlated_jointly():
    """With a channel axis the per-channel correlations are summed into one map."""
    rng = np.random.default_rng(6)
    image = rng.standard_normal((40, 50, 3))
    kernel = rng.standard_normal((7, 5, 3))
    expected = sum(_oracle(image[:, :, c], kernel[:, :, c]) for c in range(3))
    np.testing.assert_allclose(fft_correlate_valid(image, kernel), expected, atol=1e-9)


@pytest.mark.parametrize(
    ("image", "kernel"),
    [
        (np.ones((5, 5)), np.ones((6, 2))),  # kernel taller than the image
        (np.ones((5, 5)), np.ones((0, 2))),  # empty kernel
        (np.ones((5, 5)), np.ones((2, 2, 1))),  # dimensions disagree
        (np.ones((5, 5, 3)), np.ones((2, 2, 2))),  # channels disagree
        (np.ones(5), np.ones(2)),  # 1-D
    ],
)
def test_bad_shapes_raise_value_error(image, kernel):
    """Shape mistakes raise ValueError instead of returning a wrong-sized array."""
    with pytest.raises(ValueError):
        fft_correlate_valid(image, kernel)


def test_workers_must_be_positive():
    """workers=0 is rejected with a ValueError naming the argument."""
    with pytest.raises(ValueError, match="workers"):
        fft_correlate_valid(np.ones((4, 4)), np.ones((2, 2)), workers=0)


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 70), w=st.integers(1, 70),
    kh=st.integers(1, 70), kw=st.integers(1, 70),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_shapes_match_scipy(h, w, kh, kw, seed):
    """Any kernel that fits gives scipy's valid correlation, whatever the shape."""
    kh, kw = min(kh, h), min(kw, w)
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((h, w))
    kernel = rng.standard_normal((kh, kw))
    np.testing.assert_allclose(fft_correlate_valid(image, kernel), _oracle(image, kernel),
                               rtol=1e-9, atol=1e-9)


def test_plan_uses_only_smooth_sizes_covering_the_kernel():
    """Every planned tile size is 2·3·5-smooth and leaves at least one output per tile."""
    for h_out, w_out, kh, kw in [(1985, 1985, 64, 64), (1, 1, 500, 3), (10, 4000, 7, 1)]:
        fh, fw = fft._plan(h_out, w_out, kh, kw)
        assert _is_smooth(fh) and _is_smooth(fw)
        assert fh >= kh and fw >= kw


@pytest.mark.parametrize(("stride", "plan"), [((1, 1), None), ((2, 3), (12, 14)),
                                              ((9, 7), (10, 11))],
                         ids=["whole", "strided-small-tiles", "stride-longer-than-a-tile"])
def test_tiles_engine_writes_strided_joint_and_per_channel_results(monkeypatch, stride, plan):
    """fft_correlate_tiles fills out in place: joint (channels summed) and per channel, at
    every kept row and column, also when a stride skips whole tiles."""
    if plan is not None:
        monkeypatch.setattr(fft, "_plan", lambda h, w, kh, kw: plan)
    rng = np.random.default_rng(8)
    image = rng.standard_normal((57, 63, 3))
    kernel = rng.standard_normal((6, 8, 3))
    sy, sx = stride

    def reader():
        return lambda r0, r1, c0, c1: image[r0:r1, c0:c1]

    joint = np.full((-(-52 // sy), -(-56 // sx)), np.nan)
    fft.fft_correlate_tiles(reader, (57, 63), kernel, joint, stride=stride, workers=2)
    expected = sum(_oracle(image[:, :, c], kernel[:, :, c]) for c in range(3))
    np.testing.assert_allclose(joint, expected[::sy, ::sx], atol=1e-9)
    each = np.full(joint.shape + (3,), np.nan)
    fft.fft_correlate_tiles(reader, (57, 63), kernel[:, :, 0], each, stride=stride, workers=2)
    for c in range(3):
        np.testing.assert_allclose(each[:, :, c],
                                   _oracle(image[:, :, c], kernel[:, :, 0])[::sy, ::sx],
                                   atol=1e-9)

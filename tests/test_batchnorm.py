"""Batch normalization core: exact streamed statistics, γ/β, and evaluation with saved stats."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvtool.errors import ProcessingError, UsageError
from cvtool.measures.batch_stats import (
    NormStats,
    RunningStats,
    batch_norm,
    channel_stats,
    check_eps,
    colour_part,
    per_channel,
    pixel_scale,
)


def _batch(seed: int = 0, count: int = 4, shape=(6, 7, 3), dtype=np.uint8) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    return [rng.integers(0, top, shape, endpoint=True).astype(dtype) for _ in range(count)]


def test_normalized_batch_has_zero_mean_and_unit_variance_per_channel():
    """Over the whole batch, each channel of (x − μ)/√(σ² + ε) has mean 0 and variance ≈ 1."""
    images = _batch()
    stats = channel_stats(images)
    out = np.stack([batch_norm(im, stats.mean, stats.var, eps=1e-5) for im in images])
    flat = out.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(flat.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(flat.var(axis=0), stats.var / (stats.var + 1e-5), rtol=1e-6)


def test_gamma_and_beta_are_applied_per_channel():
    """γ scales and β shifts each channel: the result's std is γ (≈) and its mean β."""
    images = _batch(1)
    stats = channel_stats(images)
    gamma, beta = [2.0, 0.5, 10.0], [1.0, -3.0, 128.0]
    out = np.stack([batch_norm(im, stats.mean, stats.var, gamma, beta) for im in images])
    flat = out.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(flat.mean(axis=0), beta, atol=1e-4)
    np.testing.assert_allclose(flat.std(axis=0), gamma, rtol=1e-4)


def test_scalar_gamma_applies_to_every_channel():
    """One value for --gamma means the same γ on R, G and B."""
    image = _batch(2, 1)[0]
    stats = channel_stats([image])
    np.testing.assert_allclose(batch_norm(image, stats.mean, stats.var, gamma=3.0),
                               3.0 * batch_norm(image, stats.mean, stats.var), rtol=1e-6)


def test_evaluation_uses_saved_statistics_not_the_images_own():
    """A test image is normalised with the training μ, σ²: its own mean does not become 0."""
    train = _batch(3)
    stats = channel_stats(train)
    saved = NormStats(mean=stats.mean, var=stats.var, count=stats.count, scale=255.0)
    test_image = np.full((4, 4, 3), 250, np.uint8)
    out = saved.apply(test_image)
    expected = (250 - stats.mean) / np.sqrt(stats.var + 1e-5)
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-6)
    assert np.all(out > 0.5)


@given(st.lists(st.integers(1, 5), min_size=1, max_size=6), st.integers(0, 10_000))
@settings(max_examples=50, deadline=None)
def test_streamed_statistics_in_any_split_equal_numpy_over_the_whole_batch(sizes, seed):
    """Merging groups of any sizes gives numpy's mean/var over all pixels at once."""
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 65536, (3, 5, 3)).astype(np.uint16) for _ in range(sum(sizes))]
    groups, start = [], 0
    for size in sizes:
        groups.append(channel_stats(images[start:start + size]))
        start += size
    merged = RunningStats()
    for group in groups:
        merged.merge(group)
    everything = np.stack(images).reshape(-1, 3).astype(np.float64)
    assert merged.count == everything.shape[0]
    np.testing.assert_allclose(merged.mean, everything.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(merged.var, everything.var(axis=0), rtol=1e-10)


def test_statistics_stay_exact_when_the_mean_dwarfs_the_spread():
    """σ² of values 1e9 + {0, 1} is 0.25; E[x²] − E[x]² loses it to cancellation entirely."""
    images = [np.full((10, 10), 1e9 + (i % 2)) for i in range(10)]
    stats = channel_stats(images)
    assert stats.mean[0] == pytest.approx(1e9 + 0.5)
    assert stats.var[0] == pytest.approx(0.25, rel=1e-6)
    flat = np.concatenate([im.ravel() for im in images])
    naive = np.mean(flat * flat) - np.mean(flat) ** 2
    assert abs(naive - 0.25) > 1.0


def test_large_images_are_folded_in_blocks_exactly(monkeypatch):
    """Block-wise folding (bounded memory) gives the same numbers as one pass."""
    import cvtool.measures.batch_stats as bn

    monkeypatch.setattr(bn, "_BLOCK_PIXELS", 7)
    image = _batch(4, 1, (9, 11, 3))[0]
    stats = channel_stats([image])
    flat = image.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(stats.mean, flat.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.var, flat.var(axis=0), rtol=1e-12)


def test_alpha_is_left_out_of_statistics_and_passed_through():
    """RGBA: the stats cover R, G, B; alpha comes out unchanged (as a number)."""
    rgb = _batch(5, 1)[0]
    alpha = np.arange(42, dtype=np.uint8).reshape(6, 7, 1)
    rgba = np.concatenate([rgb, alpha], axis=2)
    stats = channel_stats([rgba])
    assert stats.channels == 3
    out = batch_norm(rgba, stats.mean, stats.var)
    np.testing.assert_array_equal(out[..., 3], alpha[..., 0])


def test_gray_images_have_one_channel_and_keep_their_shape():
    """A gray image is one channel, L; the output stays H×W."""
    image = _batch(6, 1, (5, 3), np.uint8)[0]
    stats = channel_stats([image])
    assert stats.channels == 1
    assert batch_norm(image, stats.mean, stats.var).shape == (5, 3)


def test_output_is_float32_for_8_bit_and_float64_for_float64():
    """Work in float32 for pixel images; keep float64 when it came in."""
    assert batch_norm(np.zeros((2, 2), np.uint8), [0.0], [1.0]).dtype == np.float32
    assert batch_norm(np.zeros((2, 2)), [0.0], [1.0]).dtype == np.float64


def test_mixed_channel_counts_cannot_be_merged():
    """A gray image among colour images is a data error (exit 1)."""
    with pytest.raises(ProcessingError, match="channel"):
        channel_stats([np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8)])


def test_gamma_list_of_the_wrong_length_names_the_parameter():
    """Two γ values for three channels: the user's mistake (exit 2), naming ``gamma``."""
    with pytest.raises(UsageError, match="^gamma has 2 values") as info:
        batch_norm(np.zeros((2, 2, 3)), [0.0] * 3, [1.0] * 3, gamma=[1.0, 2.0])
    assert info.value.parameter == "gamma"


def test_per_channel_names_the_parameter_it_is_given():
    """per_channel checks gamma and beta alike: the name it is given leads the message."""
    with pytest.raises(UsageError, match="^beta must be finite") as info:
        per_channel([1.0, float("inf"), 2.0], 3, "beta")
    assert info.value.parameter == "beta"


@pytest.mark.parametrize("eps", [0.0, -1e-5, float("nan")])
def test_eps_must_be_positive(eps):
    """ε ≤ 0 would divide a constant channel by zero."""
    with pytest.raises(UsageError, match="^eps must be a number > 0") as info:
        check_eps(eps)
    assert info.value.parameter == "eps"


def test_constant_channel_stays_finite():
    """A flat channel has σ² = 0; ε keeps the result finite (all zeros)."""
    image = np.full((3, 3), 7, np.uint8)
    stats = channel_stats([image])
    out = batch_norm(image, stats.mean, stats.var)
    assert np.all(out == 0)


def test_stats_json_has_the_documented_keys_and_0_1_scale():
    """mean/var in pixel units; mean01/std01 divided by 255 for 8-bit; channel_order RGB."""
    images = _batch(7)
    stats = channel_stats(images)
    saved = NormStats(mean=stats.mean, var=stats.var, count=stats.count,
                      scale=pixel_scale(images[0].dtype), gamma=[1, 2, 3], beta=0.5)
    data = json.loads(json.dumps(saved.to_dict()))
    for key in ("mean", "var", "count", "eps", "gamma", "beta", "channel_order",
                "mean01", "std01"):
        assert key in data
    assert data["channel_order"] == "RGB" and data["count"] == 4 * 6 * 7
    np.testing.assert_allclose(data["mean01"], stats.mean / 255)
    np.testing.assert_allclose(data["std01"], np.sqrt(stats.var) / 255)
    assert data["gamma"] == [1, 2, 3] and data["beta"] == [0.5, 0.5, 0.5]


def test_sixteen_bit_scale_is_65535():
    """16-bit statistics go to the 0..1 scale by 65535, float images by 1."""
    assert pixel_scale(np.dtype(np.uint16)) == 65535.0
    assert pixel_scale(np.dtype(np.float32)) == 1.0


def test_saved_stats_round_trip():
    """What --save-stats writes, --stats reads back unchanged."""
    saved = NormStats(mean=[1.0, 2.0, 3.0], var=[4.0, 5.0, 6.0], count=10, scale=255.0,
                      eps=1e-3, gamma=[1, 2, 3], beta=[0, 1, 0])
    loaded = NormStats.from_dict(json.loads(json.dumps(saved.to_dict())), "s.json")
    for name in ("mean", "var", "gamma", "beta"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(saved, name))
    assert (loaded.eps, loaded.count, loaded.scale) == (1e-3, 10, 255.0)


@pytest.mark.parametrize("data,fragment", [
    ([1, 2], "JSON object"),
    ({"mean": [1.0]}, "'var'"),
    ({"mean": [1.0, 2.0], "var": [1.0]}, "must match"),
    ({"mean": [1.0], "var": [-1.0]}, ">= 0"),
    ({"mean": ["x"], "var": [1.0]}, "numbers"),
    ({"mean": [1.0], "var": [1.0], "eps": 0}, "> 0"),
])
def test_malformed_stats_are_data_errors_naming_the_file(data, fragment):
    """A broken stats file is a problem with a file (exit 1), and says which file."""
    with pytest.raises(ProcessingError, match="s.json") as info:
        NormStats.from_dict(data, "s.json")
    assert fragment in str(info.value)


def test_colour_part_of_gray_plus_alpha():
    """A 2-channel image is gray + alpha."""
    colour, alpha = colour_part(np.zeros((2, 2, 2)))
    assert colour.shape == (2, 2, 1) and alpha.shape == (2, 2)

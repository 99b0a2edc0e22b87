"""The entropy core: worked examples, image histograms, stable softmax, local entropy maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cvtool.errors import ProcessingError, UsageError
from cvtool.measures.image_entropy import (
    channel_entropies,
    image_entropy,
    local_entropy,
    luminance,
    max_local_entropy,
)
from cvtool.measures.information import (
    base_value,
    cross_entropy,
    cross_entropy_logits,
    entropy,
    kl_divergence,
    log_softmax,
    softmax,
)

# --- worked examples -------------------------------------------------------------------------


def test_fair_coin_is_0_30103_in_base_10():
    """A fair coin carries log10(2) = 0.30103 hartleys (≈ 0.3)."""
    assert entropy([0.5, 0.5], base=10) == pytest.approx(0.30103, abs=5e-6)


def test_one_eighth_seven_eighths_is_0_163629_in_base_10():
    """H(1/8, 7/8) = -(1/8)·log10(1/8) - (7/8)·log10(7/8) = 0.163629 hartleys (scipy agrees),
    not the 0.06 sometimes printed for it."""
    value = entropy([1 / 8, 7 / 8], base=10)
    assert value == pytest.approx(0.163629, abs=5e-7)
    assert value == pytest.approx(scipy.stats.entropy([1 / 8, 7 / 8], base=10))


def test_fair_coin_is_one_bit_by_default():
    """Base 2 is the default everywhere."""
    assert entropy([0.5, 0.5]) == 1.0


@given(arrays(np.float64, st.integers(1, 12), elements=st.floats(0, 1)))
@settings(max_examples=60, deadline=None)
def test_entropy_matches_scipy(weights):
    """Any distribution (zeros included) gives scipy.stats.entropy's value, in each base."""
    if weights.sum() == 0:
        weights = np.ones_like(weights)
    p = weights / weights.sum()
    for base, scipy_base in (("2", 2), ("e", None), ("10", 10)):
        assert entropy(p, base) == pytest.approx(scipy.stats.entropy(p, base=scipy_base),
                                                  abs=1e-12)


def test_zero_probabilities_contribute_nothing():
    """0·log 0 = 0: a certain outcome has entropy exactly 0, not NaN."""
    assert entropy([0.0, 1.0, 0.0]) == 0.0


@pytest.mark.parametrize("probs,fragment", [
    ([0.5, 0.6], "sum to 1"),
    ([1.5, -0.5], ">= 0"),
    ([], "non-empty"),
    ([0.5, float("nan")], "finite"),
])
def test_invalid_probabilities_are_usage_errors_naming_the_parameter(probs, fragment):
    """Bad distributions are the user's mistake (exit 2); the message starts with ``p``.

    The core speaks its parameter names; the CLI maps ``p`` to ``--probs`` through its table.
    """
    with pytest.raises(UsageError, match="^p must") as info:
        entropy(probs)
    assert fragment in str(info.value)
    assert info.value.parameter == "p"


def test_sum_within_tolerance_is_accepted():
    """Hand-typed thirds (0.333333 ×3) are within 1e-6 of 1 and accepted."""
    assert entropy([0.3333333, 0.3333333, 0.3333334]) == pytest.approx(math.log2(3))


def test_unknown_base_name_is_refused():
    """The base takes 2, e or 10; '3' as text is a usage error naming ``base``."""
    with pytest.raises(UsageError, match="^base must be one of 2, e, 10") as info:
        base_value("3")
    assert info.value.parameter == "base"


# --- cross-entropy and KL ---------------------------------------------------------------------


def test_cross_entropy_of_p_with_itself_is_its_entropy():
    """H(p, p) = H(p), so KL(p, p) = 0 exactly."""
    p = [0.1, 0.2, 0.7]
    assert cross_entropy(p, p) == pytest.approx(entropy(p))
    assert kl_divergence(p, p) == 0.0


def test_kl_of_distributions_a_few_ulps_apart_is_not_negative():
    """KL >= 0 (Gibbs); summed term by term, these two distributions, equal but for the last
    bits of two entries, come to -2.7e-18, which must be reported as 0, not as negative."""
    p = [0.23653920902754189, 0.03592410021874277, 0.014490831592379627, 0.7130458591613356]
    q = [0.23653920902754189, 0.03592410021874277, 0.014490831592379946, 0.7130458591613352]
    assert kl_divergence(p, q) == 0.0


def test_kl_matches_scipy_relative_entropy():
    """scipy.stats.entropy(p, q) is KL(p ‖ q)."""
    p, q = [0.5, 0.3, 0.2], [0.2, 0.5, 0.3]
    assert kl_divergence(p, q, "e") == pytest.approx(scipy.stats.entropy(p, q))


def test_cross_entropy_is_entropy_plus_kl():
    """H(T, P) = H(T) + KL(T ‖ P), the identity the CLI's two numbers rest on."""
    t, p = [0.25, 0.25, 0.5], [0.5, 0.25, 0.25]
    assert cross_entropy(t, p) == pytest.approx(entropy(t) + kl_divergence(t, p))


def test_cross_entropy_is_infinite_where_prediction_rules_out_a_possible_outcome():
    """P = 0 where T > 0 makes H(T, P) and KL infinite: reported as inf, not NaN."""
    assert cross_entropy([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf


def test_zero_target_ignores_zero_prediction():
    """T = 0 terms vanish even where P = 0 (0·log 0 = 0)."""
    assert cross_entropy([1.0, 0.0], [1.0, 0.0]) == 0.0


def test_lengths_must_match():
    """target and pred of different lengths are a usage error naming both (pred first)."""
    with pytest.raises(UsageError, match="^pred has 3 values but `target` has 2") as info:
        cross_entropy([0.5, 0.5], [0.2, 0.3, 0.5])
    assert info.value.parameter == "pred"


@pytest.mark.parametrize(("target", "pred", "parameter"), [
    ([0.5, 0.6], [0.5, 0.5], "target"), ([0.5, 0.5], [-0.5, 1.5], "pred"),
])
def test_cross_entropy_names_the_distribution_at_fault(target, pred, parameter):
    """cross_entropy(target, pred) says which of its two arguments is not a distribution."""
    with pytest.raises(UsageError, match=f"^{parameter} must") as info:
        cross_entropy(target, pred)
    assert info.value.parameter == parameter


# --- softmax ----------------------------------------------------------------------------------


@given(arrays(np.float64, st.integers(1, 10), elements=st.floats(-1000, 1000)))
@settings(max_examples=60, deadline=None)
def test_softmax_sums_to_one_and_is_finite(z):
    """Any logits in ±1000 give a finite distribution summing to 1."""
    s = softmax(z)
    assert np.all(np.isfinite(s)) and np.all(s >= 0)
    assert s.sum() == pytest.approx(1.0, abs=1e-12)


def test_softmax_is_finite_at_plus_minus_1000():
    """The naive exp(1000) overflows; the max-shifted form does not."""
    s = softmax([1000.0, -1000.0, 999.0])
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s, scipy.special.softmax([1000.0, -1000.0, 999.0]))


@given(arrays(np.float64, st.integers(1, 8), elements=st.floats(-50, 50)),
       st.floats(-500, 500))
@settings(max_examples=60, deadline=None)
def test_softmax_is_shift_invariant(z, shift):
    """Adding a constant to every logit changes nothing."""
    np.testing.assert_allclose(softmax(z + shift), softmax(z), atol=1e-12)


def test_log_softmax_stays_finite_where_softmax_underflows():
    """log_softmax(1000, −1000) = (0, −2000), where log(softmax) would give −inf."""
    np.testing.assert_array_equal(log_softmax([1000.0, -1000.0]), [0.0, -2000.0])


def test_cross_entropy_with_label_is_minus_log_softmax():
    """Against a one-hot target, the loss is −log softmax[label] (nats here)."""
    z = np.array([2.0, -1.0, 0.5, 3.0])
    for label in range(z.size):
        expected = -math.log(scipy.special.softmax(z)[label])
        assert cross_entropy_logits(z, label=label, base="e") == pytest.approx(expected)
        onehot = np.eye(z.size)[label]
        assert cross_entropy_logits(z, target=onehot, base="e") == pytest.approx(expected)


def test_cross_entropy_of_extreme_logits_is_finite():
    """Logits ±1000 against the unlikely class cost 2000 nats, exactly, not inf."""
    assert cross_entropy_logits([1000.0, -1000.0], label=1, base="e") == 2000.0


def test_label_out_of_range_is_a_usage_error():
    """label is a 0-based index; 3 with three logits is out of range."""
    with pytest.raises(UsageError, match="^label must be a class index from 0 to 2") as info:
        cross_entropy_logits([1.0, 2.0, 3.0], label=3)
    assert info.value.parameter == "label"


# --- image entropy ----------------------------------------------------------------------------


def test_all_256_values_equally_is_8_bits():
    """A uniform histogram over 256 levels is the 8-bit maximum."""
    image = np.repeat(np.arange(256, dtype=np.uint8), 4).reshape(32, 32)
    assert image_entropy(image) == 8.0


def test_half_black_half_white_is_one_bit():
    """Two equally likely values: one bit."""
    image = np.zeros((10, 10), np.uint8)
    image[:, 5:] = 255
    assert image_entropy(image) == 1.0


def test_flat_image_is_zero_bits():
    """One value only: no uncertainty."""
    assert image_entropy(np.full((7, 9), 42, np.uint8)) == 0.0


def test_sixteen_bit_uses_one_bin_per_value():
    """16-bit values are not merged into 256 bins: 1024 distinct values give 10 bits."""
    image = (np.arange(1024, dtype=np.uint16) * 64).reshape(32, 32)
    assert image_entropy(image) == pytest.approx(10.0)


def test_image_entropy_in_nats():
    """The base applies to images too: a 1-bit image is ln 2 nats."""
    image = np.array([[0, 255]], np.uint8)
    assert image_entropy(image, "e") == pytest.approx(math.log(2))


def test_colour_uses_rounded_bt601_luminance():
    """Colour → 0.299 R + 0.587 G + 0.114 B, rounded to the input's type (pure red → 76)."""
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    np.testing.assert_array_equal(luminance(rgb), [[76, 150, 29, 255]])
    assert image_entropy(rgb) == 2.0


def test_alpha_does_not_change_the_entropy():
    """Alpha is coverage, not intensity: RGBA gives the same numbers as its RGB."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (8, 8, 1), dtype=np.uint8)
    rgba = np.concatenate([rgb, alpha], axis=2)
    assert image_entropy(rgba) == image_entropy(rgb)
    assert channel_entropies(rgba) == channel_entropies(rgb)


def test_per_channel_reports_r_g_b():
    """--per-channel gives each colour channel's own histogram entropy, named R, G, B."""
    image = np.zeros((4, 4, 3), np.uint8)
    image[:2, :, 0] = 255            # R: half and half → 1 bit
    image[..., 1] = np.arange(4)     # G: four values → 2 bits
    assert channel_entropies(image) == {"R": 1.0, "G": 2.0, "B": 0.0}


def test_float_image_on_unit_scale_is_quantised_to_256_levels():
    """Floats in 0..1 are histogrammed as the 8-bit image they stand for."""
    image8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert image_entropy(image8.astype(np.float32) / 255) == 8.0


def test_float_image_outside_unit_scale_is_refused():
    """Floats beyond 0..1 have no defined bins: a data error (exit 1), not a guess."""
    with pytest.raises(ProcessingError, match="0..1"):
        image_entropy(np.array([[0.0, 2.5]]))


# --- local entropy map ------------------------------------------------------------------------


def _naive_local_entropy(image: np.ndarray, n: int) -> np.ndarray:
    r = n // 2
    h, w = image.shape
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            window = image[max(0, i - r):i + r + 1, max(0, j - r):j + r + 1]
            _, counts = np.unique(window, return_counts=True)
            out[i, j] = scipy.stats.entropy(counts, base=2)
    return out


@pytest.mark.parametrize("shape,n,levels,dtype", [
    ((13, 17), 3, 4, np.uint8),
    ((20, 9), 5, 256, np.uint8),
    ((7, 40), 9, 3, np.uint8),
    ((4, 4), 7, 256, np.uint8),      # window larger than the image
    ((1, 1), 3, 2, np.uint8),
    ((25, 30), 9, 65536, np.uint16),  # many distinct 16-bit values
    ((12, 11), 17, 256, np.uint8),   # N² > 255: wider counters
])
def test_local_entropy_equals_naive_windows(shape, n, levels, dtype):
    """Sliding histograms give exactly the per-window entropy of the in-image pixels."""
    rng = np.random.default_rng(sum(shape) + n)
    image = rng.integers(0, levels, shape).astype(dtype)
    np.testing.assert_allclose(local_entropy(image, n), _naive_local_entropy(image, n),
                               atol=1e-9)


@given(arrays(np.uint8, st.tuples(st.integers(1, 14), st.integers(1, 14)),
              elements=st.integers(0, 5)),
       st.sampled_from([3, 5, 7]))
@settings(max_examples=40, deadline=None)
def test_local_entropy_equals_naive_windows_for_any_shape(image, n):
    """Whatever the shape (thinner than the window too), the map matches the naive one."""
    np.testing.assert_allclose(local_entropy(image, n), _naive_local_entropy(image, n),
                               atol=1e-9)


def test_local_entropy_matches_skimage_rank_entropy():
    """skimage.filters.rank.entropy (border: in-image pixels only) is the reference."""
    from skimage.filters.rank import entropy as rank_entropy

    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    expected = rank_entropy(image, np.ones((9, 9), bool))
    np.testing.assert_allclose(local_entropy(image, 9), expected, atol=1e-9)


def test_local_entropy_of_a_flat_image_is_exactly_zero():
    """No rounding residue where every window holds one value."""
    assert not local_entropy(np.full((30, 30), 9, np.uint8), 5).any()


def test_local_entropy_keeps_the_input_size_and_bound():
    """Output is H×W, values within 0..log2(min(N², levels))."""
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (33, 21, 3), dtype=np.uint8)
    result = local_entropy(image, 5)
    assert result.shape == (33, 21)
    assert result.min() >= 0 and result.max() <= max_local_entropy(5, 256) + 1e-12


@pytest.mark.parametrize("window", [2, 1, 4, -3])
def test_window_must_be_odd_and_at_least_3(window):
    """Even or tiny windows have no centre pixel: a usage error naming ``window``."""
    with pytest.raises(UsageError, match="^window must be odd") as info:
        local_entropy(np.zeros((5, 5), np.uint8), window)
    assert info.value.parameter == "window"


def test_local_entropy_reports_progress_up_to_one():
    """The progress callback ends at 1.0 (the CLI's bar completes)."""
    seen = []
    local_entropy(np.zeros((40, 40), np.uint8), 3, progress=seen.append)
    assert seen and seen[-1] == 1.0


def test_gray_plus_alpha_uses_the_gray_channel():
    """A 2-channel (gray + alpha) array is measured on its gray plane, alpha ignored."""
    rng = np.random.default_rng(4)
    gray = rng.integers(0, 256, (9, 9), dtype=np.uint8)
    pair = np.stack([gray, np.full_like(gray, 255)], axis=2)
    assert image_entropy(pair) == image_entropy(gray)
    assert channel_entropies(pair) == {"L": image_entropy(gray)}
    np.testing.assert_array_equal(local_entropy(pair, 3), local_entropy(gray, 3))


def test_logits_too_far_apart_for_floats_give_no_warning():
    """Logits 1e308 apart overflow in z − max; softmax is still (1, 0), silently."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(softmax([1e308, -1e308]), [1.0, 0.0])
        assert log_softmax([1e308, -1e308])[1] == -math.inf


@pytest.mark.parametrize("shape,window", [((1, 1), 1501), ((2, 5), 41), ((4, 3), 9)])
def test_local_entropy_window_larger_than_the_image(shape, window):
    """A window far larger than the image counts only in-image pixels; the result equals a
    naive per-window count (the engine clamps such windows, found slow by fuzzing)."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 5, shape).astype(np.uint8)
    r = window // 2
    expected = np.zeros(shape)
    for i in range(shape[0]):
        for j in range(shape[1]):
            patch = image[max(0, i - r):i + r + 1, max(0, j - r):j + r + 1]
            _, counts = np.unique(patch, return_counts=True)
            p = counts / counts.sum()
            expected[i, j] = -(p * np.log2(p)).sum()
    np.testing.assert_allclose(local_entropy(image, window), expected, atol=1e-12)


def test_kl_divergence_below_base_one_keeps_its_sign():
    """A base below 1 flips the sign of every logarithm; KL is then ≤ 0, as SciPy computes it
    (the clamp at 0 once turned such a divergence into 0)."""
    from cvtool.measures.information import kl_divergence_logits

    p, q = np.array([0.2, 0.8]), np.array([0.6, 0.4])
    expected = scipy.stats.entropy(p, q, base=0.5)
    assert expected < 0
    assert kl_divergence(p, q, base=0.5) == pytest.approx(expected, rel=1e-12)
    logits = np.log(q)
    assert kl_divergence_logits(p, logits, base=0.5) == pytest.approx(expected, rel=1e-9)

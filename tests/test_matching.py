"""Tests for cvtool.matching: ZNCC against OpenCV, invariants, robustness and the search."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from helpers import texture
from hypothesis import given, settings
from hypothesis import strategies as st

from cvtool.errors import ProcessingError, UsageError
from cvtool.matching import MAX_SCALES, find, search, zncc
from cvtool.matching.window_sums import PACKED, exact_accumulator


def _geometric(low, high, count):
    """``count`` factors spaced geometrically from ``low`` to ``high`` (what MIN:MAX:N means)."""
    ratio = np.log(high / low) / (count - 1)
    return [float(low * np.exp(ratio * i)) for i in range(count)]


def _window_std(scene, h, w):
    """Per-window standard deviation (pooled over channels), for masking flat windows."""
    x = scene.astype(np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    ones = np.ones((h, w))
    mean = np.stack([cv2.filter2D(x[:, :, c], -1, ones / (h * w), anchor=(0, 0),
                                  borderType=cv2.BORDER_CONSTANT) for c in range(x.shape[2])], 2)
    sq = np.stack([cv2.filter2D(x[:, :, c] ** 2, -1, ones / (h * w), anchor=(0, 0),
                                borderType=cv2.BORDER_CONSTANT) for c in range(x.shape[2])], 2)
    var = np.clip(sq - mean**2, 0, None).mean(axis=2)
    return np.sqrt(var)[: x.shape[0] - h + 1, : x.shape[1] - w + 1]


# --- agreement with OpenCV -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_gray_agrees_with_cv2_for_every_dtype(dtype):
    """Gray ZNCC equals TM_CCOEFF_NORMED within 1e-4 (exact integer path and float path)."""
    scene = texture((180, 230), 1).astype(dtype)
    template = scene[40:71, 90:127].copy()
    expected = cv2.matchTemplate(scene.astype(np.float32), template.astype(np.float32),
                                 cv2.TM_CCOEFF_NORMED)
    np.testing.assert_allclose(zncc(scene, template), expected, atol=1e-4)


def test_full_range_16_bit_agrees_with_cv2():
    """16-bit scenes using the whole range take the 64-bit exact window sums; still cv2's."""
    scene = (texture((150, 170), 27).astype(np.uint16) * 257) ^ np.uint16(0x5A)
    template = scene[30:62, 40:80].copy()
    expected = cv2.matchTemplate(scene.astype(np.float32), template.astype(np.float32),
                                 cv2.TM_CCOEFF_NORMED)
    np.testing.assert_allclose(zncc(scene, template), expected, atol=1e-4)


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_exact_integer_sums_equal_the_float64_path(channels):
    """8-bit scenes use packed integer window sums; they agree with the float64 path."""
    scene = np.stack([texture((120, 140), 28 + c) for c in range(channels)], axis=2)
    template = texture((21, 17, channels), 40)
    exact = zncc(scene, template)
    reference = zncc(scene.astype(np.float64), template.astype(np.float64))
    np.testing.assert_allclose(exact, reference, atol=2e-6)


def test_window_sums_past_32_bits_leave_the_packed_lanes():
    """A bright 200x200 colour window sums its squares past 2**32: packed 32-bit lanes would
    overflow, so the 64-bit sums are used, and the scores still equal the float64 path."""
    rng = np.random.default_rng(41)
    scene = rng.integers(200, 256, (230, 240, 3), dtype=np.uint8)
    template = scene[10:210, 20:220]
    assert (template.astype(np.int64) ** 2).sum() > 2**32
    exact = zncc(scene, template)
    reference = zncc(scene.astype(np.float64), template.astype(np.float64))
    np.testing.assert_allclose(exact, reference, atol=2e-6)


def test_exact_sums_are_chosen_by_the_largest_possible_window_sum():
    """Packed below 2**32, 64-bit below 2**63, float64 beyond (no exact integer path)."""
    assert exact_accumulator(2**16, 255, 1) == PACKED            # 4.3e9 > 2**16 * 65025
    assert exact_accumulator(2**16 + 1000, 255, 1) is np.uint64  # just past 2**32
    assert exact_accumulator(2**20, 65535, 3) is np.uint64
    assert exact_accumulator(2**31, 65535, 3) is None            # past 2**63


def test_colour_is_one_joint_zncc_like_cv2():
    """Colour scores pool all channels in one normalisation, exactly as OpenCV does."""
    scene = np.stack([texture((150, 170), s) for s in (2, 3, 4)], axis=2)
    template = texture((25, 33, 3), 5)
    expected = cv2.matchTemplate(scene, template, cv2.TM_CCOEFF_NORMED)
    np.testing.assert_allclose(zncc(scene, template), expected, atol=1e-4)


def test_agrees_with_cv2_where_windows_are_not_flat():
    """A scene with flat patches: agreement wherever the window has any contrast (std >= 1)."""
    scene = texture((200, 260), 6)
    scene[20:120, 30:150] = 77  # a flat patch larger than the template
    scene[150:, 200:] = 255  # and a saturated corner
    template = texture((24, 30), 7)
    expected = cv2.matchTemplate(scene, template, cv2.TM_CCOEFF_NORMED)
    got = zncc(scene, template)
    textured = _window_std(scene, 24, 30) >= 1.0
    assert textured.sum() > 1000 and (~textured).sum() > 1000
    np.testing.assert_allclose(got[textured], expected[textured], atol=1e-4)


def test_large_scene_agrees_with_cv2_across_fft_tiles():
    """A scene big enough to be cut into several FFT tiles still agrees everywhere."""
    scene = texture((900, 1100), 8, sigma=1.5)
    template = scene[300:364, 500:564].copy()
    expected = cv2.matchTemplate(scene, template, cv2.TM_CCOEFF_NORMED)
    np.testing.assert_allclose(zncc(scene, template), expected, atol=1e-4)


def test_gray_template_in_colour_scene_uses_the_scene_gray():
    """A gray template is compared with the BT.601 gray of a colour scene."""
    scene = np.stack([texture((90, 100), s) for s in (9, 10, 11)], axis=2)
    gray = scene.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    template = gray[20:45, 30:60].copy()
    expected = cv2.matchTemplate(gray.astype(np.float32), template.astype(np.float32),
                                 cv2.TM_CCOEFF_NORMED)
    np.testing.assert_allclose(zncc(scene, template), expected, atol=1e-4)


def test_gray_flag_converts_both():
    """--gray: colour scene and colour template compared as BT.601 gray (OpenCV's score)."""
    scene = np.stack([texture((80, 90), s) for s in (12, 13, 14)], axis=2)
    template = scene[10:30, 20:45].copy()
    weights = np.array([0.299, 0.587, 0.114])
    expected = cv2.matchTemplate((scene.astype(np.float64) @ weights).astype(np.float32),
                                 (template.astype(np.float64) @ weights).astype(np.float32),
                                 cv2.TM_CCOEFF_NORMED)
    np.testing.assert_allclose(zncc(scene, template, gray=True), expected, atol=1e-4)


def test_alpha_channel_is_ignored():
    """An RGBA scene matches as its RGB part: alpha is not a colour."""
    rgb = np.stack([texture((60, 70), s) for s in (15, 16, 17)], axis=2)
    rgba = np.concatenate([rgb, np.full((60, 70, 1), 255, np.uint8)], axis=2)
    template = rgb[5:25, 10:30]
    np.testing.assert_array_equal(zncc(rgba, template), zncc(rgb, template))


# --- invariants -----------------------------------------------------------------------------


def test_perfect_match_scores_plus_one():
    """The template cut from the scene scores +1 at its own place."""
    scene = texture((100, 120), 18)
    scores = zncc(scene, scene[30:50, 40:75])
    assert scores[30, 40] == pytest.approx(1.0, abs=1e-6)


def test_inverted_template_scores_minus_one():
    """The photographic negative of the window scores -1 there."""
    scene = texture((100, 120), 19)
    scores = zncc(scene, 255 - scene[30:50, 40:75])
    assert scores[30, 40] == pytest.approx(-1.0, abs=1e-6)


def test_brightness_and_contrast_do_not_change_the_score():
    """ZNCC is invariant to a*scene + b (a > 0): the whole map stays the same."""
    scene = texture((80, 90), 20).astype(np.float64)
    template = scene[10:30, 20:40].copy()
    np.testing.assert_allclose(zncc(0.5 * scene + 60, template), zncc(scene, template),
                               atol=1e-9)


def test_flat_scene_scores_zero_without_nan():
    """A constant scene has no contrast anywhere: every score is 0, none NaN."""
    scores = zncc(np.full((40, 50), 128, np.uint8), texture((10, 12), 21))
    assert not np.isnan(scores).any() and np.all(scores == 0)


def test_all_zero_scene_scores_zero_without_warnings():
    """An all-black scene does not divide by zero (no warnings, no NaN), on any thread.

    The division happens on worker threads, which np.errstate does not reach; warning
    filters are process-wide, so "error" turns a RuntimeWarning there into an exception
    that the pool re-raises here. workers=2 makes sure the threaded path runs.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = zncc(np.zeros((40, 50)), texture((10, 12), 22).astype(float), workers=2)
    assert np.all(scores == 0)


def test_flat_template_scores_zero():
    """A flat template correlates with nothing: 0, never NaN or 1."""
    scores = zncc(texture((40, 50), 23), np.full((8, 8), 9, np.uint8))
    assert np.all(scores == 0)


def test_flat_window_scores_zero_not_one():
    """A flat window next to textured ones scores exactly 0 (guarded denominator)."""
    scene = texture((60, 60), 24)
    scene[:30, :30] = 50
    scores = zncc(scene, texture((10, 10), 25))
    assert np.all(scores[:21, :21] == 0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 12), w=st.integers(1, 12),
       levels=st.sampled_from([2, 3, 256]))
def test_scores_stay_in_range_and_finite(seed, h, w, levels):
    """For any content (even two-level images full of flat windows) scores are in [-1, 1]."""
    rng = np.random.default_rng(seed)
    scene = rng.integers(0, levels, (20, 24)).astype(np.uint8)
    template = rng.integers(0, levels, (h, w)).astype(np.uint8)
    scores = zncc(scene, template)
    assert np.isfinite(scores).all()
    assert scores.min() >= -1.0 and scores.max() <= 1.0


def test_template_larger_than_scene_is_a_processing_error():
    """A template that does not fit the scene is a data problem (exit 1), named clearly."""
    with pytest.raises(ProcessingError, match="larger than the scene"):
        zncc(np.zeros((10, 10)), np.zeros((11, 5)))


def test_channel_mismatch_is_a_processing_error():
    """Two colour arrays with different channel counts cannot be compared (a data problem).

    (Two channels are gray+alpha, and gray meets colour as BT.601 gray, so 3 against 5.)
    """
    with pytest.raises(ProcessingError, match="scene has 3 channels but template has 5"):
        zncc(np.zeros((10, 10, 3)), np.zeros((4, 4, 5)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_refused(bad):
    """NaN or infinity would poison a whole FFT tile: refused with a clear error."""
    scene = texture((30, 30), 26).astype(np.float32)
    scene[3, 4] = bad
    with pytest.raises(ProcessingError, match="NaN or infinite"):
        zncc(scene, scene[10:20, 10:20].copy())


# --- find: location, robustness and the search ------------------------------------------------


def _planted(seed=30, shape=(240, 320), at=(70, 150), size=(40, 48)):
    """A textured scene with a distinct textured patch planted at ``at`` (row, col)."""
    scene = texture(shape, seed, sigma=2.5)
    patch = texture(size, seed + 1, sigma=2.0)
    y, x = at
    scene[y:y + size[0], x:x + size[1]] = patch
    return scene, patch


def test_planted_template_found_at_its_exact_place():
    """find() reports the top-left corner (x = column, y = row) and the box size."""
    scene, patch = _planted()
    (match,) = find(scene, patch)
    assert (match.x, match.y, match.width, match.height) == (150, 70, 48, 40)
    assert match.score == pytest.approx(1.0, abs=1e-5) and match.scale == 1.0


def test_found_after_brightness_and_contrast_change():
    """A darker, lower-contrast scene still yields the same place above the threshold."""
    scene, patch = _planted()
    changed = np.clip(0.6 * scene.astype(np.float32) + 40, 0, 255).astype(np.uint8)
    (match,) = find(changed, patch)
    assert (match.x, match.y) == (150, 70) and match.score > 0.95


def test_found_after_gaussian_noise():
    """Gaussian noise of sigma 8 (on 0..255) lowers the score but not below 0.8."""
    scene, patch = _planted()
    rng = np.random.default_rng(31)
    noisy = np.clip(scene + rng.normal(0, 8, scene.shape), 0, 255).astype(np.uint8)
    (match,) = find(noisy, patch)
    assert (match.x, match.y) == (150, 70) and match.score >= 0.8


def test_found_after_jpeg_quality_70():
    """JPEG artefacts at quality 70 do not move or lose the match."""
    scene, patch = _planted()
    ok, data = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    (match,) = find(decoded, patch)
    assert (match.x, match.y) == (150, 70) and match.score >= 0.9


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_found_in_a_rescaled_scene_with_scales(factor):
    """A scene resized by 0.8 or 1.25 is matched by searching template scales 0.7..1.4."""
    scene, patch = _planted()
    size = (round(scene.shape[1] * factor), round(scene.shape[0] * factor))
    resized = cv2.resize(scene, size, interpolation=cv2.INTER_AREA if factor < 1
                         else cv2.INTER_LINEAR)
    (match,) = find(resized, patch, scales=_geometric(0.7, 1.4, 13))
    assert match.score >= 0.8
    assert abs(match.x - 150 * factor) <= 2 and abs(match.y - 70 * factor) <= 2
    assert abs(match.width - 48 * factor) <= 3 and abs(match.height - 40 * factor) <= 3


def test_rescaled_scene_is_missed_at_scale_one():
    """Without --scales the rescaled scene scores clearly lower (why --scales exists)."""
    scene, patch = _planted()
    resized = cv2.resize(scene, (400, 300), interpolation=cv2.INTER_LINEAR)
    with_scales = search(resized, patch, scales=_geometric(1, 1.5, 9)).best
    without = search(resized, patch).best
    assert with_scales.score > without.score + 0.1


def test_absent_template_not_found_at_default_threshold():
    """A patch that is not in the scene is reported as no match (best score < 0.8)."""
    scene, _ = _planted()
    stranger = texture((40, 48), 99, sigma=2.0)
    result = search(scene, stranger)
    assert result.matches == [] and result.best.score < 0.8


def test_top_k_finds_three_planted_copies_without_duplicates():
    """--top-k 3: the three copies, best first, and no box overlapping another by > half."""
    scene = texture((260, 340), 40, sigma=2.5)
    patch = texture((30, 36), 41, sigma=2.0)
    places = [(20, 30), (120, 200), (200, 60)]
    for y, x in places:
        scene[y:y + 30, x:x + 36] = patch
    matches = find(scene, patch, top_k=3)
    assert sorted((m.y, m.x) for m in matches) == sorted(places)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_top_k_suppresses_overlapping_boxes():
    """With a low threshold, top-k never returns two boxes sharing > half the smaller one."""
    scene = texture((120, 140), 42, sigma=4.0)
    matches = find(scene, scene[40:70, 50:80], top_k=15, threshold=-1.0,
                   scales=[0.8, 1.0, 1.2])
    assert len(matches) == 15
    for i, a in enumerate(matches):
        for b in matches[i + 1:]:
            dx = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
            dy = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
            overlap = max(dx, 0) * max(dy, 0)
            assert overlap <= 0.5 * min(a.width * a.height, b.width * b.height)


def test_scales_that_do_not_fit_are_skipped():
    """Scales at which the template outgrows the scene are skipped, the rest searched."""
    scene, patch = _planted(shape=(60, 70), at=(10, 12), size=(40, 48))
    (match,) = find(scene, patch, scales=[1.0, 2.0])
    assert (match.x, match.y, match.scale) == (12, 10, 1.0)


def test_sizes_in_messages_are_width_by_height():
    """A 30-wide, 50-tall template in a 40-wide, 20-tall scene: both sizes as WxH, never HxW."""
    scene, template = np.zeros((20, 40)), np.zeros((50, 30))
    with pytest.raises(ProcessingError, match=r"template 30x50 .* scene 40x20"):
        zncc(scene, template)
    with pytest.raises(ProcessingError, match=r"template 30x50 .* scene 40x20 .* smallest, 15x25"):
        find(scene, template, scales=[0.5, 1.0])


def test_no_fitting_scale_is_a_processing_error():
    """If no scale fits, the template is larger than the scene: exit-1 kind of error."""
    with pytest.raises(ProcessingError, match="larger than the scene"):
        find(np.zeros((20, 20)), np.zeros((15, 15)), scales=[1.5, 2.0])


def test_coarse_to_fine_equals_exhaustive_search():
    """The pyramid only nominates places: boxes and scores equal the exhaustive search's."""
    scene = texture((600, 640), 50, sigma=3.0)
    template = scene[200:272, 300:380].copy()
    scales = _geometric(0.6, 1.6, 5)
    fast = find(scene, template, scales=scales, top_k=3, threshold=0.3)
    slow = find(scene, template, scales=scales, top_k=3, threshold=0.3, exhaustive=True)
    assert len(fast) == 3
    assert [(m.x, m.y, m.width, m.height, m.scale) for m in fast] == \
        [(m.x, m.y, m.width, m.height, m.scale) for m in slow]
    np.testing.assert_allclose([m.score for m in fast], [m.score for m in slow], atol=1e-5)


def test_coarse_to_fine_finds_the_exact_place_at_scale_one():
    """A large template in a large scene (pyramid path) is still placed to the pixel."""
    scene, patch = _planted(seed=51, shape=(700, 760), at=(333, 457), size=(80, 96))
    (match,) = find(scene, patch)
    assert (match.x, match.y, match.width, match.height) == (457, 333, 96, 80)
    assert match.score == pytest.approx(1.0, abs=1e-5)


def test_search_keeps_the_scale_one_map():
    """The scale-1 score map (for --heatmap) is returned when scale 1 was searched."""
    scene, patch = _planted()
    result = search(scene, patch, scales=[0.9, 1.0])
    np.testing.assert_array_equal(result.score_map, zncc(scene, patch))
    assert search(scene, patch, scales=[0.9]).score_map is None


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"threshold": 1.5}, "threshold"), ({"threshold": float("nan")}, "threshold"),
    ({"threshold": "high"}, "threshold"), ({"top_k": 0}, "top_k"), ({"top_k": 1.5}, "top_k"),
    ({"scales": [0.0]}, "scales"), ({"scales": []}, "scales"),
    ({"scales": [float("inf")]}, "scales"), ({"scales": [1.0] * (MAX_SCALES + 1)}, "scales"),
])
def test_bad_parameters_are_usage_errors(kwargs, word):
    """Out-of-range parameters raise UsageError naming the Python parameter, first word.

    The core speaks parameter names (the CLI turns them into flags through one table), so
    the message starts with the name and ``parameter`` carries it.
    """
    with pytest.raises(UsageError, match=f"^{word} ") as info:
        find(np.zeros((10, 10)), np.zeros((3, 3)), **kwargs)
    assert info.value.parameter == word

"""Masked ZNCC (template alpha as a mask) against a naive loop, OpenCV, and plain ZNCC."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvtool.errors import ProcessingError
from cvtool.matching import zncc
from cvtool.matching.masked import zncc_masked


def naive_masked(scene: np.ndarray, template: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The definition, window by window, in float64 (flat windows score 0)."""
    scene = scene.astype(np.float64)
    template = template.astype(np.float64)
    if scene.ndim == 2:
        scene, template = scene[:, :, None], template[:, :, None]
    h, w = template.shape[:2]
    n = mask.sum()
    tm = (mask[:, :, None] * template).sum(axis=(0, 1)) / n
    td = template - tm
    te = (mask[:, :, None] * td * td).sum()
    out = np.zeros((scene.shape[0] - h + 1, scene.shape[1] - w + 1))
    peak = np.abs(scene).max()
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            win = scene[i:i + h, j:j + w]
            wm = (mask[:, :, None] * win).sum(axis=(0, 1)) / n
            wd = win - wm
            we = (mask[:, :, None] * wd * wd).sum()
            if we <= n * scene.shape[2] * (1e-5 * peak) ** 2 or te == 0:
                continue
            out[i, j] = (mask[:, :, None] * td * wd).sum() / np.sqrt(te * we)
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(4, 14), st.integers(4, 14), st.integers(1, 4), st.integers(1, 4),
       st.sampled_from([1, 3]), st.booleans(), st.integers(0, 2**31 - 1))
def test_matches_naive_oracle(sh, sw, th, tw, channels, fractional, seed):
    """Every entry equals the window-by-window definition, for any shape, channel count and
    binary or fractional mask (the FFT sums and the energy difference are exact enough)."""
    rng = np.random.default_rng(seed)
    shape = (sh, sw) if channels == 1 else (sh, sw, channels)
    scene = rng.integers(0, 256, shape).astype(np.uint8)
    template = scene[:th, :tw].copy() if rng.random() < 0.5 else rng.integers(
        0, 256, (th, tw) + shape[2:]).astype(np.uint8)
    mask = rng.random((th, tw)) if fractional else (rng.random((th, tw)) < 0.6).astype(float)
    mask[0, 0] = max(mask[0, 0], 0.5)  # at least one weight
    got = zncc_masked(scene, template, mask)
    want = naive_masked(scene, template, mask)
    np.testing.assert_allclose(got, want, atol=1e-7)


def test_binary_mask_equals_opencv():
    """With a 0/1 mask the score is OpenCV's TM_CCOEFF_NORMED with that mask (colour, joint)."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(4)
    scene = rng.integers(0, 256, (40, 50, 3)).astype(np.float32)
    template = scene[10:22, 7:20].copy()
    mask = (rng.random(template.shape[:2]) < 0.7).astype(np.float32)
    want = cv2.matchTemplate(scene, template, cv2.TM_CCOEFF_NORMED,
                             mask=np.repeat(mask[:, :, None], 3, axis=2))
    got = zncc_masked(scene, template, mask)
    np.testing.assert_allclose(got, want, atol=2e-4)


def test_masked_pixels_do_not_vote():
    """Pixels under a zero weight may hold anything: the true place still scores exactly 1."""
    rng = np.random.default_rng(5)
    scene = rng.random((30, 30))
    template = scene[5:15, 8:18].copy()
    mask = np.ones((10, 10))
    mask[:, :4] = 0
    template[:, :4] = 1000.0  # a background that would dominate a plain ZNCC
    scores = zncc_masked(scene, template, mask)
    assert scores[5, 8] == pytest.approx(1.0, abs=1e-9)
    assert zncc(scene, template)[5, 8] < 0.5


def test_full_mask_equals_plain_zncc():
    """An all-ones mask is the plain ZNCC (the unmasked method's scores are unchanged)."""
    rng = np.random.default_rng(6)
    scene = rng.integers(0, 256, (25, 31, 3)).astype(np.uint8)
    template = rng.integers(0, 256, (7, 9, 3)).astype(np.uint8)
    np.testing.assert_allclose(zncc_masked(scene, template, np.ones((7, 9))),
                               zncc(scene, template), atol=1e-5)


def test_alpha_is_the_default_mask():
    """Without ``mask``, the template's alpha (as a fraction of 255) is the mask."""
    rng = np.random.default_rng(7)
    scene = rng.integers(0, 256, (20, 20, 3)).astype(np.uint8)
    rgba = np.dstack([scene[3:11, 4:12], rng.integers(0, 256, (8, 8)).astype(np.uint8)])
    np.testing.assert_allclose(zncc_masked(scene, rgba),
                               zncc_masked(scene, rgba[:, :, :3], rgba[:, :, 3] / 255.0))


def test_flat_windows_score_zero_not_nan():
    """A flat window (or a flat masked template) scores 0, never NaN or ±1."""
    scene = np.zeros((20, 20))
    scene[10:, 10:] = np.random.default_rng(8).random((10, 10))
    template = np.random.default_rng(9).random((5, 5))
    scores = zncc_masked(scene, template, np.ones((5, 5)))
    assert np.isfinite(scores).all()
    assert (scores[:5, :5] == 0).all()
    flat = zncc_masked(scene, np.full((5, 5), 3.0), np.ones((5, 5)))
    assert (flat == 0).all()


def test_scores_bounded():
    """Scores lie in [-1, 1] whatever the data (rounding never pushes them out)."""
    rng = np.random.default_rng(10)
    scene = rng.normal(size=(30, 30)) * 1e6 + 1e7
    scores = zncc_masked(scene, scene[:6, :6], rng.random((6, 6)))
    assert scores.min() >= -1 and scores.max() <= 1


@pytest.mark.parametrize("mask, word", [(np.zeros((4, 4)), "no pixel"),
                                        (np.ones((3, 4)), "4x4"),
                                        (-np.ones((4, 4)), ">= 0")])
def test_bad_masks_are_refused(mask, word):
    """An empty, mis-sized or negative mask is a ProcessingError naming ``mask``."""
    with pytest.raises(ProcessingError, match=word) as info:
        zncc_masked(np.zeros((10, 10)), np.ones((4, 4)), mask)
    assert info.value.parameter == "mask"

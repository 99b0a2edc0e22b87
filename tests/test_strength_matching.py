"""Template matching rules that the older tests bounded from one side only, checked exactly.

Found by breaking the code on purpose: suppressing boxes that overlap by a quarter (instead of
a half) or at exactly a half, refusing a score equal to the threshold, and dropping the
flat-window floor all passed the earlier suite, whose checks were one-sided ("no two boxes
overlap by more than half", "a planted copy is found", uint8 flat windows whose sums are
exact anyway). The oracles here are written in the test: a greedy suppression loop of a few
lines, cv2.matchTemplate, and literal pixel values.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import cvtool


def _overlap(a: tuple[int, int], b: tuple[int, int], h: int, w: int) -> int:
    dy = min(a[0], b[0]) + h - max(a[0], b[0])
    dx = min(a[1], b[1]) + w - max(a[1], b[1])
    return max(dy, 0) * max(dx, 0)


def _greedy(scores: np.ndarray, h: int, w: int, k: int, threshold: float, fraction: float = 0.5,
            strict: bool = True) -> list[tuple[int, int]]:
    """Greedy non-maximum suppression written from the contract: best first, dropping every
    position whose box shares more than ``fraction`` of the (equal) box area with a kept one."""
    order = np.argsort(-scores, axis=None, kind="stable")
    kept: list[tuple[int, int]] = []
    limit = fraction * h * w
    for flat in order:
        y, x = divmod(int(flat), scores.shape[1])
        if scores[y, x] < threshold or len(kept) == k:
            break
        if all((_overlap((y, x), p, h, w) <= limit) if strict else
               (_overlap((y, x), p, h, w) < limit) for p in kept):
            kept.append((y, x))
    return kept


def _scene(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((48, 56))
    return cv2.GaussianBlur(noise, (0, 0), 2.0)  # smooth: many high-scoring neighbours


@pytest.mark.parametrize(("seed", "size"), [(1, (10, 10)), (2, (8, 12)), (3, (12, 6))])
def test_top_k_suppression_is_greedy_at_exactly_half(seed, size):
    """top-k keeps exactly what greedy suppression at "more than half" keeps: not more (a
    looser rule) and not fewer (a stricter one, or suppressing at exactly half)."""
    scene = _scene(seed)
    h, w = size
    template = scene[20:20 + h, 25:25 + w].copy()
    scores = cvtool.zncc(scene, template)
    k = 25
    expected = _greedy(scores, h, w, k, threshold=-1.0)
    got = [(m.y, m.x) for m in cvtool.find(scene, template, threshold=-1.0, top_k=k)]
    assert got == expected
    # The scene really separates the rules: a quarter, or ">= half", would keep other boxes.
    assert _greedy(scores, h, w, k, -1.0, fraction=0.25) != expected
    assert _greedy(scores, h, w, k, -1.0, strict=False) != expected
    assert _greedy(scores, h, w, k, -1.0, fraction=0.75) != expected


def test_a_score_equal_to_the_threshold_counts():
    """"The least score that counts as found": a match scoring exactly the threshold is kept."""
    scene = _scene(4)
    template = scene[5:15, 30:42] + 0.3 * _scene(5)[:10, :12]  # not a copy: score below 1
    best = cvtool.find(scene, template, threshold=-1.0)[0]
    assert best.score < 0.999
    at = cvtool.find(scene, template, threshold=best.score)
    assert [(m.x, m.y, m.score) for m in at] == [(best.x, best.y, best.score)]
    above = np.nextafter(best.score, 2.0)
    assert cvtool.find(scene, template, threshold=above) == []


@pytest.mark.parametrize("value", [0.1, 1 / 3, 0.7, 1e-3])
def test_flat_float_windows_score_exactly_zero(value):
    """A float64 scene with a flat patch whose value is not exact in binary: windows inside it
    score exactly 0 (rounding in running sums leaves ~1e-17 of "energy" there, and dividing by
    its root gave ratios of rounding errors)."""
    rng = np.random.default_rng(8)
    scene = rng.random((40, 50))
    scene[5:30, 10:40] = value
    scores = cvtool.zncc(scene, rng.random((6, 7)))
    assert np.all(scores[5:30 - 5, 10:40 - 6] == 0.0)


@pytest.mark.parametrize("value", [0.1, 1 / 3, 0.7])
def test_flat_float_template_scores_exactly_zero(value):
    """A flat float template (value not exact in binary) correlates with nothing: 0, not 1."""
    scene = np.random.default_rng(9).random((30, 40))
    scores = cvtool.zncc(scene, np.full((6, 7), value))
    assert np.all(scores == 0.0)


def test_scores_equal_opencv_away_from_flat_windows():
    """The score map is cv2.matchTemplate(TM_CCOEFF_NORMED), an implementation not ours."""
    scene = _scene(10).astype(np.float32)
    template = scene[12:22, 3:17].copy()
    expected = cv2.matchTemplate(scene, template, cv2.TM_CCOEFF_NORMED)
    np.testing.assert_allclose(cvtool.zncc(scene, template), expected, atol=2e-4)


def _window_aligned(heat: np.ndarray, scene_shape, template_shape) -> np.ndarray:
    """The heatmap's pixels for each window position (row, col), whichever geometry it has:
    the scene's size with each score under its window's centre (h//2, w//2), zero where no
    window fits, or (older layout) the bare (H-h+1)×(W-w+1) score map. Only the value mapping
    is under test here; the geometry has its own tests."""
    (big_h, big_w), (h, w) = scene_shape[:2], template_shape[:2]
    rows, cols = big_h - h + 1, big_w - w + 1
    if heat.shape[:2] == (rows, cols):
        return heat
    assert heat.shape[:2] == (big_h, big_w)
    inner = heat[h // 2:h // 2 + rows, w // 2:w // 2 + cols]
    outside = heat.copy()
    outside[h // 2:h // 2 + rows, w // 2:w // 2 + cols] = 0
    assert not outside.any()  # pixels where no window fits are 0
    return inner


def _heatmap_scene():
    rng = np.random.default_rng(12)
    scene = np.full((40, 60), 100, np.uint8)  # flat: windows there score 0
    template = rng.integers(0, 256, (8, 10), dtype=np.uint8)
    scene[4:12, 6:16] = template  # an exact copy: +1
    scene[25:33, 40:50] = 255 - template  # an inverted copy: -1
    return scene, template


def test_heatmap_png_maps_minus_one_zero_one_to_0_128_255(invoke, tmp_path):
    """--heatmap to PNG: score s becomes round((s + 1)·127.5): -1 -> 0, 0 -> 128 (127.5 rounds
    to even), +1 -> 255."""
    scene, template = _heatmap_scene()
    src, tpl, heat = tmp_path / "scene.png", tmp_path / "t.png", tmp_path / "heat.png"
    cv2.imwrite(str(src), scene)
    cv2.imwrite(str(tpl), template)
    result = invoke("find-waldo", src, "-t", tpl, "--heatmap", heat, "--threshold", "0.5")
    assert result.exit_code == 0, result.output
    got = _window_aligned(cv2.imread(str(heat), cv2.IMREAD_UNCHANGED), scene.shape,
                          template.shape)
    assert got.dtype == np.uint8
    assert got[4, 6] == 255  # the window on the exact copy
    assert got[25, 40] == 0  # the window on the inverted copy
    assert got[20, 20] == 128  # a window wholly inside the flat background


def test_heatmap_png_equals_opencv_scores_mapped(invoke, tmp_path):
    """Every heatmap pixel is cv2.matchTemplate's score mapped by (s + 1)·127.5, within one
    level (float32 rounding at .5 boundaries)."""
    scene = (np.clip(_scene(13) * 60 + 128, 0, 255)).astype(np.uint8)
    template = scene[10:19, 20:31].copy()
    src, tpl, heat = tmp_path / "scene.png", tmp_path / "t.png", tmp_path / "heat.png"
    cv2.imwrite(str(src), scene)
    cv2.imwrite(str(tpl), template)
    assert invoke("find-waldo", src, "-t", tpl, "--heatmap", heat).exit_code == 0
    got = _window_aligned(cv2.imread(str(heat), cv2.IMREAD_UNCHANGED), scene.shape,
                          template.shape).astype(int)
    scores = cv2.matchTemplate(scene.astype(np.float32), template.astype(np.float32),
                               cv2.TM_CCOEFF_NORMED)
    expected = np.rint((scores.astype(np.float64) + 1) * 127.5)
    assert np.abs(got - expected).max() <= 1
    assert got[10, 20] == 255

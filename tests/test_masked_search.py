"""Masked ZNCC as a search score (cvtool.matching.masked_search): alpha decides who votes."""

from __future__ import annotations

import numpy as np

from cvtool.matching import ZNCC, search
from cvtool.matching.masked import zncc_masked
from cvtool.matching.masked_search import MASKED_ZNCC


def _scene(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)


def test_opaque_alpha_is_bit_identical_to_the_unmasked_search():
    """A fully opaque alpha masks nothing: matches and score map are today's, bit for bit."""
    scene = _scene()
    rgb = scene[20:60, 30:70].copy()
    rgb[::3] = 200 - rgb[::3]  # not an exact copy, so scores are not all 1
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    options = dict(threshold=0.1, top_k=3, scales=[0.8, 1.0, 1.25])
    plain = search(scene, rgb, score=ZNCC, **options)
    masked = search(scene, rgba, score=MASKED_ZNCC, **options)
    assert masked.matches == plain.matches
    assert masked.best == plain.best
    assert np.array_equal(masked.score_map, plain.score_map)
    assert masked.score_map.dtype == plain.score_map.dtype


def test_masked_score_map_is_zncc_masked_and_ignores_the_masked_pixels():
    """With a partial alpha, the scale-1 map is zncc_masked's, and the true place scores 1
    although the transparent pixels were changed (they must not vote)."""
    scene = _scene(4)
    template = scene[25:55, 40:64].copy()
    alpha = np.full(template.shape[:2], 255, np.uint8)
    alpha[:, :6] = 0
    template[:, :6] = 17  # lies under the transparent part
    rgba = np.dstack([template, alpha])
    result = search(scene, rgba, score=MASKED_ZNCC, threshold=0.9)
    expected = zncc_masked(scene, template, alpha / 255.0)
    np.testing.assert_array_equal(result.score_map, expected)
    best = result.matches[0]
    assert (best.x, best.y, best.width, best.height) == (40, 25, 24, 30)
    assert best.score > 0.999999
    # The unmasked score at the same place is well below: the mask is what found it.
    assert search(scene, rgba, threshold=-1).best.score < 0.95


def test_masked_search_runs_every_scale_and_suppresses_across_them():
    """Scales, top-k and one suppression work for the masked score as for plain ZNCC."""
    rng = np.random.default_rng(5)
    scene = rng.random((100, 140))
    template = rng.random((20, 16))
    scene[10:30, 10:26] = template
    from cvtool.imaging.resample import resize

    scene[50:90, 80:112] = resize(template, (40, 32))
    mask = np.ones((20, 16))
    mask[:4] = 0
    stacked = np.dstack([template, mask])
    result = search(scene, stacked, score=MASKED_ZNCC, scales=[1.0, 2.0], top_k=5,
                    threshold=0.95)
    boxes = sorted((m.x, m.y, m.width, m.height, m.scale) for m in result.matches)
    assert boxes == [(10, 10, 16, 20, 1.0), (80, 50, 32, 40, 2.0)]

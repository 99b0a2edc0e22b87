"""search() takes its score as a strategy: any score map plugs into scales, peaks and suppression.

The score here is minus the sum of squared differences (0 for an exact copy, lower elsewhere),
computed by brute force, with no pyramid: the search must ask it for full-resolution maps only,
check the threshold against its bounds, and pick and suppress its peaks as it does ZNCC's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import correlate

from cvtool.errors import UsageError
from cvtool.imaging.resample import resize
from cvtool.matching import ZNCC, find, search, zncc


class _SsdScorer:
    pyramid = False

    def __init__(self, scene: np.ndarray, template: np.ndarray) -> None:
        self.scene, self.full = scene.astype(np.float64), template.astype(np.float64)
        self.shape, self.size = scene.shape[:2], template.shape[:2]
        self.calls: list[tuple] = []

    def template(self, size):
        return self.full if tuple(size) == self.size else resize(self.full, tuple(size))

    def scores(self, template, *, level=0, window=None, workers=None):
        assert level == 0 and window is None, "a scorer without a pyramid got a coarse request"
        self.calls.append(template.shape)
        h, w = template.shape
        # sum((W - T)^2) = sum(W^2) - 2 sum(W T) + sum(T^2), window sums from an integral image.
        integral = np.pad(np.cumsum(np.cumsum(self.scene**2, 0), 1), ((1, 0), (1, 0)))
        energy = integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]
        cross = correlate(self.scene, template, mode="valid", method="direct" if h * w < 64
                          else "fft")
        return np.minimum(-(energy - 2 * cross + (template**2).sum()), 0.0)


class _Ssd:
    bounds = (-math.inf, 0.0)

    def __init__(self):
        self.scorers: list[_SsdScorer] = []

    def prepare(self, scene, template, *, gray=False):
        self.scorers.append(_SsdScorer(np.asarray(scene), np.asarray(template)))
        return self.scorers[-1]


def _scene(shape=(60, 70), seed=3):
    return np.random.default_rng(seed).random(shape)


def test_another_score_finds_the_exact_copy_with_its_own_scores():
    """With the SSD score, the copy is found where it is, scoring exactly 0."""
    scene = _scene()
    score = _Ssd()
    result = search(scene, scene[12:22, 30:44], threshold=-1e-9, score=score)
    (match,) = result.matches
    assert (match.x, match.y, match.width, match.height) == (30, 12, 14, 10)
    assert match.score == pytest.approx(0.0, abs=1e-9)
    assert result.score_map.shape == (51, 57)


def test_threshold_is_checked_against_the_scores_own_bounds():
    """SSD scores are <= 0: a threshold of 0.5 is refused, naming ``threshold``."""
    with pytest.raises(UsageError, match="^threshold must be between -inf and 0") as info:
        find(_scene(), _scene()[:4, :4], threshold=0.5, score=_Ssd())
    assert info.value.parameter == "threshold"


def test_a_score_without_a_pyramid_is_searched_exhaustively_at_every_scale():
    """A template and scene this large go coarse-to-fine with ZNCC; not with this score."""
    scene = _scene((600, 640), 4)
    template = scene[100:140, 150:190]
    assert search(scene, template).score_map is None  # ZNCC went coarse-to-fine here
    score = _Ssd()
    matches = find(scene, template, scales=(0.9, 1.0), threshold=-1e-6, score=score)
    assert [(m.x, m.y, m.scale) for m in matches] == [(150, 100, 1.0)]
    assert score.scorers[0].calls == [(36, 36), (40, 40)]


def test_suppression_applies_to_any_score():
    """top_k boxes from another score never overlap by more than half the smaller box."""
    scene = _scene((40, 50), 5)
    matches = find(scene, scene[10:20, 10:20], top_k=6, threshold=-math.inf, score=_Ssd())
    assert len(matches) == 6
    for i, a in enumerate(matches):
        for b in matches[i + 1:]:
            dx = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
            dy = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
            assert max(dx, 0) * max(dy, 0) <= 50


def test_zncc_is_the_default_score():
    """score=ZNCC is what search uses when none is given (same map, same matches)."""
    scene = _scene()
    template = scene[5:20, 7:25]
    plain, explicit = search(scene, template), search(scene, template, score=ZNCC)
    assert plain.matches == explicit.matches
    np.testing.assert_array_equal(plain.score_map, explicit.score_map)
    np.testing.assert_array_equal(plain.score_map, zncc(scene, template))

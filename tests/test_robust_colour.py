"""The robust matcher and colour: a colour cast is forgiven, another colouring is not.

Its colour features are centred on each window's mean only by half (``COLOUR_CENTRING``):
all of it also cancelled a change of the figure's own colours, so a look-alike dressed in
other colours scored like the character.
"""

from __future__ import annotations

import numpy as np
import pytest

from cvtool.matching.robust import (
    DEFAULT_THRESHOLD,
    character_mask,
    find_robust,
)


def _pasted(figure: np.ndarray) -> np.ndarray:
    """The figure (its grey margin too) on a plain noisy ground at (70, 60)."""
    rng = np.random.default_rng(3)
    scene = rng.random((260, 220, 3)) * 60 + 100
    h, w = figure.shape[:2]
    scene[60:60 + h, 70:70 + w] = figure
    return np.clip(np.rint(scene), 0, 255).astype(np.uint8)


def _score_at_home(template, figure: np.ndarray) -> float:
    result = find_robust(_pasted(figure), template, scales=[1.0], angles=[0.0], threshold=0.0)
    assert (result.best.x, result.best.y) == (74, 64)  # the character, inside the margin
    return result.best.score


def test_a_colour_cast_is_forgiven(waldo_drawing, robust_template):
    """The same drawing under a cast (gains 0.8, 1, 1.2 and offsets on R, G, B) still scores
    near an exact copy: 0.985 with half the window's mean colour removed (none removed:
    0.963; a quarter: 0.975)."""
    gains, offsets = np.array([0.8, 1.0, 1.2]), np.array([10.0, 0.0, -10.0])
    cast = np.clip(waldo_drawing * gains + offsets, 0, 255)
    assert _score_at_home(robust_template, cast) >= 0.98


def test_the_same_figure_in_other_colours_is_not_reported(waldo_drawing, robust_template):
    """Red and blue swapped on the character only (blue stripes, red trousers: someone
    else) scores below the default threshold; with the window's whole mean colour removed
    it scored 0.83, above it."""
    rgb = waldo_drawing.astype(np.float64)
    mask = character_mask(waldo_drawing) > 0.5
    swapped = rgb.copy()
    swapped[mask] = rgb[mask][:, [2, 1, 0]]
    assert _score_at_home(robust_template, swapped) < DEFAULT_THRESHOLD


def test_coarse_scores_match_a_loop(robust_template):
    """The coarse search's FFT score at a few windows equals its definition computed by a
    plain loop: numerator ``sum w (t - m_t Q)(x - m_x Q)`` with the partial centring ``Q``
    (built here from its definition, ``W^-1 diag(a, a, 1, ..., 1) W``; Q is not symmetric),
    over the window's energy about the scene's mean, on maps with colour offsets."""
    from cvtool.matching.robust import (
        COLOUR_CENTRING,
        FEATURE_WHITENING,
        _whole_scores,
    )

    whitening = FEATURE_WHITENING.astype(np.float64)
    keep = np.diag([COLOUR_CENTRING, COLOUR_CENTRING, 1, 1, 1, 1, 1.0])
    centring = np.linalg.inv(whitening) @ keep @ whitening
    pose = robust_template.pose(10.0)
    rng = np.random.default_rng(5)
    maps = rng.normal(0, 1, (30, 26, 7)) + np.array([1.5, -2, 3, 0.2, 0.1, 0, 0])
    maps[..., :2] += np.linspace(0, 3, 26)[None, :, None]  # a colour gradient across
    maps = maps.astype(np.float32)
    got = _whole_scores(maps, [pose], workers=1, whole_only=True)[0]
    weights, _, t_energy, _ = pose.coarse[0]
    t = pose.features.astype(np.float64)
    ph, pw = weights.shape
    mt = np.einsum("ij,ijc->c", weights, t) / weights.sum()
    scene_mean = maps.astype(np.float64).mean(axis=(0, 1))
    for y, x in [(0, 0), (3, 5), (30 - ph, 26 - pw), (7, 1)]:
        window = maps[y:y + ph, x:x + pw].astype(np.float64)
        mx = np.einsum("ij,ijc->c", weights, window) / weights.sum()
        num = np.einsum("ij,ijc->", weights, (t - mt @ centring) * (window - mx @ centring))
        energy = np.einsum("ij,ijc->", weights, (window - scene_mean) ** 2)
        assert got[y, x] == pytest.approx(num / np.sqrt(energy * t_energy), rel=1e-3, abs=1e-4)

"""The robust matcher and colour: a colour cast is forgiven, another colouring is not.

Its colour features are centred on each window's mean only by half (``COLOUR_CENTRING``):
all of it also cancelled a change of the figure's own colours, so a look-alike dressed in
other colours scored like the character.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from cvtool.matching.robust import (
    DEFAULT_THRESHOLD,
    character_mask,
    find_robust,
    prepare_robust,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks' renderer
from benchmarks import waldo_world as ww  # noqa: E402


@pytest.fixture(scope="module")
def drawing():
    return ww.make_template()


def _pasted(figure: np.ndarray) -> np.ndarray:
    """The figure (its grey margin too) on a plain noisy ground at (70, 60)."""
    rng = np.random.default_rng(3)
    scene = rng.random((260, 220, 3)) * 60 + 100
    h, w = figure.shape[:2]
    scene[60:60 + h, 70:70 + w] = figure
    return np.clip(np.rint(scene), 0, 255).astype(np.uint8)


def _score_at_home(drawing: np.ndarray, figure: np.ndarray) -> float:
    result = find_robust(_pasted(figure), prepare_robust(drawing), scales=[1.0], angles=[0.0],
                         threshold=0.0)
    assert (result.best.x, result.best.y) == (74, 64)  # the character, inside the margin
    return result.best.score


def test_a_colour_cast_is_forgiven(drawing):
    """The same drawing under a cast (gains 0.8, 1, 1.2 and offsets on R, G, B) still scores
    near an exact copy: 0.985 with half the window's mean colour removed (none removed:
    0.963; a quarter: 0.975)."""
    cast = np.clip(drawing * np.array([0.8, 1.0, 1.2]) + np.array([10.0, 0.0, -10.0]), 0, 255)
    assert _score_at_home(drawing, cast) >= 0.98


def test_the_same_figure_in_other_colours_is_not_reported(drawing):
    """Red and blue swapped on the character only (blue stripes, red trousers: someone
    else) scores below the default threshold; with the window's whole mean colour removed
    it scored 0.83, above it."""
    rgb = drawing.astype(np.float64)
    mask = character_mask(drawing) > 0.5
    swapped = rgb.copy()
    swapped[mask] = rgb[mask][:, [2, 1, 0]]
    assert _score_at_home(drawing, swapped) < DEFAULT_THRESHOLD

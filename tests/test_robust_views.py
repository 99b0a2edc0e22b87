"""The robust score's views: seeing less of the character is weaker evidence."""

from __future__ import annotations

import numpy as np
import pytest

from cvtool.matching.robust import VIEWS, _part_scores

#: The view that sees all but the legs (its parts: every part of the whole view but legs).
LEGS_HIDDEN = next(v for v, view in enumerate(VIEWS)
                   if set(view) == set(VIEWS[0]) - {"legs<", "legs>"})


def _view_scores(robust_template, pose, windows: np.ndarray) -> np.ndarray:
    """Each view's score (N × V) of cell-feature windows, as the search combines them:
    each slot's correlation clipped to [0, 1], weighted by the slot matrix."""
    slots = np.clip(_part_scores(windows, pose), 0.0, 1.0)
    return slots @ robust_template.slot_matrix


def _legs(robust_template, pose) -> np.ndarray:
    """Cells (rows × cols) that belong mostly to the legs."""
    legs = [robust_template.part_names.index(n) for n in ("legs<", "legs>")]
    share = pose.parts[legs].sum(axis=0)
    return share > 0.5 * pose.parts.sum(axis=0).clip(1e-12)


def test_exact_copy_with_legs_hidden_scores_below_the_exact_copy(robust_template):
    """The template's own cells score 1; the same cells with the legs replaced by noise
    (legs hidden behind something) score strictly less, though every part that is seen
    matches exactly: seeing less is weaker evidence (HIDDEN_COST), or a look-alike's
    head above a crate would tie with the whole character."""
    pose = robust_template.pose(0.0)
    exact = pose.features[None]
    hidden = exact.copy()
    legs = _legs(robust_template, pose)
    rng = np.random.default_rng(3)
    hidden[0][legs] = rng.normal(0.0, 3.0, (int(legs.sum()), exact.shape[-1]))
    whole = _view_scores(robust_template, pose, exact).max(axis=1)[0]
    seen = _view_scores(robust_template, pose, hidden)[0]
    assert whole == pytest.approx(1.0, abs=1e-9)
    assert seen[LEGS_HIDDEN] > 0.97, seen  # what it sees matches (cells shared with the legs aside)
    assert seen.max() < whole - 0.005, seen
    assert seen.max() > 0.95, seen


@pytest.mark.parametrize("angle", [0.0, 10.0, -20.0])
def test_a_view_without_the_legs_never_beats_the_whole_view_when_the_legs_match(
        robust_template, angle):
    """For the same window, the view that leaves the legs out scores at most the whole
    view's score whenever the legs match as well as can be (the window's legs are the
    template's): hiding a part that agrees must not raise the score. Windows: the
    template's cells with noise of several strengths on everything but the legs."""
    pose = robust_template.pose(angle)
    legs = _legs(robust_template, pose)
    rng = np.random.default_rng(int(angle) + 50)
    base = pose.features
    windows = np.repeat(base[None], 60, axis=0)
    strengths = np.linspace(0.05, 3.0, len(windows))[:, None, None]
    noise = rng.normal(0.0, 1.0, (len(windows), int((~legs).sum()), base.shape[-1]))
    windows[:, ~legs] += noise * strengths
    views = _view_scores(robust_template, pose, windows)
    assert (views[:, LEGS_HIDDEN] <= views[:, 0] + 1e-12).all(), \
        np.c_[views[:, LEGS_HIDDEN], views[:, 0]]

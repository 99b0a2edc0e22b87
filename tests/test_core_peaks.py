"""Peaks and non-maximum suppression on hand-made score maps, apart from any score function."""

from __future__ import annotations

import numpy as np
import pytest

from cvtool.matching.peaks import Match, Peaks, best_matches


def _map_with(points, shape=(20, 30)):
    scores = np.zeros(shape, np.float32)
    for (x, y), value in points.items():
        scores[y, x] = value
    return scores


@pytest.mark.parametrize(("dx", "kept"), [(5, True), (4, False), (6, True)])
def test_exactly_half_the_smaller_box_is_not_too_much_overlap(dx, kept):
    """10x10 boxes dx apart on a row share (10 - dx) * 10 pixels: 50 (half) is allowed,
    60 (more than half) is suppressed."""
    peaks = Peaks(_map_with({(2, 3): 0.9, (2 + dx, 3): 0.8}), 1.0, 10, 10)
    positions = [(m.x, m.y) for m in peaks.take(2)]
    assert positions[0] == (2, 3)
    assert ((2 + dx, 3) in positions) == kept


def test_overlap_is_measured_against_the_smaller_box():
    """A 4x4 box inside a 10x10 one overlaps it by all of its 16 pixels: suppressed."""
    big = Peaks(_map_with({(0, 0): 0.9}), 1.0, 10, 10)
    small = Peaks(_map_with({(3, 3): 0.8}), 0.4, 4, 4)
    matches, best = best_matches([big, small], 5, 0.1)
    assert [(m.x, m.y, m.scale) for m in matches] == [(0, 0, 1.0)]
    assert best == matches[0]


def test_origin_places_a_partial_map_in_scene_coordinates():
    """Entry [0, 0] of a refinement window at origin (40, 7) is scene position (40, 7)."""
    peaks = Peaks(_map_with({(1, 2): 0.5}, (5, 5)), 2.0, 3, 4, origin=(40, 7))
    assert peaks.best() == Match(41, 9, 4, 3, 0.5, 2.0)


def test_below_threshold_is_not_a_match_but_is_the_best():
    """Nothing reaches 0.95: no match, yet the best candidate is reported (for 'not found')."""
    matches, best = best_matches([Peaks(_map_with({(4, 4): 0.9}), 1.0, 3, 3)], 3, 0.95)
    assert matches == [] and (best.x, best.y) == (4, 4) and best.score == pytest.approx(0.9)


def test_ties_go_to_the_map_listed_first():
    """Equal scores in two maps: the first map's box is chosen, whatever float noise order."""
    first = Peaks(_map_with({(0, 0): 0.7}), 0.5, 5, 5)
    second = Peaks(_map_with({(0, 0): 0.7}), 2.0, 5, 5)
    matches, _ = best_matches([first, second], 1, 0.0)
    assert matches[0].scale == 0.5

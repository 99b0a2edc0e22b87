"""The robust search's shortcuts against plain loops: local maxima and the pixel scan."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import waldo_world as ww  # on sys.path through conftest's helpers
from cvtool.matching.robust import (
    _SHIFTS,
    DEFORMATION_COST,
    _bounds,
    _combine,
    _grid_means,
    _integral,
    _local_maxima,
    _part_scores,
    _scan,
    _Tables,
    cell_features,
    pixel_features,
    prepare_robust,
)


def _greedy(score, count, radius_y, radius_x):
    """The plain greedy rule: argmax, suppress a box with -inf, repeat."""
    work = score.copy()
    out = []
    for _ in range(count):
        y, x = divmod(int(np.argmax(work)), work.shape[1])
        value = float(work[y, x])
        if not np.isfinite(value) or (value <= 0 and out):
            break
        out.append((value, y, x))
        work[max(0, y - radius_y):y + radius_y + 1, max(0, x - radius_x):x + radius_x + 1] = -np.inf
    return out


@pytest.mark.parametrize("kind", ["random", "ties", "mostly-negative", "flat", "nan", "bump"])
def test_local_maxima_equal_the_plain_greedy_loop(kind):
    """The sorted walk over the best values picks exactly what argmax-and-suppress picks,
    in the same order, ties going to the first place in row-major order; also when the
    sorted values run out (a smooth bump: its best values all lie in a few boxes) and
    the rest of the map is searched place by place."""
    rng = np.random.default_rng(len(kind))
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        if kind == "random":
            score = rng.random((h, w))
        elif kind == "ties":
            score = np.round(rng.random((h, w)) * 3) / 3
        elif kind == "mostly-negative":
            score = rng.random((h, w)) - 0.8
        elif kind == "flat":
            score = np.zeros((h, w))
        elif kind == "nan":
            score = rng.random((h, w))
            score[rng.random((h, w)) < 0.05] = np.nan
        else:
            yy, xx = np.mgrid[0:h, 0:w]
            score = np.exp(-((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (h * w))
        score = score.astype(np.float32)
        count = int(rng.integers(1, 60))
        ry, rx = int(rng.integers(0, 5)), int(rng.integers(0, 5))
        assert _local_maxima(score, count, ry, rx) == _greedy(score, count, ry, rx)


def _windows_at(features, cell, rows, cols, top, left):
    """The cell features of one grid whose first cell starts at (top, left), pooled
    directly (no sharing between grids)."""
    table = _integral(features)
    ys = _bounds(np.array([top]), cell, rows, features.shape[0])
    xs = _bounds(np.array([left]), cell, cols, features.shape[1])
    return cell_features(_grid_means(table, ys, xs))[0, 0]


@pytest.mark.parametrize("scale", [1.0, 1.1892])
def test_pixel_scan_equals_a_loop_over_anchors_and_part_moves(scale):
    """At whole-pixel offsets, _scan (which pools each offset's grid once, a cell wider,
    and reads the nine moved windows from it, with tables lent across scans) gives the
    score and place of a plain loop: every anchor, every part moved by -1, 0 or +1 cell
    at its cost, the best view of the best moves."""
    template = prepare_robust(ww.make_template())
    pose = template.pose(0.0)
    rng = np.random.default_rng(int(scale * 10))
    scene = (rng.random((200, 160, 3)) * 0.6 + 0.2).astype(np.float32)
    scene[50:150, 40:110] = 0.5 * scene[50:150, 40:110] + 0.25
    features = pixel_features(scene)
    cell = template.cell * scale
    rows, cols = pose.features.shape[:2]
    offsets = np.arange(-2.0, 3.0)
    centre_y, centre_x = 100.3, 80.6
    tables = _Tables(features)
    _scan(features, template, pose, scale, centre_y + 3, centre_x - 2, offsets, None, tables)
    value, top, left, parts, _ = _scan(features, template, pose, scale, centre_y, centre_x,
                                       offsets, None, tables)
    top0 = float(round(centre_y - pose.box[0] * scale / 2))
    left0 = float(round(centre_x - pose.box[1] * scale / 2))
    best = (-np.inf, None, None)
    for oy in offsets:
        for ox in offsets:
            slots = np.full(len(pose.slot_part), -np.inf)
            for my in _SHIFTS:
                for mx in _SHIFTS:
                    window = _windows_at(features, cell, rows, cols, top0 + oy + my * cell,
                                         left0 + ox + mx * cell)
                    got = np.clip(_part_scores(window[None], pose)[0], 0.0, 1.0)
                    slots = np.maximum(slots, got - DEFORMATION_COST * (my * my + mx * mx))
            total = float(_combine(slots[None], template.slot_matrix)[0])
            if total > best[0]:
                best = (total, top0 + oy, left0 + ox)
    assert value == pytest.approx(best[0], abs=1e-9)
    assert (top, left) == (best[1], best[2])

"""The robust matcher's benchmark: its covers and degradations, the threshold sweep's
arithmetic, the labelled "all" rows, and the held-out split's refusal of a sweep.

Small figures and scenes only: no run of the benchmark itself.
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package
from benchmarks import bench_robust, robust_sweep  # noqa: E402
from benchmarks import waldo_world as ww  # noqa: E402
from benchmarks.robust_sweep import SceneMatches, at_threshold, prf, sweep_counts  # noqa: E402

HEIGHT = 80.0


def _figure(seed: int):
    """A Waldo in a random new pose, HEIGHT px tall, turned a little (as in a scene)."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(-3, 3)
    _, cov, centre = ww.render_figure(ww.waldo(ww._random_pose(rng)), HEIGHT, angle)
    return cov, centre, angle


def _hidden_by_compositing(cov, cover) -> np.ndarray:
    """Oracle: draw him as 1 on a 0 canvas, put the cover (drawn as 0) on top with the
    scene's own compositing, and read back how much of each of his pixels is left."""
    m = 200
    canvas = np.zeros((cov.shape[0] + 2 * m, cov.shape[1] + 2 * m, 3), np.float32)
    ww.composite(canvas, np.ones(cov.shape + (3,), np.float32), cov, m, m)
    ww.composite(canvas, np.zeros_like(cover.rgb), cover.alpha,
                 m + cover.offset[0], m + cover.offset[1])
    left = canvas[m:m + cov.shape[0], m:m + cov.shape[1], 0]
    return cov - left  # his coverage that the cover took away


def _centroid(weights):
    rows, cols = np.mgrid[0:weights.shape[0], 0:weights.shape[1]]
    total = weights.sum()
    return (cols * weights).sum() / total, (rows * weights).sum() / total


@pytest.mark.parametrize("kind", ww.COVER_KINDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cover_hides_20_to_40_percent_and_leaves_the_head_in_sight(kind, seed):
    """Every kind of cover hides 20-40 % of his pixels (measured by compositing, not by the
    renderer's own count) and leaves at least MIN_HEAD_VISIBLE of his head visible."""
    cov, centre, angle = _figure(seed)
    cover = ww.choose_cover(np.random.default_rng(100 + seed), cov, centre, HEIGHT, angle, kind)
    taken = _hidden_by_compositing(cov, cover)
    share = taken.sum() / cov.sum()
    assert ww.HIDDEN_RANGE[0] <= share <= ww.HIDDEN_RANGE[1]
    assert share == pytest.approx(cover.hidden, abs=1e-4)
    _, v = ww.frame_coordinates(cov.shape, centre, HEIGHT, angle)
    head = cov * (v < ww.HEAD_BOTTOM)
    assert 1 - (taken * (v < ww.HEAD_BOTTOM)).sum() / head.sum() >= ww.MIN_HEAD_VISIBLE


@pytest.mark.parametrize("kind", ww.COVER_KINDS)
def test_cover_comes_from_the_side_it_names(kind):
    """What a cover hides lies on the side it names: left of his centre for 'left', in the
    upper part with the cover reaching above his box for 'top', the named quadrant for a
    corner, and a person stands in front (feet lower than his)."""
    for seed in range(3):
        cov, centre, angle = _figure(seed)
        cover = ww.choose_cover(np.random.default_rng(200 + seed), cov, centre, HEIGHT, angle,
                                kind)
        assert cover.kind == kind
        taken = _hidden_by_compositing(cov, cover)
        hx, hy = _centroid(taken)
        cx, cy = _centroid(cov)
        if kind == "left" or "left" in cover.where and kind in ("top", "corner"):
            assert hx < cx
        if kind == "right" or "right" in cover.where and kind in ("top", "corner"):
            assert hx > cx
        if kind == "bottom" or cover.where.startswith("bottom"):
            assert hy > cy
        if kind == "top" or cover.where.startswith("top"):
            assert hy < cy
        if kind == "top":
            assert cover.offset[1] < 0 and cover.alpha[0].any()  # hangs from above his box
        if kind == "person":
            assert cover.what == "person"
            assert cover.offset[1] + cover.alpha.shape[0] > cov.shape[0]  # feet lower: in front


def test_cover_that_hides_the_head_is_refused():
    """A cover whose cut would leave less than MIN_HEAD_VISIBLE of his head is refused
    (None), not drawn: a sign from above asked to hide 40 % over a figure too narrow to
    hide it beside the head."""
    _, cov, centre = ww.render_figure(ww.waldo((0.0, 0.0, 0.0, 0.0)), HEIGHT)
    results = [ww.make_cover(np.random.default_rng(s), "top", cov, centre, HEIGHT, target=0.4)
               for s in range(20)]
    for cover in results:
        if cover is not None:
            assert cover.head_visible >= ww.MIN_HEAD_VISIBLE
    assert any(cover is None for cover in results)


@pytest.mark.parametrize("index", range(6))
def test_occlusion_scenes_cycle_through_the_cover_kinds(index):
    """Scene i of the occlusion condition has cover kind i % 6, and says so in its info."""
    scene = ww.render_scene("occlusion", 1301, index, size=(200, 240))
    (cover,) = scene.info["covers"]
    assert cover["kind"] in (ww.COVER_KINDS[index % 6], "bottom")  # bottom: the fallback
    assert ww.HIDDEN_RANGE[0] <= cover["hidden"] <= ww.HIDDEN_RANGE[1]


def test_degraded_draws_blur_and_jpeg_quality_from_their_ranges():
    """Degraded scenes draw the blur sigma and JPEG quality per scene, within the ranges."""
    infos = [ww.render_scene("degraded", 1301, i, size=(200, 240)).info for i in range(6)]
    sigmas = [info["blur_sigma"] for info in infos]
    qualities = [info["jpeg_quality"] for info in infos]
    assert all(ww.DEGRADED_BLUR[0] <= s <= ww.DEGRADED_BLUR[1] for s in sigmas)
    assert all(ww.DEGRADED_JPEG[0] <= q <= ww.DEGRADED_JPEG[1] for q in qualities)
    assert len(set(qualities)) > 1 and max(sigmas) - min(sigmas) > 0.3


def test_held_out_seed_is_new_and_not_the_retired_one():
    """The held-out split uses neither a retired seed (looked at before) nor dev's seed."""
    assert ww.split_seed("test") not in ww.RETIRED_SEEDS + (ww.split_seed("dev"),)
    assert 52817 in ww.RETIRED_SEEDS and 9713 in ww.RETIRED_SEEDS


def test_benchmark_modules_doctests():
    """The doctests of the renderer and the sweep hold (benchmarks/ is not collected)."""
    for module in (ww, robust_sweep):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0


# --- the sweep --------------------------------------------------------------------------

A = (10, 10, 20, 40)
B = (100, 10, 20, 40)


def _records():
    return [
        # Waldo at A found at 0.85; a look-alike at 0.80.
        SceneMatches("pose", [A], [(12, 12, 20, 40, 0.85), (60, 60, 20, 40, 0.80)]),
        # Waldo at B found only at 0.72; nothing else.
        SceneMatches("pose", [B], [(101, 11, 20, 40, 0.72)]),
        # No Waldo: two reports, 0.83 and 0.74.
        SceneMatches("negative", [], [(5, 5, 20, 40, 0.83), (70, 5, 20, 40, 0.74)]),
    ]


def test_sweep_counts_match_a_hand_count():
    """At 0.70 every match counts; at 0.75 the 0.72 and 0.74 ones drop; at 0.84 only the
    0.85 Waldo is left: tp/fp/fn and the Waldo-free reports are counted by hand."""
    counts = sweep_counts(_records(), [0.70, 0.75, 0.84], bench_robust.score_scene)
    pose, neg = counts[0.70]["pose"], counts[0.70]["negative"]
    assert list(pose[:4]) == [2, 1, 0, 2] and list(neg[:6]) == [0, 2, 0, 1, 2, 1]
    pose, neg = counts[0.75]["pose"], counts[0.75]["negative"]
    assert list(pose[:3]) == [1, 1, 1] and list(neg[[1, 4, 5]]) == [1, 1, 1]
    pose, neg = counts[0.84]["pose"], counts[0.84]["negative"]
    assert list(pose[:3]) == [1, 0, 1] and list(neg[[1, 4, 5]]) == [0, 0, 0]


def test_sweep_table_shows_hand_computed_precision_recall_f1():
    """The rendered sweep prints P/R/F1 over all scenes as computed by hand, and names the
    best thresholds: at 0.75, tp=1, fp=2, fn=1 -> P 0.33, R 0.50, F1 0.40."""
    counts = sweep_counts(_records(), [0.70, 0.75, 0.84], bench_robust.score_scene)
    text = robust_sweep.render_sweep(counts, ["pose", "negative"])
    row = next(line for line in text.splitlines() if line.startswith("| 0.750 "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:7] == ["0.33", "0.50", "0.40", "0.40", "2", "1 (1 of 1)"]
    assert cells[7] == "0.50/0.50/0.50"  # pose alone: tp 1, fp 1, fn 1
    # 0.70: tp 2 fp 3 fn 0 -> F1 0.57; 0.84: tp 1 fp 0 fn 1 -> F1 0.67, and no Waldo-free report.
    assert "best F1: 0.67 at threshold 0.840" in text
    assert "best F1 with no report on a Waldo-free scene: 0.67 at threshold 0.840" in text
    assert prf(1, 2, 1) == pytest.approx((1 / 3, 0.5, 0.4))


def test_at_threshold_equals_a_run_at_that_threshold():
    """The sweep's premise: the matches a run reports at threshold t are those of a run at
    a lower threshold that score at least t (the threshold only cuts the sorted list)."""
    from cvtool.matching.robust import find_robust, prepare_robust

    rng = np.random.default_rng(3)
    scene = np.empty((150, 200, 3), np.float32)
    scene[:] = (190, 170, 130)
    scene += rng.normal(0, 8, (150, 200, 1)).astype(np.float32)
    for x, fig in ((10, ww.waldo((40.0, 0.0, 10.0, 5.0))), (110, ww.Figure(hat="none"))):
        rgb, cov, _ = ww.render_figure(fig, 100.0)
        ww.composite(scene, rgb, cov, x, 20)
    scene = np.clip(np.rint(scene), 0, 255).astype(np.uint8)
    template = prepare_robust(ww.make_template())
    kwargs = {"top_k": 3, "scales": [1.0], "angles": [0.0], "workers": 1}
    low = find_robust(scene, template, threshold=0.3, **kwargs).matches
    found = [(m.x, m.y, m.width, m.height, m.score) for m in low]
    assert len(found) >= 2
    for t in (0.3, (found[0][4] + found[1][4]) / 2, found[0][4] + 1e-3):
        at_t = find_robust(scene, template, threshold=t, **kwargs).matches
        assert [(m.x, m.y, m.width, m.height, m.score) for m in at_t] == at_threshold(found, t)


@pytest.mark.parametrize("split", ["test", "both"])
def test_sweep_on_the_held_out_split_is_refused(split, capsys, monkeypatch):
    """--sweep with the held-out split: one error line, exit 2, and no scene rendered."""
    def no_scenes(*args, **kwargs):
        raise AssertionError("a scene was rendered")
    monkeypatch.setattr(bench_robust, "scenes", no_scenes)
    assert bench_robust.main(["--split", split, "--sweep", "0.70:0.90:0.01"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "dev" in err


def test_bad_sweep_text_is_refused(capsys):
    """A sweep that is not START:STOP:STEP with 0 <= START <= STOP <= 1 exits 2."""
    assert bench_robust.main(["--split", "dev", "--sweep", "0.9:0.7:0.01"]) == 2
    assert capsys.readouterr().err.startswith("error: --sweep: ")


# --- the table's "all" rows ---------------------------------------------------------------

def test_all_rows_with_and_without_large_are_labelled_and_add_up():
    """The table has two labelled 'all' rows: without the large scenes (their counts left
    out) and with them, each naming how many scenes it covers."""
    counts = {"robust": {"pose": np.array([3, 0, 1, 3, 0, 1], float),
                         "large": np.array([1, 2, 1, 1, 2, 1], float)}}
    times = {"robust": {"pose": [(1.0, 2.0)] * 4, "large": [(10.0, 20.0)]}}
    text = bench_robust.render_table("dev", {"counts": counts, "times": times})
    without = next(line for line in text.splitlines() if "all without large" in line)
    with_large = next(line for line in text.splitlines() if "all with large" in line)
    assert "4 scenes" in without and "5 scenes" in with_large
    # without: tp 3 fp 0 fn 1 -> P 1.00 R 0.75 F1 0.86; with: tp 4 fp 2 fn 2 -> F1 0.67.
    assert "| 1.00 | 0.75 | **0.86** | 0 |" in without
    assert "| 0.67 | 0.67 | **0.67** | 2 |" in with_large

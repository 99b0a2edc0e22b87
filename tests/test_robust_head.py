"""The robust matcher's head check and side-view nominations: loop oracles and what they are for."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import waldo_world as ww  # on sys.path through conftest's helpers
from cvtool.imaging.resample import sample_bilinear
from cvtool.matching import robust as R
from cvtool.matching import robust_head

PURPLE = (130, 60, 160)


@pytest.fixture
def template(robust_template):
    return robust_template


def _figure_scene(fig: ww.Figure, x: int = 40, y: int = 30) -> np.ndarray:
    """``fig`` drawn as the template is (same size and pose) at (x, y) on plain grey, as
    the RGB 0..1 floats the matcher works on."""
    rgb, cov, _ = ww.render_figure(fig, ww.TEMPLATE_HEIGHT)
    scene = np.full((200, 160, 3), 150, np.float32)
    ww.composite(scene, rgb, cov, x, y)
    return R._rgb01(np.clip(np.rint(scene), 0, 255).astype(np.uint8), "scene")


def _on_figure(template, x: int = 40, y: int = 30, margin: int = 4) -> R._Candidate:
    """The candidate whose grid starts where the template's does, for a figure drawn at
    (x, y) as :func:`ww.make_template` draws it at (margin, margin)."""
    top, left = template.bbox[:2]
    return R._Candidate(0.0, 1.0, 0.0, float(y + top - margin), float(x + left - margin))


def _loop_bilinear(image, rows, cols):
    h, w = image.shape[:2]
    out = np.zeros((len(rows), len(cols)) + image.shape[2:])
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            r, c = min(max(r, 0.0), h - 1), min(max(c, 0.0), w - 1)
            r0, c0 = int(np.floor(r)), int(np.floor(c))
            r1, c1 = min(r0 + 1, h - 1), min(c0 + 1, w - 1)
            fr, fc = r - r0, c - c0
            out[i, j] = ((image[r0, c0] * (1 - fc) + image[r0, c1] * fc) * (1 - fr)
                         + (image[r1, c0] * (1 - fc) + image[r1, c1] * fc) * fr)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_sample_bilinear_matches_a_loop_oracle(seed):
    """Random images (gray and colour) at random coordinates, inside and beyond the edges."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    image = rng.random((h, w, 3)) if seed % 2 else rng.random((h, w))
    rows = rng.uniform(-2, h + 1, int(rng.integers(1, 7)))
    cols = rng.uniform(-2, w + 1, int(rng.integers(1, 7)))
    np.testing.assert_allclose(sample_bilinear(image, rows, cols),
                               _loop_bilinear(image, rows, cols), atol=1e-12)


def _loop_head_score(rgb, template, cand) -> float:
    """The head check by its definition, with loops: at scale 1, angle 0 and a whole-pixel
    candidate the scene's pixels are the samples; cell means are summed pixel by pixel."""
    head = template.head(0.0)
    reach, size = R.HEAD_REACH, head.size
    n_rows, n_cols = head.weights.shape[1:]
    top = int(cand.y + head.origin[0]) - reach - 1
    left = int(cand.x + head.origin[1]) - reach - 1
    patch = rgb[top:top + n_rows * size + 2 * reach + 2, left:left + n_cols * size + 2 * reach + 2]
    feats = R.pixel_features(patch.astype(np.float32))[1:-1, 1:-1].astype(np.float64)
    q = R._centring_matrix(R.COLOUR_CENTRING)
    best = -1.0
    for dy in range(2 * reach + 1):
        for dx in range(2 * reach + 1):
            cells = np.zeros((n_rows, n_cols, feats.shape[2]))
            for i in range(n_rows):
                for j in range(n_cols):
                    y0, x0 = dy + i * size, dx + j * size
                    block = feats[y0:y0 + size, x0:x0 + size]
                    cells[i, j] = block.reshape(-1, block.shape[2]).mean(axis=0)
            x = R.cell_features(cells)
            for weights in head.weights:
                for t in head.cells:
                    n = weights.sum()
                    xc = x - (np.einsum("ij,ijc->c", weights, x) / n) @ q
                    tc = t - (np.einsum("ij,ijc->c", weights, t) / n) @ q
                    num = np.sum(weights[..., None] * xc * tc)
                    den = np.sqrt(np.sum(weights[..., None] * xc * xc)
                                  * np.sum(weights[..., None] * tc * tc))
                    best = max(best, num / den)
    return best


@pytest.mark.parametrize("dy, dx", [(0, 0), (2, -1), (-3, 3)])
def test_head_score_matches_a_loop_oracle(template, dy, dx):
    """On a redrawn Waldo (another pose), off by a few pixels: the shifts find the best."""
    rgb = _figure_scene(ww.waldo((50.0, 5.0, -5.0, 20.0)))
    cand = _on_figure(template)
    cand = R._Candidate(0.0, 1.0, 0.0, cand.y + dy, cand.x + dx)
    got = R._head_score(rgb, template, cand)
    assert got == pytest.approx(_loop_head_score(rgb, template, cand), abs=1e-9)


def test_exact_copy_head_scores_one(template):
    """Waldo drawn as the template is, checked where he lies: 1."""
    assert R._head_score(_figure_scene(ww.waldo()), template, _on_figure(template)) \
        == pytest.approx(1.0, abs=1e-9)


def test_head_check_tells_look_alike_heads(template):
    """Waldo's hat and shirt in purple, or another hat, score well under Waldo's own head
    (1): on fine cells the stripes' colour contrast differs, not only their mean colour."""
    cand = _on_figure(template)
    purple = ww.Figure(hat_colours=(PURPLE, ww.WHITE), shirt_colours=(PURPLE, ww.WHITE))
    beanie = ww.Figure(hat="beanie", hat_colours=((40, 90, 200), ww.WHITE))
    assert R._head_score(_figure_scene(purple), template, cand) < 0.8
    assert R._head_score(_figure_scene(beanie), template, cand) < 0.3


def test_head_score_of_a_scaled_copy(template):
    """Resampling follows the candidate's scale: Waldo drawn 1.5 times larger, checked at
    scale 1.5, still scores near 1."""
    rgb, cov, _ = ww.render_figure(ww.waldo(), ww.TEMPLATE_HEIGHT * 1.5)
    scene = np.full((260, 200, 3), 150, np.float32)
    ww.composite(scene, rgb, cov, 50, 40)
    scene = R._rgb01(np.clip(np.rint(scene), 0, 255).astype(np.uint8), "scene")
    top, left = template.bbox[:2]
    cand = R._Candidate(0.0, 1.5, 0.0, 40 + 1.5 * (top - 4), 50 + 1.5 * (left - 4))
    assert R._head_score(scene, template, cand) > 0.9


def test_a_tiny_template_is_checked_on_single_pixel_cells():
    """A character 8 pixels tall has cells under 1 pixel: its head is checked on 1-pixel
    cells, and an exact copy still scores 1."""
    rng = np.random.default_rng(3)
    scene = (rng.random((40, 50, 3)) * 255).astype(np.uint8)
    tiny = scene[10:20, 20:26].copy()
    prepared = R.prepare_robust(tiny)
    assert prepared.head(0.0).size == 1
    found = R.find_robust(scene, tiny, scales=[1.0], angles=[0.0])
    assert (found.matches[0].x, found.matches[0].y) == (20, 10)
    assert found.matches[0].score >= 0.95


def test_side_pool_nominates_a_waldo_hidden_on_one_side(template):
    """Development scene occlusion 0 (a sign over his left side, 40 % hidden): the whole
    figure never nominates him at his size; the side views' pool does, and he is found."""
    scene = ww.cached_scene("occlusion", ww.split_seed("dev"), 0)
    (x, y, w, h), true_scale = scene.boxes[0], scene.info["scales"][0]
    rgb = R._rgb01(scene.image, "scene")
    features = R.pixel_features(rgb)
    scales, angles = list(R.DEFAULT_SCALES), list(R.DEFAULT_ANGLES)

    def on_him(cands):
        out = []
        for c in cands:
            bx, by, bw, bh = R._box(template, c)
            inside = x <= bx + bw / 2 < x + w and y <= by + bh / 2 < y + h
            if inside and abs(np.log(c.scale / true_scale)) < np.log(R.SCALE_STEP) * 1.01:
                out.append(c)
        return out

    assert not on_him(R._nominate(features, template, scales, angles, 120, 2)), (
        "the whole-figure pool now nominates him by itself: pick another dev Waldo that it "
        "misses, or drop this precondition (it shows why the side pool exists)")
    assert on_him(R._nominate(features, template, scales, angles, 120, 2, side_count=40))
    found = R.find_robust(scene.image, template)
    assert found.matches and x <= found.matches[0].x + found.matches[0].width / 2 < x + w


def _waldo_scene(fig: ww.Figure, x: int = 40, y: int = 30) -> np.ndarray:
    rgb, cov, _ = ww.render_figure(fig, ww.TEMPLATE_HEIGHT)
    scene = np.full((200, 160, 3), 150, np.float32)
    ww.composite(scene, rgb, cov, x, y)
    return np.clip(np.rint(scene), 0, 255).astype(np.uint8)


def test_search_scores_are_parts_and_head_combined(template):
    """Every candidate's score is 0.7 parts + 0.3 max(0, head) when head-checked, 0.7 parts
    when not; the best few (round 3) are all head-checked."""
    purple = ww.Figure(hat_colours=(PURPLE, ww.WHITE), shirt_colours=(PURPLE, ww.WHITE))
    rng = np.random.default_rng(2)
    scene = np.repeat(np.repeat(rng.integers(0, 256, (40, 40, 3)), 8, 0), 8, 1)
    figure, cov, _ = ww.render_figure(purple, ww.TEMPLATE_HEIGHT)
    scene = scene.astype(np.float32)
    ww.composite(scene, figure, cov, 100, 100)
    rgb = R._rgb01(np.clip(np.rint(scene), 0, 255).astype(np.uint8), "scene")
    refined = R._search(rgb, template, [0.8, 1.0, 1.25], [0.0], 1, 1)
    assert len(refined) > R.REFINED_CANDIDATES + 1  # some never head-checked
    w = R.HEAD_WEIGHT
    assert 0 < w < 1
    for i, c in enumerate(refined):
        parts = float(R._combine(np.array(c.parts), template.slot_matrix))
        checked = (1 - w) * parts + w * max(0.0, R._head_score(rgb, template, c))
        if i < 5:  # 2 * top_k + 3
            assert c.score == pytest.approx(checked, abs=1e-9)
        else:
            assert c.score == pytest.approx(checked, abs=1e-9) or \
                c.score == pytest.approx((1 - w) * parts, abs=1e-9)


@pytest.mark.parametrize("dy, dx", [(3, -3), (-3, 3), (3, 3)])
def test_head_shifts_reach_three_pixels(template, dy, dx):
    """An exact copy off by up to HEAD_REACH pixels still scores 1; 4 pixels off it does not."""
    assert R.HEAD_REACH == 3
    rgb = R._rgb01(_waldo_scene(ww.waldo()), "scene")
    top, left = template.bbox[:2]
    y, x = 30 + top - 4, 40 + left - 4
    assert R._head_score(rgb, template, R._Candidate(0, 1.0, 0.0, y + dy, x + dx)) \
        == pytest.approx(1.0, abs=1e-9)
    assert R._head_score(rgb, template, R._Candidate(0, 1.0, 0.0, y + dy + np.sign(dy), x)) \
        < 0.999


@pytest.mark.parametrize("k", [3, 5])
def test_head_of_a_bilinearly_enlarged_copy_scores_one(template, monkeypatch, k):
    """Pixel centres at scale k (odd): the template enlarged k times by bilinear
    interpolation (scene pixel j's centre at template coordinate (j + 0.5) / k - 0.5) holds
    template pixel i exactly at scene pixel k*i + (k-1)/2, where the check must sample it;
    without the anti-alias smoothing the head scores 1 exactly."""
    monkeypatch.setattr(robust_head, "_SHRINK_SIGMA", 0.0)
    tmpl = ww.make_template().astype(np.float64)
    h, w = tmpl.shape[:2]
    big = sample_bilinear(tmpl, (np.arange(h * k) + 0.5) / k - 0.5,
                          (np.arange(w * k) + 0.5) / k - 0.5)
    scene = np.full((big.shape[0] + 40, big.shape[1] + 40, 3), 150.0)
    scene[20:20 + big.shape[0], 24:24 + big.shape[1]] = big
    top, left = template.bbox[:2]
    cand = R._Candidate(0.0, float(k), 0.0, 20 + k * top, 24 + k * left)
    rgb = R._rgb01(scene / 255.0, "scene")
    assert R._head_score(rgb, template, cand) == pytest.approx(1.0, abs=1e-6)


def test_a_head_hidden_on_one_side_keeps_its_visible_half(template):
    """Half of the head covered by a grey board: the visible half still scores near 1."""
    scene = _waldo_scene(ww.waldo())
    top, left = template.bbox[:2]
    y, x = 30 + top - 4, 40 + left - 4
    head = template.head(0.0)
    cut = int(x + head.origin[1] + head.weights.shape[2] * head.size / 2)
    covered = scene.copy()
    covered[:, cut:] = 90
    rgb = R._rgb01(covered, "scene")
    assert R._head_score(rgb, template, R._Candidate(0, 1.0, 0.0, y, x)) > 0.95


def test_a_template_whose_head_has_no_full_cell_is_found():
    """Two thin antennae over a body: no fine cell of the head is 30 % covered, so there is
    no head to check; an exact copy must still be found (score >= 0.95)."""
    rng = np.random.default_rng(5)
    scene = (rng.random((300, 260, 3)) * 255).astype(np.uint8)
    alpha = np.zeros((130, 60), np.uint8)
    alpha[2:46, 10] = alpha[2:46, 50] = 255
    alpha[46:128, 5:55] = 255
    template = np.dstack([scene[90:220, 120:180], alpha])
    assert R.prepare_robust(template).head(0.0) is None
    found = R.find_robust(scene, template, scales=[1.0], angles=[0.0])
    assert found.matches and found.matches[0].score >= 0.95


def test_a_negative_head_counts_as_zero(template, monkeypatch):
    """_with_head: a head that anti-correlates adds nothing, it does not subtract; a
    template without a head leaves the score alone."""
    rgb = np.zeros((50, 50, 3), np.float32)
    cand = R._Candidate(0.6, 1.0, 0.0, 5.0, 5.0)
    for head, want in ((-0.5, 0.7 * 0.6), (0.5, 0.7 * 0.6 + 0.3 * 0.5), (None, 0.6)):
        monkeypatch.setattr(R, "_head_score", lambda *a, h=head: h)
        (out,) = R._with_head(rgb, template, [cand], 1)
        assert out.score == pytest.approx(want, abs=1e-12)


def test_small_rfft2_matches_numpy(template):
    """The DFT-product transform equals NumPy's padded FFT (float32 rounding), and refuses
    more rows than the transform's length."""
    rng = np.random.default_rng(4)
    for ph, pw, fh, fw in [(16, 9, 216, 288), (5, 3, 7, 11), (1, 1, 1, 2), (13, 8, 13, 8)]:
        small = rng.standard_normal((ph, pw, 7)).astype(np.float32)
        want = np.fft.rfft2(small.astype(np.float64), s=(fh, fw), axes=(0, 1))
        np.testing.assert_allclose(R._small_rfft2(small, fh, fw), want,
                                   atol=2e-5 * np.abs(want).max())
    with pytest.raises(ValueError):
        R._small_rfft2(np.ones((5, 2), np.float32), 4, 4)

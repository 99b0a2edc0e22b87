"""Chunked find-waldo (the dask extra): the same matches and scores as the in-memory search."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import texture

from cvtool.errors import ProcessingError, UsageError
from cvtool.matching import search

pytest.importorskip("zarr")

from cvtool.scaleout.chunked_match import search_chunked  # noqa: E402


def _same(got, expected) -> None:
    assert [(m.x, m.y, m.width, m.height, m.scale) for m in got.matches] == \
        [(m.x, m.y, m.width, m.height, m.scale) for m in expected.matches]
    np.testing.assert_allclose([m.score for m in got.matches],
                               [m.score for m in expected.matches], atol=2e-5)
    assert (got.best.x, got.best.y) == (expected.best.x, expected.best.y)
    assert got.best.score == pytest.approx(expected.best.score, abs=2e-5)


@pytest.mark.parametrize("chunk", [17, 50, 1000])
@pytest.mark.parametrize("top_k", [1, 4])
def test_matches_equal_the_exhaustive_in_memory_search(tmp_path, chunk, top_k):
    """Copies planted across chunk borders are found at the same places with the same scores,
    over several scales and top-k (one suppression over every chunk's candidates)."""
    scene = texture((150, 170, 3), seed=3)
    template = scene[40:60, 60:84].copy()
    # A second, slightly altered copy across chunk borders for small chunks: two exact copies
    # would tie at 1.0, and which one wins a tie is decided by float rounding, which differs
    # between a chunk and the whole scene.
    slight = np.random.default_rng(5).integers(-3, 4, template.shape)
    scene[100:120, 10:34] = np.clip(template.astype(int) + slight, 0, 255)
    noise = np.random.default_rng(4).integers(-25, 26, template.shape)
    scene[5:25, 140:164] = np.clip(template.astype(int) + noise, 0, 255)  # a noisy copy
    np.save(tmp_path / "scene.npy", scene)
    options = {"threshold": 0.5, "top_k": top_k, "scales": (1.0, 0.9, 1.1)}
    expected = search(scene, template, exhaustive=True, **options)
    got = search_chunked(tmp_path / "scene.npy", template, chunk=chunk, **options)
    assert len(expected.matches) == min(top_k, len(expected.matches)) and expected.matches
    _same(got, expected)
    assert got.score_map is None


def test_gray_template_in_a_colour_scene_and_not_found(tmp_path):
    """A gray template is compared with the scene's gray, as in memory; when nothing reaches
    the threshold the best score is still reported."""
    scene = texture((90, 100, 3), seed=5)
    template = scene[30:45, 20:41].mean(axis=2).astype(np.uint8)
    np.save(tmp_path / "scene.npy", scene)
    for threshold in (0.9, 0.9999999):
        expected = search(scene, template, threshold=threshold, exhaustive=True)
        got = search_chunked(tmp_path / "scene.npy", template, threshold=threshold, chunk=23)
        _same(got, expected)


def test_suppressing_per_chunk_would_drop_a_match(tmp_path):
    """Two overlapping good boxes in different chunks: only one survives, and the next
    match elsewhere is still found (suppression runs once over all chunks)."""
    rng = np.random.default_rng(2)
    scene = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    template = scene[20:36, 20:36].copy()
    scene[22:38, 21:37] = template  # overlaps the original by more than half
    scene[45:61, 3:19] = template
    np.save(tmp_path / "scene.npy", scene)
    expected = search(scene, template, threshold=0.3, top_k=3, exhaustive=True)
    got = search_chunked(tmp_path / "scene.npy", template, threshold=0.3, top_k=3, chunk=21)
    _same(got, expected)


def test_errors_as_in_memory(tmp_path):
    """Bad options are usage errors naming the parameter; a template larger than the scene
    at every scale is a processing error."""
    np.save(tmp_path / "scene.npy", np.zeros((20, 20), np.uint8))
    with pytest.raises(UsageError) as caught:
        search_chunked(tmp_path / "scene.npy", np.ones((3, 3)), top_k=0)
    assert caught.value.parameter == "top_k"
    with pytest.raises(UsageError) as caught:
        search_chunked(tmp_path / "scene.npy", np.ones((3, 3)), threshold=2)
    assert caught.value.parameter == "threshold"
    with pytest.raises(ProcessingError, match="larger than the scene"):
        search_chunked(tmp_path / "scene.npy", np.ones((30, 3)))

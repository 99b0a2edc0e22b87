"""find-waldo --method robust and template alpha through the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cvtool import io
from cvtool.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"
SCENE = SAMPLES / "robust_scene_1.png"
TEMPLATE = SAMPLES / "robust_template.png"
# Where the non-copy Waldo of robust_scene_1 stands (top-left corner of his box).
WALDO_XY = (381, 57)


def _run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_robust_finds_the_non_copy_waldo_with_json(tmp_path):
    """--method robust finds another drawing of Waldo (exit 0), with the JSON keys of zncc
    and a robust score in [0, 1]; zncc at its default misses him (exit 1)."""
    result = _run("find-waldo", SCENE, "-t", TEMPLATE, "--method", "robust",
                  "--scales", "0.84,1", "--json", "-o", tmp_path / "found.png")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip())
    assert record["found"] is True
    match = record["matches"][0]
    assert abs(match["x"] - WALDO_XY[0]) <= 6 and abs(match["y"] - WALDO_XY[1]) <= 6
    assert 0.0 <= match["score"] <= 1.0
    assert io.read_image(tmp_path / "found.png").shape[:2] == (480, 640)
    missed = _run("find-waldo", SCENE, "-t", TEMPLATE, "--json")
    assert missed.exit_code == 1
    assert json.loads(missed.stdout.strip())["found"] is False


def test_robust_threshold_default_is_robusts_own_and_bounds_are_checked():
    """Without --threshold, robust uses its own default: a threshold of 1 finds nothing (exit
    1); a threshold outside 0..1 is a usage error naming --threshold (exit 2)."""
    strict = _run("find-waldo", SCENE, "-t", TEMPLATE, "--method", "robust", "--scales", "1",
                  "--threshold", "1")
    assert strict.exit_code == 1, strict.output
    assert "not found" in strict.stdout
    bad = _run("find-waldo", SCENE, "-t", TEMPLATE, "--method", "robust", "--threshold", "1.5")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --threshold")


def test_method_typo_is_a_usage_error_with_did_you_mean():
    """An unknown method is exit 2 with the choices and a "did you mean"."""
    result = _run("find-waldo", SCENE, "-t", TEMPLATE, "--method", "robst")
    assert result.exit_code == 2
    assert "did you mean 'robust'" in result.stderr
    assert result.stderr.startswith("error: --method")


def test_robust_heatmap_has_the_scene_size_and_maps_0_1_to_0_255(tmp_path):
    """The robust heatmap overlays the scene (its width×height) and its 8-bit version is the
    raw map's round(score·255), with 0 where no window fits."""
    raw, png = tmp_path / "h.npy", tmp_path / "h.png"
    for target in (raw, png):
        result = _run("find-waldo", SCENE, "-t", TEMPLATE, "--method", "robust", "--scales",
                      "1", "--heatmap", target, "--threshold", "0")
        assert result.exit_code == 0, result.output
    scores = np.load(raw)
    pixels = io.read_image(png)
    assert scores.shape == pixels.shape == (480, 640)
    assert 0.0 <= scores.min() and scores.max() <= 1.0 and scores.max() > 0.5
    np.testing.assert_array_equal(pixels, np.clip(np.rint(scores * 255.0), 0, 255))
    th, tw = io.read_image(TEMPLATE).shape[:2]
    assert not scores[: th // 2].any() and not scores[:, : tw // 2].any()


def _alpha_case(tmp_path):
    rng = np.random.default_rng(7)
    scene = rng.integers(0, 256, (80, 100, 3), dtype=np.uint8)
    template = scene[20:50, 30:60].copy()
    alpha = np.full((30, 30), 255, np.uint8)
    alpha[:, :10] = 0
    template[:, :10] = 255 - template[:, :10]  # lies where it is transparent
    io.write_image(tmp_path / "scene.png", scene)
    io.write_image(tmp_path / "t.png", np.dstack([template, alpha]))
    return scene, template, alpha


def test_zncc_with_alpha_template_scores_with_the_mask(tmp_path):
    """zncc with an RGBA template: the transparent pixels do not vote, so the true place
    scores 1 and is found (the unmasked score there is far lower); the heatmap is the
    masked ZNCC map of cvtool.matching.masked."""
    from cvtool.matching.masked import zncc_masked

    scene, template, alpha = _alpha_case(tmp_path)
    result = _run("find-waldo", tmp_path / "scene.png", "-t", tmp_path / "t.png", "--json",
                  "--threshold", "0.99", "--heatmap", tmp_path / "h.npy")
    assert result.exit_code == 0, result.output
    match = json.loads(result.stdout)["matches"][0]
    assert (match["x"], match["y"], match["score"]) == (30, 20, 1.0)
    expected = zncc_masked(scene, template, alpha / 255.0)
    np.testing.assert_allclose(np.load(tmp_path / "h.npy")[15:15 + 51, 15:15 + 71], expected,
                               atol=1e-6)


def test_end_to_end_installed_cvtool_robust(tmp_path):
    """The installed console script runs --method robust with its whole default range."""
    exe = Path(sys.executable).with_name("cvtool")
    if not exe.exists():
        pytest.skip("no installed cvtool script next to this interpreter")
    out = tmp_path / "found.png"
    done = subprocess.run([str(exe), "find-waldo", str(SCENE), "-t", str(TEMPLATE),
                           "--method", "robust", "-o", str(out)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{SCENE}: x=")
    assert out.exists()


def test_help_states_the_robust_default_threshold_of_the_core():
    """--help shows robust's default threshold as the core sets it (it may be retuned)."""
    from cvtool.matching.robust import DEFAULT_THRESHOLD

    result = _run("find-waldo", "--help")
    assert f"default {DEFAULT_THRESHOLD:g}, its own" in " ".join(result.stdout.split())


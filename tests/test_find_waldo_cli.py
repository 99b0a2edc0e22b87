"""`cvtool find-waldo` through Typer's CliRunner, plus the installed script on the sample."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import CVTOOL, texture

from cvtool import io

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
SCENE = str(SAMPLES / "waldo_scene.png")
TEMPLATE = str(SAMPLES / "waldo_template.png")
WALDO = (410, 268, 28, 56)  # x, y, w, h in the generated sample
LINE = re.compile(r"^(.+): x=(\d+) y=(\d+) w=(\d+) h=(\d+) score=(-?\d\.\d{3}) scale=(\d+\.\d{2})$")


@pytest.fixture
def three_copies(tmp_path):
    """A scene with one patch planted three times, and the patch as a template file."""
    scene = texture((200, 260), 1, sigma=2.5)
    patch = texture((30, 36), 2, sigma=2.0)
    for y, x in [(10, 20), (90, 150), (150, 40)]:
        scene[y:y + 30, x:x + 36] = patch
    io.write_image(tmp_path / "copies.png", scene)
    io.write_image(tmp_path / "patch.png", patch)
    return str(tmp_path / "copies.png"), str(tmp_path / "patch.png")


@pytest.fixture
def empty_scene(tmp_path):
    """A scene without Waldo (the sample's background colours, but no people)."""
    path = tmp_path / "beach.png"
    io.write_image(path, texture((120, 160, 3), 3, sigma=2.5))
    return str(path)


# --- results --------------------------------------------------------------------------------


def test_finds_waldo_in_the_sample(invoke):
    """The sample's one Waldo is reported at his place, in the documented line format."""
    result = invoke("find-waldo", SCENE, "-t", TEMPLATE)
    assert result.exit_code == 0, result.output
    match = LINE.match(result.stdout.strip())
    assert match, result.stdout
    assert match.group(1) == SCENE
    assert tuple(int(match.group(i)) for i in range(2, 6)) == WALDO
    assert float(match.group(6)) > 0.95 and match.group(7) == "1.00"
    assert result.stderr == ""


def test_json_lines_have_the_documented_keys(invoke, empty_scene):
    """--json: one object per scene, in input order, with exactly the contract's keys."""
    result = invoke("find-waldo", SCENE, empty_scene, "-t", TEMPLATE, "--json")
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["scene"] for r in records] == [SCENE, empty_scene]
    for record in records:
        assert set(record) == {"scene", "template", "found", "matches", "best_score",
                               "elapsed_ms"}
        assert record["template"] == TEMPLATE and record["elapsed_ms"] >= 0
    found, missing = records
    assert found["found"] is True and missing["found"] is False and missing["matches"] == []
    (m,) = found["matches"]
    assert set(m) == {"x", "y", "width", "height", "score", "scale"}
    assert (m["x"], m["y"], m["width"], m["height"]) == WALDO
    assert m["score"] == found["best_score"] and missing["best_score"] < 0.8


def test_not_found_exits_one_with_best_score(invoke, empty_scene):
    """Like grep: no match is exit 1 (quietly), with the best score to tune --threshold."""
    result = invoke("find-waldo", empty_scene, "-t", TEMPLATE)
    assert result.exit_code == 1
    assert re.fullmatch(rf"{re.escape(empty_scene)}: not found \(best score=-?\d\.\d{{3}}\)\n",
                        result.stdout)
    assert result.stderr == ""


def test_batch_reports_every_scene_and_summarises(invoke, empty_scene):
    """Several scenes: a line each in input order; any miss makes exit 1 and a summary."""
    result = invoke("find-waldo", empty_scene, SCENE, "-t", TEMPLATE)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{empty_scene}: not found") and LINE.match(lines[1])
    assert result.stderr.strip().splitlines()[-1] == "1 found, 1 not found"


def test_unreadable_scene_does_not_stop_the_batch(invoke, tmp_path):
    """A missing scene gets its error line; the others are still searched."""
    missing = str(tmp_path / "missing.png")
    result = invoke("find-waldo", missing, SCENE, "-t", TEMPLATE)
    assert result.exit_code == 1
    assert LINE.match(result.stdout.strip())
    assert f"error: {missing}: no such file" in result.stderr


def test_top_k_three_copies_without_duplicates(invoke, three_copies):
    """--top-k 3 prints the three planted copies, each once."""
    scene, patch = three_copies
    result = invoke("find-waldo", scene, "-t", patch, "--top-k", "3")
    assert result.exit_code == 0, result.output
    places = {(int(m.group(2)), int(m.group(3)))
              for m in map(LINE.match, result.stdout.splitlines())}
    assert places == {(20, 10), (150, 90), (40, 150)}


def test_scales_find_a_resized_scene(invoke, tmp_path):
    """A scene enlarged by 1.25 is found with --scales, the box in scene pixels."""
    scene = io.read_image(SCENE)
    bigger = cv2.resize(scene, (1000, 750), interpolation=cv2.INTER_LINEAR)
    io.write_image(tmp_path / "big.png", bigger)
    result = invoke("find-waldo", tmp_path / "big.png", "-t", TEMPLATE,
                    "--scales", "0.8,1,1.25,1.5")
    assert result.exit_code == 0, result.output
    m = LINE.match(result.stdout.strip())
    x, y, w, h = (int(m.group(i)) for i in range(2, 6))
    assert abs(x - 410 * 1.25) <= 2 and abs(y - 268 * 1.25) <= 2
    assert (w, h) == (35, 70) and m.group(7) == "1.25"


def test_gray_flag_still_finds_waldo(invoke):
    """--gray compares luminance only; Waldo's stripes and glasses still single him out."""
    result = invoke("find-waldo", SCENE, "-t", TEMPLATE, "--gray")
    assert result.exit_code == 0
    m = LINE.match(result.stdout.strip())
    assert (int(m.group(2)), int(m.group(3))) == WALDO[:2]


def test_stdin_scene(invoke):
    """`-` reads the scene from stdin and names it <stdin>."""
    data = Path(SCENE).read_bytes()
    result = invoke("find-waldo", "-", "-t", TEMPLATE, input=data)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<stdin>: x=410 y=268 ")


# --- outputs --------------------------------------------------------------------------------


def test_annotated_output_boxes_the_match(invoke, tmp_path):
    """-o writes the scene, same size, with a red box on the match's outline; stdout keeps
    the result line."""
    out = tmp_path / "found.png"
    result = invoke("find-waldo", SCENE, "-t", TEMPLATE, "-o", out)
    assert result.exit_code == 0, result.output
    assert LINE.match(result.stdout.strip())
    annotated, scene = io.read_image(out), io.read_image(SCENE)
    assert annotated.shape == scene.shape
    x, y, w, h = WALDO
    assert annotated[y + h - 1, x + w // 2].tolist() == [255, 0, 0]
    assert annotated[y + h // 2, x].tolist() == [255, 0, 0]
    # Far from the box (and its label) nothing changed.
    np.testing.assert_array_equal(annotated[400:, :300], scene[400:, :300])


def test_annotated_outputs_for_several_scenes_go_to_a_directory(invoke, tmp_path, empty_scene):
    """-o DIR with several scenes: one annotated file per scene, named after it."""
    out = tmp_path / "annotated"
    result = invoke("find-waldo", SCENE, empty_scene, "-t", TEMPLATE, "-o", out)
    assert result.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["beach.png", "waldo_scene.png"]


def test_heatmap_is_the_scale_one_score_map(invoke, tmp_path):
    """--heatmap: the scale-1 score map (even when --scales leaves 1 out) at the scene's own
    size, each window's score at its centre pixel, score -1..1 -> 0..255."""
    out = tmp_path / "heat.png"
    result = invoke("find-waldo", SCENE, "-t", TEMPLATE, "--heatmap", out,
                    "--scales", "0.9,1.1")
    # At scales 0.9 and 1.1 the sample's Waldo scores below the threshold: "not found", exit 1.
    assert result.exit_code == 1 and result.stderr == "", result.output
    assert re.fullmatch(r".+waldo_scene\.png: not found \(best score=0\.\d{3}\)\n",
                        result.stdout), result.stdout
    heat = io.read_image(out)
    assert heat.dtype == np.uint8 and heat.shape == (600, 800)
    x, y, w, h = WALDO
    centre = (y + h // 2, x + w // 2)
    assert np.unravel_index(heat.argmax(), heat.shape) == centre and heat[centre] >= 250


def test_heatmap_overlays_the_scene_with_zeros_where_no_window_fits(invoke, tmp_path):
    """Window (y, x) puts its score at (y + h//2, x + w//2), as correlate's anchor; the margin
    where no window fits (h//2 rows on top, the rest below; likewise columns) is 0."""
    from cvtool.matching import zncc

    out = tmp_path / "heat.npy"
    assert invoke("find-waldo", SCENE, "-t", TEMPLATE, "--heatmap", out).exit_code == 0
    heat = np.load(out)
    scores = zncc(io.read_image(SCENE), io.read_image(TEMPLATE))
    h, w = 56, 28
    assert heat.shape == (600, 800)
    np.testing.assert_allclose(heat[h // 2:h // 2 + 600 - h + 1, w // 2:w // 2 + 800 - w + 1],
                               scores, atol=1e-6)
    mask = np.ones(heat.shape, bool)
    mask[h // 2:h // 2 + 600 - h + 1, w // 2:w // 2 + 800 - w + 1] = False
    assert not heat[mask].any()


def test_heatmap_npy_keeps_raw_scores(invoke, tmp_path):
    """A .npy heatmap holds the float scores themselves."""
    out = tmp_path / "heat.npy"
    assert invoke("find-waldo", SCENE, "-t", TEMPLATE, "--heatmap", out).exit_code == 0
    scores = np.load(out)
    assert scores.dtype == np.float32 and scores.min() >= -1 and scores.max() <= 1
    assert scores[268 + 56 // 2, 410 + 28 // 2] == pytest.approx(scores.max())


# --- mistakes -------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "needle"), [
    (["--threshold", "1.5"], "--threshold"),
    (["--threshold", "nan"], "--threshold"),
    (["--top-k", "0"], "--top-k"),
    (["--scales", "0:2:3"], "--scales"),
    (["--scales", "1:2"], "--scales"),
    (["--scales", "big"], "--scales"),
    (["-o", "out.xyz"], "out.xyz"),
    (["-o", SCENE], "refusing to overwrite"),
    (["--heatmap", TEMPLATE], "refusing to overwrite"),
])
def test_usage_errors_exit_two_with_one_line(invoke, args, needle):
    """Bad option values are one `error:` line naming the option, exit 2, no traceback."""
    result = invoke("find-waldo", SCENE, "-t", TEMPLATE, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert needle in result.stderr and "Traceback" not in result.output


def test_missing_template_option_is_clicks_usage_error(invoke):
    """-t is required: Click's own usage message, exit 2."""
    result = invoke("find-waldo", SCENE)
    assert result.exit_code == 2 and "--template" in result.stderr


def test_annotated_and_heatmap_on_the_same_file_is_refused(invoke, tmp_path):
    """-o and --heatmap naming one file would overwrite each other: refused up front."""
    out = tmp_path / "same.png"
    result = invoke("find-waldo", SCENE, "-t", TEMPLATE, "-o", out, "--heatmap", out)
    assert result.exit_code == 2 and not out.exists()
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "-o and --heatmap would both write" in result.stderr


def test_template_larger_than_scene_is_a_data_error(invoke, tmp_path):
    """A template that fits at no scale: exit 1 with one error line for that scene."""
    small = tmp_path / "small.png"
    io.write_image(small, texture((20, 20), 4, sigma=2.5))
    result = invoke("find-waldo", small, "-t", TEMPLATE)
    assert result.exit_code == 1
    assert "error: " in result.stderr and "larger than the scene" in result.stderr
    assert "Traceback" not in result.output


def test_unreadable_template_is_a_data_error(invoke, tmp_path):
    """A template that cannot be read is exit 1, named in the error."""
    result = invoke("find-waldo", SCENE, "-t", tmp_path / "nope.png")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "nope.png" in result.stderr


# --- the installed script -------------------------------------------------------------------


def test_installed_script_finds_waldo():
    """`cvtool find-waldo` exactly as a user runs it (and as `make demo` does)."""
    result = subprocess.run(
        [CVTOOL, "find-waldo", "sample_images/waldo_scene.png", "-t",
         "sample_images/waldo_template.png"],
        capture_output=True, text=True, timeout=120, cwd=SAMPLES.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sample_images/waldo_scene.png: x=410 y=268 w=28 h=56 ")
    assert result.stderr == ""

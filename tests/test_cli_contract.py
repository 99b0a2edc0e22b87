"""What a user expects at the command line (the amended contract): one test per behaviour.

Defaults (mirror padding, raw .npy), where results go when the image goes to stdout, Click's
errors as ``error:`` lines with "did you mean", width×height sizes, ``--format`` for batches,
kernel files with ``#`` comments, and the heatmap at the scene's own size. Each test runs the
command as a user would (CliRunner, or the installed script where a terminal or a shell is
involved) and checks the result against an independent oracle (SciPy, NumPy).
"""

from __future__ import annotations

import json
import os
import pty
import subprocess

import numpy as np
import pytest
import scipy.ndimage as ndi
from helpers import CVTOOL

from cvtool import io

KERNEL = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [3.0, 0.0, 1.0]])
KERNEL_TEXT = "1 2 0; 0 1 -1; 3 0 1"


def _gray(path) -> np.ndarray:
    return io.read_image(path).astype(np.float64)


# --- defaults --------------------------------------------------------------------------------


@pytest.mark.parametrize("command, extra, oracle", [
    ("correlate", ["-k", KERNEL_TEXT], lambda f: ndi.correlate(f, KERNEL, mode="mirror")),
    ("convolve", ["-k", KERNEL_TEXT], lambda f: ndi.convolve(f, KERNEL, mode="mirror")),
    ("filter", ["-n", "sharpen"], lambda f: ndi.correlate(
        f, np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float), mode="mirror")),
])
def test_default_padding_is_mirror(invoke, gray_png, tmp_path, command, extra, oracle):
    """Without -p every command pads as OpenCV's BORDER_REFLECT_101 (SciPy's 'mirror'), so a
    photo's border is not darkened; the border rows are where zero padding would differ."""
    out = tmp_path / "out.npy"
    result = invoke(command, gray_png, *extra, "-o", out)
    assert result.exit_code == 0, result.output
    expected = oracle(_gray(gray_png))
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-5, atol=1e-3)


def test_npy_output_keeps_the_sign_under_auto(invoke, gray_png, tmp_path):
    """--out-range auto is raw for every .npy output: sobel-x keeps its negative half (it was
    folded to uint8 |x| before), as normalize keeps floats in .npy."""
    out = tmp_path / "sx.npy"
    result = invoke("filter", gray_png, "-n", "sobel-x", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    values = np.load(out)
    expected = ndi.correlate(_gray(gray_png), np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
                                                       float), mode="mirror")
    assert values.dtype.kind == "f" and values.min() < 0
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-3)
    assert json.loads(result.stdout)["out_range"] == "raw"


# --- -o - : the image on stdout, results on stderr ----------------------------------------------


def test_filter_json_goes_to_stderr_when_the_image_goes_to_stdout(invoke, gray_png):
    """stdout holds the PNG and nothing else; the JSON record is on stderr."""
    result = invoke("filter", gray_png, "-n", "box", "-o", "-", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"\x89PNG") and b"{" not in result.stdout_bytes[-200:]
    record = json.loads(result.stderr.strip().splitlines()[-1])
    assert record["output"] == "-" and record["width"] == 24 and record["height"] == 20


@pytest.mark.parametrize("json_mode", [False, True])
def test_find_waldo_results_go_to_stderr_with_an_image_on_stdout(invoke, tmp_path, json_mode):
    """find-waldo -o - printed no result at all (and refused --json): now the match line or the
    JSON record goes to stderr, the annotated PNG to stdout."""
    rng = np.random.default_rng(5)
    scene = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    scene_path, template_path = tmp_path / "scene.png", tmp_path / "t.png"
    io.write_image(scene_path, scene)
    io.write_image(template_path, scene[10:22, 30:45])
    args = ["find-waldo", scene_path, "-t", template_path, "-o", "-"]
    result = invoke(*args, *(["--json"] if json_mode else []))
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"\x89PNG")
    if json_mode:
        match = json.loads(result.stderr)["matches"][0]
        assert (match["x"], match["y"], match["width"], match["height"]) == (30, 10, 15, 12)
    else:
        assert result.stderr.startswith(f"{scene_path}: x=30 y=10 w=15 h=12 score=1.000")


def test_entropy_map_json_goes_to_stderr_with_the_map_on_stdout(invoke, gray_png):
    """--window N -o - --json was a usage error; now the map goes out and the record to stderr."""
    result = invoke("entropy", gray_png, "--window", "3", "-o", "-", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"\x89PNG")
    assert json.loads(result.stderr)["window"] == 3


def _run_with_terminal_stdout(*args: str) -> tuple[int, str]:
    """Run the installed cvtool with a pseudo-terminal as stdout (stderr piped)."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([CVTOOL, *map(str, args)], stdout=follower, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    return done.returncode, done.stderr


@pytest.mark.parametrize("command", [["filter", "-n", "box"], ["correlate", "-k", "1"]])
def test_image_bytes_are_refused_on_a_terminal(gray_png, command):
    """-o - with stdout on a terminal is a usage error (as gzip), not a screen of PNG bytes."""
    code, stderr = _run_with_terminal_stdout(command[0], gray_png, *command[1:], "-o", "-")
    assert code == 2
    assert stderr.startswith("error: -o -: refusing to write image data to a terminal")
    assert stderr.count("\n") == 1


# --- Click's parse errors, and "did you mean" ---------------------------------------------------


@pytest.mark.parametrize("args, first, hint", [
    (["filter", "a.png", "-n", "box", "--sigam", "2"],
     "error: no such option --sigam; did you mean --sigma?", "try 'cvtool filter --help'"),
    (["frobnicate"], "error: no such command 'frobnicate'", "try 'cvtool --help'"),
    (["fliter"], "error: no such command 'fliter'; did you mean 'filter'?", "try 'cvtool --help'"),
    (["correlate", "a.png", "-o", "b.png"], "error: missing option -k/--kernel",
     "try 'cvtool correlate --help'"),
    (["correlate", "-k", "1", "-o", "b.png"], "error: missing argument INPUT",
     "try 'cvtool correlate --help'"),
    (["filter", "a.png", "-n", "box", "-j", "x", "-o", "b.png"],
     "error: invalid value for -j/--jobs: 'x' is not a valid int", "try 'cvtool filter --help'"),
])
def test_click_parse_errors_are_one_error_line_and_one_hint(args, first, hint):
    """Scripts grep for ^error: -- Click's four-line Usage/Error block is now our format,
    run as the installed script (exit 2, nothing on stdout)."""
    done = subprocess.run([CVTOOL, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [first, hint]
    assert done.stdout == ""


@pytest.mark.parametrize("args, needle", [
    (["filter", "IN", "-n", "gausian", "-o", "o.png"], "did you mean 'gaussian'?"),
    (["filter", "IN", "-n", "box", "-p", "mirorr", "-o", "o.png"], "did you mean 'mirror'?"),
    (["filter", "IN", "-n", "box", "--out-range", "clp", "-o", "o.png"], "did you mean 'clip'?"),
    (["correlate", "IN", "-k", "1", "--shape", "vlaid", "-o", "o.png"], "did you mean 'valid'?"),
    (["normalize", "IN", "-o", "out", "--out-range", "rescal"], "did you mean 'rescale'?"),
])
def test_unknown_names_get_a_did_you_mean(invoke, gray_png, tmp_path, args, needle):
    """Kernel names, padding modes and --out-range values: the same hint as subcommands."""
    args = [gray_png if a == "IN" else str(tmp_path / a) if a in ("o.png", "out") else a
            for a in args]
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert needle in result.stderr
    assert not any(tmp_path.glob("o*"))


# --- sizes are width x height --------------------------------------------------------------------


def test_find_waldo_names_sizes_width_by_height(invoke, tmp_path):
    """A template larger than the scene is reported as WxH (ImageMagick's order), never HxW."""
    scene, template = tmp_path / "scene.png", tmp_path / "t.png"
    io.write_image(scene, np.zeros((20, 40), np.uint8))      # 40 wide, 20 tall
    io.write_image(template, np.zeros((50, 30), np.uint8))   # 30 wide, 50 tall
    result = invoke("find-waldo", scene, "-t", template)
    assert result.exit_code == 1
    assert "template 30x50" in result.stderr and "scene 40x20" in result.stderr


def test_valid_shape_error_names_sizes_width_by_height(invoke, tmp_path):
    """A kernel larger than the image with --shape valid: both sizes as width x height."""
    src = tmp_path / "in.png"
    io.write_image(src, np.zeros((10, 4), np.uint8))   # 4 wide, 10 tall
    result = invoke("correlate", src, "-k", "1 1 1 1 1 1", "--shape", "valid",
                    "-o", tmp_path / "o.png")
    assert result.exit_code == 1
    assert "kernel 6x1" in result.stderr and "image 4x10" in result.stderr


# --- --format, kernel files ----------------------------------------------------------------------


def test_format_renames_a_batch_like_mogrify(invoke, gray_png, colour_png, tmp_path):
    """--format jpg writes each input of a batch as NAME.jpg (JPEG bytes) in the directory."""
    out = tmp_path / "out"
    result = invoke("filter", gray_png, colour_png, "-n", "box", "-o", out, "--format", "jpg")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["colour.jpg", "gray.jpg"]
    assert (out / "gray.jpg").read_bytes()[:3] == b"\xff\xd8\xff"


def test_format_npy_batch_keeps_raw_values(invoke, gray_png, colour_png, tmp_path):
    """--format npy in a batch: raw floats (auto = raw for .npy), equal to the oracle."""
    out = tmp_path / "out"
    result = invoke("correlate", gray_png, colour_png, "-k", KERNEL_TEXT, "-o", out,
                    "--format", "npy")
    assert result.exit_code == 0, result.output
    expected = ndi.correlate(_gray(gray_png), KERNEL, mode="mirror")
    np.testing.assert_allclose(np.load(out / "gray.npy"), expected, rtol=1e-5, atol=1e-3)


def test_format_with_one_output_file_is_a_usage_error(invoke, gray_png, tmp_path):
    """For one output file the suffix of its name decides; --format there would be ignored."""
    result = invoke("filter", gray_png, "-n", "box", "-o", tmp_path / "o.png", "--format", "jpg")
    assert result.exit_code == 2 and result.stderr.startswith("error: --format")
    assert not (tmp_path / "o.png").exists()


def test_kernel_file_written_by_numpy_savetxt_with_a_header(invoke, gray_png, tmp_path):
    """numpy.savetxt(..., header=...) files were refused ('#' is not a number); now they load."""
    path = tmp_path / "k.txt"
    np.savetxt(path, KERNEL, header="a 3x3 kernel")
    out = tmp_path / "o.npy"
    result = invoke("correlate", gray_png, "-k", path, "-o", out)
    assert result.exit_code == 0, result.output
    expected = ndi.correlate(_gray(gray_png), KERNEL, mode="mirror")
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-5, atol=1e-3)


def test_jobs_below_one_is_the_cores_rule_in_flag_words(invoke, gray_png, tmp_path):
    """-j 0 is refused by the core's worker rule (not a second copy in the CLI), worded with
    the flag, before any output exists."""
    result = invoke("filter", gray_png, "-n", "box", "-o", tmp_path / "out", "-j", "0")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "error: --jobs must be an integer >= 1, got 0"
    assert not (tmp_path / "out").exists()

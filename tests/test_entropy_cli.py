"""`cvtool entropy` through CliRunner (and once as the installed script): every documented form."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
import scipy.stats
from helpers import CVTOOL

from cvtool import io
from cvtool.measures.image_entropy import local_entropy


def _json_lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def half_png(tmp_path) -> str:
    """Half black, half white: exactly 1 bit."""
    image = np.zeros((8, 8), np.uint8)
    image[:, 4:] = 255
    path = tmp_path / "half.png"
    io.write_image(path, image)
    return str(path)


# --- distributions ----------------------------------------------------------------------------


def test_probs_in_base_10_prints_the_true_value_with_its_unit(invoke):
    """H(1/8, 7/8) in base 10: 0.163629 hartleys (not the 0.06 sometimes printed for it)."""
    result = invoke("entropy", "--probs", "0.125 0.875", "--base", "10")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "entropy: 0.163629 hartleys"


def test_probs_accept_commas(invoke):
    """Number lists take commas as well as spaces; base 2 (bits) by default."""
    result = invoke("entropy", "--probs", "0.5,0.5")
    assert result.stdout.strip() == "entropy: 1.000000 bits"


def test_probs_with_target_gives_cross_entropy_and_kl_in_json(invoke):
    """--json: one object with entropy, cross_entropy and kl_divergence (scipy's values)."""
    result = invoke("entropy", "--probs", "0.25 0.75", "--target", "0.5 0.5", "--base", "e",
                    "--json")
    assert result.exit_code == 0, result.stderr
    (record,) = _json_lines(result)
    assert record["unit"] == "nats" and record["base"] == pytest.approx(math.e)
    assert record["entropy"] == pytest.approx(scipy.stats.entropy([0.25, 0.75]))
    assert record["kl_divergence"] == pytest.approx(
        scipy.stats.entropy([0.5, 0.5], [0.25, 0.75]))
    assert record["cross_entropy"] == pytest.approx(
        -0.5 * math.log(0.25) - 0.5 * math.log(0.75))


def test_infinite_cross_entropy_prints_inf_and_json_null_with_a_note(invoke):
    """P = 0 where T > 0: text says inf; JSON (which has no infinity) says null and why."""
    text = invoke("entropy", "--probs", "1 0", "--target", "0.5 0.5")
    assert text.exit_code == 0
    assert "cross-entropy: inf bits" in text.stdout
    result = invoke("entropy", "--probs", "1 0", "--target", "0.5 0.5", "--json")
    (record,) = _json_lines(result)
    assert record["cross_entropy"] is None and record["kl_divergence"] is None
    assert "infinite" in record["note"]


@pytest.mark.parametrize("args,fragment", [
    (["--probs", "0.5 0.6"], "--probs must sum to 1"),
    (["--probs", "0.5 0.5", "--target", "1 0 0"], "same length"),
    (["--probs", "1.5 -0.5"], "--probs must be >= 0"),
    (["--probs", "0.5 x"], "--probs"),
    (["--probs", "1", "--base", "3"], "--base"),
    (["--logits", "1 2 3", "--label", "3"], "--label"),
    (["--logits", "1 2", "--label", "0", "--target", "1 0"], "not both"),
    (["--probs", "1", "--logits", "1"], "--probs and --logits"),
    (["--probs", "1", "--label", "0"], "--label goes with --logits"),
    ([], "give IMAGE"),
])
def test_usage_errors_exit_2_with_one_error_line(invoke, args, fragment):
    """Bad values are usage errors: exit 2, one `error:` line naming the option, no stdout."""
    result = invoke("entropy", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]


def test_logits_with_label_is_minus_log_softmax(invoke):
    """--logits Z --label I: softmax printed, cross-entropy = −log softmax[I]."""
    result = invoke("entropy", "--logits", "2 1 0.1", "--label", "0", "--base", "e", "--json")
    (record,) = _json_lines(result)
    z = np.array([2, 1, 0.1])
    softmax = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(record["softmax"], softmax)
    assert record["cross_entropy"] == pytest.approx(-math.log(softmax[0]))


def test_logits_of_plus_minus_1000_stay_finite(invoke):
    """Negative numbers are option values, and ±1000 neither overflows nor gives inf."""
    result = invoke("entropy", "--logits", "-1000 1000", "--label", "0", "--base", "e")
    assert result.exit_code == 0, result.stderr
    assert "softmax: 0 1" in result.stdout
    assert "cross-entropy: 2000.000000 nats" in result.stdout


def test_logits_with_target_reports_kl(invoke):
    """--logits Z --target T: cross-entropy and KL(T ‖ softmax)."""
    result = invoke("entropy", "--logits", "0 0", "--target", "0.5,0.5", "--json")
    (record,) = _json_lines(result)
    assert record["cross_entropy"] == pytest.approx(1.0)
    assert record["kl_divergence"] == pytest.approx(0.0, abs=1e-12)


# --- images -----------------------------------------------------------------------------------


def test_image_entropy_text_names_the_file_and_unit(invoke, half_png):
    """One line per image: `NAME: value unit`."""
    result = invoke("entropy", half_png)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"{half_png}: 1.000000 bits"


def test_image_entropy_json_per_channel(invoke, colour_png):
    """--per-channel --json: the luminance entropy plus R, G, B each."""
    result = invoke("entropy", colour_png, "--per-channel", "--json")
    (record,) = _json_lines(result)
    assert record["input"] == colour_png and record["unit"] == "bits"
    assert set(record["channels"]) == {"R", "G", "B"}
    image = io.read_image(colour_png)
    counts = np.bincount(image[..., 1].ravel(), minlength=256)
    assert record["channels"]["G"] == pytest.approx(scipy.stats.entropy(counts, base=2))


def test_batch_reports_each_bad_input_and_summarises(invoke, half_png, tmp_path):
    """One unreadable image: its error, the others' results, `N measured, 1 failed`, exit 1."""
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    result = invoke("entropy", half_png, str(bad), half_png)
    assert result.exit_code == 1
    assert result.stdout.count("1.000000 bits") == 2
    assert "bad.png" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "2 measured, 1 failed"


def test_float_image_outside_0_1_is_a_data_error(invoke, tmp_path):
    """A float .npy spanning 0..300 has no defined bins: exit 1 naming the file."""
    path = tmp_path / "f.npy"
    np.save(path, np.linspace(0, 300, 20).reshape(4, 5))
    result = invoke("entropy", str(path))
    assert result.exit_code == 1
    assert "f.npy" in result.stderr and "0..1" in result.stderr


# --- local entropy maps -----------------------------------------------------------------------


def test_window_map_to_npy_equals_the_library_map_in_bits(invoke, gray_png, tmp_path):
    """Wiring: .npy keeps local_entropy's map (bits, the input's size) unchanged.

    The map itself is checked against a naive oracle and skimage in test_entropy.py.
    """
    out = tmp_path / "map.npy"
    result = invoke("entropy", gray_png, "--window", "5", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    expected = local_entropy(io.read_image(gray_png), 5)
    np.testing.assert_array_equal(np.load(out), expected)


def test_window_map_to_png_is_the_library_map_scaled_to_its_maximum(invoke, gray_png,
                                                                     tmp_path):
    """Wiring: 8-bit output is local_entropy's map with 255 standing for the largest
    possible value, log2(min(N², 256)) = log2(9) bits with N = 3."""
    out = tmp_path / "map.png"
    result = invoke("entropy", gray_png, "--window", "3", "-o", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    (record,) = _json_lines(result)
    assert record["max_possible"] == pytest.approx(math.log2(9))
    pixels = io.read_image(out)
    expected = np.rint(local_entropy(io.read_image(gray_png), 3) / math.log2(9) * 255)
    assert pixels.dtype == np.uint8 and pixels.shape == (20, 24)
    np.testing.assert_array_equal(pixels, expected)


@pytest.mark.parametrize("args,fragment", [
    (["--window", "4", "-o", "m.npy"], "--window must be odd"),
    (["--window", "1", "-o", "m.npy"], "--window must be odd"),
    (["--window", "5"], "needs -o"),
    (["-o", "m.npy"], "give --window"),
    (["--window", "5", "-o", "m.npy", "--base", "e"], "bits"),
    (["--window", "5", "-o", "m.npy", "--per-channel"], "--per-channel"),
])
def test_window_usage_errors(invoke, tmp_path, monkeypatch, args, fragment):
    """Window mistakes are caught before reading: exit 2, one line.

    The input does not exist, so reading it first would give exit 1 (no such file) instead.
    """
    monkeypatch.chdir(tmp_path)
    result = invoke("entropy", str(tmp_path / "missing.png"), *args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_window_map_refuses_to_overwrite_its_input(invoke, tmp_path):
    """-o equal to the input is refused (exit 2) and the input is untouched."""
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((5, 5), np.uint8))
    result = invoke("entropy", str(path), "--window", "3", "-o", str(path))
    assert result.exit_code == 2
    assert np.load(path).dtype == np.uint8


def test_installed_script_runs_entropy(tmp_path):
    """The console script a user runs: a fair coin, 0.30103 in base 10."""
    result = subprocess.run([CVTOOL, "entropy", "--probs", "0.5 0.5", "--base", "10",
                             "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["entropy"] == pytest.approx(0.30103, abs=5e-6)
    assert record["unit"] == "hartleys"


@pytest.mark.parametrize("base,unit", [("2", "bits"), ("e", "nats"), ("10", "hartleys")])
def test_every_base_prints_its_unit(invoke, base, unit):
    """Every number is printed with its unit; each named base has one (text and --json)."""
    text = invoke("entropy", "--probs", "0.5 0.5", "--base", base)
    assert text.exit_code == 0, text.stderr
    assert text.stdout.strip().endswith(f" {unit}")
    record = json.loads(invoke("entropy", "--probs", "0.5 0.5", "--base", base, "--json").stdout)
    assert record["unit"] == unit

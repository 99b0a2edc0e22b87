"""`cvtool normalize` via CliRunner: training vs saved statistics, outputs, stats file, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cvtool import io


@pytest.fixture
def batch(tmp_path) -> list[str]:
    """Three small RGB PNGs of different sizes."""
    rng = np.random.default_rng(11)
    paths = []
    for i, shape in enumerate([(10, 12, 3), (8, 9, 3), (5, 15, 3)]):
        path = tmp_path / f"img{i}.png"
        io.write_image(path, rng.integers(0, 256, shape, dtype=np.uint8))
        paths.append(str(path))
    return paths


def _all_pixels(paths: list[str]) -> np.ndarray:
    return np.concatenate([io.read_image(p).reshape(-1, 3).astype(np.float64) for p in paths])


def test_training_outputs_have_zero_mean_unit_variance_over_the_batch(invoke, batch, tmp_path):
    """Default: the batch's own μ, σ²; written as float .npy named after each input."""
    out = tmp_path / "out"
    result = invoke("normalize", *batch, "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    outputs = [np.load(out / f"img{i}.npy") for i in range(3)]
    assert all(o.dtype == np.float32 for o in outputs)
    flat = np.concatenate([o.reshape(-1, 3) for o in outputs]).astype(np.float64)
    np.testing.assert_allclose(flat.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(flat.var(axis=0), 1, atol=1e-5)


def test_saved_stats_file_has_the_documented_keys(invoke, batch, tmp_path):
    """--save-stats: μ and σ² in pixel units (= NumPy over all pixels), mean01/std01 on 0..1."""
    stats = tmp_path / "stats.json"
    result = invoke("normalize", *batch, "-o", str(tmp_path / "out"), "--save-stats",
                    str(stats), "--gamma", "2", "--beta", "1,2,3")
    assert result.exit_code == 0, result.stderr
    data = json.loads(stats.read_text())
    pixels = _all_pixels(batch)
    np.testing.assert_allclose(data["mean"], pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(data["var"], pixels.var(axis=0), rtol=1e-12)
    np.testing.assert_allclose(data["mean01"], pixels.mean(axis=0) / 255, rtol=1e-12)
    np.testing.assert_allclose(data["std01"], pixels.std(axis=0) / 255, rtol=1e-12)
    assert data["count"] == pixels.shape[0] and data["eps"] == 1e-5
    assert data["gamma"] == [2, 2, 2] and data["beta"] == [1, 2, 3]
    assert data["channel_order"] == "RGB"


def test_evaluation_applies_the_saved_statistics(invoke, batch, tmp_path):
    """--stats: a test image is normalised with the training μ, σ², γ, β, not its own."""
    stats = tmp_path / "stats.json"
    invoke("normalize", *batch[:2], "-o", str(tmp_path / "train"), "--save-stats", str(stats),
           "--gamma", "3", "--beta", "0.5")
    result = invoke("normalize", batch[2], "-o", str(tmp_path / "test"), "--stats", str(stats))
    assert result.exit_code == 0, result.stderr
    data = json.loads(stats.read_text())
    image = io.read_image(batch[2]).astype(np.float64)
    expected = 3 * (image - data["mean"]) / np.sqrt(np.array(data["var"]) + 1e-5) + 0.5
    np.testing.assert_allclose(np.load(tmp_path / "test" / "img2.npy"), expected, rtol=1e-5,
                               atol=1e-5)


def test_png_output_needs_an_explicit_mapping(invoke, batch, tmp_path):
    """--format png with auto would clip negatives silently: a usage error naming --out-range."""
    result = invoke("normalize", *batch, "-o", str(tmp_path / "out"), "--format", "png")
    assert result.exit_code == 2
    assert "--out-range clip" in result.stderr
    assert not (tmp_path / "out").exists()


def test_png_output_with_clip_keeps_8_bits(invoke, batch, tmp_path):
    """--gamma 40 --beta 128 --out-range clip: 8-bit PNGs centred on 128."""
    out = tmp_path / "out"
    result = invoke("normalize", *batch, "-o", str(out), "--format", "png", "--gamma", "40",
                    "--beta", "128", "--out-range", "clip", "--json")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["output"] for r in records] == [str(out / f"img{i}.png") for i in range(3)]
    pixels = np.concatenate([io.read_image(r["output"]).reshape(-1, 3) for r in records])
    assert pixels.dtype == np.uint8
    np.testing.assert_allclose(pixels.mean(axis=0), 128, atol=1.0)


def test_one_bad_input_is_reported_and_the_rest_are_written(invoke, batch, tmp_path):
    """An unreadable image is left out of the statistics; the rest still run; exit 1."""
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    out = tmp_path / "out"
    result = invoke("normalize", batch[0], str(bad), batch[1], "-o", str(out))
    assert result.exit_code == 1
    assert "bad.png" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "2 written, 1 failed"
    assert sorted(p.name for p in out.iterdir()) == ["img0.npy", "img1.npy"]


def test_mixed_channel_counts_fail_with_the_file_name(invoke, batch, tmp_path):
    """A gray image in an RGB batch: that file fails (exit 1), naming both layouts."""
    gray = tmp_path / "gray.png"
    io.write_image(gray, np.zeros((4, 4), np.uint8))
    result = invoke("normalize", batch[0], str(gray), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "gray.png" in result.stderr and "channel" in result.stderr


def test_evaluation_refuses_a_different_bit_depth(invoke, batch, tmp_path):
    """8-bit statistics applied to a 16-bit image would be meaningless: exit 1."""
    stats = tmp_path / "stats.json"
    invoke("normalize", *batch, "-o", str(tmp_path / "a"), "--save-stats", str(stats))
    deep = tmp_path / "deep.png"
    io.write_image(deep, np.zeros((4, 4, 3), np.uint16))
    result = invoke("normalize", str(deep), "-o", str(tmp_path / "b"), "--stats", str(stats))
    assert result.exit_code == 1
    assert "16-bit" in result.stderr


@pytest.mark.parametrize("args,fragment", [
    (["--gamma", "1 2"], "--gamma takes one value, or three"),
    (["--eps", "0"], "--eps must be"),
    (["--format", "xyz"], "--format xyz"),
    (["--out-range", "raw", "--format", "png"], "--out-range raw"),
    (["--stats", "s.json", "--gamma", "2"], "cannot be combined with --stats"),
])
def test_usage_errors_before_any_work(invoke, batch, tmp_path, args, fragment):
    """Option mistakes: exit 2, one error line, nothing written."""
    out = tmp_path / "out"
    result = invoke("normalize", *batch, "-o", str(out), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr
    assert not out.exists()


def test_gamma_list_must_match_the_channels(invoke, tmp_path):
    """Three γ values for gray images: known only once the images are read, so a data error
    (exit 1, as docs/cli.md sorts failures) that says what to give."""
    gray = tmp_path / "g.png"
    io.write_image(gray, np.arange(16, dtype=np.uint8).reshape(4, 4))
    result = invoke("normalize", str(gray), "-o", str(tmp_path / "out"), "--gamma", "1 2 3")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "1 channel (L)" in result.stderr


def test_missing_stats_file_is_a_runtime_error(invoke, batch, tmp_path):
    """--stats pointing nowhere: exit 1, naming the file."""
    result = invoke("normalize", batch[0], "-o", str(tmp_path / "out"), "--stats",
                    str(tmp_path / "none.json"))
    assert result.exit_code == 1
    assert "none.json" in result.stderr


def test_parallel_jobs_give_the_same_statistics(invoke, batch, tmp_path):
    """-j 3 reads the images at once but merges in input order: the same stats file."""
    one, three = tmp_path / "one.json", tmp_path / "three.json"
    invoke("normalize", *batch, "-o", str(tmp_path / "a"), "--save-stats", str(one))
    result = invoke("normalize", *batch, "-o", str(tmp_path / "b"), "--save-stats", str(three),
                    "-j", "3")
    assert result.exit_code == 0, result.stderr
    assert json.loads(one.read_text()) == json.loads(three.read_text())


def test_stdin_is_read_once_for_both_passes(invoke, batch, tmp_path):
    """`-` cannot be read twice; its image is kept from the statistics pass."""
    data = open(batch[0], "rb").read()
    out = tmp_path / "out"
    result = invoke("normalize", "-", "-o", str(out), input=data)
    assert result.exit_code == 0, result.stderr
    values = np.load(out / "stdin.npy").reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(values.mean(axis=0), 0, atol=1e-5)


@pytest.mark.parametrize("content", ["[" * 3000 + "]" * 3000,
                                     '{"mean": [0], "var": [1], "count": 1e400}',
                                     '{"mean": [0], "var": [1], "count": Infinity}'])
def test_hostile_stats_file_is_one_error_line(invoke, tmp_path, content):
    """Found by fuzzing: deep nesting and an infinite count gave tracebacks."""
    src = tmp_path / "a.npy"
    np.save(src, np.zeros((2, 2), np.float32))
    stats = tmp_path / "s.json"
    stats.write_text(content)
    result = invoke("normalize", str(src), "-o", str(tmp_path / "out"), "--stats", str(stats))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1

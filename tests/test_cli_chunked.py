"""--chunked through the command line: the same outputs and matches as in memory."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cvtool.cli.app import app

tifffile = pytest.importorskip("tifffile")
pytest.importorskip("dask")


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture()
def inputs(tmp_path):
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (67, 83, 3), dtype=np.uint8)
    np.save(tmp_path / "in.npy", image)
    tifffile.imwrite(tmp_path / "in.tif", image[:, :, 0], tile=(32, 32))
    return tmp_path, image


@pytest.mark.parametrize("source,target,mode,shape,padding", [
    ("in.npy", "npy", "raw", "valid", "mirror"),
    ("in.npy", "npy", "raw", "full", "wrap"),
    ("in.tif", "tif", "clip", "full", "extend"),
    ("in.tif", "tif", "abs", "valid", "clamp"),
])
def test_chunked_correlate_equals_in_memory(inputs, source, target, mode, shape, padding,
                                            monkeypatch):
    """A chunked correlate with stride 2 writes what the in-memory command writes (and the
    chunked path really ran: filter_chunked was called once)."""
    from cvtool.scaleout import chunked_filter

    calls = []
    real = chunked_filter.filter_chunked
    monkeypatch.setattr(chunked_filter, "filter_chunked",
                        lambda *a, **k: calls.append(k["chunk"]) or real(*a, **k))
    folder, _ = inputs
    common = ["correlate", folder / source, "-k", "1 -2 1; 0 3 -1", "-s", "2", "--shape", shape,
              "-p", padding, "--out-range", mode]
    memory = _run(*common, "-o", folder / f"m.{target}")
    chunked = _run(*common, "-o", folder / f"c.{target}", "--chunked", "--chunk", "16")
    assert memory.exit_code == 0 and chunked.exit_code == 0, chunked.output
    assert calls == [16]
    read = np.load if target == "npy" else tifffile.imread
    a, b = read(folder / f"m.{target}"), read(folder / f"c.{target}")
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_allclose(b.astype(np.float64), a.astype(np.float64), rtol=1e-5, atol=1)
    if target == "npy":
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-4)


def test_chunked_find_equals_in_memory(inputs, monkeypatch):
    """find-waldo --chunked reports the same matches and scores as the in-memory search (and
    searched chunk by chunk: search_chunked was called)."""
    from cvtool.scaleout import chunked_match

    calls = []
    real = chunked_match.search_chunked
    monkeypatch.setattr(chunked_match, "search_chunked",
                        lambda *a, **k: calls.append(k["chunk"]) or real(*a, **k))
    folder, image = inputs
    np.save(folder / "t.npy", image[30:45, 40:60])
    args = ["find-waldo", folder / "in.npy", "-t", folder / "t.npy", "--top-k", "3",
            "--threshold", "0.3", "--scales", "0.8,1", "--json"]
    memory = json.loads(_run(*args).stdout)
    chunked_run = _run(*args, "--chunked", "--chunk", "24")
    assert chunked_run.exit_code == 0, chunked_run.output
    chunked = json.loads(chunked_run.stdout)
    assert calls == [24]
    assert [(m["x"], m["y"], m["width"], m["height"], m["scale"]) for m in chunked["matches"]] \
        == [(m["x"], m["y"], m["width"], m["height"], m["scale"]) for m in memory["matches"]]
    for a, b in zip(chunked["matches"], memory["matches"], strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)


@pytest.mark.parametrize("extra,word", [(["--method", "robust"], "--method robust"),
                                        (["--heatmap", "h.npy"], "--heatmap")])
def test_chunked_find_refuses_robust_and_heatmap(inputs, extra, word):
    """--chunked searches with zncc only and writes no heatmap: a clear usage error."""
    folder, image = inputs
    np.save(folder / "t.npy", image[30:45, 40:60])
    result = _run("find-waldo", folder / "in.npy", "-t", folder / "t.npy", "--chunked", *extra)
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and word in result.stderr


def test_chunked_png_is_refused_with_the_stores_error(tmp_path):
    """A PNG cannot be read by region: exit 2 with how to convert it, nothing written."""
    from cvtool import io

    io.write_image(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    result = _run("filter", tmp_path / "a.png", "-n", "box", "--chunked", "-o", tmp_path / "b.tif")
    assert result.exit_code == 2
    assert "tiled TIFF" in result.stderr and not (tmp_path / "b.tif").exists()


def test_missing_extra_is_a_usage_error_naming_pip_install(inputs, monkeypatch):
    """Without the dask extra, --chunked and --scheduler are exit 2 naming the install."""
    import importlib.util

    folder, _ = inputs
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else real(name, *a))
    for flag in (["--chunked"], ["--scheduler", "tcp://127.0.0.1:1"]):
        result = _run("correlate", folder / "in.npy", "-k", "1", "-o", folder / "o.npy", *flag)
        assert result.exit_code == 2, result.output
        assert "pip install 'cvtool[dask]'" in result.stderr
        assert result.stderr.startswith(f"error: {flag[0]}")


@pytest.mark.parametrize("flags,bar", [([], True), (["-q"], False), (["--json"], False)])
def test_chunked_progress_over_tiles_only_on_a_terminal_without_q_or_json(inputs, monkeypatch,
                                                                           flags, bar):
    """On a terminal the chunked filter reports progress over tiles; -q and --json silence it."""
    from cvtool.cli import console
    from cvtool.scaleout import chunked_filter

    seen = []
    real = chunked_filter.filter_chunked
    monkeypatch.setattr(console, "stderr_is_terminal", lambda: True)
    monkeypatch.setattr(chunked_filter, "filter_chunked",
                        lambda *a, **k: seen.append(k.get("progress")) or real(*a, **k))
    folder, _ = inputs
    result = _run("filter", folder / "in.npy", "-n", "box", "-o", folder / "p.npy", "--chunked",
                  "--chunk", "16", *flags)
    assert result.exit_code == 0, result.output
    assert len(seen) == 1 and (seen[0] is not None) == bar

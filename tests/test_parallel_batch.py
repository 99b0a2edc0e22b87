"""Parallel batches: `-j` changes the speed, never the bytes, the order or the memory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import CVTOOL, PEAK_RSS

from cvtool import io


@pytest.fixture(scope="module")
def mixed_batch(tmp_path_factory) -> Path:
    """Twelve inputs of every kind: gray, colour, alpha, 16-bit, float .npy, odd sizes."""
    folder = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(7)
    kinds = [((31, 17), np.uint8), ((20, 40, 3), np.uint8), ((9, 9, 4), np.uint8),
             ((25, 13), np.uint16), ((12, 30, 4), np.uint16), ((1, 1), np.uint8)]
    for index, (shape, dtype) in enumerate(kinds * 2):
        image = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
        io.write_image(folder / f"img{index:02d}.png", image)
    np.save(folder / "float.npy", rng.standard_normal((14, 15, 3)).astype(np.float32))
    return folder


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([CVTOOL, *map(str, args)], capture_output=True, timeout=300, **kwargs)


@pytest.mark.parametrize("extra", [[], ["-p", "mirror", "-s", "2,1", "--shape", "full"]])
def test_jobs_1_and_2_write_identical_bytes(mixed_batch, tmp_path, extra):
    """Each output file of `-j 2` is byte for byte the file `-j 1` writes."""
    outputs = {}
    for jobs in (1, 2):
        outdir = tmp_path / f"j{jobs}"
        result = _run("correlate", mixed_batch, "-k", "1 2 1; 2 -4 2; 1 2 1/3", *extra,
                      "-o", outdir, "-j", jobs)
        assert result.returncode == 0, result.stderr
        outputs[jobs] = {p.name: p.read_bytes() for p in outdir.iterdir()}
    assert len(outputs[1]) == 13
    assert outputs[1] == outputs[2]


def test_json_lines_come_in_input_order_whatever_the_jobs(mixed_batch, tmp_path):
    """`--json` prints one record per input, in input order, with -j 3 as with -j 1; each
    record names an output file that was written."""
    inputs = sorted(str(p) for p in mixed_batch.iterdir())
    streams = []
    for jobs in (1, 3):
        result = _run("filter", mixed_batch, "-n", "box", "--size", "3", "--json",
                      "-o", tmp_path / f"j{jobs}", "-j", jobs)
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(records) == 13
        for record in records:
            assert Path(record["output"]).is_file(), record
        streams.append([record["input"] for record in records])
    assert streams[0] == streams[1] == inputs


def test_failing_inputs_do_not_stop_a_parallel_batch(mixed_batch, tmp_path):
    """Broken files among good ones, -j 2: every good one written, one error each, exit 1."""
    folder = tmp_path / "in"
    shutil.copytree(mixed_batch, folder)
    (folder / "img03b.png").write_bytes(b"")
    (folder / "img07b.png").write_text("not a png")
    (folder / "img09b.npy").write_bytes(b"\x93NUMPY garbage")
    outdir = tmp_path / "out"
    result = _run("correlate", folder, "-k", "1 1; 1 1", "-o", outdir, "-j", 2)
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert [e.split(":")[1].strip().rsplit("/", 1)[-1] for e in errors] == [
        "img03b.png", "img07b.png", "img09b.npy"]  # reported in input order
    assert lines[-1] == "13 written, 3 failed"
    good = sorted(p.name for p in mixed_batch.iterdir())
    assert sorted(p.name for p in outdir.iterdir()) == good
    for name in good:
        io.read_image(outdir / name)


def _peak_rss_kib(folder: Path, outdir: Path) -> int:
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, CVTOOL, "correlate", str(folder), "-k",
         "1 2 1; 2 4 2; 1 2 1", "--normalize-kernel", "-o", str(outdir), "-j", "2"],
        capture_output=True, text=True, timeout=600)
    code, peak = map(int, result.stdout.split())
    assert code == 0, result.stderr
    return peak


def test_memory_stays_flat_over_a_long_parallel_batch(tmp_path):
    """500 small images with -j 2 peak within a few MB of 50: nothing accumulates per input.

    Each image's float result is about 110 kB, so holding the 450 extra ones (or their
    inputs) would add tens of MB; the margin is 12 MB.
    """
    rng = np.random.default_rng(0)
    big, small = tmp_path / "n500", tmp_path / "n50"
    big.mkdir()
    small.mkdir()
    for index in range(500):
        image = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
        io.write_image(big / f"{index:03d}.png", image)
        if index < 50:
            io.write_image(small / f"{index:03d}.png", image)
    peak_50 = _peak_rss_kib(small, tmp_path / "o50")
    peak_500 = _peak_rss_kib(big, tmp_path / "o500")
    print(f"peak RSS with -j 2: 50 images {peak_50 / 1024:.1f} MiB, "
          f"500 images {peak_500 / 1024:.1f} MiB")
    assert len(list((tmp_path / "o500").iterdir())) == 500
    assert peak_500 < peak_50 + 12 * 1024

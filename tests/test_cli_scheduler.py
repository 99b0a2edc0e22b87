"""--scheduler through the command line: a batch on a Dask cluster writes what -j writes."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from cvtool import io
from cvtool.cli.app import app

pytest.importorskip("distributed")


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def scheduler():
    """An in-process cluster: two one-thread workers; its HTTP server on a free port (None
    would still bind 8787, the default, and warn when another cluster holds it)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as running:
        yield running.scheduler_address


def _batch(folder):
    rng = np.random.default_rng(2)
    src = folder / "src"
    src.mkdir()
    for i in range(5):
        io.write_image(src / f"{i}.png", rng.integers(0, 256, (30 + i, 40, 3), dtype=np.uint8))
    (src / "bad.png").write_bytes(b"not an image")
    return src


def test_scheduler_batch_is_byte_identical_with_the_same_summary(tmp_path, scheduler,
                                                                monkeypatch):
    """The batch on the cluster writes byte-identical files, the same JSON records, the same
    failure report, summary and exit code as the local -j 2 batch (and it did run there)."""
    from cvtool.scaleout import cluster

    shipped = []
    real = cluster.ClusterBatch.map
    monkeypatch.setattr(cluster.ClusterBatch, "map", lambda self, fn, items, **k: shipped.append(
        fn.__name__) or real(self, fn, items, **k))
    src = _batch(tmp_path)
    local = _run("filter", src, "-n", "sobel-x", "-o", tmp_path / "local", "-j", "2", "--json")
    remote = _run("filter", src, "-n", "sobel-x", "-o", tmp_path / "remote", "--json",
                  "--scheduler", scheduler)
    assert local.exit_code == remote.exit_code == 1
    assert shipped == ["filter_file"]
    for i in range(5):
        assert (tmp_path / "local" / f"{i}.png").read_bytes() == \
            (tmp_path / "remote" / f"{i}.png").read_bytes()
    strip = [{k: v for k, v in json.loads(line).items() if k != "output"}
             for line in remote.stdout.splitlines()]
    assert strip == [{k: v for k, v in json.loads(line).items() if k != "output"}
                     for line in local.stdout.splitlines()]
    assert remote.stderr == local.stderr
    assert local.stderr.splitlines()[-1] == "5 written, 1 failed"


def test_scheduler_from_the_environment_and_chunked_on_the_cluster(tmp_path, scheduler,
                                                                   monkeypatch):
    """DASK_SCHEDULER_ADDRESS is the default; --chunked tiles run there, equal to local."""
    from cvtool.scaleout import cluster

    pytest.importorskip("tifffile")
    tiles = []
    real = cluster.run_tiles
    monkeypatch.setattr(cluster, "run_tiles", lambda *a, **k: tiles.append(a[2]) or real(*a, **k))
    rng = np.random.default_rng(3)
    np.save(tmp_path / "in.npy", rng.integers(0, 256, (50, 61), dtype=np.uint8))
    local = _run("correlate", tmp_path / "in.npy", "-k", "1 2; 3 4", "-o", tmp_path / "a.npy",
                 "--chunked", "--chunk", "16")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", scheduler)
    remote = _run("correlate", tmp_path / "in.npy", "-k", "1 2; 3 4", "-o", tmp_path / "b.npy",
                  "--chunked", "--chunk", "16")
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert tiles == ["write"]
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_unreachable_scheduler_fails_within_seconds(tmp_path):
    """A scheduler nobody answers at is exit 1 with an error: line, not a hang."""
    np.save(tmp_path / "in.npy", np.zeros((4, 4)))
    start = time.monotonic()
    result = _run("correlate", tmp_path / "in.npy", "-k", "1", "-o", tmp_path / "o.npy",
                  "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the Dask scheduler")
    assert time.monotonic() - start < 20
    assert not (tmp_path / "o.npy").exists()

"""find-waldo --scheduler: scenes searched on a Dask cluster print and write what -j does.

The cluster runs worker processes (as a user's cluster would: every argument and result is
pickled, and workers import cvtool themselves), with no dashboard and free ports.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time

import numpy as np
import pytest
from helpers import texture

from cvtool import io

pytest.importorskip("distributed")

from cvtool.scaleout import cluster  # noqa: E402


@pytest.fixture(scope="module")
def scheduler():
    """Two worker processes with one thread each, scheduler on a free port, no dashboard."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, scheduler_port=0,
                      dashboard_address=":0") as running:
        yield running.scheduler_address


@pytest.fixture
def scenes(tmp_path):
    """Four scenes (three hold the patch, one does not), a file that is no image, the patch."""
    src = tmp_path / "scenes"
    src.mkdir()
    patch = texture((24, 30, 3), 7, sigma=2.0)
    for i in range(4):
        scene = texture((90 + 7 * i, 120, 3), 10 + i, sigma=2.5)
        if i != 2:
            scene[20 + i:44 + i, 40 + 9 * i:70 + 9 * i] = patch
        io.write_image(src / f"s{i}.png", scene)
    (src / "s9.png").write_bytes(b"not an image")
    io.write_image(tmp_path / "patch.png", patch)
    return src, tmp_path / "patch.png"


def _shipped(monkeypatch) -> list[str]:
    """Record the function each cluster batch sends to the workers."""
    names: list[str] = []
    real = cluster.ClusterBatch.map

    def recording(self, fn, items, **kwargs):
        names.append(fn.__name__)
        return real(self, fn, items, **kwargs)

    monkeypatch.setattr(cluster.ClusterBatch, "map", recording)
    return names


def _without_elapsed(stdout: str) -> list[dict]:
    records = [json.loads(line) for line in stdout.splitlines()]
    for record in records:
        record.pop("elapsed_ms", None)
    return records


def test_batch_json_and_images_equal_local_jobs(tmp_path, scenes, scheduler, invoke,
                                                monkeypatch):
    """The same JSON records (elapsed time aside), failure line, summary and exit code as a
    local -j 2 run, and annotated images and heatmaps equal byte for byte: the scenes were
    searched on the cluster (find_file shipped), not here."""
    src, patch = scenes
    shipped = _shipped(monkeypatch)
    common = ["find-waldo", src, "-t", patch, "--top-k", "2", "--scales", "0.9,1",
              "--scales", "0.9,1", "--json"]
    local = invoke(*common, "-o", tmp_path / "la", "--heatmap", tmp_path / "lh", "-j", "2")
    remote = invoke(*common, "-o", tmp_path / "ra", "--heatmap", tmp_path / "rh",
                    "--scheduler", scheduler)
    assert shipped == ["find_file"]
    assert local.exit_code == remote.exit_code == 1, remote.output
    assert _without_elapsed(remote.stdout) == _without_elapsed(local.stdout)
    assert [r.get("found") for r in _without_elapsed(local.stdout)] == [
        True, True, False, True, None]
    assert remote.stderr == local.stderr
    assert local.stderr.splitlines()[-1] == "3 found, 1 not found, 1 failed"
    for i in range(4):
        for kind in ("a", "h"):
            assert (tmp_path / f"r{kind}" / f"s{i}.png").read_bytes() == \
                (tmp_path / f"l{kind}" / f"s{i}.png").read_bytes(), (kind, i)
    assert sorted(p.name for p in (tmp_path / "ra").iterdir()) == [f"s{i}.png" for i in range(4)]


def test_text_lines_and_the_environment_variable(tmp_path, scenes, scheduler, invoke,
                                                 monkeypatch):
    """Without --scheduler, DASK_SCHEDULER_ADDRESS sends the scenes to the cluster; the
    text lines (matches and 'not found (best score=...)') are the local ones."""
    src, patch = scenes
    (src / "s9.png").unlink()
    local = invoke("find-waldo", src, "-t", patch, "-j", "2")
    shipped = _shipped(monkeypatch)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", scheduler)
    remote = invoke("find-waldo", src, "-t", patch)
    assert shipped == ["find_file"]
    assert local.exit_code == remote.exit_code == 1
    assert remote.stdout == local.stdout
    assert "s2.png: not found (best score=" in remote.stdout
    assert remote.stderr == local.stderr == "3 found, 1 not found\n"


def test_robust_method_on_the_cluster(tmp_path, scheduler, invoke):
    """--method robust runs on the workers too (its prepared template pickled there): the
    same lines, JSON and annotated image as in this process."""
    template = _sample("robust_template.png")
    shutil.copy(_sample("robust_scene_1.png"), tmp_path / "scene.png")
    args = ["find-waldo", tmp_path / "scene.png", "-t", template, "--method", "robust",
            "--scales", "0.9,1", "--json"]
    local = invoke(*args, "-o", tmp_path / "local.png")
    remote = invoke(*args, "-o", tmp_path / "remote.png", "--scheduler", scheduler)
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert _without_elapsed(remote.stdout) == _without_elapsed(local.stdout)
    assert remote.stderr == local.stderr
    assert (tmp_path / "remote.png").read_bytes() == (tmp_path / "local.png").read_bytes()


def _sample(name: str) -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent / "sample_images" / name)


def test_chunked_scenes_on_the_cluster(tmp_path, scheduler, invoke):
    """--chunked with --scheduler: each scene is searched chunk by chunk on a worker, with
    the matches and scores of the local chunked search."""
    scene = texture((150, 170), 4, sigma=2.0)
    patch = scene[100:125, 60:90].copy()
    np.save(tmp_path / "scene.npy", scene)
    io.write_image(tmp_path / "patch.png", patch)
    args = ["find-waldo", tmp_path / "scene.npy", "-t", tmp_path / "patch.png", "--chunked",
            "--chunk", "64", "--top-k", "3", "--threshold", "0.5"]
    local = invoke(*args)
    remote = invoke(*args, "--scheduler", scheduler)
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout
    assert f"{tmp_path / 'scene.npy'}: x=60 y=100 w=30 h=25 score=1.000" in remote.stdout


def test_error_names_the_scene_as_given(tmp_path, scheduler, invoke, monkeypatch):
    """A scene that cannot be read is reported with the name the user typed (the workers
    saw it made absolute), exactly as locally."""
    monkeypatch.chdir(tmp_path)
    io.write_image(tmp_path / "t.png", texture((8, 8), 1))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG nothing")
    local = invoke("find-waldo", "broken.png", "-t", "t.png")
    remote = invoke("find-waldo", "broken.png", "-t", "t.png", "--scheduler", scheduler)
    assert local.exit_code == remote.exit_code == 1
    assert remote.stderr == local.stderr
    assert remote.stderr.startswith("error: broken.png:")


def test_one_file_typed_two_ways_is_named_as_each_input_typed_it(tmp_path, scheduler,
                                                                   invoke, monkeypatch):
    """Two inputs naming the same unreadable file differently ('d/b.png', './d/b.png') each
    report their own spelling, as locally (one table of names for the whole batch would
    mix the two)."""
    monkeypatch.chdir(tmp_path)
    io.write_image(tmp_path / "t.png", texture((8, 8), 1))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.png").write_bytes(b"\x89PNG nothing")
    args = ("find-waldo", "d/b.png", "./d/b.png", "-t", "t.png")
    local = invoke(*args)
    remote = invoke(*args, "--scheduler", scheduler)
    assert local.exit_code == remote.exit_code == 1
    assert remote.stderr == local.stderr
    assert "error: ./d/b.png: not a readable image" in remote.stderr


def test_unreachable_scheduler_fails_within_seconds(tmp_path, scenes, invoke):
    """Nobody listens there: exit 1 with one error line after the connect timeout, and no
    output written."""
    src, patch = scenes
    start = time.monotonic()
    result = invoke("find-waldo", src, "-t", patch, "-o", tmp_path / "out",
                    "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""
    assert time.monotonic() - start < 20  # 5 s asked; generous for a loaded machine
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_stdout_cannot_be_shared_with_workers(tmp_path, scenes, invoke):
    """-o - names this process's stdout, which a worker cannot write: a usage error before
    any connection."""
    src, patch = scenes
    result = invoke("find-waldo", src / "s0.png", "-t", patch, "-o", "-",
                    "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: '-' (stdin or stdout) cannot be used with a "
                                    "scheduler")


def test_missing_extra_is_a_usage_error(scenes, invoke, monkeypatch):
    """Without distributed installed, --scheduler is refused (exit 2), naming the extra."""
    src, patch = scenes
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else real(name, *a))
    result = invoke("find-waldo", src / "s0.png", "-t", patch, "--scheduler", "tcp://x:1")
    assert result.exit_code == 2
    assert "needs the dask extra (distributed is not installed)" in result.stderr
    assert "pip install 'cvtool[dask]'" in result.stderr


def test_an_empty_variable_means_this_machine(scenes, invoke, monkeypatch):
    """DASK_SCHEDULER_ADDRESS set but empty (as `export VAR=` leaves it): searched here,
    nothing sent to a cluster, no error."""
    src, patch = scenes
    shipped = _shipped(monkeypatch)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "")
    result = invoke("find-waldo", src / "s0.png", "-t", patch)
    assert result.exit_code == 0, result.output
    assert shipped == []

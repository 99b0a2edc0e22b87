"""Batches and chunked tiles on a real Dask distributed cluster (the dask extra).

An in-process ``LocalCluster`` serves most tests; one test starts ``dask scheduler`` and
``dask worker`` as separate processes on 127.0.0.1, as a user's cluster would run, and
stops them by PID.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import cvtool
from cvtool import io
from cvtool.errors import ProcessingError, UsageError

pytest.importorskip("distributed")

from cvtool.scaleout import cluster  # noqa: E402
from cvtool.scaleout.chunked_filter import filter_chunked  # noqa: E402


@pytest.fixture(scope="module")
def local_cluster():
    """Two one-thread workers inside this process: no dashboard, no fixed ports."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as running:
        yield running


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _images(folder: Path, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8) for i in range(count)]


def test_batch_results_in_input_order_and_bytes_equal_local(tmp_path, local_cluster):
    """Every output written on the cluster is byte for byte the local one, and values come
    back in input order whatever order the tasks finished in."""
    images = _images(tmp_path, 9)
    (tmp_path / "local").mkdir()
    (tmp_path / "remote").mkdir()
    for i, image in enumerate(images):
        io.write_image(tmp_path / "local" / f"{i}.png", image)
    items = [(cluster.shared_path(tmp_path / "remote" / f"{i}.png"), image)
             for i, image in enumerate(images)]
    with cluster.ClusterBatch(local_cluster.scheduler_address) as batch:
        futures = batch.map(io.write_image, items, per_task=2)
        assert [f.result(timeout=60) for f in futures] == [None] * len(images)
        sums = batch.map(np.sum, [(image,) for image in images])
        assert [f.result(timeout=60) for f in sums] == [image.sum() for image in images]
    for i in range(len(images)):
        assert (tmp_path / "remote" / f"{i}.png").read_bytes() == \
            (tmp_path / "local" / f"{i}.png").read_bytes()


def test_common_arguments_are_sent_to_the_workers_once(local_cluster):
    """Keyword arguments shared by every call (a prepared template) are scattered to every
    worker once and each task gets the scattered handle, not its own pickled copy."""
    common = {"kernel": np.ones((3, 3))}
    with cluster.ClusterBatch(local_cluster.scheduler_address) as batch:
        scattered, mapped = [], []
        real_scatter, real_map = batch.client.scatter, batch.client.map

        def scatter(data, **options):
            scattered.append((data, options))
            return real_scatter(data, **options)

        def map_tasks(fn, *columns, **options):
            mapped.append(columns[-1])  # the shared argument of every group
            return real_map(fn, *columns, **options)

        batch.client.scatter, batch.client.map = scatter, map_tasks
        images = [(np.full((5, 5), float(i)),) for i in range(7)]
        futures = batch.map(cvtool.correlate, images, common=common, per_task=2)
        got = [f.result(timeout=60) for f in futures]
    assert [s[0] for s in scattered] == [[common]] and scattered[0][1]["broadcast"]
    assert len(mapped) == 1 and len(mapped[0]) == 4
    assert all(type(shared).__name__ == "Future" for shared in mapped[0])
    for (image,), result in zip(images, got, strict=True):
        np.testing.assert_array_equal(result, cvtool.correlate(image, **common))


def test_errors_come_back_per_input_with_their_parameter(tmp_path, local_cluster):
    """One bad input fails alone, with its own cvtool error class, message and parameter
    (pickling an exception would drop the parameter the CLI turns into a flag)."""
    image = np.ones((6, 6))
    results = cluster.run_batch(cvtool.correlate, [(image, np.ones((3, 3))), (image, [[1.0]])],
                                common={"stride": 0}, address=local_cluster.scheduler_address)
    assert all(isinstance(r, UsageError) for r in results)
    assert results[0].parameter == "stride" and "stride" in str(results[0])
    outcome = cluster.run_batch(
        io.write_image, [(str(tmp_path / "ok.png"), np.zeros((2, 2), np.uint8)),
                         (str(tmp_path / "missing" / "x.png"), np.zeros((2, 2), np.uint8))],
        address=local_cluster.scheduler_address)
    assert outcome[0] is None
    assert isinstance(outcome[1], ProcessingError) and "does not exist" in str(outcome[1])


def test_local_functions_are_refused():
    """A closure cannot be imported by workers: refused before anything is sent."""
    batch = cluster.ClusterBatch.__new__(cluster.ClusterBatch)
    with pytest.raises(ValueError, match="module-level"):
        batch.map(lambda x: x, [(1,)])


def test_chunked_filter_on_the_cluster_equals_local(tmp_path, local_cluster):
    """scheduler= runs the tiles on the cluster: the output file is byte for byte the one
    written by local threads (rescale included, whose min/max pass also runs there)."""
    image = np.random.default_rng(2).integers(0, 65536, (90, 70, 3), dtype=np.uint16)
    np.save(tmp_path / "in.npy", image)
    kernel = np.array([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]])
    for name in ("a.tif", "a.npy"):
        local = filter_chunked(tmp_path / "in.npy", tmp_path / f"local_{name}", kernel,
                               padding="symmetric", out_range="rescale", chunk=32)
        remote = filter_chunked(tmp_path / "in.npy", tmp_path / f"remote_{name}", kernel,
                                padding="symmetric", out_range="rescale", chunk=32,
                                scheduler=local_cluster.scheduler_address)
        assert remote.shape == local.shape
        assert (tmp_path / f"remote_{name}").read_bytes() == \
            (tmp_path / f"local_{name}").read_bytes()


def test_unreachable_scheduler_fails_within_seconds(tmp_path):
    """Nobody listens on the port: a ProcessingError (exit 1) after the timeout, no hang."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(ProcessingError, match="cannot reach the Dask scheduler") as caught:
        cluster.run_batch(np.sum, [(1,)], address=address, timeout=2)
    assert time.monotonic() - started < 20  # 2 s asked; generous for a loaded machine
    assert caught.value.exit_code == 1
    np.save(tmp_path / "in.npy", np.zeros((4, 4), np.uint8))
    with pytest.raises(ProcessingError):
        filter_chunked(tmp_path / "in.npy", tmp_path / "o.tif", [[1.0]], scheduler=address)
    assert os.listdir(tmp_path) == ["in.npy"]


def test_address_from_the_environment(monkeypatch):
    """No address given: $DASK_SCHEDULER_ADDRESS is used; neither: a usage error."""
    monkeypatch.setenv(cluster.ENV_ADDRESS, "tcp://example:8786")
    assert cluster.scheduler_address(None) == "tcp://example:8786"
    monkeypatch.delenv(cluster.ENV_ADDRESS)
    with pytest.raises(UsageError) as caught:
        cluster.connect(None)
    assert caught.value.parameter == "scheduler"


def test_stdio_cannot_be_shared():
    """'-' names this process's stdin/stdout, which a worker elsewhere cannot use."""
    with pytest.raises(UsageError, match="stdin or stdout"):
        cluster.shared_path("-")


def test_external_scheduler_and_worker_processes(tmp_path):
    """The real thing: `dask scheduler` and `dask worker` as their own processes on free
    ports; a batch and a chunked filter run there equal the local results byte for byte."""
    bin_dir = Path(sys.executable).parent
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    processes = [subprocess.Popen(
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    try:
        processes.append(subprocess.Popen(
            [str(bin_dir / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "2",
             "--no-nanny", "--host", "127.0.0.1", "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        client = None
        deadline = time.monotonic() + 60
        while client is None:
            try:
                client = cluster.connect(address, timeout=5)
            except ProcessingError:
                if time.monotonic() > deadline:
                    raise
        client.wait_for_workers(1, timeout=60)
        client.close()

        images = _images(tmp_path, 5)
        targets = [str(tmp_path / f"r{i}.png") for i in range(len(images))]
        results = cluster.run_batch(io.write_image, zip(targets, images, strict=True),
                                    address=address)
        assert results == [None] * len(images)
        for target, image in zip(targets, images, strict=True):
            io.write_image(tmp_path / "local.png", image)
            assert Path(target).read_bytes() == (tmp_path / "local.png").read_bytes()

        np.save(tmp_path / "in.npy", images[0])
        filter_chunked(tmp_path / "in.npy", tmp_path / "remote.tif", np.ones((3, 3)) / 9,
                       padding="mirror", chunk=8, scheduler=address)
        filter_chunked(tmp_path / "in.npy", tmp_path / "local.tif", np.ones((3, 3)) / 9,
                       padding="mirror", chunk=8)
        assert (tmp_path / "remote.tif").read_bytes() == (tmp_path / "local.tif").read_bytes()
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

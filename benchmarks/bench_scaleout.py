"""Huge images and clusters: chunked filtering against the in-memory command and libvips, and a
500-image batch on a local 2-worker Dask cluster against local threads.

Each filtering run is its own process, so its peak RSS (``ru_maxrss`` of that child alone)
is its own. Prints wall and CPU time; never asserts one. Heavy: writes a 900 MB TIFF and
needs about 6 GB of free memory for the in-memory run.

    python -m benchmarks scaleout                     # as part of `make bench`
    python -m benchmarks.bench_scaleout --side 30000  # alone; --side 60000 for the huge case
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SIDE = int(os.environ.get("CVTOOL_BENCH_SIDE", "30000"))
SIGMA = 2.0
BATCH = int(os.environ.get("CVTOOL_BENCH_BATCH", "500"))
BATCH_SIDE = 256

# A child process that runs one command and reports its wall time, CPU time and peak RSS.
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                      text=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": done.returncode, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_mib": usage.ru_maxrss / 1024, "stderr": done.stderr[-400:]}))
"""

_CHUNKED = """
import sys
from cvtool.filtering.kernels import gaussian_kernel
from cvtool.scaleout.chunked_filter import filter_chunked
filter_chunked(sys.argv[1], sys.argv[2], gaussian_kernel(sigma={sigma}), padding="clamp",
               out_range="clip", chunk=int(sys.argv[3]))
"""

# The in-memory path, for when the command line is not usable (it is being restructured).
_IN_MEMORY = """
import sys
import numpy as np
import cvtool
from cvtool import io
from cvtool.filtering.kernels import gaussian_kernel
from cvtool.imaging.pixels import to_pixel_type
image = io.read_image(sys.argv[1])
values = cvtool.correlate(image, gaussian_kernel(sigma={sigma}), padding="clamp")
del image
io.write_image(sys.argv[2], to_pixel_type(values, "clip", np.dtype(np.uint8)))
"""


@dataclass
class Result:
    case: str
    wall: float | None
    cpu: float | None
    rss_mib: float | None
    note: str = ""


@dataclass
class ScaleTable:
    """Rows of wall time, CPU time and peak RSS; rendered as Markdown like the other tables."""

    title: str
    rows: list[Result] = field(default_factory=list)

    def add(self, row: Result) -> None:
        self.rows.append(row)
        print(f"  {row.case}: wall {_fmt(row.wall)} s, CPU {_fmt(row.cpu)} s, "
              f"peak RSS {_fmt(row.rss_mib, 0)} MiB {row.note}", flush=True)

    def render(self) -> str:
        lines = [f"### {self.title}", "",
                 "| case | wall s | CPU s | peak RSS MiB | note |", "|---|---:|---:|---:|---|"]
        for r in self.rows:
            lines.append(f"| {r.case} | {_fmt(r.wall)} | {_fmt(r.cpu)} | {_fmt(r.rss_mib, 0)} "
                         f"| {r.note} |")
        return "\n".join(lines)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _measure(case: str, command: list[str], env: dict | None = None) -> Result:
    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True,
                          text=True, env=env)
    data = json.loads(done.stdout)
    if data["rc"] != 0:
        return Result(case, None, None, None, f"failed: {data['stderr'].strip()[-200:]}")
    return Result(case, data["wall"], data["cpu"], data["rss_mib"])


def _make_scan(path: Path, side: int) -> None:
    """A side×side 8-bit tiled TIFF (256² tiles, uncompressed), written band by band."""
    from cvtool.scaleout.stores import create_output

    out = create_output(path, (side, side), np.uint8, chunks=(1024, side))
    rng = np.random.default_rng(0)
    cols = np.arange(side)
    for r in range(0, side, 1024):
        rows = np.arange(r, min(side, r + 1024))[:, None]
        band = (rows * 3 + cols * 5) % 200 + rng.integers(0, 56, (rows.size, side))
        out.write(r, 0, band.astype(np.uint8))
    out.commit()


def filtering_rows(table: ScaleTable, folder: Path, side: int) -> None:
    scan = folder / "scan.tif"
    start = time.perf_counter()
    _make_scan(scan, side)
    print(f"  made {side}x{side} tiled TIFF in {time.perf_counter() - start:.1f} s", flush=True)
    code = _CHUNKED.format(sigma=SIGMA)
    table.add(_measure(f"chunked {side}² TIFF→TIFF (chunk 4096)",
                       [sys.executable, "-c", code, str(scan), str(folder / "c.tif"), "4096"]))
    table.add(_measure(f"chunked {side}² TIFF→Zarr (chunk 4096)",
                       [sys.executable, "-c", code, str(scan), str(folder / "c.zarr"), "4096"]))
    table.add(_measure(f"chunked {side}² TIFF→TIFF (chunk 2048)",
                       [sys.executable, "-c", code, str(scan), str(folder / "c2.tif"), "2048"]))
    for name in ("c.tif", "c.zarr", "c2.tif"):
        shutil.rmtree(folder / name, ignore_errors=True) if name.endswith(".zarr") else \
            (folder / name).unlink(missing_ok=True)
    env = dict(os.environ, CVTOOL_MAX_PIXELS=str(side * side))
    cvtool_script = Path(sys.executable).with_name("cvtool")
    row = _measure(f"in-memory `cvtool filter` {side}² TIFF→TIFF",
                   [str(cvtool_script), "filter", str(scan), "-n", "gaussian", "--sigma",
                    str(SIGMA), "-p", "clamp", "-o", str(folder / "m.tif"), "-q"], env=env)
    if row.wall is None:  # fall back to the same pipeline in Python
        row = _measure(f"in-memory cvtool (Python) {side}² TIFF→TIFF",
                       [sys.executable, "-c", _IN_MEMORY.format(sigma=SIGMA), str(scan),
                        str(folder / "m.tif")], env=env)
    table.add(row)
    (folder / "m.tif").unlink(missing_ok=True)
    vips = shutil.which("vips")
    if vips is None:
        table.add(Result("vips convsep (same float taps)", None, None, None,
                         "vips not installed"))
    else:
        from cvtool.filtering.kernels import gaussian_kernel

        taps = gaussian_kernel(sigma=SIGMA)[gaussian_kernel(sigma=SIGMA).shape[0] // 2]
        taps = taps / taps.sum()
        mask = folder / "taps.mat"
        mask.write_text(f"{taps.size} 1 1 0\n" + " ".join(f"{t:.10f}" for t in taps) + "\n")
        table.add(_measure("vips convsep (same float taps)",
                           [vips, "convsep", str(scan), str(folder / "v.tif[tile]"), str(mask),
                            "--precision", "float"]))
        (folder / "v.tif").unlink(missing_ok=True)
    scan.unlink()


# ---------------------------------------------------------------------------------------------
# Batches


def filter_one(src: str, dst: str) -> None:
    """One batch item: read, gaussian σ 2 with clamp, clip, write (module level: shippable)."""
    import cvtool
    from cvtool import io
    from cvtool.filtering.kernels import gaussian_kernel
    from cvtool.imaging.pixels import to_pixel_type

    image = io.read_image(src)
    values = cvtool.correlate(image, gaussian_kernel(sigma=SIGMA), padding="clamp", workers=1)
    io.write_image(dst, to_pixel_type(values, "clip", np.dtype(np.uint8)))


def worker_cpu_seconds() -> float:
    """CPU seconds of the calling process (run on every worker with ``client.run``)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def batch_rows(table: ScaleTable, folder: Path) -> None:
    from distributed import LocalCluster

    from cvtool import io
    from cvtool.scaleout.cluster import ClusterBatch
    from cvtool.threads import map_threads

    rng = np.random.default_rng(1)
    (folder / "in").mkdir()
    (folder / "local").mkdir()
    (folder / "remote").mkdir()
    names = [f"{i:03d}.png" for i in range(BATCH)]
    for name in names:
        io.write_image(folder / "in" / name,
                       rng.integers(0, 256, (BATCH_SIDE, BATCH_SIDE, 3), dtype=np.uint8))

    cpu0 = time.process_time()
    start = time.perf_counter()
    map_threads(lambda n: filter_one(str(folder / "in" / n), str(folder / "local" / n)),
                names, 2)
    table.add(Result(f"batch {BATCH}×{BATCH_SIDE}² RGB, local threads (2)",
                     time.perf_counter() - start, time.process_time() - cpu0, None))

    start = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, \
            ClusterBatch(cluster.scheduler_address) as batch:
        # Start-up apart: worker processes, the client, and each worker's first imports.
        (folder / "warm").mkdir()
        warm = batch.map(filter_one, [(str(folder / "in" / n), str(folder / "warm" / n))
                                      for n in names[:8]], per_task=1)
        for future in warm:
            future.result()
        table.add(Result("LocalCluster start-up (2 processes, client, first imports)",
                         time.perf_counter() - start, None, None))
        cpu_before = sum(batch.client.run(worker_cpu_seconds).values())
        start = time.perf_counter()
        futures = batch.map(filter_one, [(str(folder / "in" / n), str(folder / "remote" / n))
                                         for n in names])
        for future in futures:
            future.result()
        wall = time.perf_counter() - start
        cpu = sum(batch.client.run(worker_cpu_seconds).values()) - cpu_before
    same = all((folder / "local" / n).read_bytes() == (folder / "remote" / n).read_bytes()
               for n in names)
    table.add(Result(f"batch {BATCH}×{BATCH_SIDE}² RGB, LocalCluster 2 processes", wall, cpu,
                     None, f"outputs byte-identical: {same}; CPU summed over the workers"))


def run(side: int = SIDE) -> ScaleTable:
    table = ScaleTable(f"scaleout ({os.cpu_count()} CPUs; shared machine, timings disturbed)")
    if side > 0:  # --side 0: the batch rows only
        with tempfile.TemporaryDirectory(dir=os.environ.get("CVTOOL_BENCH_DIR")) as tmp:
            filtering_rows(table, Path(tmp), side)
    with tempfile.TemporaryDirectory() as tmp:
        batch_rows(table, Path(tmp))
    return table


if __name__ == "__main__":
    # Run through the module's real name, so filter_one is importable by cluster workers.
    import benchmarks.bench_scaleout as bench

    chosen = int(sys.argv[sys.argv.index("--side") + 1]) if "--side" in sys.argv else SIDE
    print(bench.run(chosen).render())

"""Huge images and clusters: chunked filtering against the in-memory command and libvips, and a
500-image batch through ``cvtool filter --scheduler`` on a local 2-worker Dask cluster against
``cvtool filter -j 2``.

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
BATCH_REPEAT = int(os.environ.get("CVTOOL_BENCH_BATCH_REPEAT", "3"))

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


def worker_cpu_seconds() -> float:
    """CPU seconds of the calling process (run on every worker with ``client.run``, and on
    the scheduler with ``client.run_on_scheduler``)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_cli(arguments: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one ``cvtool`` command run as a user would (its own process)."""
    cvtool_script = str(Path(sys.executable).with_name("cvtool"))
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run([cvtool_script, *arguments], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"cvtool {' '.join(arguments[:3])} ... failed: {done.stderr[-300:]}")
    return wall, _children_cpu() - cpu


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def batch_rows(table: ScaleTable, folder: Path, repeat: int = BATCH_REPEAT) -> None:
    """``cvtool filter DIR -j 2`` against ``cvtool filter DIR --scheduler ADDRESS`` on a local
    cluster of 2 worker processes × 1 thread, each command in its own process, as a user runs
    them; ``repeat`` rounds, each: the local run (no cluster alive), the cluster's start-up,
    a first small run (the workers import cvtool), then the batch on the running cluster.

    The batch's CPU on the cluster is the command's own process plus every worker's and the
    scheduler's (this process) CPU over the run, so the ratio counts the cluster's background
    work too. The first ratio is what a user with a running cluster sees; the second adds
    start-up and first imports, as the issue's figure (LocalCluster + client.map) did.
    """
    from distributed import Client, LocalCluster

    from cvtool import io

    rng = np.random.default_rng(1)
    src = folder / "in"
    src.mkdir()
    names = [f"{i:03d}.png" for i in range(BATCH)]
    for name in names:
        io.write_image(src / name,
                       rng.integers(0, 256, (BATCH_SIDE, BATCH_SIDE, 3), dtype=np.uint8))
    (folder / "warm_in").mkdir()
    for name in names[:8]:
        shutil.copy(src / name, folder / "warm_in" / name)
    command = ["filter", str(src), "-n", "gaussian", "--sigma", str(SIGMA), "-p", "clamp", "-q"]
    label = f"batch {BATCH}×{BATCH_SIDE}² RGB PNG, gaussian σ {SIGMA:g}"
    ratios, ratios_cpu, ratios_cold = [], [], []
    for round_ in range(1, repeat + 1):
        for name in ("local", "remote", "warm"):
            shutil.rmtree(folder / name, ignore_errors=True)
        load = _load()
        local_wall, local_cpu = _run_cli([*command, "-o", str(folder / "local"), "-j", "2"])
        table.add(Result(f"[{round_}] {label}: `cvtool filter -j 2`", local_wall, local_cpu,
                         None, load))

        cpu_here = worker_cpu_seconds()
        start = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.wait_for_workers(2)
            up_wall = time.perf_counter() - start
            up_cpu = (worker_cpu_seconds() - cpu_here
                      + sum(client.run(worker_cpu_seconds).values()))
            table.add(Result(f"[{round_}] LocalCluster start-up (2 processes × 1 thread)",
                             up_wall, up_cpu, None,
                             "scheduler (this process) and workers; not the nannies' own CPU"))
            warm_wall, _ = _run_cli(["filter", str(folder / "warm_in"), "-n", "gaussian",
                                     "--sigma", str(SIGMA), "-p", "clamp", "-q", "-o",
                                     str(folder / "warm"), "--scheduler",
                                     cluster.scheduler_address])
            table.add(Result(f"[{round_}] first --scheduler run, 8 images (workers import "
                             "cvtool)", warm_wall, None, None, ""))
            load = _load()
            workers_before = sum(client.run(worker_cpu_seconds).values())
            here_before = worker_cpu_seconds()
            wall, cli_cpu = _run_cli([*command, "-o", str(folder / "remote"), "--scheduler",
                                      cluster.scheduler_address])
            workers_cpu = sum(client.run(worker_cpu_seconds).values()) - workers_before
            scheduler_cpu = worker_cpu_seconds() - here_before
        same = all((folder / "local" / n).read_bytes() == (folder / "remote" / n).read_bytes()
                   for n in names)
        cpu = cli_cpu + workers_cpu + scheduler_cpu
        ratios.append(wall / local_wall)
        ratios_cpu.append(cpu / local_cpu)
        ratios_cold.append((up_wall + warm_wall + wall) / local_wall)
        table.add(Result(
            f"[{round_}] {label}: `cvtool filter --scheduler` (running cluster)", wall, cpu,
            None, f"{load}; CPU: command {cli_cpu:.1f} + workers {workers_cpu:.1f} + "
                  f"scheduler {scheduler_cpu:.1f}; ×{ratios[-1]:.2f} wall, "
                  f"×{ratios_cpu[-1]:.2f} CPU of -j 2; with start-up ×{ratios_cold[-1]:.2f}; "
                  f"outputs byte-identical: {same}"))
    table.add(Result(f"{label}: --scheduler ÷ -j 2, median of {repeat}", None, None, None,
                     f"wall ×{float(np.median(ratios)):.2f} (running cluster), "
                     f"×{float(np.median(ratios_cold)):.2f} (start-up and first imports "
                     f"counted); CPU ×{float(np.median(ratios_cpu)):.2f}"))


def run(side: int = SIDE) -> ScaleTable:
    table = ScaleTable(f"scaleout ({os.cpu_count()} CPUs; shared machine, timings disturbed)")
    if side > 0:  # --side 0: the batch rows only
        with tempfile.TemporaryDirectory(dir=os.environ.get("CVTOOL_BENCH_DIR")) as tmp:
            filtering_rows(table, Path(tmp), side)
    with tempfile.TemporaryDirectory() as tmp:
        batch_rows(table, Path(tmp))
    return table


if __name__ == "__main__":
    import benchmarks.bench_scaleout as bench

    chosen = int(sys.argv[sys.argv.index("--side") + 1]) if "--side" in sys.argv else SIDE
    print(bench.run(chosen).render())

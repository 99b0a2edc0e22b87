"""Timing helpers shared by every benchmark: the machine, wall and CPU time, ratios, a table.

Benchmarks print; they never assert a time. A ratio is cvtool / baseline (lower is
better), both measured in the same process and run, alternately, so that a busy machine
slows both alike. CPU time (``time.process_time``: every thread of this process, so
OpenCV's and BLAS's threads count too) is printed next to wall time because it is less
disturbed by other processes on a shared machine.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

SHARED_NOTE = ("timings from a machine shared with other jobs are noisy: compare ratios of "
               "the same run, and prefer the CPU-time ratio")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what the platform says elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_flags() -> str:
    """The vector extensions the kernels can use: AVX-512 / AVX2 / neither."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            flags = next((line for line in info if line.startswith("flags")), "").split()
    except OSError:
        return "unknown"
    if "avx512f" in flags:
        return "AVX-512"
    return "AVX2" if "avx2" in flags else "no AVX2"


def machine_lines() -> list[str]:
    """What a reader needs to compare runs: CPU, cores, BLAS kernel family, threads."""
    import cv2
    import numpy as np

    from cvtool.filtering.blas import blas_info

    lines = [f"CPU: {cpu_model()} ({cpu_flags()}), {os.cpu_count()} logical CPUs; "
             f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
             f"NumPy {np.__version__}, OpenCV {cv2.__version__} "
             f"(cv2.getNumThreads() = {cv2.getNumThreads()}); cvtool uses every CPU "
             f"(workers = {os.cpu_count()}) with BLAS held to one thread inside"]
    libs = blas_info()
    if not libs:
        lines.append("BLAS: unknown (threadpoolctl not installed)")
    for lib in libs:
        lines.append(f"BLAS: {lib.get('internal_api')} {lib.get('version')}, kernel family "
                     f"{lib.get('architecture')}, {lib.get('num_threads')} threads outside "
                     f"cvtool ({os.path.basename(lib.get('filepath', ''))})")
    lines.append(f"Note: {SHARED_NOTE}")
    return lines


@dataclass
class Timing:
    """Median wall and CPU seconds of one side."""

    wall: float
    cpu: float


def peak_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes allocated (tracemalloc sees NumPy's buffers) while ``fn`` runs.

    Examples
    --------
    >>> peak_bytes(lambda: bytearray(1 << 20)) >= 1 << 20
    True
    """
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


def median_seconds(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired(ours: Callable[[], object], base: Callable[[], object], *, repeat: int = 5,
           warmup: int = 1) -> tuple[Timing, Timing]:
    """Median wall and CPU seconds of each, measured alternately (ours, base, ours, ...)."""
    for _ in range(warmup):
        ours()
        base()
    samples: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    for _ in range(repeat):
        for side, fn in enumerate((ours, base)):
            cpu, wall = time.process_time(), time.perf_counter()
            fn()
            samples[side].append((time.perf_counter() - wall, time.process_time() - cpu))
    return tuple(Timing(statistics.median(w for w, _ in samples[side]),
                        statistics.median(c for _, c in samples[side])) for side in (0, 1))


@dataclass
class Measured:
    """One child process: exit status, wall and CPU seconds, its own peak RSS."""

    returncode: int
    wall: float
    cpu: float
    rss_mib: float
    stderr: str


# A small child that runs the command and reports its own child's usage: a process forked
# from this one would inherit this process's peak RSS (Linux keeps ru_maxrss across fork and
# exec), so the command is started from a fresh, small interpreter instead.
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": done.returncode, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_mib": usage.ru_maxrss / 1024,
                  "stderr": done.stderr.decode(errors="replace")[-400:]}))
"""


def run_measured(cmd: list[str], env: dict | None = None, timeout: float = 600) -> Measured:
    """Run ``cmd`` and read its own wall time, CPU time (user + system) and peak RSS."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True,
                          text=True, env=env, timeout=timeout)
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return Measured(done.returncode or 1, 0.0, 0.0, 0.0, done.stderr[-400:])
    return Measured(report["rc"], report["wall"], report["cpu"], report["rss_mib"],
                    report["stderr"])


def median_measured(cmd: list[str], *, repeat: int = 3, env: dict | None = None,
                    ) -> Measured | None:
    """Median wall, CPU and peak RSS over ``repeat`` runs after one warm-up (file cache,
    bytecode); None, printing why, when the command fails."""
    runs = []
    for attempt in range(repeat + 1):
        done = run_measured(cmd, env=env)
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"  {os.path.basename(cmd[0])} failed (exit {done.returncode}): {why[:160]}",
                  flush=True)
            return None
        if attempt:
            runs.append(done)
    return Measured(0, statistics.median(r.wall for r in runs),
                    statistics.median(r.cpu for r in runs),
                    statistics.median(r.rss_mib for r in runs), "")


@dataclass
class Row:
    case: str
    baseline: str
    ours_s: float
    base_s: float | None
    target: str = ""
    ours_cpu: float | None = None
    base_cpu: float | None = None
    ours_rss: float | None = None
    base_rss: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.base_s else self.ours_s / self.base_s

    @property
    def cpu_ratio(self) -> float | None:
        if self.ours_cpu is None or not self.base_cpu:
            return None
        return self.ours_cpu / self.base_cpu


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.1f}"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


class Table:
    """Collects rows and prints them as a Markdown table (pasteable into the README)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[Row] = []

    def add(self, case: str, baseline: str, ours_s: float, base_s: float | None,
            target: str = "", *, ours_cpu: float | None = None, base_cpu: float | None = None,
            ours_rss: float | None = None, base_rss: float | None = None,
            note: str = "") -> Row:
        row = Row(case, baseline, ours_s, base_s, target, ours_cpu, base_cpu, ours_rss,
                  base_rss, note)
        self.rows.append(row)
        cpu = "" if ours_cpu is None else (f" (CPU {_ms(ours_cpu)} vs {_ms(base_cpu)} ms, "
                                           f"ratio {_x(row.cpu_ratio)})")
        rss = "" if ours_rss is None else (f", peak RSS {ours_rss:.0f} vs "
                                           f"{'n/a' if base_rss is None else f'{base_rss:.0f}'}"
                                           f" MiB")
        print(f"  {case}: cvtool {_ms(ours_s)} ms, {baseline} {_ms(base_s)} ms, "
              f"wall ratio {_x(row.ratio)}{cpu}{rss}{f' [{note}]' if note else ''}",
              flush=True)
        return row

    def render(self) -> str:
        lines = [f"### {self.title}", "",
                 "| case | baseline | cvtool wall / CPU ms | baseline wall / CPU ms "
                 "| wall ratio | CPU ratio | target | note |",
                 "|---|---|---:|---:|---:|---:|---|---|"]
        for r in self.rows:
            note = r.note
            if r.ours_rss is not None:
                base_rss = "n/a" if r.base_rss is None else f"{r.base_rss:.0f}"
                note = f"peak RSS {r.ours_rss:.0f} / {base_rss} MiB" + (f"; {note}" if note
                                                                      else "")
            lines.append(f"| {r.case} | {r.baseline} | {_ms(r.ours_s)} / {_ms(r.ours_cpu)} "
                         f"| {_ms(r.base_s)} / {_ms(r.base_cpu)} | {_x(r.ratio)} "
                         f"| {_x(r.cpu_ratio)} | {r.target} | {note} |")
        return "\n".join(lines)

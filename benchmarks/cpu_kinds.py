"""Issue 11's filter rows (cvtool / OpenCV) under other kinds of CPU emulated on this one.

Issue 11 asks that a speed-up hold on more than one kind of CPU (instruction set, BLAS kernel
family). With one machine, this runs the kernel rows of ``bench_filter`` (3x3, 7x7 gaussian,
31x31 box, 31x31 arbitrary, 3x3 stride 4; float32, zero padding) in a child process per
*kind*: the same software forced, on both sides alike, into the code paths it would take on
an older CPU:

============  ==================  ==================  ==================  ================
kind          OpenBLAS kernels    NumPy SIMD          OpenCV dispatch     Intel IPP (cv2)
============  ==================  ==================  ==================  ================
native        as picked here      as found here       as found here       as found here
zen-blas      Zen                 as found here       as found here       as found here
sandybridge   Sandybridge (AVX)   baseline (SSE4.2)   AVX, no FMA3/AVX2   sse42
nehalem       Nehalem (SSE)       baseline (SSE4.2)   SSE4.2, no AVX      sse42
============  ==================  ==================  ==================  ================

set through ``OPENBLAS_CORETYPE`` (read by NumPy's OpenBLAS and by the one bundled with
cv2), ``NPY_DISABLE_CPU_FEATURES``, ``OPENCV_CPU_DISABLE`` and ``OPENCV_IPP``. Each child
first reads back what took effect (threadpoolctl's kernel family of every OpenBLAS, NumPy's
enabled dispatch targets, OpenCV's CPU feature line) and refuses to time a kind whose
settings did not all take effect; the table then says "refused" and why. Two things here
cannot be read back and are only requested: IPP's own dispatch level (its symbols are not
exported; a probe prints the IPP-on / IPP-off CPU-time ratio of a 31x31 ``filter2D``, which
IPP takes on its own path where OpenCV alone would use its DFT, as indirect evidence only:
0.4-0.8 natively here, 0.7-1.1 at ``sse42``, the two overlapping on a loaded machine) and
OpenCV's baseline (SSE3; only its dispatched paths above that can be turned off). NumPy 2.x
has no dispatch target between its SSE4.2 baseline and AVX2 (``X86_V3``), so NumPy runs its
SSE4.2 code in both older kinds.

What this is NOT: it is the same AMD EPYC Zen 3 silicon every time, with its caches, memory
bandwidth, clock and two cores; only the instructions the libraries choose change. It is not
AVX-512 (an AVX-512 kernel family, e.g. ``OPENBLAS_CORETYPE=SkylakeX``, dies on an illegal
instruction here) and not an Intel core (whose ports, latencies and caches differ; OpenBLAS's
small-matrix GEMM path, which the issue suspects behind the README's old numbers, exists for
its SkylakeX family only and so is in none of these kinds). A ratio that holds across these
kinds holds across instruction sets on this memory system, nothing more.

Per kind and case it prints cvtool / OpenCV wall and CPU ratios (best of ``repeat``
alternated runs each; with ``--rounds`` every kind runs again, the kinds in reverse order, so
that a load that changes during the run does not follow one kind), both sides' CPU ms,
``auto``'s choice (the registry's cost table is calibrated on the native kind) against the
contenders timed in that kind, the CPU cost of the building blocks both sides stand on
(a BLAS ``gemv``, a NumPy add, a memory copy, NumPy's and OpenCV's FFTs, a 3x3 ``filter2D``
in cache and from memory: compute-bound blocks follow the instruction set, memory-bound ones
do not), and with ``--calibrate`` the constants
:func:`cvtool.filtering.calibrate.calibrate` fits in each kind and the choice they would
make (reported, never written to the registry). Nothing asserts a time; this is not part of
``make test``.

Run with ``python -m benchmarks cpu_kinds [--size N] [--repeat R] [--rounds N]
[--kinds a,b] [--calibrate]``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

#: Every variable that moves one of the libraries to another code path; a child starts
#: from the caller's environment with all of them removed, then the kind's set.
CONTROL_VARIABLES = ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES",
                     "OPENCV_CPU_DISABLE", "OPENCV_IPP")

# NumPy's names for what an SSE4.2 CPU has (NumPy 1.x lists them one by one as dispatch
# targets, NumPy 2.x groups them as its X86_V2 baseline).
_SSE42 = frozenset({"MMX", "SSE", "SSE2", "SSE3", "SSSE3", "SSE41", "POPCNT", "SSE42", "X86_V2",
                    "LAHF", "CX16"})

# OpenCV's feature ids (cvdef.h CV_CPU_*): cv2 exposes checkHardwareSupport but not the names.
OPENCV_FEATURE_IDS = {"SSE4_1": 6, "SSE4_2": 7, "POPCNT": 8, "FP16": 9, "AVX": 10, "AVX2": 11,
                      "FMA3": 12, "AVX_512F": 13}


@dataclass(frozen=True)
class Kind:
    """One kind of CPU the libraries can be forced into (see the module docstring).

    ``blas`` is the OpenBLAS kernel family (``OPENBLAS_CORETYPE``; None: as OpenBLAS picks
    for this CPU); ``numpy_keep`` the NumPy features a dispatch target may use (None: every
    one the CPU has); ``opencv_off`` OpenCV's dispatch features to turn off; ``ipp`` the
    ``OPENCV_IPP`` level (None: as IPP picks).
    """

    name: str
    emulates: str
    blas: str | None = None
    numpy_keep: frozenset[str] | None = None
    opencv_off: tuple[str, ...] = ()
    ipp: str | None = None


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("native", "this CPU as it is (Zen 3: AVX2, FMA3)"),
    Kind("zen-blas", "native, but NumPy's OpenBLAS on its Zen kernel family", blas="Zen"),
    Kind("sandybridge", "AVX without FMA3 or AVX2 (Sandy Bridge, 2011)", blas="Sandybridge",
         numpy_keep=_SSE42 | {"AVX"}, opencv_off=("FP16", "AVX2", "FMA3"), ipp="sse42"),
    Kind("nehalem", "SSE4.2, no AVX (Nehalem, 2008)", blas="Nehalem", numpy_keep=_SSE42,
         opencv_off=("AVX", "FP16", "AVX2", "FMA3"), ipp="sse42"),
)}


def numpy_dispatch_targets() -> list[str]:
    """NumPy's dispatch targets (the names ``NPY_DISABLE_CPU_FEATURES`` accepts)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__
    return list(__cpu_dispatch__)


def kind_environment(kind: Kind, base: Mapping[str, str] | None = None,
                     dispatch: Sequence[str] | None = None) -> dict[str, str]:
    """The environment of a child running ``kind``: ``base`` (default: this process's) with
    every :data:`CONTROL_VARIABLES` removed, then the kind's own settings.

    NumPy ignores (with only an ImportWarning) a name that is not one of its dispatch
    targets, e.g. ``AVX2`` on NumPy 2.x, whose target is ``X86_V3``; so the names to disable
    are NumPy's own targets (``dispatch``, default read from NumPy) that use a feature
    outside ``kind.numpy_keep``.

    Examples
    --------
    >>> env = kind_environment(KINDS["nehalem"], {"OPENCV_IPP": "avx2", "HOME": "/h"},
    ...                        dispatch=["X86_V3", "X86_V4"])
    >>> env["HOME"], env["OPENCV_IPP"], env["NPY_DISABLE_CPU_FEATURES"]
    ('/h', 'sse42', 'X86_V3 X86_V4')
    >>> "OPENCV_IPP" in kind_environment(KINDS["native"], {"OPENCV_IPP": "avx2"})
    False
    """
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in CONTROL_VARIABLES}
    if kind.blas:
        env["OPENBLAS_CORETYPE"] = kind.blas
    if kind.numpy_keep is not None:
        targets = numpy_dispatch_targets() if dispatch is None else dispatch
        off = [t for t in targets if t not in kind.numpy_keep]
        if off:
            env["NPY_DISABLE_CPU_FEATURES"] = " ".join(off)
    if kind.opencv_off:
        env["OPENCV_CPU_DISABLE"] = ",".join(kind.opencv_off)
    if kind.ipp:
        env["OPENCV_IPP"] = kind.ipp
    return env


# ----------------------------------------------------------------------------- in the child

def effective(parts: Iterable[str] = ("numpy", "blas", "opencv")) -> dict:
    """What the libraries of this process actually use (to compare with a kind's request).

    ``numpy``: its baseline and the dispatch targets enabled; ``blas``: every BLAS
    threadpoolctl sees (prefix, version, kernel family); ``opencv``: its CPU feature line,
    ``checkHardwareSupport`` of :data:`OPENCV_FEATURE_IDS` and whether IPP is on. Importing
    cv2 loads its own OpenBLAS, so ``opencv`` comes before ``blas``.

    Examples
    --------
    >>> sorted(effective(("numpy",))["numpy"])
    ['baseline', 'dispatch_on']
    """
    parts = tuple(parts)
    report: dict = {}
    if "numpy" in parts:
        try:
            from numpy._core import _multiarray_umath as umath
        except ImportError:  # NumPy 1.x
            from numpy.core import _multiarray_umath as umath
        report["numpy"] = {"baseline": list(umath.__cpu_baseline__),
                           "dispatch_on": [t for t in umath.__cpu_dispatch__
                                           if umath.__cpu_features__.get(t)]}
    if "opencv" in parts:
        import cv2

        report["opencv"] = {"line": cv2.getCPUFeaturesLine(),
                            "on": {name: bool(cv2.checkHardwareSupport(i))
                                   for name, i in OPENCV_FEATURE_IDS.items()},
                            "ipp": bool(cv2.ipp.useIPP()),
                            "ipp_env": os.environ.get("OPENCV_IPP")}
    if "blas" in parts:
        import numpy  # noqa: F401  (loads NumPy's OpenBLAS)
        try:
            import threadpoolctl
        except ImportError:
            report["blas"] = None
        else:
            report["blas"] = [{k: lib.get(k) for k in ("prefix", "version", "architecture",
                                                       "internal_api")}
                              for lib in threadpoolctl.threadpool_info()
                              if lib.get("user_api") == "blas"]
    return report


def verify(kind: Kind, report: Mapping) -> list[str]:
    """Why ``report`` (from :func:`effective`) is not ``kind``; empty when every requested
    setting took effect. Only the parts present in ``report`` are checked.

    Examples
    --------
    >>> verify(KINDS["nehalem"], {"numpy": {"baseline": ["X86_V2"], "dispatch_on": []}})
    []
    >>> verify(KINDS["nehalem"], {"numpy": {"baseline": ["X86_V2"],
    ...                                     "dispatch_on": ["X86_V3"]}})
    ['NumPy still dispatches to X86_V3']
    """
    problems = []
    numpy_part = report.get("numpy")
    if numpy_part is not None and kind.numpy_keep is not None:
        still = [t for t in numpy_part["dispatch_on"] if t not in kind.numpy_keep]
        if still:
            problems.append(f"NumPy still dispatches to {' '.join(still)}")
    if "blas" in report and kind.blas:
        libs = [lib for lib in report["blas"] or [] if lib.get("internal_api") == "openblas"]
        if not libs:
            problems.append("no OpenBLAS seen (threadpoolctl missing?): kernel family unknown")
        for lib in libs:
            got = str(lib.get("architecture"))
            if got.lower() != kind.blas.lower():
                problems.append(f"{lib.get('prefix')} {lib.get('version')} runs {got} kernels, "
                                f"not {kind.blas}")
    opencv = report.get("opencv")
    if opencv is not None:
        still = [name for name in kind.opencv_off if opencv["on"].get(name)]
        if still:
            problems.append(f"OpenCV still dispatches to {' '.join(still)}")
        if kind.ipp and (opencv["ipp_env"] != kind.ipp or not opencv["ipp"]):
            problems.append(f"OpenCV's IPP is not on at level {kind.ipp}")
    return problems


def describe(report: Mapping) -> list[str]:
    """One line per library: what it runs in this child."""
    lines = []
    if "numpy" in report:
        on = report["numpy"]["dispatch_on"]
        lines.append(f"NumPy SIMD: baseline {' '.join(report['numpy']['baseline'])}, dispatch "
                     f"{' '.join(on) if on else 'none (baseline only)'}")
    for lib in report.get("blas") or []:
        lines.append(f"BLAS: {lib['prefix']} {lib['version']}: {lib['architecture']} kernels")
    if "opencv" in report:
        cv = report["opencv"]
        ipp = ("off" if not cv["ipp"] else
               f"on, level {cv['ipp_env'] or 'as IPP picks'} (not readable from Python)")
        lines.append(f"OpenCV features: {cv['line'].strip()} (a trailing ? = not used); "
                     f"IPP {ipp}")
    return lines


@dataclass
class Best:
    """Best-of wall and CPU seconds (the least disturbed run of each on a shared machine)."""

    wall: float = math.inf
    cpu: float = math.inf

    def add(self, wall: float, cpu: float) -> None:
        self.wall, self.cpu = min(self.wall, wall), min(self.cpu, cpu)


def _timed(fn: Callable[[], object], best: Best) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    best.add(time.perf_counter() - wall, time.process_time() - cpu)


def best_paired(ours: Callable[[], object], base: Callable[[], object],
                repeat: int) -> tuple[Best, Best]:
    """Best wall and CPU time of each side over ``repeat`` alternated runs, after a warm-up."""
    ours()
    base()
    sides = (Best(), Best())
    for _ in range(repeat):
        _timed(ours, sides[0])
        _timed(base, sides[1])
    return sides


def _cases(size: int):
    """bench_filter's kernel rows: the same image, kernels (same seed and draws), borders."""
    import cv2
    import numpy as np

    from cvtool.filtering.kernels import gaussian_kernel

    rng = np.random.default_rng(0)
    img = rng.random((size, size), dtype=np.float32)
    k3 = rng.random((3, 3)).astype(np.float32)
    rng.random((5, 5))  # bench_filter's 5x5 kernel: drawn so that k31 is the same as there
    k31 = rng.random((31, 31)).astype(np.float32)
    g7 = gaussian_kernel(7)
    sigma7 = 0.3 * ((7 - 1) / 2 - 1) + 0.8  # the sigma gaussian_kernel(7) uses
    box31 = np.full((31, 31), 1 / 961)
    zero = cv2.BORDER_CONSTANT
    return img, [
        ("3x3 arbitrary", "<= 1.6", k3, {},
         lambda: cv2.filter2D(img, -1, k3, borderType=zero)),
        ("7x7 gaussian", "<= 1.6", g7, {},
         lambda: cv2.GaussianBlur(img, (7, 7), sigma7, sigmaY=sigma7, borderType=zero)),
        ("31x31 box", "<= 1.8", box31, {},
         lambda: cv2.boxFilter(img, -1, (31, 31), normalize=True, borderType=zero)),
        ("31x31 arbitrary", "<= 0.8", k31, {},
         lambda: cv2.filter2D(img, -1, k31, borderType=zero)),
        ("3x3 stride 4", "<= 0.7", k3, {"stride": 4},
         lambda: np.ascontiguousarray(cv2.filter2D(img, -1, k3, borderType=zero)[::4, ::4])),
    ]


#: Strategies whose modelled cost is within this factor of the cheapest are timed as
#: contenders of ``auto``'s choice (the model scatters by about ±30 %; 3x leaves room).
CONTENDER_FACTOR = 3.0


def _ipp_probe(repeat: int) -> float | None:
    """CPU time of a 31x31 ``filter2D`` (1024², IPP's DFT) with IPP on over IPP off."""
    import cv2
    import numpy as np

    if not cv2.ipp.useIPP():
        return None
    img = np.random.default_rng(1).random((1024, 1024), dtype=np.float32)
    k31 = np.full((31, 31), 1 / 961, np.float32) + np.eye(31, dtype=np.float32)
    times = {}
    for use in (True, False):
        cv2.ipp.setUseIPP(use)
        best = Best()
        for _ in range(repeat + 1):
            _timed(lambda: cv2.filter2D(img, -1, k31, borderType=cv2.BORDER_CONSTANT), best)
        times[use] = best.cpu
    cv2.ipp.setUseIPP(True)
    return times[True] / times[False]


def _primitives(repeat: int) -> dict[str, float]:
    """CPU nanoseconds per unit of the building blocks both sides stand on, one thread each.

    They tell compute-bound work (whose cost follows the instruction set) from work bound by
    memory, caches or call overheads (which the same silicon keeps the same in every kind):
    ``gemv`` is a product as ``shifted`` runs it (9 taps over 9 cached rows of 4096, per
    multiply-add); ``add`` a NumPy add of three 128 KiB arrays (per element); ``copy`` a
    64 MiB copy from memory (per byte moved, read + write); ``fft`` NumPy's float32 ``rfft``
    of 512 rows of 1024 (per n·log2 n); ``cv2 3x3 cached`` and ``cv2 3x3 memory`` a 3x3
    ``filter2D`` on 128x512 (in L2) and on 4096² (per pixel); ``cv2 dft`` a 1024² ``cv2.dft``
    (per n·log2 n).
    """
    import cv2
    import numpy as np

    from cvtool.filtering.blas import one_thread

    rng = np.random.default_rng(2)
    rows, taps, row = rng.random((9, 4096), dtype=np.float32), np.ones(9, np.float32), \
        np.empty(4096, np.float32)
    a, b, c = (rng.random(32768, dtype=np.float32) for _ in range(3))
    src, dst = rng.random((4096, 4096), dtype=np.float32), np.empty((4096, 4096), np.float32)
    spec = np.empty((512, 513), np.complex64)
    signal_rows = rng.random((512, 1024), dtype=np.float32)
    small, small_out = rng.random((128, 512), dtype=np.float32), np.empty((128, 512), np.float32)
    k3 = rng.random((3, 3)).astype(np.float32)
    tile = rng.random((1024, 1024), dtype=np.float32)

    def gemv() -> None:
        for _ in range(64):
            np.matmul(taps, rows, out=row)

    def add() -> None:
        for _ in range(64):
            np.add(a, b, out=c)

    def rfft() -> None:
        np.fft.rfft(signal_rows, axis=1, norm="ortho", out=spec)

    probes = {
        "gemv": (gemv, 64 * 9 * 4096),
        "add": (add, 64 * a.size),
        "copy": (lambda: np.copyto(dst, src), 2 * src.nbytes),
        "fft": (rfft, 512 * 1024 * 10),
        "cv2 3x3 cached": (lambda: cv2.filter2D(small, -1, k3, dst=small_out), small.size),
        "cv2 3x3 memory": (lambda: cv2.filter2D(src, -1, k3, dst=dst), src.size),
        "cv2 dft": (lambda: cv2.dft(tile), tile.size * 20),
    }
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    result = {}
    try:
        with one_thread():
            for name, (fn, units) in probes.items():
                best = Best()
                fn()
                for _ in range(max(5, repeat + 2)):
                    _timed(fn, best)
                result[name] = best.cpu / units * 1e9
    finally:
        cv2.setNumThreads(threads)
    return result


def _calibrated_choices(cases, img) -> dict:
    """Fit the cost constants in this kind and say what ``auto`` would pick with them."""
    from cvtool.filtering.calibrate import calibrate
    from cvtool.filtering.core import make_plan
    from cvtool.filtering.registry import INEXACT_MARGIN, STRATEGIES

    start = time.perf_counter()
    fitted = {name: constants for name, constants, _ in calibrate()}
    choices = {}
    for name, _target, kernel, options, _base in cases:
        plan = make_plan(img, kernel, **options)
        scores = {}
        for sname, strategy in STRATEGIES.items():
            if not strategy.applies(plan):
                continue
            fixed, per_call, per_op = fitted[sname]
            calls, ops = strategy.operations(plan)
            cost = fixed + per_call * calls + per_op * ops * plan.dtype.itemsize / 4
            scores[sname] = cost * (1.0 if strategy.exact else INEXACT_MARGIN)
        choices[name] = min(scores, key=scores.get)
    return {"constants": fitted, "choices": choices, "seconds": time.perf_counter() - start}


def child(kind: Kind, size: int, repeat: int, calibrate: bool) -> dict:
    """Verify ``kind`` in this process, then time the cases (nothing timed if refused)."""
    report = effective()
    result = {"kind": kind.name, "effective": report, "problems": verify(kind, report),
              "load": [os.getloadavg()[0]]}
    if result["problems"]:
        return result
    from cvtool.filtering import correlate
    from cvtool.filtering.core import make_plan
    from cvtool.filtering.registry import choose, costs

    result["ipp_probe"] = [_ipp_probe(repeat)]
    result["primitives"] = _primitives(repeat)
    img, cases = _cases(size)
    rows = []
    for name, target, kernel, options, base in cases:
        plan = make_plan(img, kernel, **options)
        auto = choose(plan).name
        ours, theirs = best_paired(lambda k=kernel, o=options: correlate(img, k, **o), base,
                                   repeat)
        estimates = costs(plan)
        cheapest = min(estimates.values())
        contenders = {}
        for sname, cost in sorted(estimates.items(), key=lambda item: item[1]):
            if cost > CONTENDER_FACTOR * cheapest:
                continue
            best = Best()
            force = functools.partial(correlate, img, kernel, strategy=sname, **options)
            force()
            for _ in range(max(2, repeat - 1)):
                _timed(force, best)
            contenders[sname] = {"wall": best.wall, "cpu": best.cpu, "model": cost}
        rows.append({"case": name, "target": target, "auto": auto,
                     "ours": vars(ours), "base": vars(theirs), "contenders": contenders,
                     "rounds": [[ours.wall / theirs.wall, ours.cpu / theirs.cpu]]})
        print(f"  [{kind.name}] {name}: wall ratio {ours.wall / theirs.wall:.2f}, CPU ratio "
              f"{ours.cpu / theirs.cpu:.2f} (auto: {auto}; load "
              f"{os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    result["rows"] = rows
    if calibrate:
        print(f"  [{kind.name}] calibrating (one thread, several minutes)", file=sys.stderr,
              flush=True)
        result["calibration"] = _calibrated_choices(cases, img)
    result["load"].append(os.getloadavg()[0])
    return result


# ----------------------------------------------------------------------------- the parent

def run_kind(kind: Kind, size: int, repeat: int, calibrate: bool) -> dict:
    """Run :func:`child` for ``kind`` in a fresh interpreter with the kind's environment."""
    cmd = [sys.executable, "-m", "benchmarks.cpu_kinds", "--child", kind.name, "--size",
           str(size), "--repeat", str(repeat)] + (["--calibrate"] if calibrate else [])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=here,
                          env=kind_environment(kind))
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        why = (f"signal {signal.Signals(-done.returncode).name}" if done.returncode < 0
               else f"status {done.returncode}")
        return {"kind": kind.name, "problems": [f"the child died ({why})"]}
    return json.loads(lines[-1])


def _cell(row: Mapping | None) -> str:
    if row is None:
        return "n/a"
    ours, base = row["ours"], row["base"]
    return f"{ours['wall'] / base['wall']:.2f} ({ours['cpu'] / base['cpu']:.2f})"


def _least(a: Mapping, b: Mapping) -> dict:
    return {"wall": min(a["wall"], b["wall"]), "cpu": min(a["cpu"], b["cpu"]),
            **({"model": a["model"]} if "model" in a else {})}


def merge(first: dict, second: dict) -> dict:
    """Two rounds of one kind as one: the best of each side's times (each ratio is then
    best cvtool over best OpenCV), every load and IPP probe kept; a refusal in either wins."""
    if first.get("problems") or second.get("problems"):
        return first if first.get("problems") else second
    merged = dict(first)
    merged["rows"] = [
        {**a, "ours": _least(a["ours"], b["ours"]), "base": _least(a["base"], b["base"]),
         "rounds": a["rounds"] + b["rounds"],
         "contenders": {n: _least(c, b["contenders"][n]) if n in b["contenders"] else c
                        for n, c in a["contenders"].items()}}
        for a, b in zip(first["rows"], second["rows"], strict=True)]
    merged["primitives"] = {n: min(v, second["primitives"][n])
                            for n, v in first["primitives"].items()}
    merged["load"] = first["load"] + second["load"]
    merged["ipp_probe"] = first["ipp_probe"] + second["ipp_probe"]
    merged["calibration"] = first.get("calibration") or second.get("calibration")
    return merged


def render(results: Sequence[Mapping], size: int, repeat: int, rounds: int = 1) -> str:
    """The tables: ratios per case and kind, both sides' CPU ms, auto against contenders."""
    timed = [r for r in results if not r.get("problems")]
    runs = f"{repeat} runs" + (f" x {rounds} rounds" if rounds > 1 else "")
    lines = [f"### cvtool / OpenCV on emulated kinds of CPU ({size}x{size} float32, best of "
             f"{runs}; cell = wall ratio (CPU ratio), lower is better)", ""]
    lines.append("| case | target | " + " | ".join(r["kind"] for r in results) + " |")
    lines.append("|---|---|" + "---:|" * len(results))
    names = [row["case"] for row in timed[0]["rows"]] if timed else []
    for i, case in enumerate(names):
        cells = [_cell(r["rows"][i]) if not r.get("problems") else "refused" for r in results]
        lines.append(f"| {case} | {timed[0]['rows'][i]['target']} | " + " | ".join(cells) + " |")
    load = ", ".join(f"{r['kind']} {'-'.join(f'{x:.1f}' for x in r.get('load', []))}"
                     for r in timed)
    lines += ["", f"Load average (1 min) at the start and end of each kind's child (rounds "
              f"alternate the order of the kinds): {load}; {os.cpu_count()} logical CPUs."]
    if timed and len(timed[0]["rows"][0]["rounds"]) > 1:
        lines += ["", "Each round's own ratios, wall / CPU (the spread is the noise):", "",
                  "| case | " + " | ".join(r["kind"] for r in timed) + " |",
                  "|---|" + "---:|" * len(timed)]
        for i, case in enumerate(names):
            cells = ["; ".join(f"{w:.2f} / {c:.2f}" for w, c in r["rows"][i]["rounds"])
                     for r in timed]
            lines.append(f"| {case} | " + " | ".join(cells) + " |")
    lines += ["", "CPU ms, cvtool / OpenCV (best of the runs above):", "",
              "| case | " + " | ".join(r["kind"] for r in timed) + " |",
              "|---|" + "---:|" * len(timed)]
    for i, case in enumerate(names):
        cells = [f"{r['rows'][i]['ours']['cpu'] * 1e3:.1f} / "
                 f"{r['rows'][i]['base']['cpu'] * 1e3:.1f}" for r in timed]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    lines += ["", "auto's choice (cost table calibrated on the native kind) and the contenders "
              f"timed in each kind (modelled cost within {CONTENDER_FACTOR:g}x of the "
              "cheapest; CPU ms, best of the runs):", "",
              "| case | " + " | ".join(r["kind"] for r in timed) + " |",
              "|---|" + "---|" * len(timed)]
    for i, case in enumerate(names):
        cells = []
        for r in timed:
            row = r["rows"][i]
            ranked = sorted(row["contenders"].items(), key=lambda item: item[1]["cpu"])
            timings = ", ".join(f"{n} {c['cpu'] * 1e3:.0f}" for n, c in ranked)
            verdict = "holds" if ranked and ranked[0][0] == row["auto"] else "does not hold"
            calibrated = (r.get("calibration") or {}).get("choices", {}).get(case)
            recal = f"; recalibrated: {calibrated}" if calibrated else ""
            cells.append(f"{row['auto']} {verdict} ({timings}){recal}")
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    probed = [r for r in timed if r.get("primitives")]
    if probed:
        lines += ["", "Building blocks, CPU ns per unit, one thread, best of the runs (see "
                  "_primitives: gemv per multiply-add, add per element, copy per byte, fft and "
                  "cv2 dft per n·log2 n, cv2 3x3 per pixel):", "",
                  "| block | " + " | ".join(r["kind"] for r in probed) + " |",
                  "|---|" + "---:|" * len(probed)]
        for block in probed[0]["primitives"]:
            lines.append(f"| {block} | " + " | ".join(f"{r['primitives'][block]:.3f}"
                                                      for r in probed) + " |")
    for r in results:
        lines += ["", f"{r['kind']}: {KINDS[r['kind']].emulates}"]
        if r.get("problems"):
            lines.append(f"- REFUSED (not timed): {'; '.join(r['problems'])}")
        lines += [f"- {line}" for line in describe(r.get("effective", {}))]
        probes = [p for p in r.get("ipp_probe") or [] if p is not None]
        if probes:
            lines.append("- IPP probe: 31x31 filter2D (1024²) CPU time with IPP / without = "
                         + ", ".join(f"{p:.2f}" for p in probes))
        calibration = r.get("calibration")
        if calibration:
            lines.append(f"- calibrate() in this kind ({calibration['seconds']:.0f} s), "
                         "fixed / per_call / per_op:")
            for name, (fixed, per_call, per_op) in calibration["constants"].items():
                lines.append(f"  - {name}: {fixed:.3g} / {per_call:.3g} / {per_op:.3g}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks cpu_kinds",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="image side (default 4096)")
    parser.add_argument("--repeat", type=int, default=3, help="alternated runs, best of")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every kind this many times, the order of the kinds reversed "
                             "each round (so that a changing load does not follow one kind)")
    parser.add_argument("--calibrate", action="store_true",
                        help="also fit the cost constants in each kind (slow)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = [k for k in args.kinds.split(",") if k not in KINDS]
    if unknown:
        parser.error(f"unknown kind {unknown[0]!r}; the kinds are {', '.join(KINDS)}")
    if args.child:
        print(json.dumps(child(KINDS[args.child], args.size, args.repeat, args.calibrate)))
        return
    from benchmarks.harness import machine_lines

    print("\n".join(machine_lines()), flush=True)
    names = args.kinds.split(",")
    merged: dict[str, dict] = {}
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            print(f"== {name} (round {round_ + 1}): {KINDS[name].emulates}", flush=True)
            result = run_kind(KINDS[name], args.size, args.repeat,
                              args.calibrate and round_ == 0)
            for problem in result.get("problems", []):
                print(f"  refused: {problem}", flush=True)
            merged[name] = merge(merged[name], result) if name in merged else result
    results = [merged[name] for name in names]
    print()
    print(render(results, args.size, args.repeat, args.rounds))


if __name__ == "__main__":
    main()

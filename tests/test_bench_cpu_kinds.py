"""benchmarks/cpu_kinds.py: the environment of each emulated CPU kind, and the check that
refuses to report a kind whose settings did not take effect.

The benchmark itself is never run here (it times 4096² filters); the children below only
import NumPy (and threadpoolctl) and report what they use, which takes a fraction of a second.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benchmarks package lives beside the tests
from benchmarks.cpu_kinds import (  # noqa: E402
    CONTROL_VARIABLES,
    KINDS,
    effective,
    kind_environment,
    numpy_dispatch_targets,
    verify,
)


def child_report(env: dict[str, str], parts: tuple[str, ...]) -> dict:
    """What a fresh interpreter started with ``env`` says its libraries use."""
    code = ("import json; from benchmarks.cpu_kinds import effective; "
            f"print(json.dumps(effective({parts!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def dispatches_above_sse42() -> bool:
    """Whether this NumPy on this CPU uses a dispatch target an SSE4.2 kind must turn off."""
    on = effective(("numpy",))["numpy"]["dispatch_on"]
    return any(t not in KINDS["nehalem"].numpy_keep for t in on)


needs_simd = pytest.mark.skipif(not dispatches_above_sse42(),
                                reason="NumPy dispatches nothing above SSE4.2 on this CPU: "
                                       "an emulated SSE4.2 kind would change nothing")


def test_native_environment_drops_every_control_variable():
    """A caller's OPENBLAS_CORETYPE (or any other switch) must not leak into the native
    kind, else 'native' would silently be another kind; other variables pass through."""
    base = {name: "junk" for name in CONTROL_VARIABLES} | {"HOME": "/home/u"}
    env = kind_environment(KINDS["native"], base, dispatch=["X86_V3"])
    assert env == {"HOME": "/home/u"}


def test_older_kind_sets_each_library_and_replaces_the_callers_values():
    """Both sides are forced alike: NumPy's and cv2's OpenBLAS (one variable), NumPy's SIMD,
    OpenCV's dispatch and its IPP; a value the caller had is replaced, not kept."""
    base = {"OPENBLAS_CORETYPE": "Haswell", "OPENCV_IPP": "avx2", "PATH": "/bin"}
    env = kind_environment(KINDS["nehalem"], base, dispatch=["X86_V3", "X86_V4"])
    assert env == {"PATH": "/bin", "OPENBLAS_CORETYPE": "Nehalem",
                   "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4",
                   "OPENCV_CPU_DISABLE": "AVX,FP16,AVX2,FMA3", "OPENCV_IPP": "sse42"}


def test_numpy_targets_to_disable_come_from_numpys_own_names():
    """NumPy 1.x lists features one by one: an AVX kind keeps SSE4.1 and AVX and turns off
    only what Sandy Bridge lacks (F16C, FMA3, AVX2, AVX-512)."""
    env = kind_environment(KINDS["sandybridge"], {},
                           dispatch=["SSE41", "AVX", "F16C", "FMA3", "AVX2", "AVX512F"])
    assert env["NPY_DISABLE_CPU_FEATURES"] == "F16C FMA3 AVX2 AVX512F"


@needs_simd
def test_verify_refuses_a_kind_whose_numpy_features_did_not_change():
    """A child whose NumPy still dispatches to AVX2 code is not an SSE4.2 kind: refused."""
    native = child_report(kind_environment(KINDS["native"]), ("numpy",))
    problems = verify(KINDS["nehalem"], native)
    assert problems and problems[0].startswith("NumPy still dispatches to")


@needs_simd
def test_verify_accepts_the_kind_environment_it_builds():
    """The same check passes once the kind's own environment is used: the refusal above is
    about the settings, not a check that refuses everything."""
    env = kind_environment(KINDS["nehalem"])
    report = child_report(env, ("numpy",))
    assert verify(KINDS["nehalem"], report) == []


@needs_simd
@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.0.0",
                    reason="NumPy 1.x takes AVX2 as a dispatch name")
def test_verify_refuses_feature_names_numpy_ignores():
    """NumPy 2 ignores NPY_DISABLE_CPU_FEATURES="AVX2 FMA3" with only an ImportWarning (its
    target is X86_V3): a kind spelled that way must be refused, not reported as SSE."""
    assert "AVX2" not in numpy_dispatch_targets()
    env = kind_environment(KINDS["native"]) | {"NPY_DISABLE_CPU_FEATURES": "AVX2 FMA3"}
    assert verify(KINDS["sandybridge"], child_report(env, ("numpy",)))


def test_verify_refuses_a_blas_on_another_kernel_family():
    """Each OpenBLAS must report the requested family itself: an OpenBLAS that does not know
    the name keeps (or falls back to) another one, and that kind is refused."""
    pytest.importorskip("threadpoolctl")
    native = child_report(kind_environment(KINDS["native"]), ("blas",))
    if not any(lib["internal_api"] == "openblas" for lib in native["blas"]):
        pytest.skip("NumPy is not linked to OpenBLAS here")
    if any(lib["architecture"] == "Nehalem" for lib in native["blas"]):
        pytest.skip("this CPU is a Nehalem: forcing Nehalem changes nothing")
    assert any("not Nehalem" in p for p in verify(KINDS["nehalem"], native))
    forced = child_report(kind_environment(KINDS["nehalem"]), ("blas",))
    assert verify(KINDS["nehalem"], forced) == []


def test_verify_refuses_opencv_still_on_avx2():
    """OpenCV's own report (checkHardwareSupport) must show the disabled features off."""
    report = {"opencv": {"line": "SSE SSE2 SSE3 *AVX *AVX2", "ipp": True, "ipp_env": "sse42",
                         "on": {"AVX": True, "FP16": False, "AVX2": True, "FMA3": False}}}
    assert verify(KINDS["sandybridge"], report) == ["OpenCV still dispatches to AVX2"]

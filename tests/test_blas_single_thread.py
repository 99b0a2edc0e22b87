"""BLAS started on one thread by a process that only filters (cvtool.filtering.blas).

Each case runs in a fresh interpreter: whether BLAS starts single-threaded is decided when
NumPy loads it, once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Prints: whether the request was taken, whether one_thread imported threadpoolctl, then
# the thread counts threadpoolctl reports for BLAS afterwards.
_CHILD = """
import sys
from cvtool.filtering.blas import one_thread, start_single_threaded
asked = start_single_threaded() if sys.argv[1] == "ask" else None
import numpy as np
a = np.ones((300, 300))
with one_thread():
    a @ a
used_threadpoolctl = "threadpoolctl" in sys.modules
from threadpoolctl import threadpool_info
threads = sorted({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})
print(asked, used_threadpoolctl, *threads)
"""


def _child(mode: str) -> list[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_without_the_request_one_thread_goes_through_threadpoolctl():
    """The default path (library users): one_thread finds BLAS with threadpoolctl and gives
    its setting back afterwards (more than one thread here, on a machine with several CPUs)."""
    asked, used, *threads = _child("plain")
    assert (asked, used) == ("None", "True")
    if (os.cpu_count() or 1) > 1:
        assert max(map(int, threads)) > 1


def test_requested_before_numpy_blas_loads_on_one_thread_without_threadpoolctl():
    """Asked before NumPy loads, BLAS starts on one thread and one_thread has nothing to do:
    no threadpoolctl import or library scan (the saving of a `cvtool filter` call)."""
    asked, used, *threads = _child("ask")
    if not threads:
        pytest.skip("threadpoolctl sees no BLAS library here")
    assert asked == "True"
    assert threads == ["1"]
    assert used == "False"


def test_too_late_once_numpy_is_loaded():
    """After NumPy is imported the request is refused and changes nothing (the tests' process
    has NumPy loaded)."""
    import numpy  # noqa: F401

    from cvtool.filtering import blas

    before = {k: os.environ.get(k) for k in blas._THREAD_VARIABLES.values()}
    assert blas.start_single_threaded() is False
    assert {k: os.environ.get(k) for k in blas._THREAD_VARIABLES.values()} == before
    assert blas._loaded_single_threaded() is False

"""BLAS held to one thread while our own thread pool runs, and what BLAS this process uses.

The strategies cut the work into row bands and run them on ``workers`` threads; each band
calls BLAS (matrix-vector and small matrix products). OpenBLAS would run every call above
a small size (about 9,000 matrix entries for a matrix-vector product) on its own pool of
spinning threads, which then compete with ours for the same cores. :func:`one_thread`
sets BLAS to one thread for the duration of a filter call and restores the caller's
setting afterwards.

``threadpoolctl`` finds the BLAS library loaded by NumPy whatever its name
(``libscipy_openblas``, MKL, BLIS, ...). It is imported on first use only, so that
``cvtool --help`` does not pay for it, and the controller is built once per process
(about 7 ms); entering and leaving :func:`one_thread` costs a few microseconds.

Threads of one process share BLAS's setting, so the limit is counted: the first caller to
enter sets one thread, the last to leave restores the setting it found. (OpenBLAS 0.3.31
was seen to ignore a raise of its thread count made from a thread other than the one
that lowered it: when the last filter to finish ran on another thread than the first,
BLAS may stay on one thread. That can cost speed in a caller's own BLAS calls afterwards,
never correctness; cvtool itself wants one BLAS thread wherever it filters.)

A process that only filters (the ``cvtool`` filter commands) can do better: with
:func:`start_single_threaded` called before NumPy is imported, BLAS loads on one thread, so
OpenBLAS never starts (and spins) a pool it would not be allowed to use, and
:func:`one_thread` then has nothing to do: it skips threadpoolctl's import and library scan
(on the development machine, 2 shared cores: about 15 ms of CPU time for threadpoolctl, and
40 to 80 ms that OpenBLAS's pool spends starting and spinning after NumPy loads it).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["blas_info", "one_thread", "start_single_threaded"]

_lock = threading.Lock()
_depth = 0
_saved: list[tuple[object, int]] = []
_controllers: list | None = None

#: The variable each BLAS family reads for its thread count when it is loaded, by the name
#: NumPy's build configuration gives the family (``scipy-openblas`` is OpenBLAS).
_THREAD_VARIABLES = {"openblas": "OPENBLAS_NUM_THREADS", "mkl": "MKL_NUM_THREADS",
                     "blis": "BLIS_NUM_THREADS"}
#: Whether this process asked BLAS to load on one thread (:func:`start_single_threaded`).
_started_single = False
#: Whether NumPy's BLAS is known to have read that request; None until first asked.
_single_threaded: bool | None = None


def start_single_threaded() -> bool:
    """Have BLAS load on one thread, for a process that only filters; False if too late.

    Sets the thread-count variables of OpenBLAS, MKL and BLIS to 1 for this process (and any
    child it starts), which BLAS reads only when NumPy loads it; so it works only while NumPy
    is not imported yet, and returns whether it did. Call it only where nothing in the process
    wants BLAS on several threads (cvtool's strategies run BLAS calls in a pool of their own
    threads): then :func:`one_thread` has nothing left to do, and no BLAS thread pool is
    started, no threadpoolctl imported, no library scanned.

    Examples
    --------
    >>> import numpy  # the doctests run with NumPy loaded: too late, nothing changes
    >>> start_single_threaded()
    False
    """
    global _started_single
    if "numpy" in sys.modules:
        return False
    for variable in _THREAD_VARIABLES.values():
        os.environ[variable] = "1"
    _started_single = True
    return True


def _loaded_single_threaded() -> bool:
    """Whether BLAS is on one thread since it loaded: asked for by :func:`start_single_threaded`
    and NumPy's BLAS is a family that reads the variable set there (else threadpoolctl
    decides, as without the request)."""
    global _single_threaded
    if _single_threaded is None:
        _single_threaded = False
        if _started_single:
            import numpy

            config = getattr(numpy.__config__, "CONFIG", {})  # NumPy >= 1.26
            blas = config.get("Build Dependencies", {}).get("blas", {})
            name = str(blas.get("name", "")).lower()
            # An OpenMP build of OpenBLAS may take its count from OMP_NUM_THREADS instead.
            openmp = "openmp" in str(blas.get("openblas configuration", "")).lower()
            _single_threaded = not openmp and any(family in name for family in _THREAD_VARIABLES)
    return _single_threaded


def _blas_controllers() -> list:
    """threadpoolctl's controllers of every BLAS library loaded (empty without threadpoolctl)."""
    global _controllers
    if _controllers is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # the dependency is declared; a stripped install still filters
            _controllers = []
        else:
            _controllers = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _controllers


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the body with BLAS on one thread; nested and concurrent uses are counted.

    Examples
    --------
    >>> with one_thread():
    ...     pass
    """
    global _depth
    if _loaded_single_threaded():
        yield  # BLAS loaded on one thread and nothing in this process raises it
        return
    with _lock:
        if _depth == 0:
            _saved.clear()
            for lib in _blas_controllers():
                n = lib.get_num_threads()
                if n != 1:
                    lib.set_num_threads(1)
                _saved.append((lib, n))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for lib, n in _saved:
                    if n != 1:
                        lib.set_num_threads(n)
                _saved.clear()


def blas_info() -> list[dict]:
    """What threadpoolctl reports about each loaded BLAS: API, kernel family, threads.

    ``architecture`` is the kernel family OpenBLAS picked for this CPU (``Haswell`` for
    AVX2, ``SkylakeX`` for AVX-512, ...). Empty when threadpoolctl is not installed.

    Examples
    --------
    >>> all("internal_api" in lib for lib in blas_info())
    True
    """
    return [lib.info() for lib in _blas_controllers()]

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
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["blas_info", "one_thread"]

_lock = threading.Lock()
_depth = 0
_saved: list[tuple[object, int]] = []
_controllers: list | None = None


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

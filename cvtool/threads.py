"""The one thread-pool map of the core, and the one rule for how many threads ``workers`` means.

NumPy releases the GIL inside each array operation, so tiles and row bands of one image
really run in parallel on threads (no pickling, no copies, shared outputs written in place).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from cvtool.errors import UsageError

T = TypeVar("T")
R = TypeVar("R")


def resolve_workers(workers: int | None) -> int:
    """How many threads to use: ``None`` means every CPU, otherwise a whole number >= 1.

    Parameters
    ----------
    workers : int or None
        The thread count a caller asked for.

    Returns
    -------
    int

    Raises
    ------
    UsageError
        (also a ``ValueError``) when ``workers`` is not an integer >= 1; ``True`` is refused
        rather than read as 1.

    Examples
    --------
    >>> resolve_workers(3)
    3
    >>> resolve_workers(None) >= 1
    True
    >>> resolve_workers(0)
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: workers must be an integer >= 1, got 0
    """
    if workers is None:
        return max(1, os.cpu_count() or 1)
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise UsageError(f"workers must be an integer >= 1, got {workers!r}",
                         parameter="workers")
    return int(workers)


def map_threads(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]``, on up to ``workers`` threads, results in order.

    Runs in the calling thread when there is one worker or one item (no pool to start, and
    ``np.errstate`` or a debugger still see the work). Otherwise the first exception raised
    by ``fn``, in item order, is re-raised here once the pool has stopped.

    Parameters
    ----------
    fn : callable
        Called once per item.
    items : iterable
        The work, e.g. tile origins or row bands.
    workers : int
        Threads at most (see :func:`resolve_workers`).

    Returns
    -------
    list
        ``fn(item)`` for each item, in the order of ``items``.

    Examples
    --------
    >>> map_threads(lambda x: x * x, [1, 2, 3], workers=2)
    [1, 4, 9]
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        # list() drains the results, re-raising the first exception of any item.
        return list(pool.map(fn, items))

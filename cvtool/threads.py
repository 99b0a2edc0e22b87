"""The one thread-pool map of the core, and the one rule for how many threads ``workers`` means.

NumPy releases the GIL inside each array operation, so tiles and row bands of one image
really run in parallel on threads (no pickling, no copies, shared outputs written in place).
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable, Iterable
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


class _Helpers:
    """Daemon threads kept for the life of the process, each running the calls handed to it.

    Starting a thread costs 0.1-2 ms (more on a busy machine) and a filter call is often
    only a few ms, so helpers are started once and then wait for work. They are daemons: an
    interrupted process exits without waiting for them. After a ``fork`` the child has none
    of them, and starts its own.
    """

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0  # helpers waiting for a call and not yet promised one

    def run(self, task: Callable[[], None], count: int) -> None:
        """Have ``count`` helpers each call ``task()`` once, soon; returns at once."""
        with self._lock:
            reused = min(self._idle, count)
            self._idle -= reused
        for _ in range(reused):
            self._queue.put(task)
        for _ in range(count - reused):
            threading.Thread(target=self._serve, args=(task,), name="cvtool-helper",
                             daemon=True).start()

    def _serve(self, task: Callable[[], None]) -> None:
        while True:
            task()  # never raises: map_threads keeps its items' exceptions
            with self._lock:
                self._idle += 1
            task = self._queue.get()


_helpers = _Helpers()


def map_threads(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]``, on up to ``workers`` threads, results in order.

    Runs in the calling thread when there is one worker or one item (no other thread, and
    ``np.errstate`` or a debugger still see the work). Otherwise the calling thread and
    ``workers - 1`` helper threads (kept for the process, see :class:`_Helpers`) each take
    the next item nobody has taken yet, in item order, until none is left; the call returns
    when every item taken is done. The first exception raised by ``fn``, in item order (an
    interrupt first), stops the taking of new items and is re-raised here once the items
    already taken are done. A helper busy elsewhere (a nested call) is never waited for: the
    items it did not take are done by the threads that are free.

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
    results: list = [None] * len(items)
    errors: dict[int, BaseException] = {}
    taken = itertools.count()
    changed = threading.Condition()
    running = [0]  # items taken by helpers and not yet done
    stop = [False]

    def take_items(helper: bool) -> None:
        while True:
            with changed:
                index = next(taken)
                if stop[0] or index >= len(items):
                    return
                # Only helpers count: an interrupt reaches the calling thread only, and
                # could land between this count and the try below, leaving it counted.
                running[0] += helper
            try:
                results[index] = fn(items[index])
            except BaseException as exc:  # noqa: BLE001 - raised in the calling thread
                with changed:
                    errors[index] = exc
                    stop[0] = True
            finally:
                if helper:
                    with changed:
                        running[0] -= 1
                        changed.notify_all()

    _helpers.run(lambda: take_items(True), min(workers, len(items)) - 1)
    try:
        take_items(False)
    finally:
        with changed:
            stop[0] = True
            changed.wait_for(lambda: running[0] == 0)
    if errors:
        interrupts = [i for i, exc in errors.items() if not isinstance(exc, Exception)]
        raise errors[min(interrupts or errors)]
    return results

"""The one thread-pool map of the core, and the one rule for how many threads ``workers`` means.

NumPy releases the GIL inside each array operation, so tiles and row bands of one image
really run in parallel on threads (no pickling, no copies, shared outputs written in place).
"""

from __future__ import annotations

import contextvars
import functools
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
    of them, and starts its own. A helper counts as idle only once it is back waiting, and a
    call's helper may wake after its caller has done every item; so new threads are started
    only up to the most ever asked for at once, or the CPU count (:func:`map_threads` never
    waits for a helper to start, so a call that finds every helper busy just does the work
    on its own threads).
    """

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0  # helpers waiting for a call and not yet promised one
        self._threads = 0

    def run(self, tasks: list[Callable[[], None]]) -> None:
        """Have a helper call each of ``tasks`` once, soon; returns at once."""
        with self._lock:
            reused = min(self._idle, len(tasks))
            self._idle -= reused
            new = max(0, min(len(tasks) - reused,
                             max(os.cpu_count() or 1, len(tasks)) - self._threads))
            self._threads += new
        for task in tasks[new:]:  # to the idle helpers, or to the next helper free
            self._queue.put(task)
        for task in tasks[:new]:
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

    Runs in the calling thread when there is one worker or one item (no other thread).
    Otherwise the calling thread and ``workers - 1`` helper threads (kept for the process,
    see :class:`_Helpers`) each take the next item nobody has taken yet, in item order,
    until none is left; the call returns when every item taken is done. Helpers run in a
    copy of the caller's context, so ``np.errstate`` applies to every item. The first
    exception raised by ``fn``, in item order (an interrupt first), stops the taking of new
    items and is re-raised here once the items already taken are done (a second interrupt
    while waiting for them is raised at once). A helper busy elsewhere (a nested call) is
    never waited for: the items it did not take are done by the threads that are free.

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

    try:
        # One context copy per helper: a context cannot be entered by two threads at once.
        _helpers.run([functools.partial(contextvars.copy_context().run, take_items, True)
                      for _ in range(min(workers, len(items)) - 1)])
        take_items(False)
    finally:
        _wait_for_helpers(changed, running, stop)
    if errors:
        interrupts = [i for i, exc in errors.items() if not isinstance(exc, Exception)]
        raise errors[min(interrupts or errors)]
    return results


def _wait_for_helpers(changed: threading.Condition, running: list[int],
                      stop: list[bool]) -> None:
    """Stop the taking of items and wait until the helpers' items are done; an interrupt
    while waiting waits on (helpers may still be writing into the caller's arrays), a
    second one is raised at once."""
    interrupted: BaseException | None = None
    while True:
        try:
            with changed:
                stop[0] = True
                changed.wait_for(lambda: running[0] == 0)
            break
        except KeyboardInterrupt as exc:
            if interrupted is not None:
                raise
            interrupted = exc
    if interrupted is not None:
        raise interrupted

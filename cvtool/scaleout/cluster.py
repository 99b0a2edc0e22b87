"""Per-input work and chunked tiles on a Dask distributed cluster.

The cluster runs the same module-level functions of the installed cvtool that run locally,
so every output is the same, byte for byte; results come back in input order, so a caller
prints the same lines, summary and exit code as a local run. Three things differ from local
work, and are handled here:

- Paths: workers see files through a shared filesystem, so relative paths are made absolute
  on this machine (:func:`shared_path`); stdin and stdout cannot be shared and are refused.
- Errors: cvtool's errors carry the name of the parameter at fault, which pickling an
  exception drops; a task therefore returns its error as data and it is rebuilt here, with
  its class, message and parameter (:func:`call_capturing`).
- Start-up: an unreachable scheduler is a :class:`~cvtool.errors.ProcessingError` after
  ``timeout`` seconds (default 5), not a hang.

Small inputs are sent several to a task (:func:`group_sizes`): one task costs the scheduler a
few milliseconds, about what a small image takes to filter. Groups shrink towards the end of
the batch, so no worker waits long for another's last group.
"""

from __future__ import annotations

import importlib
import itertools
import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future

from cvtool.errors import CvToolError, ProcessingError, UsageError

__all__ = ["ClusterBatch", "ENV_ADDRESS", "as_given", "call_capturing", "connect", "group_sizes",
           "run_batch", "run_tiles", "scheduler_address", "shared_path"]

#: The environment variable read when no address is given.
ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"
#: Seconds to wait for the scheduler before giving up.
CONNECT_TIMEOUT = 5.0
#: Most inputs sent in one task.
MAX_PER_TASK = 16


def group_sizes(count: int, threads: int, most: int = MAX_PER_TASK) -> list[int]:
    """How many inputs each task takes: half of each thread's share of what is left, between
    1 and ``most``.

    Large groups while much is left keep the scheduler's per-task cost small; groups shrink
    as the batch ends (a "guided" schedule), so the last tasks are short and every worker
    finishes at about the same time.

    Examples
    --------
    >>> group_sizes(10, 2)
    [2, 2, 1, 1, 1, 1, 1, 1]
    >>> sizes = group_sizes(500, 2)
    >>> sum(sizes), sizes.count(16), sizes[28:]
    (500, 28, [13, 9, 7, 5, 4, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1])
    """
    sizes: list[int] = []
    left = count
    while left > 0:
        size = max(1, min(most, left // (2 * max(1, threads))))
        sizes.append(size)
        left -= size
    return sizes


def scheduler_address(address: str | None = None) -> str | None:
    """The scheduler to use: ``address``, else ``$DASK_SCHEDULER_ADDRESS``, else None (local).

    Examples
    --------
    >>> scheduler_address("tcp://10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    """
    if address:
        return address
    return os.environ.get(ENV_ADDRESS) or None


def shared_path(path: str | os.PathLike) -> str:
    """``path`` as workers on other machines must see it: absolute.

    Raises
    ------
    UsageError
        For ``-`` (stdin/stdout), which workers cannot share.

    Examples
    --------
    >>> shared_path("/data/a.png")
    '/data/a.png'
    >>> os.path.isabs(shared_path("a.png"))
    True
    """
    if str(path) == "-":
        raise UsageError("'-' (stdin or stdout) cannot be used with a scheduler: workers "
                         "read and write files on a shared filesystem", parameter="scheduler")
    return os.path.abspath(str(path))


def as_given(exc: CvToolError, shared: dict[str, str]) -> CvToolError:
    """``exc`` with every shared (absolute) path in its message put back as the user gave it.

    ``shared`` maps each name as given to its :func:`shared_path`; the error keeps its class
    and parameter, so it reads and exits exactly as the same failure in a local batch.

    Examples
    --------
    >>> error = ProcessingError("/work/in/a.png: not a readable image")
    >>> str(as_given(error, {"in/a.png": "/work/in/a.png"}))
    'in/a.png: not a readable image'
    """
    message = str(exc)
    # Longest first, so that /x/a.png.png is not half-replaced by /x/a.png.
    for name, path in sorted(shared.items(), key=lambda item: -len(item[1])):
        if name != path:
            message = message.replace(path, name)
    rebuilt = type(exc).__new__(type(exc))
    Exception.__init__(rebuilt, message)
    rebuilt.parameter = exc.parameter
    return rebuilt


def connect(address: str | None = None, *, timeout: float = CONNECT_TIMEOUT):
    """A ``distributed.Client`` of the scheduler at ``address`` (or ``$DASK_SCHEDULER_ADDRESS``).

    Raises
    ------
    UsageError
        When no address is given and the variable is not set, or the address is malformed.
    ProcessingError
        When the scheduler does not answer within ``timeout`` seconds.
    """
    from distributed import Client

    target = scheduler_address(address)
    if target is None:
        raise UsageError(f"scheduler needs an address (or {ENV_ADDRESS} set)",
                         parameter="scheduler")
    try:
        return Client(target, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ProcessingError(f"cannot reach the Dask scheduler at {target} within "
                              f"{timeout:g} s ({reason})") from None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"scheduler address {target!r} is not valid ({exc})",
                         parameter="scheduler") from None


# ---------------------------------------------------------------------------------------------
# Errors as data


def _describe(exc: BaseException) -> tuple:
    if isinstance(exc, CvToolError):
        cls = type(exc)
        return ("cvtool", cls.__module__, cls.__qualname__, str(exc), exc.parameter)
    return ("other", exc)


def _rebuild(payload: tuple) -> BaseException:
    if payload[0] == "other":
        return payload[1]
    _, module, qualname, message, parameter = payload
    try:
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError):
        cls = ProcessingError
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.parameter = parameter
    return exc


def call_capturing(fn: Callable, args: Sequence, common: dict | None = None) -> tuple:
    """``("ok", fn(*args, **common))``, or ``("error", payload)`` that :func:`_rebuild` turns
    back into the exception with its parameter (which pickling an exception would drop)."""
    try:
        return ("ok", fn(*args, **(common or {})))
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller
        return ("error", _describe(exc))


def _run_group(fn: Callable, group: Sequence[tuple[Sequence, dict | None]],
               common: dict | None) -> list[tuple]:
    """The task a worker runs: ``fn(*args, **keywords, **common)`` for each input of the
    group, errors as data."""
    return [call_capturing(fn, args, {**(common or {}), **(keywords or {})})
            for args, keywords in group]


def _check_shippable(fn: Callable) -> None:
    qualname = getattr(fn, "__qualname__", "")
    module = getattr(fn, "__module__", None)
    if not module or "<locals>" in qualname or "<lambda>" in qualname or module == "__main__":
        raise ValueError(
            f"{qualname or fn!r} cannot be run on a cluster: workers import the function "
            f"from installed cvtool, so it must be a module-level function of a package")


# ---------------------------------------------------------------------------------------------
# Batches


class ClusterBatch:
    """A connection to a cluster for one batch: ``map`` returns one future per input.

    Use as a context manager; leaving it closes the client (and cancels what is left).

    Examples
    --------
    A sketch (it needs a running scheduler)::

        with ClusterBatch("tcp://127.0.0.1:8786") as batch:
            futures = batch.map(filter_one, [(path, target, settings) for ...])
            for future in futures:  # input order
                outcome = future.result()  # or raises the input's own CvToolError
    """

    def __init__(self, address: str | None = None, *, timeout: float = CONNECT_TIMEOUT,
                 client=None) -> None:
        self._owned = client is None
        self.client = connect(address, timeout=timeout) if client is None else client

    def __enter__(self) -> ClusterBatch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the client (when this object opened it)."""
        if self._owned and self.client is not None:
            self.client.close()
        self.client = None

    def threads(self) -> int:
        """Worker threads in the cluster right now (at least 1)."""
        return max(1, sum(self.client.nthreads().values()))

    def map(self, fn: Callable, items: Iterable[Sequence], *, common: dict | None = None,
            keywords: Sequence[dict] | None = None,
            per_task: int | None = None) -> list[Future]:
        """Run ``fn(*args, **keywords, **common)`` for every ``args`` in ``items`` on the cluster.

        Parameters
        ----------
        fn : callable
            A module-level function of an installed package (workers import it by name).
        items : iterable of tuples
            The arguments of each call; paths in them must be absolute (:func:`shared_path`).
        common : dict, optional
            Keyword arguments given to every call: sent to each worker once, however many
            tasks there are (a prepared template, filter settings).
        keywords : sequence of dict, optional
            Keyword arguments of each call, one dict per input (its output paths, say).
        per_task : int, optional
            Inputs per task (default: :func:`group_sizes` for the cluster's threads, at
            most :data:`MAX_PER_TASK`, shrinking towards the end).

        Returns
        -------
        list of concurrent.futures.Future
            One per input, in input order; ``result()`` returns ``fn``'s value or raises the
            input's own exception (a cvtool error keeps its class and parameter).
        """
        _check_shippable(fn)
        items = [tuple(args) for args in items]
        if keywords is None:
            calls = [(args, None) for args in items]
        else:
            calls = list(zip(items, [dict(k) for k in keywords], strict=True))
        if per_task is None:
            sizes = group_sizes(len(calls), self.threads())
        else:
            sizes = [per_task] * math.ceil(len(calls) / per_task)
        starts = [0, *itertools.accumulate(sizes)][:-1]
        groups = [calls[start:start + size] for start, size in zip(starts, sizes, strict=True)]
        results = [Future() for _ in items]
        for f in results:
            f.set_running_or_notify_cancel()
        if not groups:
            return results
        shared = None
        if common:
            # Once to every worker, not pickled into each task.
            [shared] = self.client.scatter([common], broadcast=True, hash=False)
        tasks = self.client.map(_run_group, [fn] * len(groups), groups,
                                [shared] * len(groups), pure=False)
        for index, task in enumerate(tasks):
            task.add_done_callback(_deliver(results, starts[index], len(groups[index])))
        self._tasks = (tasks, shared)  # keep the distributed futures alive until read
        return results


def _deliver(results: list[Future], start: int, count: int) -> Callable:
    def done(task) -> None:
        try:
            outcomes = task.result()
        except BaseException as exc:  # noqa: BLE001 - a lost worker, a cancelled task
            failure = exc if isinstance(exc, Exception) else ProcessingError(
                f"cluster task failed ({type(exc).__name__})")
            for i in range(start, start + count):
                if not results[i].done():
                    results[i].set_exception(failure)
            return
        for i, (kind, value) in enumerate(outcomes, start=start):
            if kind == "ok":
                results[i].set_result(value)
            else:
                results[i].set_exception(_rebuild(value))

    return done


def run_batch(fn: Callable, items: Iterable[Sequence], *, address: str | None = None,
              common: dict | None = None, per_task: int | None = None,
              timeout: float = CONNECT_TIMEOUT) -> list:
    """Run ``fn(*args, **common)`` for every input on the cluster; values or exceptions, in
    input order.

    A blocking convenience over :class:`ClusterBatch`: each entry of the returned list is
    ``fn``'s value, or the exception that input raised (not raised here).
    """
    with ClusterBatch(address, timeout=timeout) as batch:
        futures = batch.map(fn, items, common=common, per_task=per_task)
        out = []
        for future in futures:
            try:
                out.append(future.result())
            except Exception as exc:  # noqa: BLE001 - returned, for the caller to report
                out.append(exc)
        return out


# ---------------------------------------------------------------------------------------------
# Tiles of chunked work


def run_tiles(client, job, method: str, tiles: list,
              progress: Callable[[int, int], None] | None = None) -> list:
    """``job.<method>(tile)`` for every tile on the cluster; results in tile order.

    The job (checked input, kernel, output store) is sent to each worker once; each task
    reads its own region and writes its own tile. The first failure cancels the rest and is
    raised here.
    """
    from distributed import as_completed

    from cvtool.scaleout.chunked_filter import run_tile

    [shared] = client.scatter([job], broadcast=True, hash=False)
    tasks = client.map(call_capturing, [run_tile] * len(tiles),
                       [(shared, method, t) for t in tiles], pure=False)
    index = {task.key: i for i, task in enumerate(tasks)}
    results: list = [None] * len(tiles)
    done = 0
    try:
        for task in as_completed(tasks, loop=client.loop):
            kind, value = task.result()
            if kind != "ok":
                raise _rebuild(value)
            results[index[task.key]] = value
            done += 1
            if progress is not None:
                progress(done, len(tiles))
    except BaseException:
        client.cancel(tasks)
        raise
    return results

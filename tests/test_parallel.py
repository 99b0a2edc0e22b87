"""The shared thread-pool map (cvtool._parallel) and the engines that run on it."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cvtool._filter_source import resolve_workers as filter_source_resolve_workers
from cvtool._filter_source import run_tiles
from cvtool._parallel import map_threads, resolve_workers
from cvtool.errors import UsageError
from cvtool.fft import fft_correlate_valid
from cvtool.matching import zncc


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_resolve_workers_refuses_what_is_not_a_count(bad):
    """Zero, negatives, non-integers and booleans are usage errors naming ``workers``."""
    with pytest.raises(UsageError, match=r"workers must be an integer >= 1, got "):
        resolve_workers(bad)


def test_resolve_workers_none_means_every_cpu_and_numbers_pass_through():
    """None is at least one thread; a valid count is returned as a plain int."""
    assert resolve_workers(None) >= 1
    result = resolve_workers(np.int64(3))
    assert result == 3 and type(result) is int


def test_filter_source_still_exports_the_same_resolver():
    """filtering imports resolve_workers from _filter_source: it is the shared one."""
    assert filter_source_resolve_workers is resolve_workers


def test_map_threads_keeps_the_order_of_the_items():
    """Results come back in item order even when later items finish first."""
    barrier = threading.Barrier(2)

    def slow_first(i):
        if i < 2:
            barrier.wait(timeout=5)  # two items are in flight at once: a real pool
        return i * 10

    assert map_threads(slow_first, range(6), workers=2) == [0, 10, 20, 30, 40, 50]


@pytest.mark.parametrize("workers, items", [(1, [1, 2, 3]), (4, [7])])
def test_map_threads_runs_serially_in_the_caller(workers, items):
    """One worker or one item: no pool, every call in the calling thread."""
    seen = []
    map_threads(lambda _: seen.append(threading.get_ident()), items, workers)
    assert seen == [threading.get_ident()] * len(items)


def test_map_threads_uses_other_threads_when_asked():
    """With two workers and several items, the work leaves the calling thread."""
    seen = set()
    barrier = threading.Barrier(2)

    def record(_):
        barrier.wait(timeout=5)
        seen.add(threading.get_ident())

    map_threads(record, range(2), workers=2)
    assert threading.get_ident() not in seen and len(seen) == 2


@pytest.mark.parametrize("workers", [1, 3])
def test_map_threads_reraises_the_first_error(workers):
    """The first failing item's exception reaches the caller, serial or threaded."""

    def fail_on_odd(i):
        if i % 2:
            raise RuntimeError(f"item {i}")
        return i

    with pytest.raises(RuntimeError, match="item 1"):
        map_threads(fail_on_odd, range(8), workers)


def test_map_threads_of_nothing_is_empty():
    """No items, no calls."""
    assert map_threads(lambda _: 1 / 0, [], workers=4) == []


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_run_tiles_visits_every_tile_once(workers):
    """Each tile is done exactly once, whatever the thread count."""
    done = []
    lock = threading.Lock()

    def do_tile(a, b, scratch):
        assert scratch == "scratch"
        with lock:
            done.append((a, b))

    tiles = [(i, i + 1) for i in range(23)]
    run_tiles(tiles, lambda: "scratch", do_tile, workers)
    assert sorted(done) == tiles


@pytest.mark.parametrize("workers", [2, 3])
def test_thread_count_does_not_change_fft_or_zncc(workers):
    """FFT tiles and ZNCC bands give bit-identical results on 1 or several threads."""
    rng = np.random.default_rng(7)
    scene = rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)
    template = scene[40:90, 100:170]
    kernel = rng.random((33, 21))
    plane = scene[..., 0].astype(np.float64)
    np.testing.assert_array_equal(fft_correlate_valid(plane, kernel, workers=1),
                                  fft_correlate_valid(plane, kernel, workers=workers))
    np.testing.assert_array_equal(zncc(scene, template, workers=1),
                                  zncc(scene, template, workers=workers))


@pytest.mark.parametrize("function", [fft_correlate_valid, zncc])
def test_engines_refuse_zero_workers(function):
    """fft and zncc share the one worker-count check (a ValueError as before)."""
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        function(np.ones((6, 6)), np.ones((2, 2)) + np.eye(2), workers=0)

"""The shared thread-pool map (cvtool.threads), the engines that run on it, and work shared
across scenes and threads (a template prepared once for a whole find-waldo run)."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from cvtool.errors import ProcessingError, UsageError
from cvtool.filtering.source import run_tiles
from cvtool.imaging.fft import fft_correlate_valid
from cvtool.matching import find, prepare_template, search, zncc
from cvtool.threads import map_threads, resolve_workers


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_resolve_workers_refuses_what_is_not_a_count(bad):
    """Zero, negatives, non-integers and booleans are usage errors naming ``workers``."""
    with pytest.raises(UsageError, match=r"^workers must be an integer >= 1, got ") as caught:
        resolve_workers(bad)
    assert caught.value.parameter == "workers"


def test_resolve_workers_none_means_every_cpu_and_numbers_pass_through():
    """None is at least one thread; a valid count is returned as a plain int."""
    assert resolve_workers(None) >= 1
    result = resolve_workers(np.int64(3))
    assert result == 3 and type(result) is int


@pytest.mark.parametrize(("cpus", "expected"), [(6, 6), (None, 1)])
def test_resolve_workers_none_is_every_cpu(monkeypatch, cpus, expected):
    """None means os.cpu_count() threads (1 when it is unknown), not a fixed number: a
    resolver returning 1 for None would pass the other tests on a 1-CPU runner."""
    monkeypatch.setattr("cvtool.threads.os.cpu_count", lambda: cpus)
    assert resolve_workers(None) == expected


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
    """With two workers and two items, both run at the same time on two threads (the
    barrier lets neither finish until both have started): the calling thread and one
    helper."""
    seen = set()
    barrier = threading.Barrier(2)

    def record(_):
        barrier.wait(timeout=5)
        seen.add(threading.get_ident())

    map_threads(record, range(2), workers=2)
    assert len(seen) == 2 and threading.get_ident() in seen


def test_map_threads_keeps_its_helpers_between_calls(monkeypatch):
    """Helper threads are started once and reused: a second call starts none (starting a
    thread per call cost ~0.1-2 ms, as much as a small filter)."""
    barrier = threading.Barrier(3)
    map_threads(lambda _: barrier.wait(timeout=5), range(3), workers=3)  # 2 helpers exist
    started = []
    original = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start",
                        lambda thread: (started.append(thread), original(thread))[1])
    again = threading.Barrier(3)
    map_threads(lambda _: again.wait(timeout=5), range(3), workers=3)
    assert started == []


def test_nested_map_threads_do_not_wait_for_busy_helpers():
    """An item that itself maps on several workers finishes although every helper is busy
    with the outer items: the inner caller does the items no helper took."""
    inner = map_threads(lambda i: map_threads(lambda j: i * 10 + j, range(4), workers=4),
                        range(4), workers=4)
    assert inner == [[i * 10 + j for j in range(4)] for i in range(4)]


def test_map_threads_stops_taking_items_after_an_error():
    """After an item fails, no new item is started (those already running finish), so a
    failed call does not do the rest of the work first."""
    ran = []

    def fail_first(i):
        if i == 0:
            raise ValueError("item 0")
        ran.append(i)
        threading.Event().wait(0.01)

    with pytest.raises(ValueError, match="item 0"):
        map_threads(fail_first, range(200), workers=2)
    assert len(ran) < 50


def test_map_threads_in_a_forked_child():
    """A child forked after helpers exist has none of them: it starts its own (two items
    that wait for each other finish only if a helper really runs one), and never waits for
    a parent's helper or a lock held across the fork."""
    map_threads(lambda i: i, range(4), workers=2)  # helpers in this process
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only when the call completes correctly, never return
        ok = False
        try:
            both = threading.Barrier(2)
            ok = map_threads(lambda i: both.wait(timeout=10) * 0 + i * i, range(2),
                             workers=2) == [0, 1]
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if done[0] == 0:  # hung (a lock held across the fork, a helper waited for)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child's map_threads hung")
    assert os.waitstatus_to_exitcode(done[1]) == 0


def test_map_threads_raises_the_first_error_in_item_order():
    """Both items fail (each waits until the other has started): the first item's error is
    raised, not the one that happened last."""
    both = threading.Barrier(2)

    def fail(i):
        both.wait(timeout=10)
        if i == 1:
            threading.Event().wait(0.05)  # item 1 fails last
        raise ValueError(f"item {i}")

    with pytest.raises(ValueError, match="item 0"):
        map_threads(fail, range(2), workers=2)


def test_map_threads_raises_an_interrupt_before_errors():
    """An interrupt raised by a later item wins over an error of an earlier one: stopping
    is what the user asked for."""
    both = threading.Barrier(2)

    def fail(i):
        both.wait(timeout=10)
        raise ValueError("item 0") if i == 0 else KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        map_threads(fail, range(2), workers=2)


def test_an_interrupt_while_waiting_still_waits_for_the_helpers():
    """Ctrl-C while the caller waits for a helper's item: the helper's item (which may be
    writing into the caller's arrays) is finished before the interrupt is raised."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    main = threading.get_ident()
    finished = []
    helper_started = threading.Event()

    def item(i):
        if threading.get_ident() == main:  # whichever item the caller takes: wait for the
            helper_started.wait(timeout=10)  # helper to take the other, then go and wait
            return
        helper_started.set()
        threading.Event().wait(0.1)  # the caller is waiting for this item by now
        signal.pthread_kill(main, signal.SIGINT)
        threading.Event().wait(0.2)
        finished.append(i)

    # pytest-xdist's workers ignore SIGINT: Python's own handler for the test's length.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            map_threads(item, range(2), workers=2)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert finished


def test_helper_threads_do_not_pile_up():
    """Thousands of small calls keep at most about one helper per CPU alive (a helper that
    wakes after its caller is done must not make the next call start another thread)."""
    def helpers():
        return sum(t.name == "cvtool-helper" for t in threading.enumerate())

    before = helpers()
    for _ in range(3000):
        map_threads(lambda x: x, range(2), workers=2)
    assert helpers() <= max(before, os.cpu_count() or 1)


def test_helpers_see_the_callers_errstate():
    """np.errstate set by the caller applies in every item, whichever thread runs it."""
    both = threading.Barrier(2)

    def divide_setting(_):
        both.wait(timeout=10)
        return np.geterr()["divide"]

    with np.errstate(divide="raise"):
        assert map_threads(divide_setting, range(2), workers=2) == ["raise", "raise"]


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


# --- one template, many scenes (possibly on several threads) ---------------------------------


def _scene_and_template(channels: int, size: int = 600, seed: int = 3):
    rng = np.random.default_rng(seed)
    shape = (size, size + 40) if channels == 1 else (size, size + 40, channels)
    scene = rng.integers(0, 256, shape, dtype=np.uint8)
    return scene, scene[200:248, 310:366]


@pytest.mark.parametrize("channels, gray, scales, exhaustive", [
    (1, False, (1.0,), True),
    (3, False, (0.8, 1.0, 1.25), False),   # coarse-to-fine at 1 and 1.25
    (3, True, (1.0, 0.9), False),
    (4, False, (1.0,), True),
])
def test_prepared_template_gives_the_same_search(channels, gray, scales, exhaustive):
    """search with a PreparedTemplate equals search with the array, bit for bit."""
    scene, template = _scene_and_template(channels)
    options = dict(scales=scales, gray=gray, exhaustive=exhaustive, top_k=2, workers=2)
    plain = search(scene, template, **options)
    prepared = prepare_template(template)
    for _ in range(2):  # the second run reads everything from the cache
        again = search(scene, prepared, **options)
        assert again.matches == plain.matches and again.best == plain.best
        if plain.score_map is None:
            assert again.score_map is None
        else:
            np.testing.assert_array_equal(again.score_map, plain.score_map)


def test_one_prepared_template_serves_gray_and_colour_scenes():
    """The same prepared colour template matches a colour scene in colour and a gray one in gray."""
    scene, _ = _scene_and_template(3, size=120)
    template = scene[30:70, 50:90]
    prepared = prepare_template(template)
    for s in (scene, scene[..., 1], scene.astype(np.float64), scene[..., 1].astype(np.float64)):
        np.testing.assert_array_equal(zncc(s, prepared), zncc(s, template))


def test_template_is_resized_once_per_scale_across_scenes(monkeypatch):
    """Three scenes, two scales that need resizing: two resizes in all, not six."""
    import cvtool.matching.zncc_map

    calls = []
    real = cvtool.matching.zncc_map.resize
    monkeypatch.setattr(cvtool.matching.zncc_map, "resize",
                        lambda image, size: calls.append(size) or real(image, size))
    rng = np.random.default_rng(5)
    scenes = [rng.random((80, 90)) for _ in range(3)]
    prepared = prepare_template(scenes[0][10:30, 20:44])
    for scene in scenes:
        search(scene, prepared, scales=(0.75, 1.0, 1.5), exhaustive=True)
    assert sorted(calls) == [(15, 18), (30, 36)]


def test_prepared_template_keeps_its_own_copy():
    """Changing the array after preparing it does not change what is searched for."""
    rng = np.random.default_rng(6)
    scene = rng.random((50, 60))
    template = scene[5:20, 7:25].copy()
    prepared = prepare_template(template)
    template[:] = 0
    (match,) = find(scene, prepared)
    assert (match.x, match.y) == (7, 5) and match.score == pytest.approx(1.0)
    assert prepare_template(prepared) is prepared


def test_prepared_template_is_checked_once_up_front():
    """A template that cannot be matched is refused when it is prepared; NaN at first use."""
    with pytest.raises(ProcessingError, match="template is empty"):
        prepare_template(np.zeros((0, 3)))
    bad = np.ones((4, 4))
    bad[1, 1] = np.nan
    prepared = prepare_template(bad)
    with pytest.raises(ProcessingError, match="template contains NaN"):
        zncc(np.random.default_rng(0).random((10, 10)), prepared)


def test_prepared_template_shared_by_threads():
    """Scenes searched on several threads with one prepared template: the serial answers."""
    rng = np.random.default_rng(8)
    scenes = [rng.random((70, 80)) for _ in range(8)]
    prepared = prepare_template(scenes[3][20:36, 30:50])
    expected = [search(s, scenes[3][20:36, 30:50], scales=(0.9, 1.0, 1.1), workers=1).best
                for s in scenes]
    got = map_threads(lambda s: search(s, prepared, scales=(0.9, 1.0, 1.1), workers=1).best,
                      scenes, workers=4)
    assert got == expected

"""The "every CPU" default of ``workers=None``, checked against the CPU count itself.

The older check (``resolve_workers(None) >= 1``) also held when ``None`` meant one thread, so
a core that silently stopped using the machine's other cores passed the whole suite.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import cvtool
from cvtool.threads import resolve_workers


def _pretend_cpus(monkeypatch, cpus: int | None) -> None:
    """Make every way of asking for the CPU count answer ``cpus`` (os.cpu_count, and the
    affinity-aware os.process_cpu_count / os.sched_getaffinity where they exist), so the
    test pins "every CPU" and not one particular way of counting them."""
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    if hasattr(os, "process_cpu_count"):
        monkeypatch.setattr(os, "process_cpu_count", lambda: cpus)
    if hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus or 1)))


@pytest.mark.parametrize("cpus", [1, 2, 6, 64])
def test_none_means_exactly_the_cpu_count(monkeypatch, cpus):
    """``None`` is as many threads as CPUs, not 1 and not a fixed number."""
    _pretend_cpus(monkeypatch, cpus)
    assert resolve_workers(None) == cpus


def test_none_is_one_thread_when_the_cpu_count_is_unknown(monkeypatch):
    """os.cpu_count() may return None (undeterminable): that is one thread, never zero."""
    _pretend_cpus(monkeypatch, None)
    assert resolve_workers(None) == 1


def test_none_on_this_machine():
    """Unpatched, the default is this machine's CPU count (2 on the CI box, so not 1)."""
    available = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count() or 1)
    assert resolve_workers(None) in {max(1, os.cpu_count() or 1), available}


def _helpers_asked(monkeypatch, work) -> int:
    """How many threads besides the caller ``work`` asked to compute with it (helpers are
    kept between calls, so counting thread starts would miss those already running)."""
    import cvtool.threads

    asked: list[int] = []
    original = cvtool.threads._helpers.run

    def spy(tasks):
        asked.append(len(tasks))
        return original(tasks)

    monkeypatch.setattr(cvtool.threads._helpers, "run", spy)
    work()
    return sum(asked)


@pytest.mark.parametrize("call", ["correlate", "zncc"])
def test_public_functions_use_several_threads_by_default(monkeypatch, call):
    """With 4 CPUs and no ``workers``, correlate and zncc really compute on other threads.

    A default resolved to one thread runs everything in the caller (no thread at all).
    """
    _pretend_cpus(monkeypatch, 4)
    rng = np.random.default_rng(0)
    scene = rng.random((512, 512))
    kernel = rng.random((5, 5))  # not separable, not a box: the general engines
    if call == "correlate":
        def work():
            return cvtool.correlate(scene, kernel, padding="zero")
    else:
        def work():
            return cvtool.zncc(scene, rng.random((9, 9)))
    assert _helpers_asked(monkeypatch, work) >= 2


def test_explicit_one_worker_starts_no_thread(monkeypatch):
    """The counterpart: ``workers=1`` computes in the caller, so the spy above can see a
    difference (it is not counting threads that start whatever the setting)."""
    _pretend_cpus(monkeypatch, 4)
    rng = np.random.default_rng(0)
    scene, kernel = rng.random((512, 512)), rng.random((5, 5))
    assert _helpers_asked(
        monkeypatch, lambda: cvtool.correlate(scene, kernel, padding="zero", workers=1)
    ) == 0

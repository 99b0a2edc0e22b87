"""Measure the constants of the registry's cost table on this machine.

``python -m cvtool.filtering.calibrate`` times every registered strategy on one thread
(CPU time, so that other processes on a shared machine disturb it less than wall time) over
a few image and kernel sizes, and fits ``seconds = fixed + per_call × calls + per_op × ops``
to each (``calls, ops = operations(plan)``). It prints rows to paste into
:data:`cvtool.filtering.registry.COST_TABLE`; nothing reads them automatically, so a
choice of ``auto`` never depends on the machine it runs on.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from cvtool.filtering.core import make_plan
from cvtool.filtering.registry import STRATEGIES

__all__ = ["calibrate"]


def _cpu_seconds(fn, repeat: int) -> float:
    fn()  # warm-up: caches, FFT plans, page faults of the output
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def calibrate(sizes: tuple[int, ...] = (16, 64, 512, 2048),
              kernels: tuple[int, ...] = (3, 7, 15, 31), repeat: int = 3,
              ) -> list[tuple[str, tuple[float, float, float], list[tuple[float, float, float]]]]:
    """Fit ``(name, (fixed, per_call, per_op), samples)`` for every registered strategy.

    ``seconds = fixed + per_call × calls + per_op × ops`` is fitted by least
    squares on the relative error (a 50 µs call matters as much as a 500 ms one), with
    constants kept >= 0. Kernels are constant (k×k of 1/k²), which every strategy takes;
    images float32 of ``sizes``², zero padding, one thread; ``samples`` are the measured
    ``(calls, ops, seconds)``.
    """
    rng = np.random.default_rng(0)
    rows = []
    for name, strategy in STRATEGIES.items():
        samples = []
        for size in sizes:
            image = rng.random((size, size), dtype=np.float32)
            for k in kernels:
                plan = make_plan(image, np.full((k, k), 1.0 / (k * k)), workers=1)
                if not strategy.applies(plan):
                    continue
                out = np.empty(plan.out_shape, plan.dtype)
                seconds = _cpu_seconds(
                    lambda plan=plan, out=out, strategy=strategy: strategy.run(plan, out),
                    repeat)
                samples.append((*strategy.operations(plan), seconds))
        terms = np.array([(1.0, calls, ops) for calls, ops, _ in samples])
        secs = np.maximum(np.array([t for *_, t in samples]), 1e-6)
        # Non-negative least squares by hand (3 unknowns): drop a negative term and refit.
        keep = [0, 1, 2]
        while True:
            sol, *_ = np.linalg.lstsq(terms[:, keep] / secs[:, None], np.ones_like(secs),
                                      rcond=None)
            if (sol >= 0).all():
                break
            keep.pop(int(np.argmin(sol)))
        constants = [0.0, 0.0, 0.0]
        for index, value in zip(keep, sol, strict=True):
            constants[index] = float(value)
        rows.append((name, tuple(constants), samples))
    return rows


if __name__ == "__main__":
    for name, (fixed, per_call, per_op), samples in calibrate():
        print(f'    ("{name}", {fixed:.3g}, {per_call:.3g}, {per_op:.3g}),')
        for calls, ops, seconds in samples:
            model = fixed + per_call * calls + per_op * ops
            print(f"        # calls {calls:8.0f} ops {ops:12.4g}  measured {seconds * 1e3:9.3f}"
                  f" ms  model {model * 1e3:9.3f} ms")

"""The strategies that compute a correlation, their cost model, and how ``auto`` picks one.

Every strategy gives the same result (the direct sum, within the working dtype's rounding);
they differ in speed. Each one is a module ``cvtool/filtering/<name>.py`` with three
functions of a :class:`~cvtool.filtering.plan.Plan` (the checked inputs) and a flag::

    applies(plan) -> bool          can it compute this plan at all (rank 1? constant?); the
                                   first line of its docstring says what it needs
    operations(plan) -> Work       what it would do, counted: ``Work(calls, ops)``, NumPy or
                                   BLAS calls and arithmetic in its own unit (multiply-adds,
                                   element passes, n·log2 n of FFTs)
    run(plan, out) -> None         write every output sample into ``out`` (shape
                                   plan.out_shape, dtype plan.dtype); never re-check
    EXACT: bool                    whether it sums the taps one by one, so that integer data
                                   with integer weights comes out exact (FFTs do not)
    band_quantum(plan) -> int | None
                                   optional: output rows a band of a banded run must be a
                                   multiple of to stay bit-identical to the whole image (its
                                   own row groups), or None when no band is (it runs whole);
                                   without it any band will do (1)

and one row of :data:`COST_TABLE` below turns the counts into seconds:
``cost = fixed + per_call · calls + per_op · ops · itemsize / 4`` (float64 arithmetic is
taken as twice float32's). ``auto`` runs the cheapest strategy that applies, counting an
inexact one's cost :data:`INEXACT_MARGIN` times: exact sums are given up only for a clear win.

To add a strategy: write the module, then add its row to ``COST_TABLE`` (name = module
name, constants from :func:`cvtool.filtering.calibrate.calibrate`). The registry imports
it, ``correlate(strategy=<name>)`` can force it, and the tests that force every registered
strategy (``tests/test_strategies.py`` against the oracle, ``test_filtering_precision.py``,
``test_filtering_out.py``, ``test_filtering_empty.py``) take it in without an edit.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cvtool.errors import UsageError
from cvtool.filtering.plan import Plan, Work

__all__ = ["COST_TABLE", "INEXACT_MARGIN", "STRATEGIES", "Strategy", "check_name", "choose",
           "costs"]

# Seconds = fixed + per_call × calls + per_op × ops (float32; float64 ops count double).
# Measured with ``python -m cvtool.filtering.calibrate`` (see there) on the development
# machine: AMD EPYC, 2 cores shared with other jobs (load 9), one thread, CPU time by
# time.process_time, median of 3 runs; float32 images of 16², 64², 512² and 2048², constant
# kernels of 3..31; least squares on the relative error, then rounded to 2 digits. With the
# first four rows auto makes the old hand-written chooser's choices on the benchmark's
# 4096² cases but one: the 31x31 box runs as box sums, not separable passes (7-17 % less
# CPU time, measured against each other there).
#     name          fixed (s)   per_call (s)   per_op (s)
COST_TABLE: tuple[tuple[str, float, float, float], ...] = (
    ("direct",      90e-6,      3.2e-6,       0.095e-9),
    ("separable",   95e-6,      6.9e-6,       0.051e-9),
    ("box",         63e-6,      1.8e-6,       0.46e-9),
    ("fft",         30e-6,      21e-6,        0.90e-9),
    # Issue 11's matrix-vector strategies: the same calibration run and machine as the rows
    # above (AMD EPYC, Zen 3, AVX2; OpenBLAS 0.3.31 on its Haswell kernels; load ~12), then
    # per_op of shifted and separable_gemv refitted on 4096² runs (3x3..7x7 arbitrary,
    # 3x3 box, 7x7 and 15x15 Gaussian), where the 16²..2048² fit left them at 0 or high.
    ("shifted",        330e-6,     3.0e-6,       0.13e-9),
    ("separable_gemv", 680e-6,     0.0,          0.13e-9),
    ("box_sums",       320e-6,     5.0e-6,       0.27e-9),
)


# The fit above scatters by about ±30 % (shared machine, a linear model of calls and
# operations): within that, auto keeps the exact strategies, so a 3x3 kernel on a small image
# never goes through an FFT for a saving the model cannot resolve. With it the crossover of
# direct and FFT on 4096² float32 lands between 9x9 and 11x11, as measured before the model.
INEXACT_MARGIN = 1.3


@dataclass(frozen=True)
class Strategy:
    """One registered way of computing a plan (see the module docstring)."""

    name: str
    applies: Callable[[Plan], bool]
    operations: Callable[[Plan], Work]
    run: Callable[[Plan, np.ndarray], None]
    exact: bool
    band_quantum: Callable[[Plan], int | None]
    fixed: float
    per_call: float
    per_op: float

    def cost(self, plan: Plan) -> float:
        """Estimated seconds of CPU time for ``plan``."""
        calls, ops = self.operations(plan)
        return self.fixed + self.per_call * calls + self.per_op * ops * plan.dtype.itemsize / 4


def _load(name: str, fixed: float, per_call: float, per_op: float) -> Strategy:
    module = importlib.import_module(f"cvtool.filtering.{name}")
    return Strategy(name, module.applies, module.operations, module.run, module.EXACT,
                    getattr(module, "band_quantum", _any_band), fixed, per_call, per_op)


def _any_band(plan: Plan) -> int:
    """A strategy that computes each output row on its own: any band is bit-identical."""
    return 1


#: Every strategy by name, in the order of :data:`COST_TABLE` (ties go to the first).
STRATEGIES: dict[str, Strategy] = {row[0]: _load(*row) for row in COST_TABLE}


def costs(plan: Plan) -> dict[str, float]:
    """Estimated seconds of each strategy that applies to ``plan``.

    Examples
    --------
    >>> import numpy as np
    >>> from cvtool.filtering.core import make_plan
    >>> estimates = costs(make_plan(np.zeros((64, 64)), np.eye(3)))
    >>> "direct" in estimates, "box" in estimates  # box needs equal weights
    (True, False)
    """
    return {name: s.cost(plan) for name, s in STRATEGIES.items() if s.applies(plan)}


def check_name(strategy: str) -> None:
    """Refuse a strategy name that is neither ``auto`` nor registered (before any work).

    Examples
    --------
    >>> check_name("fft")
    >>> check_name("magic")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: strategy must be one of auto, direct, separable, box, fft, ... 'magic'
    """
    if strategy != "auto" and not (isinstance(strategy, str) and strategy in STRATEGIES):
        names = ", ".join(["auto", *STRATEGIES])
        raise UsageError(f"strategy must be one of {names}, got {strategy!r}",
                         parameter="strategy")


def choose(plan: Plan, strategy: str = "auto") -> Strategy:
    """The strategy to run: the one named, or for ``auto`` the cheapest that applies.

    Raises
    ------
    UsageError
        (``parameter="strategy"``) for an unknown name, or a strategy that does not apply
        to this kernel (``separable`` needs rank 1, ``box`` equal weights).

    Examples
    --------
    >>> import numpy as np
    >>> from cvtool.filtering.core import make_plan
    >>> binomial = np.outer([1.0, 4, 6, 4, 1], [1.0, 4, 6, 4, 1])
    >>> plan = make_plan(np.zeros((512, 512), np.float32), binomial)
    >>> choose(plan, "separable").name
    'separable'
    >>> choose(plan).name in costs(plan)
    True
    """
    check_name(strategy)
    if strategy == "auto" and plan.samples == 0:
        return next(iter(STRATEGIES.values()))  # nothing to compute: any will do
    if strategy == "auto":
        estimates = costs(plan)
        return STRATEGIES[min(estimates, key=lambda name: estimates[name] * (
            1.0 if STRATEGIES[name].exact else INEXACT_MARGIN))]
    chosen = STRATEGIES[strategy]
    if not chosen.applies(plan):
        # The first line of ``applies``' docstring says what the strategy needs.
        needs = (chosen.applies.__doc__ or "").strip().splitlines()[0].rstrip(".").lower()
        raise UsageError(f"strategy {strategy!r} does not apply here: it {needs}",
                         parameter="strategy")
    return chosen

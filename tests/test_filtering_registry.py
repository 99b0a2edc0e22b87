"""The strategy registry: what adding a strategy takes, and how auto uses the cost table."""

from __future__ import annotations

import dataclasses
import sys
import types

import numpy as np
import pytest
from test_filtering import oracle

from cvtool.errors import UsageError
from cvtool.filtering import correlate, make_plan, registry
from cvtool.filtering.plan import Work


@pytest.fixture
def toy(monkeypatch):
    """A strategy written the documented way: one module (here built in memory) with
    applies/operations/run/EXACT, and one row of the cost table passed to the loader."""
    module = types.ModuleType("cvtool.filtering.toy")

    def applies(plan):
        """Needs a kernel of one tap."""
        return plan.kernel.size == 1

    def run(plan, out):
        sy, sx = plan.stride
        np.multiply(plan.source.full()[::sy, ::sx], plan.kernel[0, 0], out=out)

    module.EXACT = True
    module.applies = applies
    module.operations = lambda plan: Work(calls=1, ops=plan.samples)
    module.run = run
    monkeypatch.setitem(sys.modules, "cvtool.filtering.toy", module)
    strategies = dict(registry.STRATEGIES)
    strategies["toy"] = registry._load("toy", 0.0, 0.0, 0.0)  # the one new row
    monkeypatch.setattr(registry, "STRATEGIES", strategies)
    return strategies["toy"]


def test_a_new_strategy_can_be_forced(toy):
    """Once registered, the name is accepted and its run gives the result."""
    image = np.arange(30.0).reshape(5, 6)
    got = correlate(image, [[2.0]], padding="mirror", stride=(2, 3), strategy="toy")
    np.testing.assert_array_equal(got, oracle(image, [[2.0]], stride=(2, 3)))


def test_auto_picks_a_new_strategy_where_it_is_cheapest(toy):
    """A zero-cost row wins wherever it applies, and only there."""
    assert registry.choose(make_plan(np.ones((50, 50)), [[3.0]])) is toy
    assert registry.choose(make_plan(np.ones((50, 50)), np.eye(3))).name != "toy"


def test_forcing_a_new_strategy_where_it_does_not_apply(toy):
    """The refusal quotes the first line of ``applies``' docstring."""
    with pytest.raises(UsageError, match="^strategy 'toy' does not apply here: it needs a "
                                         "kernel of one tap$") as caught:
        correlate(np.ones((4, 4)), np.eye(2), strategy="toy")
    assert caught.value.parameter == "strategy"


def test_every_row_of_the_cost_table_is_a_registered_module():
    """One row per strategy, named as its module, every module with the full interface."""
    names = [row[0] for row in registry.COST_TABLE]
    assert len(names) == len(set(names)) and list(registry.STRATEGIES) == names
    for name in names:
        module = sys.modules[f"cvtool.filtering.{name}"]
        assert callable(module.applies) and callable(module.operations)
        assert callable(module.run) and isinstance(module.EXACT, bool)
        assert (module.applies.__doc__ or "").strip(), f"{name}.applies says what it needs"


def test_float64_arithmetic_counts_double():
    """The same plan in float64 costs more than in float32, by its ops term only."""
    kernel = np.random.default_rng(3).normal(size=(9, 9))
    cheap = make_plan(np.empty((512, 512), np.float32), kernel)
    dear = make_plan(np.empty((512, 512), np.float64), kernel)
    direct = registry.STRATEGIES["direct"]
    calls, ops = direct.operations(cheap)
    assert direct.cost(dear) - direct.cost(cheap) == pytest.approx(direct.per_op * ops)


def test_inexact_strategies_need_a_clear_win(monkeypatch):
    """auto weighs an inexact strategy's estimate by INEXACT_MARGIN: an FFT estimated 10 %
    cheaper than direct does not take the plan; with no margin it does."""
    flat = {"direct": 1.1, "fft": 1.0}  # seconds, whatever the plan
    monkeypatch.setattr(registry, "STRATEGIES", {
        name: dataclasses.replace(registry.STRATEGIES[name], fixed=seconds, per_call=0.0,
                                  per_op=0.0) for name, seconds in flat.items()})
    plan = make_plan(np.ones((64, 64)), np.eye(5))
    assert not registry.STRATEGIES["fft"].exact
    assert registry.choose(plan).name == "direct"
    monkeypatch.setattr(registry, "INEXACT_MARGIN", 1.0)
    assert registry.choose(plan).name == "fft"


def test_calibrate_fits_every_registered_strategy():
    """The calibration that made the cost table runs (tiny sizes here) and fits each
    registered strategy with non-negative constants that reproduce its own timings' scale."""
    from cvtool.filtering.calibrate import calibrate

    rows = calibrate(sizes=(16, 48), kernels=(3, 5), repeat=1)
    assert [row[0] for row in rows] == list(registry.STRATEGIES)
    for _, constants, samples in rows:
        assert len(constants) == 3 and min(constants) >= 0 and samples
        fixed, per_call, per_op = constants
        model = [fixed + per_call * calls + per_op * ops for calls, ops, _ in samples]
        measured = [seconds for *_, seconds in samples]
        assert 0.1 < sum(model) / sum(measured) < 10


def test_strided_plans_keep_the_smaller_shifted_bands():
    """With a stride, ``shifted`` plans bands of 3/8 of its scratch: at the full 2 MiB the
    cost model picked it for this plan, where it measured 2.3x slower than ``direct``
    (42 -> 96 ms CPU, one thread)."""
    image = np.empty((1080, 640, 3))
    kernel = np.random.default_rng(0).normal(size=(7, 15))
    assert registry.choose(make_plan(image, kernel, stride=2)).name == "direct"

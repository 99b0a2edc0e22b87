"""softmax, log_softmax and logsumexp follow SciPy's shapes and axis rules (issue 14 item 2).

SciPy's ``scipy.special`` functions are the oracle: the same shape out as in, ``axis`` as an
int, a negative int, a tuple or ``None`` (every element one distribution), and 0-d inputs
kept 0-d. Our default axis is the last one (-1) where SciPy's is ``None``; every test here
passes ``axis`` explicitly where the two would differ.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

from cvtool.measures.information import log_softmax, logsumexp, softmax

RNG = np.random.default_rng(14)
LOGITS_3D = RNG.normal(0, 3, (2, 3, 4))


@pytest.mark.parametrize("function", [softmax, log_softmax])
def test_a_0d_input_gives_a_0d_result(function):
    """A single logit is a one-outcome distribution: softmax 1, log_softmax 0, shape ()."""
    oracle = getattr(scipy.special, function.__name__)
    for value in (np.float64(1.0), np.array(-7.5), 3.0):
        got = function(value)
        assert np.shape(got) == np.shape(oracle(value)) == ()
        assert float(got) == float(oracle(value))


@pytest.mark.parametrize("function", [softmax, log_softmax])
def test_axis_none_takes_every_element_as_one_distribution(function):
    """axis=None normalises over all 24 elements at once, as SciPy's default does."""
    oracle = getattr(scipy.special, function.__name__)
    got = function(LOGITS_3D, axis=None)
    assert got.shape == LOGITS_3D.shape
    np.testing.assert_allclose(got, oracle(LOGITS_3D, axis=None), rtol=1e-13, atol=1e-13)
    if function is softmax:
        assert float(got.sum()) == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("function", [softmax, log_softmax])
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3, (0, 2), (-1, -2)])
def test_int_negative_and_tuple_axes_agree_with_scipy(function, axis):
    """Every axis form SciPy takes gives SciPy's values, in the input's shape."""
    oracle = getattr(scipy.special, function.__name__)
    got = function(LOGITS_3D, axis=axis)
    assert got.shape == LOGITS_3D.shape
    np.testing.assert_allclose(got, oracle(LOGITS_3D, axis=axis), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("function", [softmax, log_softmax])
def test_logits_of_plus_minus_1000_stay_finite_and_exact(function):
    """±1000 overflows a naive exp; shifted by the maximum it gives SciPy's exact values."""
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -999.0]])
    oracle = getattr(scipy.special, function.__name__)
    for axis in (None, 0, -1):
        with np.errstate(over="raise", invalid="raise"):  # exp(-2000) may underflow to 0
            got = function(z, axis=axis)
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, oracle(z, axis=axis), rtol=1e-13, atol=0)
    assert log_softmax(z, axis=-1)[0, 1] == -2000.0


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)])
def test_logsumexp_removes_the_reduced_axes_like_scipy(axis):
    """logsumexp reduces ``axis`` away (all of them for None), matching SciPy's values."""
    z = RNG.normal(0, 100, (3, 5))
    got = logsumexp(z, axis=axis)
    expected = scipy.special.logsumexp(z, axis=axis)
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_logsumexp_of_a_0d_input_is_the_value_itself():
    """log exp(x) = x for a single logit, returned as a float."""
    assert logsumexp(np.float64(2.5)) == 2.5

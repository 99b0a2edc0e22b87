"""Working precision: 32- and 64-bit integer inputs keep every digit (issue 14).

float32 holds 24 bits of mantissa: enough for 8/16-bit images times small kernels, not for
32-bit ones, whose neighbourhood sums need 34 bits and more. Such inputs work in float64,
where integer sums are exact below 2**53. Every strategy is forced in turn against an exact
integer oracle (Python integers, no floating point anywhere); strategies that sum the taps
one by one must match it exactly, the FFT to within rounding (it rounds to the exact value).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import NUMPY_PAD

from cvtool.filtering import correlate, registry, working_dtype
from cvtool.filtering.core import make_plan
from cvtool.filtering.kernels import SOBEL_X, SOBEL_Y

RNG = np.random.default_rng(1414)
ALL = list(registry.STRATEGIES)
MODES = ("zero", "constant", "clamp", "mirror", "symmetric", "wrap", "extend")


def exact_correlate(image: np.ndarray, kernel: np.ndarray, padding: str,
                    pad_value: int = 0) -> np.ndarray:
    """``same`` correlation in Python integers (object arrays): the definition, exactly."""
    kh, kw = kernel.shape
    widths = ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2))
    big = image.astype(object)
    if padding == "constant":
        padded = np.pad(big, widths, mode="constant", constant_values=pad_value)
    elif padding == "zero":
        padded = np.pad(big, widths, mode="constant", constant_values=0)
    else:
        padded = np.pad(big, widths, **NUMPY_PAD[padding])
    h, w = image.shape
    out = np.empty((h, w), object)
    weights = [[int(v) for v in row] for row in kernel]
    for i in range(h):
        for j in range(w):
            out[i, j] = sum(padded[i + k, j + m] * weights[k][m]
                            for k in range(kh) for m in range(kw))
    return out


def integer_kernel_for(strategy: str, shape: tuple[int, int]) -> np.ndarray:
    """The most general integer kernel the strategy takes: arbitrary, rank 1, constant."""
    candidates = (RNG.integers(-3, 4, size=shape),
                  np.outer(RNG.integers(1, 4, size=shape[0]), RNG.integers(-2, 3, size=shape[1])),
                  np.full(shape, 3))
    for k in candidates:
        if k.any() and registry.STRATEGIES[strategy].applies(make_plan(np.ones((4, 4)), k)):
            return k.astype(np.float64)
    raise AssertionError(f"strategy {strategy} takes none of the test kernels")


def assert_exact(got: np.ndarray, expected: np.ndarray, strategy: str) -> None:
    assert got.dtype == np.float64
    if registry.STRATEGIES[strategy].exact:
        # Every sum is an integer below 2**53: float64 holds it exactly.
        assert got.tolist() == expected.tolist()
    else:
        # The FFT rounds over a whole tile; it must still land within 1/2 of the integer.
        np.testing.assert_array_equal(np.rint(got).astype(object), expected)
        scale = max(1, int(np.abs(expected).max()))
        assert np.abs(got - expected.astype(np.float64)).max() <= 1e-12 * scale * 16


@pytest.mark.parametrize("strategy", ALL)
def test_issue_example_uint32_sum_is_exact(strategy):
    """The issue's example: 4294967294 + 6 + 10 (symmetric padding) is 4294967310, not
    float32's 4294967296, whichever strategy computes it."""
    image = np.array([[4294967294, 6, 10]], np.uint32)
    got = correlate(image, np.ones((1, 3)), padding="symmetric", strategy=strategy)
    assert got.dtype == np.float64
    assert np.rint(got[0, 1]) == 4294967310
    if registry.STRATEGIES[strategy].exact:
        assert got[0, 1] == 4294967310


@pytest.mark.parametrize("strategy", ALL)
@pytest.mark.parametrize(("dtype", "low", "high"), [
    (np.uint32, 2**31, 2**32),              # near the top of the range: 32 significant bits
    (np.int32, -(2**31), 2**31),
    (np.int64, -(2**40), 2**40),            # sums of 2**43: past float32, within float64
])
@pytest.mark.parametrize("padding", MODES)
def test_wide_integers_match_an_exact_integer_oracle(strategy, dtype, low, high, padding):
    """32/64-bit integer images, integer kernels, every padding: exact sums (FFT: rounds to
    them), where float32 would keep only the top 24 bits."""
    image = RNG.integers(low, high, size=(9, 11), dtype=np.int64).astype(dtype)
    kernel = integer_kernel_for(strategy, (3, 4))
    got = correlate(image, kernel, padding=padding, pad_value=12345, strategy=strategy)
    assert_exact(got, exact_correlate(image, kernel, padding, pad_value=12345), strategy)


SOBEL_STRATEGIES = [name for name, s in registry.STRATEGIES.items()
                    if s.applies(make_plan(np.ones((4, 4)), SOBEL_X))]  # not box: not constant


@pytest.mark.parametrize("strategy", SOBEL_STRATEGIES)
@pytest.mark.parametrize(("kernel", "name"), [(SOBEL_X, "x"), (SOBEL_Y, "y")])
def test_sobel_on_uint32_is_exact(strategy, kernel, name):
    """Sobel on a uint32 image whose pixels differ only in their low 8 bits near 2**32 (what
    float32 rounds away): a bright square with a textured inside, edges of 4·(2**32 - 1)."""
    image = np.zeros((12, 12), np.uint32)
    image[3:9, 4:10] = 4294967295 - RNG.integers(0, 256, size=(6, 6), dtype=np.uint32)
    got = correlate(image, kernel, padding="clamp", strategy=strategy)
    expected = exact_correlate(image, kernel, "clamp")
    assert_exact(got, expected, strategy)
    # The texture is really there: float32 inputs could not have kept it.
    assert len({v % 256 for v in expected.ravel().tolist()}) > 10


def test_sobel_on_uint32_edge_value():
    """At a clean vertical step from 0 to 2**32 - 1, Sobel-x is exactly 4·(2**32 - 1)."""
    image = np.zeros((5, 6), np.uint32)
    image[:, 3:] = 4294967295
    got = correlate(image, SOBEL_X, padding="clamp")
    # Compared as Python integers: a float32 result would compare equal after rounding.
    assert int(got[2, 2]) == int(got[2, 3]) == 4 * 4294967295 and int(got[2, 0]) == 0


@pytest.mark.parametrize(("dtype", "expected"), [
    (np.bool_, np.float32), (np.uint8, np.float32), (np.int8, np.float32),
    (np.uint16, np.float32), (np.int16, np.float32), (np.float16, np.float32),
    (np.float32, np.float32), (np.uint32, np.float64), (np.int32, np.float64),
    (np.uint64, np.float64), (np.int64, np.float64), (np.float64, np.float64),
    (np.longdouble, np.float64),
])
def test_working_dtype_rule(dtype, expected):
    """float32 only for inputs it holds exactly (bool, 8/16-bit, float16/32); float64 for
    32/64-bit integers, float64 and wider floats."""
    assert working_dtype(dtype) == expected


def test_16_bit_sums_stay_exact_in_float32():
    """The reason float32 is enough for 16-bit images: a 5x5 sum of 65535s with small
    integer weights (< 2**24) comes out exact."""
    image = np.full((8, 8), 65535, np.uint16)
    image[::2, ::3] = 1
    kernel = RNG.integers(-3, 4, size=(5, 5)).astype(np.float64)
    got = correlate(image, kernel, padding="mirror", strategy="direct")
    assert got.dtype == np.float32
    assert got.astype(np.int64).tolist() == exact_correlate(image, kernel, "mirror").tolist()

"""``out=``: correlate and convolve write into a caller's buffer, so a loop can reuse one.

The buffer must be exactly what the call would return (shape and working dtype); the values
written are the same as without ``out``, whatever the strategy, and a buffer that aliases the
input or is not contiguous still gets the right answer.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_filtering import oracle

from cvtool.errors import UsageError
from cvtool.filtering import convolve, correlate, registry

RNG = np.random.default_rng(11)
ALL = list(registry.STRATEGIES)


def _kernel_for(strategy: str) -> np.ndarray:
    # Constant: every strategy takes it.
    return np.full((5, 4), 0.25) if strategy != "direct" else RNG.normal(size=(5, 4))


@pytest.mark.parametrize("strategy", ALL)
@pytest.mark.parametrize("fn", [correlate, convolve])
def test_out_receives_the_result_and_is_returned(strategy, fn):
    """With ``out`` every strategy writes the result there and returns that same array."""
    image = RNG.uniform(0, 255, size=(23, 31)).astype(np.uint8)
    kernel = _kernel_for(strategy)
    expected = fn(image, kernel, padding="mirror", stride=2, strategy=strategy)
    out = np.full(expected.shape, np.nan, np.float32)
    got = fn(image, kernel, padding="mirror", stride=2, strategy=strategy, out=out)
    assert got is out
    np.testing.assert_array_equal(out, expected)


def test_out_matches_the_oracle_with_normalized_padding():
    """The renormalisation of ``normalized`` is applied to ``out`` too."""
    image = RNG.normal(size=(9, 8))
    kernel = np.abs(RNG.normal(size=(3, 3))) + 0.1
    out = np.empty((9, 8))
    correlate(image, kernel, padding="normalized", out=out)
    np.testing.assert_allclose(out, oracle(image, kernel, padding="normalized"), rtol=1e-12,
                               atol=1e-12)


def test_out_may_be_the_input_itself():
    """Filtering in place (``out=image``) gives the out-of-place result: the input is read
    before it is overwritten."""
    image = RNG.normal(size=(40, 37)).astype(np.float32)
    kernel = RNG.normal(size=(3, 3))
    expected = correlate(image, kernel, padding="clamp")
    for strategy in ("direct", "fft"):
        buffer = image.copy()
        assert correlate(buffer, kernel, padding="clamp", strategy=strategy,
                         out=buffer) is buffer
        np.testing.assert_allclose(buffer, expected, rtol=1e-5, atol=1e-4)


def test_out_may_be_a_strided_view():
    """A non-contiguous ``out`` (the colour channels of an RGBA array, which no flat view of
    rows can address) is filled correctly and the alpha plane is not touched."""
    image = RNG.normal(size=(10, 12, 3))
    kernel = RNG.normal(size=(3, 3))
    base = np.zeros((10, 12, 4))
    view = base[..., :3]
    assert correlate(image, kernel, out=view) is view
    np.testing.assert_allclose(view, oracle(image, kernel), rtol=1e-12, atol=1e-12)
    assert not base[..., 3].any()


@pytest.mark.parametrize(("image", "out", "message"), [
    (np.ones((6, 5), np.uint8), np.empty((6, 5), np.float64),
     r"out must have shape \(6, 5\) and dtype float32, got shape \(6, 5\) and dtype float64"),
    (np.ones((6, 5)), np.empty((5, 6)), r"out must have shape \(6, 5\) and dtype float64"),
    (np.ones((6, 5, 3)), np.empty((6, 5)), r"out must have shape \(6, 5, 3\)"),
    (np.ones((6, 5), np.uint32), np.empty((6, 5), np.float32),
     r"out must have shape \(6, 5\) and dtype float64"),
    (np.ones((6, 5)), [[0.0] * 5] * 6, "out must be a NumPy array, got list"),
])
def test_a_wrong_out_is_a_usage_error(image, out, message):
    """``out`` of another shape or dtype (or not an array) is refused naming ``out``, before
    anything is computed: no silent cast, no resizing."""
    with pytest.raises(UsageError, match="^" + message) as caught:
        correlate(image, np.ones((3, 3)), out=out)
    assert caught.value.parameter == "out"


def test_a_read_only_out_is_a_usage_error():
    """A read-only buffer is refused naming ``out`` rather than failing inside a strategy."""
    out = np.empty((4, 4))
    out.setflags(write=False)
    with pytest.raises(UsageError, match="^out is read-only") as caught:
        correlate(np.ones((4, 4)), np.ones((3, 3)), out=out)
    assert caught.value.parameter == "out"

"""Padding modes against numpy.pad and cv2.copyMakeBorder, aliases, and error messages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import NUMPY_PAD

from cvtool.errors import UsageError
from cvtool.imaging.padding import (
    PADDING_ALIASES,
    PADDING_MODES,
    canonical_padding,
    pad,
    pad_indices,
)

CV2_BORDER = {
    "zero": cv2.BORDER_CONSTANT,
    "clamp": cv2.BORDER_REPLICATE,
    "mirror": cv2.BORDER_REFLECT_101,
    "symmetric": cv2.BORDER_REFLECT,
    "wrap": cv2.BORDER_WRAP,
}
WIDTHS = [((0, 0), (0, 0)), ((1, 2), (2, 1)), ((3, 0), (0, 4)), ((7, 9), (11, 6))]


def test_modes_table_is_the_contract():
    """The canonical names and their order are what the CLI documents."""
    assert PADDING_MODES == ("zero", "constant", "clamp", "mirror", "symmetric", "wrap",
                             "extend", "normalized")
    assert set(PADDING_ALIASES.values()) <= set(PADDING_MODES)


@pytest.mark.parametrize(("alias", "mode"), [
    ("replicate", "clamp"), ("edge", "clamp"), ("nearest", "clamp"), ("reflect101", "mirror"),
    ("circular", "wrap"), ("odd", "extend"), ("ZERO", "zero"), ("Mirror", "mirror"),
])
def test_aliases_and_case(alias, mode):
    """Aliases resolve to one canonical mode, in any letter case."""
    assert canonical_padding(alias) == mode


def test_unknown_mode_lists_choices():
    """An unknown name is a usage error that lists every valid mode."""
    with pytest.raises(UsageError, match=r"padding 'foo' is unknown \(choose from zero, constant, "
                                         r"clamp, mirror, symmetric, wrap, extend, normalized\)"):
        canonical_padding("foo")


def test_bare_reflect_is_refused_with_both_meanings():
    """'reflect' means different things in SciPy and NumPy/OpenCV, so it is refused."""
    with pytest.raises(UsageError) as info:
        canonical_padding("reflect")
    assert "mirror" in str(info.value) and "symmetric" in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("mode", sorted(NUMPY_PAD))
@pytest.mark.parametrize("widths", WIDTHS)
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 4), (4, 5, 3)])
def test_pad_equals_numpy_pad(mode, widths, shape):
    """Every mode equals numpy.pad with the corresponding mode, wide padding included."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 100, size=shape).astype(np.float64)
    spec = list(widths) + [(0, 0)] * (len(shape) - 2)
    np.testing.assert_array_equal(pad(image, widths, mode), np.pad(image, spec,
                                                                   **NUMPY_PAD[mode]))


@pytest.mark.parametrize("mode", sorted(CV2_BORDER))
@pytest.mark.parametrize("widths", WIDTHS[:3])
def test_pad_equals_copy_make_border(mode, widths):
    """Where OpenCV has the mode, cv2.copyMakeBorder agrees (widths within the image)."""
    image = np.arange(5 * 6 * 3, dtype=np.float32).reshape(5, 6, 3)
    (t, b), (left, r) = widths
    expected = cv2.copyMakeBorder(image, t, b, left, r, CV2_BORDER[mode], value=0)
    np.testing.assert_array_equal(pad(image, widths, mode), expected)


def test_constant_per_channel():
    """`constant` takes one value or one per channel, in the image's dtype."""
    image = np.zeros((2, 2, 3), np.uint8)
    out = pad(image, ((1, 0), (0, 1)), "constant", value=(10, 20, 30))
    assert out.dtype == np.uint8 and out.shape == (3, 3, 3)
    np.testing.assert_array_equal(out[0, 0], [10, 20, 30])
    np.testing.assert_array_equal(out[1, 2], [10, 20, 30])
    np.testing.assert_array_equal(out[1:, :2], 0)
    assert (pad(np.ones((1, 1)), ((1, 1), (1, 1)), "constant", 7.5) == 7.5).sum() == 8


def test_constant_value_count_must_match_channels():
    """A per-channel value with the wrong number of entries is a usage error."""
    with pytest.raises(UsageError, match="value has 2 numbers but the image has 3"):
        pad(np.zeros((2, 2, 3)), ((1, 1), (1, 1)), "constant", value=(1, 2))


def test_normalized_pads_with_zeros():
    """`normalized` pads with zeros; the filter does the renormalisation."""
    out = pad(np.ones((2, 2)), ((1, 1), (1, 1)), "normalized", value=5)
    assert out.sum() == 4 and out[0, 0] == 0


def test_padding_table_row_examples():
    """The row `a b c d` padded by two, as in the CLI table."""
    row = np.array([[1.0, 2.0, 3.0, 4.0]])
    w = ((0, 0), (2, 2))
    assert pad(row, w, "zero").tolist() == [[0, 0, 1, 2, 3, 4, 0, 0]]
    assert pad(row, w, "clamp").tolist() == [[1, 1, 1, 2, 3, 4, 4, 4]]
    assert pad(row, w, "mirror").tolist() == [[3, 2, 1, 2, 3, 4, 3, 2]]
    assert pad(row, w, "symmetric").tolist() == [[2, 1, 1, 2, 3, 4, 4, 3]]
    assert pad(row, w, "wrap").tolist() == [[3, 4, 1, 2, 3, 4, 1, 2]]
    assert pad(row, w, "extend").tolist() == [[-1, 0, 1, 2, 3, 4, 5, 6]]


@pytest.mark.parametrize("mode", ["clamp", "mirror", "symmetric", "wrap"])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_pad_indices_match_pad(mode, n):
    """The index maps the filter uses per band equal numpy.pad of ``arange(n)``.

    The expectation is numpy.pad through this test's own mode table (``NUMPY_PAD``), not
    ``pad()``: both ``pad`` and ``pad_indices`` read the module's one table, so comparing them
    with each other passed even with that table's ``mirror`` set to NumPy's ``symmetric``.
    """
    idx = pad_indices(n, 9, 7, mode)
    np.testing.assert_array_equal(idx, np.pad(np.arange(n), (9, 7), **NUMPY_PAD[mode]))
    np.testing.assert_array_equal(idx, pad(np.arange(n)[None, :], ((0, 0), (9, 7)), mode)[0])


@pytest.mark.parametrize(("mode", "expected"), [
    # The contract's table, row a b c d = indices 0 1 2 3, two pixels each side.
    ("clamp", [0, 0, 0, 1, 2, 3, 3, 3]),
    ("mirror", [2, 1, 0, 1, 2, 3, 2, 1]),
    ("symmetric", [1, 0, 0, 1, 2, 3, 3, 2]),
    ("wrap", [2, 3, 0, 1, 2, 3, 0, 1]),
    ("zero", [-1, -1, 0, 1, 2, 3, -1, -1]),
    ("constant", [-1, -1, 0, 1, 2, 3, -1, -1]),
    ("normalized", [-1, -1, 0, 1, 2, 3, -1, -1]),
])
def test_pad_indices_literal_rows(mode, expected):
    """Index maps of the row ``a b c d`` padded by two, written out from the padding table."""
    assert pad_indices(4, 2, 2, mode).tolist() == expected


@pytest.mark.parametrize(("mode", "expected"), [
    # A 3-pixel row padded by 7 on the left and 5 on the right: the rule repeats (numpy.pad).
    ("clamp", [0] * 7 + [0, 1, 2] + [2] * 5),
    ("mirror", [1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1]),
    ("symmetric", [0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1]),
    ("wrap", [2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1]),
])
def test_pad_indices_wider_than_the_axis_literal(mode, expected):
    """Padding wider than the axis keeps repeating the rule, written out by hand."""
    assert pad_indices(3, 7, 5, mode).tolist() == expected


def test_bad_widths():
    """Negative or malformed widths are usage errors."""
    with pytest.raises(UsageError):
        pad(np.zeros((2, 2)), ((-1, 0), (0, 0)), "zero")
    with pytest.raises(UsageError):
        pad(np.zeros((2, 2)), (1, 2), "zero")

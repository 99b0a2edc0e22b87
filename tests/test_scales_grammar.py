"""--scales reads numbers with the one grammar of the CLI (the kernel grammar's parse_number)."""

from __future__ import annotations

import pytest

from cvtool.errors import UsageError
from cvtool.matching import MAX_SCALES, parse_scales


@pytest.mark.parametrize("text", ["\u0661", "1_0", "1_0,1", "0.5:1_0:3", "1:2:\u0663", "1:2:1_0",
                                  "\uff11", "nan", "1,inf", "0.5:2:3.0", "1/0"])
def test_what_float_or_int_would_take_is_refused(text):
    """Non-ASCII digits, underscores, NaN/inf, a fractional N: usage errors naming --scales.

    float() and int() accept "١" (Arabic-Indic one), "１" (full-width one) and "1_0" (ten);
    the shared grammar does not, so --scales agrees with -k and every other number list.
    """
    with pytest.raises(UsageError, match="--scales"):
        parse_scales(text)


@pytest.mark.parametrize("text, expected", [
    ("1/2,1", [0.5, 1.0]),
    ("3/4 1 5/4", [0.75, 1.0, 1.25]),
    ("+1.5e0", [1.5]),
])
def test_fractions_and_decimals_are_accepted(text, expected):
    """Fractions are allowed here as they are in kernels and --probs."""
    assert parse_scales(text) == expected


def test_range_ends_may_be_fractions():
    """MIN and MAX use the same grammar; N stays a whole number."""
    assert parse_scales(" 1/2 : 2 : 3 ") == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("text", ["0,1", "-1/2", "0:1:3"])
def test_non_positive_factors_are_still_refused(text):
    """The grammar change keeps the positivity check."""
    with pytest.raises(UsageError, match="positive"):
        parse_scales(text)


def test_scale_count_is_bounded():
    """A mistyped N (1:2:99999999) must not queue 10^8 searches: a usage error instead."""
    with pytest.raises(UsageError, match="between 1 and"):
        parse_scales("1:2:99999999")
    assert len(parse_scales(f"1:2:{MAX_SCALES}")) == MAX_SCALES

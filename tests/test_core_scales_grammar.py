"""``--scales`` text: the CLI's grammar makes the numbers, the matching core checks them.

Moved from tests/test_matching.py when parse_scales moved from cvtool.matching to
cvtool.cli.grammar (text parsing is the CLI's job; the rule that a factor is positive is the
core's, in cvtool.matching.search.check_scales).
"""

from __future__ import annotations

import numpy as np
import pytest

from cvtool.cli.grammar import parse_scales
from cvtool.errors import UsageError
from cvtool.matching.search import check_scales


def test_parse_scales_range_is_geometric():
    """MIN:MAX:N gives N factors with a constant ratio, ends included."""
    values = parse_scales("0.5:2:7")
    assert len(values) == 7 and values[0] == 0.5 and values[-1] == pytest.approx(2.0)
    ratios = np.array(values[1:]) / np.array(values[:-1])
    np.testing.assert_allclose(ratios, ratios[0])


def test_parse_scales_list_with_spaces_or_commas():
    """A list accepts commas and/or spaces."""
    assert parse_scales("0.8, 1 1.25") == [0.8, 1.0, 1.25]


@pytest.mark.parametrize("text", ["", "0:1:3", "1:2", "a,b", "1:2:0", "1:2:x", "1:2:1"])
def test_parse_scales_rejects_malformed_text(text):
    """Malformed scales are usage errors mentioning --scales."""
    with pytest.raises(UsageError, match="--scales"):
        parse_scales(text)


@pytest.mark.parametrize("text", ["-1", "0.5, 0", "1,-2"])
def test_a_listed_factor_that_is_not_positive_is_refused_by_the_core(text):
    """The grammar reads any number; check_scales refuses it, naming ``scales``."""
    values = parse_scales(text)
    with pytest.raises(UsageError, match="^scales must be positive") as info:
        check_scales(values)
    assert info.value.parameter == "scales"

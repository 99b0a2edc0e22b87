"""The core's errors name Python parameters; the CLI's one table turns each into its flag.

Each case is a real call into the core (matching, measures, io, pixel mapping) with a bad
argument. In Python the message starts with the parameter and ``parameter`` is set; through
``cvtool.cli.errors.cli_message`` the same error reads with the command-line flag, and no
Python spelling is left. A name missing from ``PARAMETER_FLAGS`` fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from cvtool.cli.errors import cli_message
from cvtool.errors import CvToolError
from cvtool.imaging.pixels import check_out_range
from cvtool.matching import find
from cvtool.measures.batch_stats import batch_norm, check_eps
from cvtool.measures.image_entropy import check_window
from cvtool.measures.information import (
    base_value,
    cross_entropy,
    cross_entropy_logits,
    entropy,
    kl_divergence_logits,
)

SCENE = np.zeros((8, 8))
CASES = [
    (lambda: find(SCENE, SCENE[:2, :2], threshold=2), "threshold", "--threshold must be"),
    (lambda: find(SCENE, SCENE[:2, :2], top_k=0), "top_k", "--top-k must be"),
    (lambda: find(SCENE, SCENE[:2, :2], scales=[-1.0]), "scales", "--scales must be"),
    (lambda: entropy([0.5, 0.6]), "p", "--probs must sum to 1"),
    (lambda: cross_entropy([0.5, 0.5], [0.2, 0.3, 0.5]), "pred",
     "--probs has 3 values but --target has 2"),
    (lambda: cross_entropy([0.5, 0.6], [0.5, 0.5]), "target", "--target must sum to 1"),
    (lambda: kl_divergence_logits([1.0], [0.0, 1.0]), "logits",
     "--logits has 2 values but --target has 1"),
    (lambda: cross_entropy_logits([0.0, 1.0], label=2), "label", "--label must be a class"),
    (lambda: cross_entropy_logits([0.0, 1.0]), "target", "--target and --label exclude"),
    (lambda: base_value("3"), "base", "--base must be one of 2, e, 10"),
    (lambda: check_window(4), "window", "--window must be odd"),
    (lambda: check_eps(0.0), "eps", "--eps must be a number > 0"),
    (lambda: batch_norm(np.zeros((2, 2, 3)), [0.0] * 3, [1.0] * 3, beta=[1.0, 2.0]), "beta",
     "--beta has 2 values"),
    (lambda: check_out_range("wrap"), "out_range", "--out-range must be one of"),
]


@pytest.mark.parametrize(("call", "parameter", "cli_text"), CASES,
                         ids=[case[1] + str(i) for i, case in enumerate(CASES)])
def test_core_error_names_the_parameter_and_the_cli_the_flag(call, parameter, cli_text):
    """Python reads the parameter; the command line reads its flag, and only the flag."""
    with pytest.raises(CvToolError) as info:
        call()
    assert info.value.parameter == parameter
    assert str(info.value).startswith(parameter + " ")
    shown = cli_message(info.value)
    assert shown.startswith(cli_text)
    assert "`" not in shown

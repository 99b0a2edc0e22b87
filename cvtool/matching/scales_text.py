"""TRANSITIONAL: the ``--scales`` text grammar, until ``cvtool.cli.grammar.parse_scales`` exists.

Text parsing is the CLI's job; this module stays only so that the CLI keeps working while it
moves to its own grammar module, and is then deleted. The core checks scale values in
:func:`cvtool.matching.search.check_scales`.
"""

from __future__ import annotations

import math
import re

from cvtool.errors import UsageError
from cvtool.filtering.kernels import parse_number
from cvtool.matching.search import MAX_SCALES

__all__ = ["parse_scales"]


def parse_scales(text: str) -> list[float]:
    """Parse ``MIN:MAX:N`` (N factors spaced geometrically) or a list ``S1,S2,...``.

    Each factor is read with :func:`cvtool.filtering.kernels.parse_number` (ASCII digits,
    fractions such as ``1/2``, no NaN or infinity); ``N`` is a whole number in ASCII digits.

    Examples
    --------
    >>> parse_scales("0.5:2:3")
    [0.5, 1.0, 2.0]
    >>> parse_scales("1/2, 1.25")
    [0.5, 1.25]
    """
    text = text.strip()
    if ":" in text:
        parts = [p.strip() for p in text.split(":")]
        if len(parts) != 3:
            raise UsageError(f"--scales takes MIN:MAX:N or S1,S2,..., got {text!r}")
        low, high = (parse_number(p, "--scales value") for p in parts[:2])
        # ASCII only, as parse_number: int() alone would also take "١" or "1_0".
        if not re.fullmatch(r"[+-]?[0-9]+", parts[2], re.ASCII):
            raise UsageError(f"--scales takes MIN:MAX:N with N a whole number, "
                             f"got {text!r}")
        count = int(parts[2])
        if not 1 <= count <= MAX_SCALES:
            # Each scale is a full search: a mistyped N must not queue millions of them.
            raise UsageError(f"--scales: N must be between 1 and {MAX_SCALES}, got {count}")
        _check_values([low, high])
        if count == 1:
            if not math.isclose(low, high):
                raise UsageError(f"--scales {text}: one factor cannot span {low} to {high}")
            return [low]
        ratio = math.log(high / low) / (count - 1)
        return [float(low * math.exp(ratio * i)) for i in range(count)]
    words = [w for w in text.replace(",", " ").split() if w]
    if not words:
        raise UsageError("--scales needs at least one factor")
    if len(words) > MAX_SCALES:
        raise UsageError(f"--scales takes at most {MAX_SCALES} factors, got {len(words)}")
    values = [parse_number(w, "--scales value") for w in words]
    _check_values(values)
    return values


def _check_values(values: list[float]) -> None:
    for value in values:
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"--scales: every factor must be a positive number, got {value}")

"""The text grammar of the command line: numbers, number lists, kernels, scales, strides, choices.

Everything a user types as text becomes a value here, once, with one grammar: a number is a
decimal (``0.25``, ``-3``, ``1e-2``) or a fraction (``-1/8``) in ASCII digits; lists take spaces
and/or commas between numbers; a kernel is rows split by ``;`` or newlines. This module only
converts text into values. Whether a value is allowed (a stride >= 1, a kernel that a padding
mode accepts, a scale > 0) is the core's rule, checked where it lives; a word that names no
choice gets a "did you mean" from :func:`suggest`.

NumPy is imported inside the functions that build arrays, so that ``cvtool --help`` and shell
completion, which import the command modules, never pay for it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from cvtool.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MAX_SCALES", "parse_number", "parse_number_list", "parse_kernel", "parse_scales",
           "parse_stride", "parse_choice", "suggest", "suggesting"]

#: The most template sizes ``--scales`` may ask for: each one is a full search, so a mistyped
#: ``N`` must not queue millions of them.
MAX_SCALES = 1000

_KERNEL_FILE_SUFFIXES = (".txt", ".csv", ".npy")

# ASCII only: \d would also accept other scripts' digits, which float() then parses.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_WHOLE = re.compile(r"[+-]?[0-9]+", re.ASCII)
_SEPARATORS = re.compile(r"[\s,]+")


# ---------------------------------------------------------------------------------------------
# Numbers


def parse_number(token: str, what: str = "kernel value") -> float:
    """One number as users type it: a decimal (``0.25``, ``-3``, ``1e-2``) or a fraction (``-1/8``).

    ``what`` names the value in the message (``--probs value``). NaN, infinities and a zero
    denominator are refused.

    Examples
    --------
    >>> parse_number("-1/8"), parse_number("2.5e1")
    (-0.125, 25.0)
    >>> parse_number("x", "--probs value")
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: --probs value 'x' is not a number
    """
    parts = token.split("/")
    if len(parts) > 2 or not all(_NUMBER.fullmatch(p) for p in parts):
        low = token.lower().lstrip("+-")
        if low in ("nan", "inf", "infinity"):
            raise UsageError(_not_finite(what, token))
        raise UsageError(f"{what} '{token}' is not a number")
    if len(parts) == 2:
        # Exact, so that 1/3 is the float nearest to a third; fractions imports decimal and
        # compiles a large regex (~5 ms): only a fraction pays for it, not `--pad-value 0`.
        from fractions import Fraction

        num, den = Fraction(parts[0]), Fraction(parts[1])
        if den == 0:
            raise UsageError(f"{what} '{token}' divides by zero")
        value = float(num / den)
    else:
        value = float(parts[0])
    if not math.isfinite(value):
        raise UsageError(_not_finite(what, token))
    return value


def _not_finite(what: str, token: str) -> str:
    if what == "kernel value":
        return "kernel contains NaN or infinity"
    return f"{what} '{token}' is NaN or infinite"


def _words(text: str) -> list[str]:
    return [w for w in _SEPARATORS.split(text.strip()) if w]


def parse_number_list(text: str, option: str) -> list[float]:
    """Numbers separated by spaces and/or commas (``--probs``, ``--pad-value``, ``--gamma``...).

    Examples
    --------
    >>> parse_number_list("0.5, 0.25 1/4", "--probs")
    [0.5, 0.25, 0.25]
    """
    words = _words(text)
    if not words:
        raise UsageError(f"{option} needs at least one number")
    return [parse_number(word, f"{option} value") for word in words]


def parse_stride(text: str) -> tuple[int, int]:
    """``S`` or ``SY,SX`` as whole numbers (rows, columns); that they are >= 1 is the core's rule.

    Examples
    --------
    >>> parse_stride("2"), parse_stride("3,1")
    ((2, 2), (3, 1))
    """
    words = _words(text)
    if len(words) not in (1, 2) or not all(_WHOLE.fullmatch(w) for w in words):
        raise UsageError(f"--stride takes S or SY,SX (whole numbers), got {text!r}")
    values = [int(w) for w in words]
    return (values[0], values[-1])


# ---------------------------------------------------------------------------------------------
# Kernels


def _parse_rows(text: str) -> np.ndarray:
    import numpy as np

    # A line starting with '#' is a comment, so numpy.savetxt(..., header=...) files load.
    lines = [line for line in re.split(r"[\n\r]", text) if not line.lstrip().startswith("#")]
    rows = [r.strip() for r in re.split(r"[;\n]", "\n".join(lines))]
    rows = [r for r in rows if r]  # blank lines and a trailing ';' are not rows
    if not rows:
        raise UsageError("kernel is empty")
    values = [[parse_number(t) for t in _SEPARATORS.split(r) if t] for r in rows]
    width = len(values[0])
    for i, row in enumerate(values[1:], start=2):
        if len(row) != width:
            raise UsageError(
                f"kernel row {i} has {len(row)} value{'s' if len(row) != 1 else ''}, "
                f"expected {width}")
    return np.array(values, dtype=np.float64)


def _load_npy(path: str) -> np.ndarray:
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"kernel file '{path}' is not a readable .npy array: {exc}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise UsageError(f"kernel file '{path}' must hold real numbers, got {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2:
        raise UsageError(f"kernel file '{path}' must be 1-D or 2-D, got {arr.ndim}-D")
    return arr.astype(np.float64)


def _finite(kernel: np.ndarray) -> np.ndarray:
    import numpy as np

    # A .npy file can hold what the text grammar refuses: say so as the text grammar does.
    if kernel.size == 0:
        raise UsageError("kernel is empty")
    if not np.isfinite(kernel).all():
        raise UsageError("kernel contains NaN or infinity")
    return kernel


def parse_kernel(spec: str | os.PathLike) -> np.ndarray:
    """A kernel from inline text or from a ``.txt``/``.csv``/``.npy`` file, as a 2-D float64 array.

    Inline text has rows split by ``;`` or newlines and values by spaces or commas, each a
    decimal or a fraction (``1/9``). A path ending in ``.txt``/``.csv`` (or any existing file
    named without ``;``) is read in the same grammar, with ``#`` lines as comments; ``.npy``
    (1-D is one row) is loaded without pickles.

    Examples
    --------
    >>> parse_kernel("1 2 1; 2 4 2; 1 2 1").shape
    (3, 3)
    >>> parse_kernel("1/4, -1/4").tolist()
    [[0.25, -0.25]]
    """
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str):
        raise UsageError(f"kernel must be text or a file path, got {type(spec).__name__}")
    stripped = spec.strip()
    is_path = stripped.lower().endswith(_KERNEL_FILE_SUFFIXES) or (
        "\n" not in stripped and ";" not in stripped and os.path.isfile(stripped))
    if not is_path:
        return _finite(_parse_rows(spec))
    if not os.path.isfile(stripped):
        raise UsageError(f"kernel file '{stripped}' does not exist")
    if stripped.lower().endswith(".npy"):
        return _finite(_load_npy(stripped))
    try:
        with open(stripped, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"kernel file '{stripped}' cannot be read: {exc}") from None
    try:
        return _finite(_parse_rows(text))
    except UsageError as exc:
        raise UsageError(f"kernel file '{stripped}': {exc}") from None


# ---------------------------------------------------------------------------------------------
# Scales


def parse_scales(text: str) -> list[float]:
    """``MIN:MAX:N`` (N factors spaced geometrically) or a list ``S1,S2,...``, as floats.

    That a factor must be positive is the matching core's rule; here the text becomes numbers,
    and ``N`` is bounded (:data:`MAX_SCALES`) so that a typo cannot queue millions of searches.

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
        if not _WHOLE.fullmatch(parts[2]):  # int() alone would also take "١" or "1_0"
            raise UsageError(f"--scales takes MIN:MAX:N with N a whole number, got {text!r}")
        count = int(parts[2])
        if not 1 <= count <= MAX_SCALES:
            raise UsageError(f"--scales: N must be between 1 and {MAX_SCALES}, got {count}")
        if low <= 0 or high <= 0:
            # A geometric range needs positive ends (log of the ratio); the list form leaves
            # the rule to the core.
            raise UsageError(f"--scales: every factor must be a positive number, got "
                             f"{low if low <= 0 else high}")
        if count == 1:
            if not math.isclose(low, high):
                raise UsageError(f"--scales {text}: one factor cannot span {low} to {high}")
            return [low]
        ratio = math.log(high / low) / (count - 1)
        return [float(low * math.exp(ratio * i)) for i in range(count)]
    words = _words(text)
    if not words:
        raise UsageError("--scales needs at least one factor")
    if len(words) > MAX_SCALES:
        raise UsageError(f"--scales takes at most {MAX_SCALES} factors, got {len(words)}")
    return [parse_number(w, "--scales value") for w in words]


# ---------------------------------------------------------------------------------------------
# Choices and "did you mean"


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word`` when one is close enough to be a typo, else None.

    Examples
    --------
    >>> suggest("gausian", ["box", "gaussian", "sharpen"])
    'gaussian'
    >>> suggest("xyz", ["box", "gaussian"]) is None
    True
    """
    import difflib

    matches = difflib.get_close_matches(str(word).strip().lower(), list(choices), n=1,
                                        cutoff=0.6)
    return matches[0] if matches else None


@contextmanager
def suggesting(word: str, choices: Iterable[str]) -> Iterator[None]:
    """Add ``did you mean 'X'?`` to a :class:`UsageError` about ``word`` raised inside.

    The core decides what is valid and says so; this only adds the typo hint, keeping the
    error's parameter so the CLI still names the flag.

    Examples
    --------
    >>> try:
    ...     with suggesting("mirorr", ["zero", "mirror"]):
    ...         raise UsageError("unknown padding 'mirorr'", parameter="padding")
    ... except UsageError as exc:
    ...     print(exc, exc.parameter)
    unknown padding 'mirorr'; did you mean 'mirror'? padding
    """
    try:
        yield
    except UsageError as exc:
        close = suggest(word, choices)
        if close is None or close == str(word).strip().lower() or "did you mean" in str(exc):
            raise
        raise UsageError(f"{exc}; did you mean '{close}'?",
                         parameter=getattr(exc, "parameter", None)) from None


def parse_choice(value: str, choices: Sequence[str], option: str) -> str:
    """A case-insensitive choice among ``choices``; refused with the list and a "did you mean".

    For CLI-only choices (``--base``-like words the core has no table for).

    Examples
    --------
    >>> parse_choice("Valid", ("same", "valid", "full"), "--shape")
    'valid'
    """
    lowered = value.strip().lower()
    if lowered not in choices:
        close = suggest(lowered, choices)
        hint = f"; did you mean '{close}'?" if close else ""
        raise UsageError(f"{option} must be one of {', '.join(choices)}, got {value!r}{hint}")
    return lowered

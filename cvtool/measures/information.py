"""Information measures of probability vectors and logits: entropy, cross-entropy, KL, softmax.

Every measure takes the logarithm base as ``base`` (2 by default: bits; ``math.e``: nats,
as deep-learning losses use; 10: hartleys). Probabilities follow the convention
0 · log 0 = 0, so an impossible outcome contributes nothing to an entropy. Softmax and its
logarithm shift by the maximum first, so logits of ±1000 neither overflow nor lose the
answer; their ``axis`` follows ``scipy.special.softmax`` (an int, a negative int, a tuple, or
``None`` for all elements; a 0-d input keeps shape ``()``), with -1 as the default.

Errors name the Python parameter at fault, first (``pred has 3 values but `target` has 2``),
with ``parameter=`` set; another parameter a message names is written in backticks. The
command line turns both into its flags.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cvtool.errors import UsageError

__all__ = [
    "BASES",
    "UNITS",
    "base_value",
    "unit_of",
    "log_base",
    "check_distribution",
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "logsumexp",
    "softmax",
    "log_softmax",
    "cross_entropy_logits",
    "kl_divergence_logits",
    "check_logits",
]

#: The bases a user can name, and the unit each one gives.
BASES: dict[str, float] = {"2": 2.0, "e": math.e, "10": 10.0}
UNITS: dict[str, str] = {"2": "bits", "e": "nats", "10": "hartleys"}

#: How far a distribution's sum may stray from 1 (rounding in hand-typed values).
SUM_TOLERANCE = 1e-6

#: Where the axis of softmax, log_softmax and logsumexp is: an int (negative counts from the
#: end), a tuple of ints, or None for every element, as NumPy reductions and SciPy take it.
Axis = int | tuple[int, ...] | None

def base_value(base: str | float) -> float:
    """The numeric logarithm base for ``"2"``, ``"e"`` or ``"10"`` (or a number > 0, ≠ 1).

    Parameters
    ----------
    base : str or float
        One of the names in :data:`BASES`, or a positive number other than 1.

    Returns
    -------
    float

    Examples
    --------
    >>> base_value("e") == math.e, base_value("10"), base_value(2)
    (True, 10.0, 2.0)
    """
    if isinstance(base, str):
        key = base.strip().lower()
        if key not in BASES:
            raise UsageError(f"base must be one of 2, e, 10; got {base!r}", parameter="base")
        return BASES[key]
    value = float(base)
    if not math.isfinite(value) or value <= 0 or value == 1:
        raise UsageError(f"base must be a positive number other than 1, got {base!r}",
                         parameter="base")
    return value


def unit_of(base: str | float) -> str:
    """The unit of an entropy in ``base``: bits, nats, hartleys (else ``log<base>``).

    Examples
    --------
    >>> unit_of(2), unit_of("e"), unit_of(10.0), unit_of(3)
    ('bits', 'nats', 'hartleys', 'log3 units')
    """
    value = base_value(base)
    for key, known in BASES.items():
        if value == known:
            return UNITS[key]
    return f"log{value:g} units"


def log_base(values: np.ndarray, base: float) -> np.ndarray:
    """Logarithm of ``values`` in ``base`` (exact ``log2``/``log10`` for 2 and 10).

    Examples
    --------
    >>> log_base(np.array([8.0]), 2.0).tolist(), log_base(np.array([100.0]), 10.0).tolist()
    ([3.0], [2.0])
    """
    if base == 2.0:
        return np.log2(values)
    if base == 10.0:
        return np.log10(values)
    return np.log(values) / math.log(base)


def check_distribution(p: Sequence[float] | np.ndarray, name: str = "p") -> np.ndarray:
    """Validate a probability vector: 1-D, finite, ≥ 0, summing to 1 within 1e-6.

    Parameters
    ----------
    p : array_like
        The probabilities.
    name : str
        The parameter ``p`` stands for (``p``, ``target``, ``pred``): it starts every error
        message and is the error's ``parameter``.

    Returns
    -------
    numpy.ndarray
        ``p`` as a float64 array.

    Raises
    ------
    UsageError
        Naming ``name`` and what was wrong.

    Examples
    --------
    >>> check_distribution([0.25, 0.75])
    array([0.25, 0.75])
    >>> check_distribution([0.5, 0.6])
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: p must sum to 1 (within 1e-06), got 1.1
    """
    arr = _numbers(p, name)
    if np.any(arr < 0):
        raise UsageError(f"{name} must be >= 0, got {arr[arr < 0][0]:g}", parameter=name)
    total = float(arr.sum())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise UsageError(f"{name} must sum to 1 (within {SUM_TOLERANCE:g}), got {total:.10g}",
                         parameter=name)
    return arr


def _numbers(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    """``values`` as a non-empty 1-D float64 array of finite numbers (else a UsageError)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a list of numbers", parameter=name) from None
    if arr.ndim != 1 or arr.size == 0:
        raise UsageError(f"{name} must be a non-empty list of numbers, got shape {arr.shape}",
                         parameter=name)
    if not np.all(np.isfinite(arr)):
        raise UsageError(f"{name} must contain finite numbers only, got {_fmt_list(arr)}",
                         parameter=name)
    return arr


def _fmt_list(arr: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in arr[:8]) + (", ...]" if arr.size > 8 else "]")


def entropy(p: Sequence[float] | np.ndarray, base: str | float = 2) -> float:
    """Shannon entropy H(p) = −Σ p log p, with 0 · log 0 = 0.

    Parameters
    ----------
    p : array_like
        A probability distribution (≥ 0, summing to 1 within 1e-6).
    base : {2, "e", 10} or float
        The logarithm base; 2 gives bits.

    Returns
    -------
    float

    Notes
    -----
    H(1/2, 1/2) = log10 2 = 0.30103 hartleys, and H(1/8, 7/8) = −(1/8 · log10(1/8) +
    7/8 · log10(7/8)) = 0.125 · 0.90309 + 0.875 · 0.05799 = 0.163629 hartleys (0.543564 bits),
    not the 0.06 sometimes quoted; ``scipy.stats.entropy([1/8, 7/8], base=10)`` agrees, and
    the tests pin that value.

    Examples
    --------
    >>> round(entropy([0.5, 0.5], base=10), 5)
    0.30103
    >>> round(entropy([1/8, 7/8], base=10), 6)
    0.163629
    >>> entropy([1.0, 0.0])
    0.0
    """
    b = base_value(base)
    arr = check_distribution(p, "p")
    nz = arr[arr > 0]
    # A certain outcome gives -(1 * log 1) = -0.0; report a clean 0.
    return float(-np.sum(nz * log_base(nz, b))) + 0.0


def cross_entropy(target: Sequence[float] | np.ndarray, pred: Sequence[float] | np.ndarray,
                  base: str | float = 2) -> float:
    """Cross-entropy H(T, P) = −Σ T log P; infinite when P = 0 where T > 0.

    Terms with T = 0 contribute nothing, whatever P is (0 · log 0 = 0).

    Parameters
    ----------
    target : array_like
        The true distribution T.
    pred : array_like
        The predicted distribution P, the same length as ``target``.
    base : {2, "e", 10} or float
        The logarithm base.

    Returns
    -------
    float
        ``math.inf`` when P gives zero probability to an outcome T allows.

    Examples
    --------
    >>> round(cross_entropy([0, 1], [0.25, 0.75]), 6)
    0.415037
    >>> cross_entropy([0.5, 0.5], [1.0, 0.0])
    inf
    """
    b, t, q, mask = _pair(target, pred, base, "target", "pred")
    if np.any(q[mask] == 0):
        return math.inf
    return float(-np.sum(t[mask] * log_base(q[mask], b))) + 0.0


def kl_divergence(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray,
                  base: str | float = 2) -> float:
    """Kullback–Leibler divergence KL(p ‖ q) = Σ p log(p / q) = H(p, q) − H(p).

    Computed term by term (not as a difference of two entropies) so that KL(p, p) is
    exactly 0 and small divergences keep their precision.

    Parameters
    ----------
    p : array_like
        The reference (true) distribution.
    q : array_like
        The approximating distribution, the same length as ``p``.
    base : {2, "e", 10} or float
        The logarithm base.

    Returns
    -------
    float
        ≥ 0 for a base above 1 (≤ 0 below 1); ``math.inf`` when q = 0 where p > 0.

    Examples
    --------
    >>> kl_divergence([0.2, 0.8], [0.2, 0.8])
    0.0
    >>> round(kl_divergence([0.5, 0.5], [0.25, 0.75]), 6)
    0.207519
    """
    b, pp, qq, mask = _pair(p, q, base, "p", "q")
    if np.any(qq[mask] == 0):
        return math.inf
    terms = pp[mask] * np.log(pp[mask] / qq[mask])
    # Gibbs' inequality: KL ≥ 0 in nats; rounding may leave a tiny negative. The clamp is
    # taken before the change of base, whose sign flips for a base below 1.
    return max(float(np.sum(terms)), 0.0) / math.log(b) + 0.0


def _pair(target: Sequence[float] | np.ndarray, other: Sequence[float] | np.ndarray,
          base: str | float, target_name: str, other_name: str,
          ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The checks every two-argument loss starts with; returns ``(base, t, other, t > 0)``.

    ``target`` must be a distribution; ``other`` is one too, or logits when ``other_name``
    is ``"logits"``; both the same length. The names are the caller's parameters, for the
    messages. The mask picks the terms that count (0 · log 0 = 0).
    """
    b = base_value(base)
    t = check_distribution(target, target_name)
    if other_name == "logits":
        q = check_logits(other)
    else:
        q = check_distribution(other, other_name)
    if t.shape != q.shape:
        # The other parameter is written `name`: the CLI turns it into its flag too.
        raise UsageError(f"{other_name} has {q.size} values but `{target_name}` has "
                         f"{t.size}; they must be the same length", parameter=other_name)
    return b, t, q, t > 0


def _shifted(arr: np.ndarray, axis: Axis) -> np.ndarray:
    """``arr`` minus its maximum along ``axis`` (kept as a broadcastable dimension).

    Every exponent is then ≤ 0, so nothing overflows and the largest term is exactly
    exp(0) = 1. Logits ~1e308 apart overflow in the subtraction; −inf then gives exp = 0, as
    it should.
    """
    with np.errstate(over="ignore"):
        return arr - np.max(arr, axis=axis, keepdims=True)


def logsumexp(z: np.ndarray | Sequence[float], axis: Axis = -1) -> np.ndarray | float:
    """log Σ exp(z) along ``axis``, shifted by the maximum so it never overflows.

    ``axis`` as :func:`softmax`; the reduced axes are removed, and a single result is a float.

    Examples
    --------
    >>> round(float(logsumexp([1000.0, 1000.0])) - 1000.0, 12) == round(math.log(2), 12)
    True
    >>> logsumexp(np.zeros((2, 2)), axis=None) == math.log(4)
    True
    """
    arr = np.asarray(z, dtype=np.float64)
    m = np.max(arr, axis=axis, keepdims=True)
    # exp(z - max) is at most 1, and equals 1 at the maximum, so the sum is in [1, n].
    with np.errstate(over="ignore"):
        out = np.log(np.sum(np.exp(arr - m), axis=axis, keepdims=True)) + m
    if out.ndim:  # a 0-d input has no axis to drop
        out = np.squeeze(out, axis=axis)
    return float(out) if out.ndim == 0 else out


def softmax(z: np.ndarray | Sequence[float], axis: Axis = -1) -> np.ndarray:
    """softmax(z)_i = exp(z_i) / Σ_j exp(z_j), stable for logits of any size.

    Subtracting the maximum first keeps every exponent ≤ 0, so nothing overflows and
    the largest term is exactly exp(0) = 1; the result is shift-invariant by construction.

    Parameters
    ----------
    z : array_like
        Logits of any shape.
    axis : int, tuple of int or None
        The axis (or axes) each distribution lies along; negative counts from the end, ``None``
        takes all elements as one distribution (as ``scipy.special.softmax``, whose default is
        ``None``; ours is -1, the last axis, which is the same for a 1-D list).

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``z`` (a 0-d input gives shape ``()``, value 1).

    Examples
    --------
    >>> softmax([1000.0, -1000.0])
    array([1., 0.])
    >>> softmax([0.0, 0.0, 0.0]).round(4)
    array([0.3333, 0.3333, 0.3333])
    >>> float(softmax(np.zeros((2, 2)), axis=None).sum())
    1.0
    """
    e = np.exp(_shifted(np.asarray(z, dtype=np.float64), axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z: np.ndarray | Sequence[float], axis: Axis = -1) -> np.ndarray:
    """log softmax(z) = z − logsumexp(z): finite even where softmax underflows to 0.

    Same shapes and ``axis`` rules as :func:`softmax` (a 0-d input keeps shape ``()``).

    Examples
    --------
    >>> log_softmax([1000.0, -1000.0])
    array([    0., -2000.])
    >>> log_softmax(np.float64(3.0)).shape
    ()
    """
    # Shift first so the result is exactly z − max − log Σ exp(z − max): the shifted logits
    # have maximum 0, so their log-sum-exp shifts by nothing more and adds no rounding.
    shifted = _shifted(np.asarray(z, dtype=np.float64), axis)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def check_logits(z: Sequence[float] | np.ndarray, name: str = "logits") -> np.ndarray:
    """Validate logits: a non-empty 1-D list of finite numbers.

    ``name`` is the parameter ``z`` stands for, as in :func:`check_distribution`.

    Examples
    --------
    >>> check_logits([1, 2])
    array([1., 2.])
    """
    return _numbers(z, name)


def cross_entropy_logits(logits: Sequence[float] | np.ndarray, *,
                         target: Sequence[float] | np.ndarray | None = None,
                         label: int | None = None, base: str | float = 2) -> float:
    """Cross-entropy of softmax(logits) against a distribution ``target`` or a class ``label``.

    Uses log_softmax, so the loss stays finite (and exact) where softmax itself
    underflows to 0: logits (1000, −1000) with label 1 cost 2000 nats, not infinity.

    Parameters
    ----------
    logits : array_like
        Finite unnormalised scores, one per class.
    target : array_like, optional
        The true distribution (same length as ``logits``).
    label : int, optional
        The true class, a 0-based index; exactly one of ``target`` and ``label`` is given.
    base : {2, "e", 10} or float
        The logarithm base; ``"e"`` gives the nats deep-learning losses report.

    Returns
    -------
    float

    Examples
    --------
    >>> round(cross_entropy_logits([2.0, 1.0, 0.1], label=0, base="e"), 6)
    0.417030
    >>> cross_entropy_logits([1000.0, -1000.0], label=1, base="e")
    2000.0
    """
    if (target is None) == (label is None):
        raise UsageError("target and `label` exclude each other: give exactly one of them",
                         parameter="target")
    if target is not None:
        b, t, z, mask = _pair(target, logits, base, "target", "logits")
        return float(-np.sum(t[mask] * log_softmax(z)[mask]) / math.log(b)) + 0.0
    b = base_value(base)
    z = check_logits(logits)
    if isinstance(label, bool) or not isinstance(label, (int, float, np.number)) or \
            int(label) != label:
        raise UsageError(f"label must be a whole number, got {label!r}", parameter="label")
    if not 0 <= int(label) < z.size:
        raise UsageError(f"label must be a class index from 0 to {z.size - 1} "
                         f"(0-based, {z.size} logits), got {label}", parameter="label")
    return float(-log_softmax(z)[int(label)] / math.log(b)) + 0.0


def kl_divergence_logits(target: Sequence[float] | np.ndarray,
                         logits: Sequence[float] | np.ndarray, base: str | float = 2) -> float:
    """KL(T ‖ softmax(logits)) = Σ T (log T − log_softmax), finite for any finite logits.

    Examples
    --------
    >>> round(kl_divergence_logits([0.5, 0.5], [0.0, 0.0]), 12)
    0.0
    >>> kl_divergence_logits([0.0, 1.0], [1000.0, -1000.0], base="e")
    2000.0
    """
    b, t, z, mask = _pair(target, logits, base, "target", "logits")
    terms = t[mask] * (np.log(t[mask]) - log_softmax(z)[mask])
    return max(float(np.sum(terms)), 0.0) / math.log(b) + 0.0



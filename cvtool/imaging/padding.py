"""The one table of padding modes, their aliases, and ``pad``.

Every command that makes up pixels outside an image goes through this module, so a mode
name means the same thing everywhere. Shown on a row ``a b c d`` padded by two pixels::

    zero        0    0   | a b c d | 0    0
    constant    v    v   | a b c d | v    v
    clamp       a    a   | a b c d | d    d       (replicate, edge, nearest)
    mirror      c    b   | a b c d | c    b       (reflect101; NumPy 'reflect')
    symmetric   b    a   | a b c d | d    c       (NumPy 'symmetric')
    wrap        c    d   | a b c d | a    b       (circular)
    extend      2a-c 2a-b| a b c d | 2d-c 2d-b    (odd; NumPy reflect_type='odd')
    normalized  0    0   | a b c d | 0    0       (the filter renormalises the weights)

Padding wider than the image repeats the rule exactly as ``numpy.pad`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cvtool.errors import UsageError

__all__ = ["PADDING_MODES", "PADDING_ALIASES", "canonical_padding", "pad", "pad_indices"]

#: Canonical padding names, in the order the CLI documents them.
PADDING_MODES: tuple[str, ...] = (
    "zero", "constant", "clamp", "mirror", "symmetric", "wrap", "extend", "normalized",
)

#: Other names users know the modes by (OpenCV, SciPy, NumPy, MATLAB vocabulary).
PADDING_ALIASES: dict[str, str] = {
    "replicate": "clamp",
    "edge": "clamp",
    "nearest": "clamp",
    "reflect101": "mirror",
    "circular": "wrap",
    "odd": "extend",
}

# How each canonical mode is spelled for numpy.pad (mode, extra keyword arguments).
# ``zero``, ``constant`` and ``normalized`` are filled by hand so a per-channel value works.
_NUMPY_MODE: dict[str, tuple[str, dict]] = {
    "clamp": ("edge", {}),
    "mirror": ("reflect", {}),
    "symmetric": ("symmetric", {}),
    "wrap": ("wrap", {}),
    "extend": ("reflect", {"reflect_type": "odd"}),
}

# Modes whose padded pixels are copies of image pixels, so a padded axis is an index map.
_INDEX_MODES = ("clamp", "mirror", "symmetric", "wrap")
_FILL_MODES = ("zero", "constant", "normalized")


def canonical_padding(name: str) -> str:
    """Return the canonical name of a padding mode, resolving aliases and case.

    Parameters
    ----------
    name : str
        A mode name or alias, in any letter case (``"Replicate"``, ``"reflect101"``, ...).

    Returns
    -------
    str
        One of :data:`PADDING_MODES`.

    Raises
    ------
    UsageError
        For an unknown name, listing the valid ones; for the bare word ``reflect``, which
        libraries disagree on (SciPy repeats the edge pixel, NumPy and OpenCV's 101 do not).

    Examples
    --------
    >>> canonical_padding("Replicate")
    'clamp'
    >>> canonical_padding("reflect101")
    'mirror'
    """
    if not isinstance(name, str):
        raise UsageError(f"padding must be a string, got {name!r}", parameter="padding")
    key = name.strip().lower()
    if key in PADDING_MODES:
        return key
    if key in PADDING_ALIASES:
        return PADDING_ALIASES[key]
    if key == "reflect":
        raise UsageError(
            "padding 'reflect' is ambiguous: libraries disagree on whether the edge pixel is "
            "repeated; use 'mirror' (c b | a b c d, edge not repeated, OpenCV REFLECT_101, "
            "NumPy reflect) or 'symmetric' (b a | a b c d, edge repeated, OpenCV REFLECT, "
            "SciPy reflect)", parameter="padding"
        )
    choices = ", ".join(PADDING_MODES)
    raise UsageError(f"padding '{name}' is unknown (choose from {choices})",
                     parameter="padding")


def _check_widths(widths) -> tuple[tuple[int, int], tuple[int, int]]:
    try:
        (top, bottom), (left, right) = widths
        out = ((int(top), int(bottom)), (int(left), int(right)))
    except (TypeError, ValueError):
        raise UsageError(
            f"widths must be ((top, bottom), (left, right)), got {widths!r}",
            parameter="widths"
        ) from None
    if min(out[0] + out[1]) < 0:
        raise UsageError(f"widths must be >= 0, got {widths!r}", parameter="widths")
    return out


def _fill_value(value, image: np.ndarray) -> np.ndarray:
    """The constant border as an array that broadcasts over one pixel (scalar or per channel)."""
    v = np.asarray(value, dtype=np.float64)
    if v.ndim == 0:
        return v
    v = v.reshape(-1)
    channels = image.shape[2] if image.ndim == 3 else 1
    if v.size == 1:
        return v[0]
    if image.ndim != 3 or v.size != channels:
        raise UsageError(
            f"value has {v.size} numbers but the image has {channels} channel"
            f"{'s' if channels != 1 else ''}", parameter="value"
        )
    return v


def pad_indices(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index along one axis for every padded position (``-1`` = filled with a constant).

    Defined only for modes whose padded pixels copy image pixels or a constant (all but
    ``extend``). Built by padding ``arange(n)`` with ``numpy.pad`` so that widths larger
    than the axis repeat exactly as ``numpy.pad`` repeats them.

    Examples
    --------
    >>> pad_indices(4, 2, 2, "mirror").tolist()
    [2, 1, 0, 1, 2, 3, 2, 1]
    >>> pad_indices(3, 1, 2, "zero").tolist()
    [-1, 0, 1, 2, -1, -1]
    """
    mode = canonical_padding(mode)
    idx = np.arange(n, dtype=np.intp)
    if mode in _FILL_MODES:
        return np.pad(idx, (before, after), mode="constant", constant_values=-1)
    if mode not in _INDEX_MODES:
        raise ValueError(f"padding '{mode}' is not an index map")
    np_mode, kwargs = _NUMPY_MODE[mode]
    return np.pad(idx, (before, after), mode=np_mode, **kwargs)


def pad(
    image: np.ndarray,
    widths: Sequence[Sequence[int]],
    mode: str,
    value: float | Sequence[float] = 0.0,
) -> np.ndarray:
    """Pad an H×W or H×W×C image on its two spatial axes.

    Parameters
    ----------
    image : ndarray
        H×W or H×W×C array of any real dtype; the result keeps the dtype.
    widths : ((top, bottom), (left, right))
        Number of pixels added on each side; any size, larger than the image included.
    mode : str
        A padding mode or alias (see :data:`PADDING_MODES`); ``normalized`` pads with zeros.
    value : float or sequence of float
        The border for ``constant``: a scalar or one value per channel.

    Returns
    -------
    ndarray
        The padded image, (H+top+bottom)×(W+left+right)[×C].

    Examples
    --------
    >>> row = np.array([[1, 2, 3, 4]])
    >>> pad(row, ((0, 0), (2, 2)), "mirror")
    array([[3, 2, 1, 2, 3, 4, 3, 2]])
    >>> pad(row, ((0, 0), (2, 2)), "extend")
    array([[-1,  0,  1,  2,  3,  4,  5,  6]])
    """
    mode = canonical_padding(mode)
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise UsageError(f"image must be H×W or H×W×C, got shape {image.shape}",
                         parameter="image")
    (top, bottom), (left, right) = _check_widths(widths)
    spec = [(top, bottom), (left, right)] + [(0, 0)] * (image.ndim - 2)
    if mode in _FILL_MODES:
        fill = _fill_value(value if mode == "constant" else 0.0, image)
        h, w = image.shape[:2]
        out = np.empty((h + top + bottom, w + left + right) + image.shape[2:], image.dtype)
        out[...] = fill.astype(image.dtype) if image.dtype != bool else fill != 0
        out[top:top + h, left:left + w] = image
        return out
    if (image.shape[0] == 0 and top + bottom) or (image.shape[1] == 0 and left + right):
        raise UsageError(f"image of shape {image.shape} is empty: no pixel to pad with "
                         f"'{mode}'", parameter="image")
    np_mode, kwargs = _NUMPY_MODE[mode]
    return np.pad(image, spec, mode=np_mode, **kwargs)

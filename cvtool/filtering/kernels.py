"""Kernels: the named kernels of ``filter`` and kernel arithmetic (normalising, zero sums).

A kernel is always a 2-D float64 array. Reading kernels from text and files is the command
line's job (:func:`cvtool.cli.grammar.parse_kernel`).
"""

from __future__ import annotations

import math

import numpy as np

from cvtool.errors import UsageError

__all__ = [
    "KERNEL_ALIASES", "KERNEL_NAMES", "IDENTITY", "SHARPEN", "LAPLACIAN", "LINES_H", "LINES_V",
    "LINES_45", "LINES_135", "SOBEL_X", "SOBEL_Y", "EMBOSS", "box_kernel", "gaussian_kernel",
    "is_zero_sum", "named_kernel", "normalize_kernel",
]


def _fixed(rows: list[list[float]]) -> np.ndarray:
    k = np.array(rows, dtype=np.float64)
    k.setflags(write=False)  # module constants: a caller must not change them for everyone
    return k


#: The named 3×3 kernels (read-only arrays), as the filter command lists them.
IDENTITY = _fixed([[0, 0, 0], [0, 1, 0], [0, 0, 0]])
SHARPEN = _fixed([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
LAPLACIAN = _fixed([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
LINES_H = _fixed([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]])
LINES_V = _fixed(LINES_H.T.tolist())
LINES_45 = _fixed([[-1, -1, 2], [-1, 2, -1], [2, -1, -1]])
LINES_135 = _fixed([[2, -1, -1], [-1, 2, -1], [-1, -1, 2]])
SOBEL_X = _fixed([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])  # positive where it brightens rightwards
SOBEL_Y = _fixed(SOBEL_X.T.tolist())  # positive where it brightens downwards
EMBOSS = _fixed([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])

#: Canonical kernel names, in the order of the CLI contract.
KERNEL_NAMES: tuple[str, ...] = (
    "identity", "box", "gaussian", "sharpen", "laplacian", "lines-h", "lines-v",
    "lines-45", "lines-135", "sobel-x", "sobel-y", "emboss",
)

#: Other names accepted for the named kernels.
KERNEL_ALIASES: dict[str, str] = {"edge": "laplacian"}

_FIXED: dict[str, np.ndarray] = {
    "identity": IDENTITY, "sharpen": SHARPEN, "laplacian": LAPLACIAN, "lines-h": LINES_H,
    "lines-v": LINES_V, "lines-45": LINES_45, "lines-135": LINES_135, "sobel-x": SOBEL_X,
    "sobel-y": SOBEL_Y, "emboss": EMBOSS,
}

def normalize_kernel(kernel: np.ndarray) -> np.ndarray:
    """Divide a kernel by its sum, so that filtering keeps a flat image's brightness.

    Raises
    ------
    UsageError
        When the kernel sums to zero (edge detectors cannot be normalised).

    Examples
    --------
    >>> normalize_kernel(np.array([[1.0, 3.0]])).tolist()
    [[0.25, 0.75]]
    """
    k = np.asarray(kernel, dtype=np.float64)
    total = k.sum()
    if is_zero_sum(k) or total == 0:
        raise UsageError("kernel sums to 0: it cannot be normalized (divided by its sum)",
                         parameter="kernel")
    return k / total


def is_zero_sum(kernel: np.ndarray) -> bool:
    """Whether a kernel sums to zero (|sum| ≤ 1e-9·Σ|h|), as edge and line detectors do.

    Examples
    --------
    >>> is_zero_sum(LAPLACIAN), is_zero_sum(SHARPEN)
    (True, False)
    """
    k = np.asarray(kernel, dtype=np.float64)
    return bool(abs(k.sum()) <= 1e-9 * np.abs(k).sum())


def box_kernel(size: int = 5) -> np.ndarray:
    """The size×size mean filter (every weight ``1/size²``).

    Examples
    --------
    >>> box_kernel(2).tolist()
    [[0.25, 0.25], [0.25, 0.25]]
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise UsageError(f"size must be an integer >= 1, got {size!r}", parameter="size")
    return np.full((int(size), int(size)), 1.0 / (int(size) * int(size)))


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def gaussian_kernel(size: int | None = None, sigma: float | None = None) -> np.ndarray:
    """A sampled 2-D Gaussian normalised to sum 1.

    Size only: σ = 0.3·((size−1)/2 − 1) + 0.8 (OpenCV's rule); sigma only:
    size = 2·ceil(3σ) + 1; neither: size 5. The size must be odd, sigma positive.
    Equal to the outer product of OpenCV's ``getGaussianKernel(size, sigma)`` with an explicit
    sigma (with sigma 0 and size ≤ 7 OpenCV uses fixed integer tables instead).

    Examples
    --------
    >>> k = gaussian_kernel(sigma=1.0)
    >>> k.shape, round(float(k.sum()), 12)
    ((7, 7), 1.0)
    """
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1
        or size % 2 == 0
    ):
        raise UsageError(f"size must be an odd integer >= 1 for gaussian, got {size!r}",
                         parameter="size")
    if sigma is not None:
        try:
            sigma = float(sigma)
        except (TypeError, ValueError):
            raise UsageError(f"sigma must be a number > 0, got {sigma!r}",
                             parameter="sigma") from None
        if not math.isfinite(sigma) or sigma <= 0:
            raise UsageError(f"sigma must be a number > 0, got {sigma!r}", parameter="sigma")
    if size is None and sigma is None:
        size = 5
    if sigma is None:
        sigma = 0.3 * ((size - 1) / 2.0 - 1.0) + 0.8
    if size is None:
        size = 2 * math.ceil(3.0 * sigma) + 1
    g = _gaussian_1d(int(size), sigma)
    return np.outer(g, g)


def named_kernel(name: str, size: int | None = None, sigma: float | None = None) -> np.ndarray:
    """The kernel called ``name`` in ``cvtool filter -n NAME`` (a fresh float64 array).

    Parameters
    ----------
    name : str
        One of :data:`KERNEL_NAMES` or an alias (``edge``); case-insensitive.
    size, sigma : optional
        Only for ``box`` (size) and ``gaussian`` (size and/or sigma).

    Examples
    --------
    >>> named_kernel("sobel-x")[0].tolist()
    [-1.0, 0.0, 1.0]
    >>> float(named_kernel("box", size=3).sum())
    1.0
    """
    key = str(name).strip().lower()
    key = KERNEL_ALIASES.get(key, key)
    if key not in KERNEL_NAMES:
        raise UsageError(
            f"name '{name}': unknown kernel (choose from {', '.join(KERNEL_NAMES)})",
            parameter="name")
    if key == "gaussian":
        return gaussian_kernel(size, sigma)
    if sigma is not None:
        raise UsageError(f"sigma does not apply to the '{key}' kernel (only to gaussian)",
                         parameter="sigma")
    if key == "box":
        return box_kernel(5 if size is None else size)
    if size is not None:
        raise UsageError(
            f"size does not apply to the '{key}' kernel (it is a fixed 3x3; only box and "
            "gaussian take a size)", parameter="size"
        )
    return _FIXED[key].copy()

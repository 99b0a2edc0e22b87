"""Batch normalization of images: exact streamed per-channel statistics, y = γ(x − μ)/√(σ²+ε) + β.

Statistics are gathered one image at a time and merged with Chan et al.'s parallel form of
Welford's update (count, mean, sum of squared deviations), in float64. Unlike Σx and Σx²,
which cancel catastrophically when the mean is large against the spread (16-bit images
with a small range), this stays exact to rounding for any number of images and any split
of them into groups.

Channels are the colour channels: R, G, B for colour images, L for gray. An alpha channel
is coverage, not intensity, so it is left out of the statistics and passed through.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from cvtool.errors import ProcessingError, UsageError
from cvtool.imaging.color import full_scale, split_alpha

__all__ = [
    "RunningStats",
    "NormStats",
    "colour_part",
    "channel_order",
    "pixel_scale",
    "channel_stats",
    "batch_norm",
    "per_channel",
]

# Pixels per block when folding one image into the statistics: bounds the float64 copy.
_BLOCK_PIXELS = 1 << 20


def colour_part(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split an image into its colour channels (H×W×C, C = 1 or 3) and its alpha (or None).

    Which channel is alpha is :func:`cvtool.imaging.color.split_alpha`'s rule (the 2nd of 2, the 4th
    of 4), the same for every command; gray comes back with a channel axis of 1.

    Examples
    --------
    >>> colour, alpha = colour_part(np.zeros((2, 3, 4), np.uint8))
    >>> colour.shape, alpha.shape
    ((2, 3, 3), (2, 3))
    >>> colour_part(np.zeros((2, 3)))[0].shape
    (2, 3, 1)
    >>> colour, alpha = colour_part(np.zeros((2, 3, 2)))
    >>> colour.shape, alpha.shape
    ((2, 3, 1), (2, 3))
    """
    if not (image.ndim == 2 or (image.ndim == 3 and 1 <= image.shape[2] <= 4)):
        raise ProcessingError(f"expected a gray, RGB or RGBA image, got an array of shape "
                              f"{image.shape}")
    colour, alpha = split_alpha(image)
    return (colour if colour.ndim == 3 else colour[..., None]), alpha


def channel_order(channels: int) -> str:
    """``"L"`` for one channel, ``"RGB"`` for three.

    Examples
    --------
    >>> channel_order(1), channel_order(3)
    ('L', 'RGB')
    """
    return {1: "L", 3: "RGB"}.get(channels, f"{channels} channels")


def pixel_scale(dtype: np.dtype) -> float:
    """The pixel value that stands for 1.0 on the 0..1 scale: 255, 65535, or 1 for floats.

    Other integer types use their largest value; this is :func:`cvtool.imaging.color.full_scale`,
    kept under this name as part of the normalize API.

    Examples
    --------
    >>> pixel_scale(np.dtype(np.uint8)), pixel_scale(np.dtype(np.uint16)), pixel_scale(np.float32)
    (255.0, 65535.0, 1.0)
    """
    return full_scale(dtype)  # one rule for every command (io, draw, normalize)


@dataclass
class RunningStats:
    """Per-channel count, mean and M2 (sum of squared deviations), merged exactly.

    Examples
    --------
    >>> s = RunningStats().update(np.array([[1.0, 2.0]])).update(np.array([[3.0, 4.0]]))
    >>> s.count, s.mean, s.var
    (4, array([2.5]), array([1.25]))
    """

    count: int = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None

    @property
    def channels(self) -> int:
        """How many channels the statistics cover (0 before any data)."""
        return 0 if self.mean is None else int(self.mean.size)

    @property
    def var(self) -> np.ndarray:
        """Population variance σ² = M2 / n per channel."""
        if self.count == 0 or self.m2 is None:
            raise ValueError("no pixels seen yet")
        return self.m2 / self.count

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per channel."""
        return np.sqrt(self.var)

    def merge(self, other: RunningStats) -> RunningStats:
        """Fold another group's statistics into this one (Chan et al.'s pairwise update).

        With δ = mean_b − mean_a and n = n_a + n_b: mean = mean_a + δ·n_b/n and
        M2 = M2_a + M2_b + δ²·n_a·n_b/n. Returns ``self``.
        """
        if other.count == 0:
            return self
        if self.count == 0:
            self.count, self.mean, self.m2 = other.count, other.mean.copy(), other.m2.copy()
            return self
        if other.channels != self.channels:
            raise ProcessingError(f"has {other.channels} channel(s), but the statistics so far "
                                  f"cover {self.channels}")
        n_a, n_b = self.count, other.count
        n = n_a + n_b
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + other.m2 + delta * delta * (n_a * n_b / n)
        self.count = n
        return self

    def update(self, pixels: np.ndarray) -> RunningStats:
        """Fold an image's channels (H×W gray, or H×W×C: every channel) into the statistics.

        The image is taken in blocks; each block's mean and M2 are computed two-pass in
        float64 and merged, so memory stays bounded and nothing cancels. Returns ``self``.
        """
        flat = _as_pixels(pixels)
        for start in range(0, flat.shape[0], _BLOCK_PIXELS):
            block = flat[start:start + _BLOCK_PIXELS].astype(np.float64)
            mean = block.mean(axis=0)
            dev = block - mean
            self.merge(RunningStats(block.shape[0], mean, np.einsum("ij,ij->j", dev, dev)))
        return self


def _as_pixels(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels.reshape(-1, 1)          # a gray image
    if pixels.ndim == 3:
        return pixels.reshape(-1, pixels.shape[2])
    raise ProcessingError(f"expected an image, got an array of shape {pixels.shape}")


def channel_stats(images: Iterable[np.ndarray]) -> RunningStats:
    """Per-channel statistics of the colour channels of every image, streamed.

    Parameters
    ----------
    images : iterable of numpy.ndarray
        Gray (H×W) or colour (H×W×3/4) images; only one is held at a time.

    Returns
    -------
    RunningStats

    Examples
    --------
    >>> a = np.zeros((2, 2, 3), np.uint8); b = np.full((2, 2, 3), 10, np.uint8)
    >>> s = channel_stats([a, b])
    >>> s.mean.tolist(), s.var.tolist(), s.count
    ([5.0, 5.0, 5.0], [25.0, 25.0, 25.0], 8)
    """
    stats = RunningStats()
    for image in images:
        colour, _ = colour_part(image)
        stats.update(colour)
    return stats


def per_channel(values: float | Sequence[float] | np.ndarray, channels: int,
                name: str) -> np.ndarray:
    """Broadcast a scalar or check a per-channel list of ``channels`` values.

    ``name`` is the parameter the values stand for (``gamma``, ``beta``): it starts every
    error message and is the error's ``parameter``.

    Examples
    --------
    >>> per_channel(2.0, 3, "gamma").tolist()
    [2.0, 2.0, 2.0]
    >>> per_channel([1, 2], 3, "gamma")
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: gamma has 2 values but the images have 3 channels (RGB); give 1 or 3
    """
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        arr = np.empty((0, 0))  # refused just below, with the parameter's name
    if arr.ndim != 1:
        raise UsageError(f"{name} must be a number or a list of numbers", parameter=name)
    if not np.all(np.isfinite(arr)):
        raise UsageError(f"{name} must be finite", parameter=name)
    if arr.size == 1:
        return np.full(channels, arr[0])
    if arr.size != channels:
        layout = (f"1 channel ({channel_order(1)}); give one value" if channels == 1 else
                  f"{channels} channels ({channel_order(channels)}); give 1 or {channels}")
        raise UsageError(f"{name} has {arr.size} values but the images have {layout}",
                         parameter=name)
    return arr


def check_eps(eps: float) -> float:
    """ε must be a finite number > 0 (it keeps a constant channel from dividing by zero).

    Examples
    --------
    >>> check_eps(1e-5)
    1e-05
    """
    eps = float(eps)
    if not math.isfinite(eps) or eps <= 0:
        raise UsageError(f"eps must be a number > 0, got {eps:g}", parameter="eps")
    return eps


def batch_norm(x: np.ndarray, mean: Sequence[float] | np.ndarray,
               var: Sequence[float] | np.ndarray, gamma: float | Sequence[float] = 1.0,
               beta: float | Sequence[float] = 0.0, eps: float = 1e-5) -> np.ndarray:
    """y = γ·(x − μ)/√(σ² + ε) + β per channel (the last axis; a 2-D array is one channel).

    An alpha channel (4th of four) is not normalised: give three values and it passes
    through unchanged.

    Parameters
    ----------
    x : numpy.ndarray
        H×W or H×W×C image.
    mean, var : array_like
        Per-channel μ and σ² (population variance), in the pixel units of ``x``.
    gamma, beta : float or array_like
        Scale and shift after normalization, one value or one per channel.
    eps : float
        Added to σ² (> 0).

    Returns
    -------
    numpy.ndarray
        float64 for float64 input, else float32.

    Examples
    --------
    >>> batch_norm(np.array([[0.0, 2.0]]), [1.0], [1.0], eps=1e-12)
    array([[-1.,  1.]])
    >>> batch_norm(np.array([[0, 2]], np.uint8), [1.0], [1.0], gamma=2, beta=10, eps=1e-12)
    array([[ 8., 12.]], dtype=float32)
    """
    eps = check_eps(eps)
    colour, alpha = colour_part(x)
    channels = colour.shape[2]
    mu = per_channel(mean, channels, "mean")
    sigma2 = per_channel(var, channels, "var")
    if np.any(sigma2 < 0):
        raise UsageError("var must be >= 0", parameter="var")
    g = per_channel(gamma, channels, "gamma")
    b = per_channel(beta, channels, "beta")
    out_dtype = np.float64 if x.dtype == np.float64 else np.float32
    # One multiply-add per pixel: y = x·a + c with a = γ/√(σ²+ε), c = β − μ·a.
    scale = g / np.sqrt(sigma2 + eps)
    shift = b - mu * scale
    y = (colour.astype(np.float64) * scale + shift).astype(out_dtype)
    if alpha is not None:
        y = np.concatenate([y, alpha[..., None].astype(out_dtype)], axis=2)
    elif x.ndim == 2:
        y = y[..., 0]
    return y


@dataclass
class NormStats:
    """Saved normalization: μ, σ² (pixel units), pixel count, ε, γ, β, and the pixel scale.

    ``to_dict`` gives the JSON of ``--save-stats``; ``from_dict`` reads it back for
    evaluation. ``mean01``/``std01`` are μ and σ divided by the pixel scale (255 for 8-bit,
    65535 for 16-bit, 1 for float images taken to be on 0..1 already), as a deep-learning
    Normalize(mean, std) transform on 0..1 tensors wants them.

    Examples
    --------
    >>> s = NormStats(mean=np.array([127.5]), var=np.array([16256.25]), count=4, scale=255.0)
    >>> d = s.to_dict()
    >>> d["channel_order"], d["mean01"], d["std01"]
    ('L', [0.5], [0.5])
    >>> NormStats.from_dict(d).mean
    array([127.5])
    """

    mean: np.ndarray
    var: np.ndarray
    count: int
    scale: float
    eps: float = 1e-5
    gamma: np.ndarray = field(default_factory=lambda: np.ones(1))
    beta: np.ndarray = field(default_factory=lambda: np.zeros(1))
    images: int | None = None

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float64).reshape(-1)
        self.var = np.asarray(self.var, dtype=np.float64).reshape(-1)
        channels = self.mean.size
        self.gamma = per_channel(self.gamma, channels, "gamma")
        self.beta = per_channel(self.beta, channels, "beta")

    @property
    def channels(self) -> int:
        return int(self.mean.size)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Normalise one image with these statistics (see :func:`batch_norm`)."""
        return batch_norm(image, self.mean, self.var, self.gamma, self.beta, self.eps)

    def to_dict(self) -> dict:
        return {
            "mean": self.mean.tolist(),
            "var": self.var.tolist(),
            "count": int(self.count),
            "eps": float(self.eps),
            "gamma": self.gamma.tolist(),
            "beta": self.beta.tolist(),
            "channel_order": channel_order(self.channels),
            "mean01": (self.mean / self.scale).tolist(),
            "std01": (np.sqrt(self.var) / self.scale).tolist(),
            "scale": self.scale,
            "images": self.images,
        }

    @classmethod
    def from_dict(cls, data: object, source: str = "stats") -> NormStats:
        """Check and read a stats mapping (from ``--save-stats``); errors name ``source``."""
        def fail(what: str) -> ProcessingError:
            return ProcessingError(f"{source}: {what}")

        if not isinstance(data, dict):
            raise fail("not a JSON object of normalization statistics")
        for key in ("mean", "var"):
            if key not in data:
                raise fail(f"missing the key {key!r}")
        try:
            mean = _float_list(data["mean"])
            var = _float_list(data["var"])
            gamma = _float_list(data.get("gamma", [1.0]))
            beta = _float_list(data.get("beta", [0.0]))
            eps = float(data.get("eps", 1e-5))
            scale = float(data.get("scale", 1.0))
            count = int(data.get("count", 0))
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
            raise fail("mean, var, gamma, beta, eps, scale and count must be finite numbers"
                       ) from None
        if not mean or len(mean) != len(var):
            raise fail(f"mean has {len(mean)} values and var {len(var)}; they must match")
        if len(mean) not in (1, 3):
            raise fail(f"expected 1 (L) or 3 (RGB) channels, got {len(mean)}")
        order = data.get("channel_order", channel_order(len(mean)))
        if order != channel_order(len(mean)):
            raise fail(f"channel_order {order!r} does not fit {len(mean)} channel(s)")
        values = mean + var + gamma + beta + [eps, scale]
        if not all(math.isfinite(v) for v in values):
            raise fail("contains a non-finite number")
        if min(var) < 0:
            raise fail("var must be >= 0")
        if eps <= 0 or scale <= 0:
            raise fail("eps and scale must be > 0")
        try:
            return cls(mean=np.array(mean), var=np.array(var), count=count, scale=scale,
                       eps=eps, gamma=np.array(gamma), beta=np.array(beta),
                       images=data.get("images"))
        except UsageError as exc:
            raise fail(str(exc)) from None


def _float_list(value: object) -> list[float]:
    if isinstance(value, bool):
        raise TypeError("not a number")
    if isinstance(value, int | float):
        return [float(value)]
    if not isinstance(value, list) or any(isinstance(v, bool) for v in value):
        raise TypeError("not a list of numbers")
    return [float(v) for v in value]

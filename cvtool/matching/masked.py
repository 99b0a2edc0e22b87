"""Masked ZNCC: only the template pixels the mask marks (the character, not its background) vote.

With mask weights ``m`` (the template's alpha as a fraction of full scale, or any
non-negative array), ``n = sum(m)`` and, for each channel, the weighted means
``mean_T = sum(m T) / n`` and ``mean_W = sum(m W) / n`` of the template and of the
window ``W`` under it, the score is::

    sum(m (T - mean_T) (W - mean_W))
    ---------------------------------------------------------------
    sqrt(sum(m (T - mean_T)^2) * sum(m (W - mean_W)^2))

summed over all channels jointly (each channel's mean removed, one normalisation), so an
all-ones mask gives exactly :func:`cvtool.matching.zncc`, and a 0/1 mask gives OpenCV's
``TM_CCOEFF_NORMED`` with a mask. Three kinds of correlations build it, each one FFT pass
(:func:`cvtool.imaging.fft.fft_correlate_valid`):

- the numerator, the scene correlated with ``T' = m (T - mean_T)``: as ``sum(T') = 0``
  per channel, ``sum(T' W) = sum(m (T - mean_T)(W - mean_W))`` for every window;
- the window sums ``sum(m W)``, each channel correlated with the mask;
- the window energy ``sum(m W^2) - sum(m W)^2 / n``, the squared scene (summed over
  channels) correlated with the mask.

The scene is shifted by its own mean first and the mask sums run in float64, so the
difference above does not cancel away the variance of a quiet window. A window whose
weighted standard deviation is below ``FLAT_RELATIVE_STD`` of the scene's largest magnitude
(or a flat template) scores 0, never NaN.
"""

from __future__ import annotations

import numpy as np

from cvtool.errors import ProcessingError
from cvtool.imaging.color import full_scale, split_alpha, to_gray
from cvtool.imaging.fft import fft_correlate_valid

__all__ = ["zncc_masked", "template_mask"]

#: Same rule as the plain ZNCC: a window whose (weighted) standard deviation is below this
#: fraction of the scene's largest magnitude is flat and scores 0.
FLAT_RELATIVE_STD = 1e-5


def _as_hwc(name: str, image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.size == 0:
        raise ProcessingError(f"{name} must be a non-empty 2-D or 3-D array, got shape "
                              f"{image.shape}", parameter=name)
    if image.dtype.kind not in "uifb":
        raise ProcessingError(f"{name} must hold real numbers, got {image.dtype}",
                              parameter=name)
    if image.dtype == bool:
        image = image.view(np.uint8)
    return image if image.ndim == 3 else image[:, :, None]


def template_mask(template: np.ndarray) -> np.ndarray | None:
    """The template's alpha as weights in [0, 1] (float64), or ``None`` without alpha.

    Examples
    --------
    >>> rgba = np.zeros((2, 2, 4), np.uint8); rgba[0, 0, 3] = 255
    >>> template_mask(rgba).tolist()
    [[1.0, 0.0], [0.0, 0.0]]
    >>> template_mask(np.zeros((2, 2, 3))) is None
    True
    """
    template = np.asarray(template)
    _, alpha = split_alpha(template)
    if alpha is None:
        return None
    return alpha.astype(np.float64) / full_scale(template.dtype)


def _colour(image: np.ndarray, gray: bool) -> np.ndarray:
    colour, _ = split_alpha(image)
    colour = colour if colour.ndim == 3 else colour[:, :, None]
    if gray and colour.shape[2] > 1:
        colour = to_gray(colour)[:, :, None]
    return colour.astype(np.float64)


def zncc_masked(scene: np.ndarray, template: np.ndarray, mask: np.ndarray | None = None, *,
                gray: bool = False, workers: int | None = None) -> np.ndarray:
    """Masked zero-mean normalised cross-correlation of ``template`` at every window of ``scene``.

    Parameters
    ----------
    scene : ndarray, shape (H, W) or (H, W, C)
        Alpha (2 or 4 channels) is dropped.
    template : ndarray, shape (h, w) or (h, w, C)
        ``h <= H`` and ``w <= W``. A gray template in a colour scene (or the reverse), or
        ``gray=True``, compares BT.601 gray versions, as :func:`cvtool.matching.zncc` does.
    mask : ndarray, shape (h, w), optional
        Non-negative weights: 0 where a template pixel must not vote. ``None`` takes the
        template's alpha channel (as a fraction of full scale), or all ones if it has none.
    gray : bool
        Compare gray versions.
    workers : int, optional
        Threads for the FFTs (``None``: every CPU).

    Returns
    -------
    ndarray, shape (H - h + 1, W - w + 1), float64
        Entry ``[i, j]`` scores the window whose top-left pixel is ``(i, j)``, in [-1, 1];
        0 for flat windows and everywhere when the masked template is flat.

    Raises
    ------
    ProcessingError
        For empty or non-numeric arrays, a template larger than the scene, channel counts
        that cannot be compared, a mask of another size, negative or non-finite weights, a
        mask with no weight, or NaN/infinite pixels.

    Examples
    --------
    >>> scene = np.zeros((5, 6)); scene[1:4, 2:5] = [[1, 2, 3], [4, 9, 6], [7, 8, 9]]
    >>> template = scene[1:4, 2:5].copy(); template[1, 1] = -50   # a pixel that lies
    >>> mask = np.ones((3, 3)); mask[1, 1] = 0                     # ... and is masked out
    >>> scores = zncc_masked(scene, template, mask)
    >>> np.unravel_index(scores.argmax(), scores.shape), round(float(scores.max()), 6)
    ((np.int64(1), np.int64(2)), 1.0)
    """
    scene_arr = _as_hwc("scene", scene)
    template_arr = _as_hwc("template", template)
    if mask is None:
        mask = template_mask(np.asarray(template))
    scene_c = _colour(scene_arr, gray)
    template_c = _colour(template_arr, gray)
    if scene_c.shape[2] != template_c.shape[2]:
        if scene_c.shape[2] == 3 and template_c.shape[2] == 1:
            scene_c = to_gray(scene_c)[:, :, None]
        elif scene_c.shape[2] == 1 and template_c.shape[2] == 3:
            template_c = to_gray(template_c)[:, :, None]
        else:
            raise ProcessingError(f"scene has {scene_c.shape[2]} channels but template has "
                                  f"{template_c.shape[2]}", parameter="template")
    h, w = template_c.shape[:2]
    big_h, big_w = scene_c.shape[:2]
    if h > big_h or w > big_w:
        raise ProcessingError(f"template {w}x{h} is larger than the scene {big_w}x{big_h}",
                              parameter="template")
    if mask is None:
        weights = np.ones((h, w))
    else:
        weights = np.asarray(mask, dtype=np.float64)
        if weights.shape != (h, w):
            raise ProcessingError(f"mask must be {w}x{h} like the template, got shape "
                                  f"{weights.shape}", parameter="mask")
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ProcessingError("mask weights must be finite and >= 0", parameter="mask")
    n = float(weights.sum())
    if n <= 0:
        raise ProcessingError("mask has no pixel with a weight above 0", parameter="mask")
    for name, values in (("scene", scene_c), ("template", template_c)):
        if not np.isfinite(values).all():
            raise ProcessingError(f"{name} contains NaN or infinite values", parameter=name)
    return _masked_scores(scene_c, template_c, weights, n, workers)


def _masked_scores(scene: np.ndarray, template: np.ndarray, weights: np.ndarray, n: float,
                   workers: int | None) -> np.ndarray:
    """The score map, for ``H × W × C`` float64 scene and template and ``h × w`` weights."""
    peak = float(np.max(np.abs(scene))) if scene.size else 0.0
    channels = scene.shape[2]
    # Shifting each channel by its mean changes no score but keeps the sums small.
    shifted = scene - scene.mean(axis=(0, 1))
    t_mean = np.einsum("ij,ijc->c", weights, template) / n
    t_zero = weights[:, :, None] * (template - t_mean)
    t_energy = float(np.einsum("ij,ijc->", weights, (template - t_mean) ** 2))
    out_shape = (scene.shape[0] - template.shape[0] + 1, scene.shape[1] - template.shape[1] + 1)
    template_peak = float(np.max(np.abs(template)))
    if t_energy <= n * channels * (FLAT_RELATIVE_STD * max(template_peak, 1e-300)) ** 2:
        return np.zeros(out_shape)
    numerator = fft_correlate_valid(shifted, t_zero, workers=workers)
    energy = fft_correlate_valid(np.einsum("ijc,ijc->ij", shifted, shifted), weights,
                                 workers=workers)
    for c in range(channels):
        sums = fft_correlate_valid(shifted[:, :, c], weights, workers=workers)
        energy -= sums * sums / n
    flat = energy <= n * channels * (FLAT_RELATIVE_STD * peak) ** 2
    denominator = np.sqrt(np.where(flat, 1.0, energy * t_energy))
    scores = np.where(flat, 0.0, numerator / denominator)
    return np.clip(scores, -1.0, 1.0)

"""The ZNCC score map: zero-mean normalised cross-correlation of a template with every window.

The score of the window ``W`` of the scene at each position, against the template ``T``,
both with their (per-channel) means removed, is::

    zncc = sum(T' * W') / sqrt(sum(T'^2) * sum(W'^2))

which is OpenCV's ``TM_CCOEFF_NORMED``. The numerator is one FFT correlation of the scene
with the zero-mean template (:func:`cvtool.imaging.fft.fft_correlate_valid`: as ``sum(T') = 0``,
``sum(T' * W') = sum(T' * W)``); ``sum(W'^2)`` comes from :mod:`cvtool.matching.window_sums`:
exact integer sums for 8/16-bit scenes, float64 sums of the mean-shifted scene otherwise, so
the difference never cancels catastrophically.

This module only scores; :mod:`cvtool.matching.search` picks places from score maps (scales,
pyramid, peaks). :data:`ZNCC` is the score as the search takes it (see
:class:`cvtool.matching.search.ScoreMap`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cvtool.errors import ProcessingError
from cvtool.imaging.color import split_alpha, to_gray
from cvtool.imaging.fft import fft_correlate_valid
from cvtool.imaging.resample import pyramid_down, resize
from cvtool.matching.window_sums import exact_accumulator, window_energy
from cvtool.threads import map_threads, resolve_workers

__all__ = ["FLAT_RELATIVE_STD", "PreparedScene", "PreparedTemplate", "ZNCC", "ZnccScorer",
           "prepare_template", "zncc"]

#: A window (or template) whose standard deviation is below this fraction of the largest
#: magnitude in the image is "flat": its score is 0 rather than a ratio of rounding errors.
FLAT_RELATIVE_STD = 1e-5


@dataclass
class PreparedScene:
    """A scene made ready for matching.

    ``values`` (``H × W × C`` float) is what the FFT correlates; ``exact``, when not
    ``None``, holds the same values as unsigned integers, whose window sums can be taken
    exactly (and about twice as fast) in integer arithmetic; ``peak`` is the largest
    magnitude, the yardstick of the flat-window threshold.
    """

    values: np.ndarray
    exact: np.ndarray | None
    peak: float
    _shifted: np.ndarray | None = None

    def shifted(self) -> np.ndarray:
        """``values`` minus their per-channel mean (computed once, reused at every scale).

        Shifting by the mean changes neither the ZNCC numerator (``sum(T') = 0``) nor any
        window's variance, but removes the large common offset that float32 FFTs and the
        float running sums would otherwise have to carry.
        """
        if self._shifted is None:
            mean = self.values.mean(axis=(0, 1), dtype=np.float64)
            self._shifted = self.values - mean.astype(self.values.dtype)
        return self._shifted

    def crop(self, y: int, y_end: int, x: int, x_end: int) -> PreparedScene:
        """The part ``[y:y_end, x:x_end]``, keeping the whole scene's flatness yardstick."""
        return PreparedScene(self.values[y:y_end, x:x_end],
                             None if self.exact is None else self.exact[y:y_end, x:x_end],
                             self.peak)

    def halved(self) -> PreparedScene:
        """The scene shrunk by 2 (2×2 blocks): one level of a coarse-to-fine pyramid."""
        if self.exact is None:
            return PreparedScene(pyramid_down(self.values), None, self.peak)
        # Unsigned pixels: 2×2 block sums instead of means (ZNCC does not see the
        # factor 4), so the coarse levels keep the exact integer window sums too.
        exact = self.exact.astype(np.uint32, copy=False)
        rows, cols = exact.shape[0] // 2 * 2, exact.shape[1] // 2 * 2
        summed = exact[0:rows:2, 0:cols:2] + exact[1:rows:2, 0:cols:2]
        summed += exact[0:rows:2, 1:cols:2]
        summed += exact[1:rows:2, 1:cols:2]
        return PreparedScene(summed.astype(self.values.dtype), summed, float(summed.max()))


#: BT.601 weights scaled to integers: gray×1000 of unsigned pixels stays exact, and ZNCC
#: does not see the common factor.
_BT601_INT = (299, 587, 114)


def _check_array(name: str, array: np.ndarray) -> None:
    """Refuse what cannot be matched at all: wrong rank, empty, not real numbers."""
    if array.ndim not in (2, 3):
        raise ProcessingError(
            f"{name} must be 2-D (gray) or 3-D (H×W×C), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0 or array.size == 0:
        raise ProcessingError(f"{name} is empty (shape {array.shape})")
    if array.dtype.kind not in "uifb":
        raise ProcessingError(f"{name} must hold real numbers, got {array.dtype}")


def _check_finite(name: str, array: np.ndarray) -> None:
    # One NaN would spread through a whole FFT tile: refuse it rather than answer nonsense.
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ProcessingError(f"{name} contains NaN or infinite values")


class PreparedTemplate:
    """A template checked once, whose converted and resized versions are kept for reuse.

    Made by :func:`prepare_template`; pass it to :func:`zncc`,
    :func:`cvtool.matching.search.search` or :func:`cvtool.matching.search.find` in place
    of the array when one template is searched for in many scenes, so that its gray
    conversion and its resizing to every scale are done once per run rather than once per
    scene and scale. It holds its own copy of the template (changing
    the array afterwards changes nothing) and may be shared by threads.
    """

    def __init__(self, template: np.ndarray) -> None:
        template = np.asarray(template)
        _check_array("template", template)
        self._colour = _without_alpha(np.array(template))  # a copy: the caches rely on it
        self.is_float64 = template.dtype == np.float64
        self._cache: dict[tuple, np.ndarray] = {}

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the template at scale 1."""
        return self._colour.shape[0], self._colour.shape[1]

    @property
    def channels(self) -> int:
        """Colour channels once alpha is dropped (1 for gray)."""
        return self._colour.shape[2]

    def _cached(self, key: tuple, make: Callable[[], np.ndarray]) -> np.ndarray:
        found = self._cache.get(key)
        if found is None:
            found = make()
            found.setflags(write=False)  # shared by scenes and threads: nobody may edit it
            # setdefault is atomic: two threads that race keep one (equal) result.
            found = self._cache.setdefault(key, found)
        return found

    def converted(self, to_gray: bool) -> np.ndarray:
        """``h × w × C`` template, BT.601 gray (C = 1) when ``to_gray``."""
        if not to_gray:
            return self._colour
        return self._cached(("gray",), lambda: _gray(self._colour))

    def values(self, to_gray: bool, dtype: type, size: tuple[int, int] | None = None,
               ) -> np.ndarray:
        """The template as matched: converted, finite, in ``dtype``, resized to ``size``."""
        full = self._cached(("values", to_gray, np.dtype(dtype).str), lambda: self._finite(
            self.converted(to_gray)).astype(dtype))
        if size is None or tuple(size) == self.size:
            return full
        return self._cached(("resized", to_gray, np.dtype(dtype).str, tuple(size)),
                            lambda: resize(full, tuple(size)))

    @staticmethod
    def _finite(array: np.ndarray) -> np.ndarray:
        _check_finite("template", array)
        return array


def prepare_template(template: np.ndarray | PreparedTemplate) -> PreparedTemplate:
    """Check a template once for searching many scenes (see :class:`PreparedTemplate`).

    Parameters
    ----------
    template : ndarray or PreparedTemplate
        H×W or H×W×C; colour and alpha rules as in :func:`zncc`. A template that is
        already prepared is returned as it is.

    Returns
    -------
    PreparedTemplate

    Raises
    ------
    ProcessingError
        If the template is not a non-empty 2-D or 3-D array of real numbers.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> scenes = [rng.random((30, 40)) for _ in range(2)]
    >>> waldo = prepare_template(scenes[1][5:15, 8:20])
    >>> [bool(zncc(scene, waldo).max() > 0.99) for scene in scenes]
    [False, True]
    """
    if isinstance(template, PreparedTemplate):
        return template
    return PreparedTemplate(template)


def _prepare_pair(scene: np.ndarray, template: np.ndarray | PreparedTemplate, gray: bool,
                 ) -> tuple[PreparedScene, PreparedTemplate, bool, type]:
    """Validate and convert a scene, and decide how its template is matched (ZNCC's rules).

    Returns the scene, the prepared template, whether the template is compared as gray,
    and the working dtype: ``template.values(to_gray, dtype)`` is the template to match
    (colour rules as :func:`zncc`).
    """
    scene = np.asarray(scene)
    _check_array("scene", scene)
    template = prepare_template(template)
    dtype = np.float64 if scene.dtype == np.float64 or template.is_float64 else np.float32
    if scene.dtype == bool:
        scene = scene.view(np.uint8)
    scene = _without_alpha(scene)
    to_gray = gray or (scene.shape[2] > 1) != (template.channels > 1)
    if to_gray:
        template.converted(to_gray)  # refuses a layout it cannot convert, before the scene
        # Only RGB takes the exact integer gray; other counts go to _gray (which refuses them).
        if scene.shape[2] == 3 and scene.dtype.kind == "u" and scene.dtype.itemsize <= 2:
            scene = np.einsum("ijc,c->ij", scene, np.array(_BT601_INT, np.uint32),
                              dtype=np.uint32)[:, :, None]
        else:
            scene = _gray(scene)
    template_channels = 1 if to_gray else template.channels
    if scene.shape[2] != template_channels:
        raise ProcessingError(f"scene has {scene.shape[2]} channels but template has "
                              f"{template_channels}")
    exact = scene if scene.dtype.kind == "u" else None
    values = scene.astype(dtype, copy=False)
    _check_finite("scene", values)
    template.values(to_gray, dtype)  # refuses NaN in the template, after the scene's
    peak = float(scene.max()) if exact is not None else float(np.max(np.abs(values)))
    return PreparedScene(values, exact, peak), template, to_gray, dtype


def _without_alpha(image: np.ndarray) -> np.ndarray:
    """``image`` as ``H × W × C`` colour (C = 1 for gray), alpha dropped.

    :func:`cvtool.imaging.color.split_alpha` decides what alpha is (the 2nd of 2 channels, the 4th
    of 4), so a gray+alpha array is matched as gray here as in every other command.
    """
    colour, _ = split_alpha(image)
    return colour if colour.ndim == 3 else colour[:, :, None]


def _gray(image: np.ndarray) -> np.ndarray:
    """BT.601 gray of an ``H × W × C`` image, kept ``H × W × 1``."""
    if image.shape[2] == 1:
        return image
    if image.shape[2] != 3:
        raise ProcessingError(f"cannot convert {image.shape[2]} channels to gray")
    return to_gray(image)[:, :, None]

def _score_map(scene: PreparedScene, template: np.ndarray, workers: int | None) -> np.ndarray:
    """ZNCC of a prepared scene and an ``(h, w, C)`` float template (see :func:`zncc`).

    The map may be written to by the caller (it is a new array each call).
    """
    values = scene.values
    dtype = values.dtype
    h, w, channels = template.shape
    big_h, big_w = values.shape[:2]
    if h > big_h or w > big_w:
        raise ProcessingError(f"template {w}x{h} is larger than the scene {big_w}x{big_h} "
                              f"(width x height)")
    n = h * w
    out_shape = (big_h - h + 1, big_w - w + 1)

    t64 = template.astype(np.float64)
    t_zero = t64 - t64.mean(axis=(0, 1))
    t_norm = float(np.sqrt(np.sum(t_zero * t_zero)))
    t_peak = float(np.max(np.abs(t64)))
    if not t_norm > math.sqrt(n * channels) * FLAT_RELATIVE_STD * t_peak:
        return np.zeros(out_shape, dtype=dtype)  # flat template: nothing to correlate with

    # The template is normalised here so that the numerator already carries its 1 / |T'|.
    shifted = scene.shifted()
    numerator = fft_correlate_valid(shifted, (t_zero / t_norm).astype(dtype), workers=workers)
    acc = exact_accumulator(n, scene.peak, channels) if scene.exact is not None else None
    source = shifted if acc is None else scene.exact
    floor = n * channels * (FLAT_RELATIVE_STD * scene.peak) ** 2

    def finish(band: tuple[int, int]) -> None:
        r0, r1 = band
        energy = window_energy(source, h, w, r0, r1, acc or np.float64)
        # Guarded denominator: a flat window divides by infinity and scores exactly 0.
        np.copyto(energy, np.inf, where=energy <= floor)
        # After the cancelling subtraction, float32 is plenty for sqrt and division.
        energy = energy.astype(dtype, copy=False)
        np.sqrt(energy, out=energy)
        scores = numerator[r0:r1]
        np.divide(scores, energy, out=scores)
        np.clip(scores, -1.0, 1.0, out=scores)

    # Row bands keep each band's float64 temporaries in cache and spread over the threads.
    threads = resolve_workers(workers)
    rows = out_shape[0]
    step = min(128, max(16, -(-rows // threads)))
    bands = [(r, min(rows, r + step)) for r in range(0, rows, step)]
    map_threads(finish, bands, threads)
    return numerator


def zncc(scene: np.ndarray, template: np.ndarray | PreparedTemplate, *, gray: bool = False,
         workers: int | None = None) -> np.ndarray:
    """Zero-mean normalised cross-correlation of a template with every window of a scene.

    Equal to OpenCV's ``matchTemplate`` with ``TM_CCOEFF_NORMED`` wherever the
    window is not flat: colour is compared on all channels jointly (each channel's mean
    removed, one normalisation over all channels).

    Parameters
    ----------
    scene : ndarray, shape (H, W) or (H, W, C)
    template : ndarray, shape (h, w) or (h, w, C), or PreparedTemplate
        ``h <= H`` and ``w <= W`` (see :func:`prepare_template`). An alpha channel
        (the 2nd of 2, the 4th of 4; see :func:`cvtool.imaging.color.split_alpha`) is ignored,
        so gray+alpha is gray; a gray template in a colour scene (or a colour template
        in a gray scene) is compared with the other's BT.601 gray (0.299 R + 0.587 G +
        0.114 B); colour with colour is one joint ZNCC over all channels.
    gray : bool
        Compare BT.601 gray versions of both.
    workers : int, optional
        Threads for the FFT tiles (``None``: all CPUs).

    Returns
    -------
    ndarray, shape (H - h + 1, W - w + 1)
        Scores in [-1, 1]; entry ``[y, x]`` is the window whose top-left corner is
        ``(x, y)``. A flat window or a flat template scores 0; never NaN. float64 when
        an input is float64, else float32.

    Raises
    ------
    ProcessingError
        If the template is larger than the scene.

    Examples
    --------
    >>> scene = np.zeros((6, 6)); scene[2:4, 3:5] = [[1, 2], [3, 4]]
    >>> scores = zncc(scene, scene[1:5, 2:6])
    >>> y, x = np.unravel_index(scores.argmax(), scores.shape)
    >>> scores.shape, (int(x), int(y)), round(float(scores.max()), 6)
    ((3, 3), (2, 1), 1.0)
    """
    prepared_scene, prepared, to_gray, dtype = _prepare_pair(scene, template, gray)
    return _score_map(prepared_scene, prepared.values(to_gray, dtype), workers)


class ZnccScorer:
    """One scene and one template made ready for :func:`cvtool.matching.search.search`.

    Implements :class:`cvtool.matching.search.Scorer`: the scene's size, the template at any
    size, and score maps of the full scene, of a coarse pyramid level or of a part of it.
    Pyramid levels are made once and kept.
    """

    pyramid = True

    def __init__(self, scene: np.ndarray, template: np.ndarray | PreparedTemplate, *,
                 gray: bool = False) -> None:
        prepared_scene, self._template, self._to_gray, self._dtype = _prepare_pair(
            scene, template, gray)
        self._levels: dict[int, PreparedScene] = {0: prepared_scene}
        self.shape: tuple[int, int] = prepared_scene.values.shape[:2]
        self.size: tuple[int, int] = self._template.size

    def template(self, size: tuple[int, int]) -> np.ndarray:
        """The template as matched, resized to ``size`` = (height, width) (cached)."""
        return self._template.values(self._to_gray, self._dtype, size)

    def _level(self, level: int) -> PreparedScene:
        if level not in self._levels:
            self._levels[level] = self._level(level - 1).halved()
        return self._levels[level]

    def scores(self, template: np.ndarray, *, level: int = 0,
               window: tuple[int, int, int, int] | None = None,
               workers: int | None = None) -> np.ndarray:
        """Score map of ``template`` over the scene shrunk by ``2**level``, or over the part
        ``window`` = (y, y_end, x, x_end) of the full-resolution scene."""
        scene = self._levels[0].crop(*window) if window is not None else self._level(level)
        return _score_map(scene, template, workers)


class _Zncc:
    """ZNCC as a score for :func:`cvtool.matching.search.search` (its default)."""

    name = "zncc"
    #: Scores lie in [-1, 1]: thresholds outside are refused.
    bounds = (-1.0, 1.0)

    def prepare(self, scene: np.ndarray, template: np.ndarray | PreparedTemplate, *,
                gray: bool = False) -> ZnccScorer:
        return ZnccScorer(scene, template, gray=gray)

    def __repr__(self) -> str:
        return "ZNCC"


#: The ZNCC score as :func:`cvtool.matching.search.search` takes it (``score=ZNCC``).
ZNCC = _Zncc()

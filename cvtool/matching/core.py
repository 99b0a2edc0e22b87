"""Template matching: zero-mean normalised cross-correlation (ZNCC) and a multi-scale search.

The score of the window ``W`` of the scene at each position, against the template ``T``,
both with their (per-channel) means removed, is::

    zncc = sum(T' * W') / sqrt(sum(T'^2) * sum(W'^2))

which is OpenCV's ``TM_CCOEFF_NORMED``. The numerator is one FFT correlation of the scene
with the zero-mean template (:func:`cvtool.imaging.fft.fft_correlate_valid`: as ``sum(T') = 0``,
``sum(T' * W') = sum(T' * W)``); ``sum(W'^2) = sum(W^2) - sum(W)^2 / n`` comes from running
sums of the scene and of its square: exact integer sums for 8/16-bit scenes, float64 sums
of the mean-shifted scene otherwise, so the difference never cancels catastrophically.

Multi-scale searches of large templates run coarse-to-fine: each scale is searched on a
2×- or 4×-reduced scene and the best few places are re-scored at full resolution.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cvtool.errors import ProcessingError, UsageError
from cvtool.filtering.kernels import parse_number
from cvtool.imaging.color import split_alpha, to_gray
from cvtool.imaging.fft import fft_correlate_valid
from cvtool.imaging.resample import pyramid_down, resize
from cvtool.threads import map_threads, resolve_workers

__all__ = ["Match", "SearchResult", "PreparedTemplate", "prepare_template", "zncc", "find",
           "search", "parse_scales"]

#: A window (or template) whose standard deviation is below this fraction of the largest
#: magnitude in the image is "flat": its score is 0 rather than a ratio of rounding errors.
FLAT_RELATIVE_STD = 1e-5

#: The most template sizes one search takes (``--scales MIN:MAX:N`` and lists alike).
MAX_SCALES = 1000


@dataclass(frozen=True)
class Match:
    """One match: top-left corner ``(x, y)`` (column, row), box size and score, in scene pixels."""

    x: int
    y: int
    width: int
    height: int
    score: float
    scale: float


@dataclass
class SearchResult:
    """What :func:`search` found.

    ``matches`` are the boxes at or above the threshold, best first; ``best`` is the best
    candidate whatever its score (``None`` only if nothing could be scored);
    ``score_map`` is the scale-1 score map when scale 1 was searched, else ``None``.
    """

    matches: list[Match]
    best: Match | None
    score_map: np.ndarray | None = None


@dataclass
class _Scene:
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

    Made by :func:`prepare_template`; pass it to :func:`search`, :func:`find` or
    :func:`zncc` in place of the array when one template is searched for in many scenes,
    so that its gray conversion and its resizing to every scale are done once per run
    rather than once per scene and scale. It holds its own copy of the template (changing
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
    >>> [len(find(scene, waldo, threshold=0.99)) for scene in scenes]
    [0, 1]
    """
    if isinstance(template, PreparedTemplate):
        return template
    return PreparedTemplate(template)


def _prepare(scene: np.ndarray, template: np.ndarray | PreparedTemplate, gray: bool,
             ) -> tuple[_Scene, PreparedTemplate, bool, type]:
    """Validate and convert a scene, and decide how its template is matched.

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
    return _Scene(values, exact, peak), template, to_gray, dtype


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


#: Window sums of unsigned pixels are packed two to a uint64 (high and low 32 bits)
#: when both fit in 32 bits: one running sum then does the work of two.
PACKED = "packed"


def _exact_accumulator(n: int, peak: float, channels: int) -> str | type | None:
    """How to take exact window sums of unsigned pixels: :data:`PACKED`, a type, or None.

    Running sums may wrap around modulo 2**bits; the differences that form each window
    are still exact as long as the window's own sums fit (the largest is the sum of
    squares over all channels, ``n * channels * peak**2``).
    """
    largest = n * channels * peak * peak
    if largest < 2.0**32 and np.little_endian:
        return PACKED
    if largest < 2.0**63:
        return np.uint64
    return None


def _packed_energy(band: np.ndarray, h: int, w: int) -> np.ndarray:
    """``sum(W'^2)`` of unsigned pixels from exact window sums, two per uint64 lane.

    The terms are the sum of squares over channels, then each channel; they are paired
    as ``high << 32 | low`` by writing the two 32-bit halves of each lane (little-endian
    view). Sums and differences are linear modulo 2**64, so whatever carries and borrows
    happen in between, each final lane holds exactly ``high_sum << 32 | low_sum`` when
    both sums are below 2**32 (checked by :func:`_exact_accumulator`).
    """
    rows, cols, channels = band.shape
    count = (channels + 2) // 2
    packed = np.zeros((rows, count, cols), dtype=np.uint64)
    halves = packed.view(np.uint32)  # (rows, count, 2 * cols): low, high, low, high, ...
    high = halves[:, 0, 1::2]
    np.multiply(band[:, :, 0], band[:, :, 0], out=high, dtype=np.uint32)
    for c in range(1, channels):
        high += np.multiply(band[:, :, c], band[:, :, c], dtype=np.uint32)
    for c in range(channels):
        lane, half = divmod(c + 1, 2)
        halves[:, lane, 1 - half::2] = band[:, :, c]
    sums = _horizontal_sums(_vertical_sums(packed, h), w).view(np.uint32)
    energy = sums[:, 0, 1::2].astype(np.float64)
    for c in range(channels):
        lane, half = divmod(c + 1, 2)
        linear = sums[:, lane, 1 - half::2].astype(np.float64)
        np.square(linear, out=linear)
        linear *= 1.0 / (h * w)
        # Both sides are exact integers below 2**32 before this float64 subtraction;
        # its rounding (~1e-16 relative) is far below the flat-window threshold.
        energy -= linear
    return energy


def _vertical_sums(rows: np.ndarray, h: int) -> np.ndarray:
    """Sums of every ``h`` consecutive rows (axis 0), by running sums row by row.

    ``numpy.cumsum(axis=0)`` walks each column with a stride of a whole row and was 6×
    slower than adding whole rows, which vectorises across everything else.
    """
    n_out = rows.shape[0] - h + 1
    out = np.empty((n_out,) + rows.shape[1:], dtype=rows.dtype)
    np.sum(rows[:h], axis=0, out=out[0])
    if n_out > 1:
        steps = np.subtract(rows[h:], rows[:n_out - 1])
        for i in range(1, n_out):
            np.add(out[i - 1], steps[i - 1], out=out[i])
    return out


def _horizontal_sums(strips: np.ndarray, w: int) -> np.ndarray:
    """Sums of every ``w`` consecutive entries along the last axis (cumulative sums)."""
    running = np.cumsum(strips, axis=-1, out=strips)
    out = np.empty(running.shape[:-1] + (running.shape[-1] - w + 1,), dtype=strips.dtype)
    out[..., 0] = running[..., w - 1]
    np.subtract(running[..., w:], running[..., :-w], out=out[..., 1:])
    return out


def _window_energy(source: np.ndarray, h: int, w: int, r0: int, r1: int,
                   acc: str | type) -> np.ndarray:
    """``sum(W'^2)`` over all channels of the windows whose top row is in ``[r0, r1)``.

    Returns float64. With :data:`PACKED` or an unsigned ``acc`` the window sums are
    exact (running sums may wrap around; their differences do not). With float64 every
    running sum is shorter than a band (never the whole image, as an integral image's
    would be) and ``source`` was shifted by its mean, so ``sum(W^2) - sum(W)^2 / n``
    keeps far more precision than the flat-window threshold needs.
    """
    band = source[r0:r1 + h - 1]
    if acc == PACKED:
        return _packed_energy(band, h, w)
    channels = band.shape[2]
    # One stack of planes (squares, then each channel) so every running-sum step
    # handles all of them in one call.
    planes = np.empty((band.shape[0], channels + 1, band.shape[1]), dtype=acc)
    np.multiply(band[:, :, 0], band[:, :, 0], out=planes[:, 0], dtype=acc)
    for c in range(channels):
        if c:
            planes[:, 0] += np.multiply(band[:, :, c], band[:, :, c], dtype=acc)
        planes[:, c + 1] = band[:, :, c]
    sums = _horizontal_sums(_vertical_sums(planes, h), w).astype(np.float64, copy=False)
    energy = sums[:, 0]
    linear = sums[:, 1:]
    np.square(linear, out=linear)
    linear *= 1.0 / (h * w)
    energy -= linear[:, 0] if channels == 1 else linear.sum(axis=1)
    return energy


def _zncc_prepared(scene: _Scene, template: np.ndarray, workers: int | None) -> np.ndarray:
    """ZNCC of a prepared scene and an ``(h, w, C)`` float template (see :func:`zncc`)."""
    values = scene.values
    dtype = values.dtype
    h, w, channels = template.shape
    big_h, big_w = values.shape[:2]
    if h > big_h or w > big_w:
        raise ProcessingError(f"template {h}x{w} is larger than the scene {big_h}x{big_w}")
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
    acc = _exact_accumulator(n, scene.peak, channels) if scene.exact is not None else None
    source = shifted if acc is None else scene.exact
    floor = n * channels * (FLAT_RELATIVE_STD * scene.peak) ** 2

    def finish(band: tuple[int, int]) -> None:
        r0, r1 = band
        energy = _window_energy(source, h, w, r0, r1, acc or np.float64)
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
    prepared_scene, prepared, to_gray, dtype = _prepare(scene, template, gray)
    return _zncc_prepared(prepared_scene, prepared.values(to_gray, dtype), workers)


def parse_scales(text: str) -> list[float]:
    """Parse ``MIN:MAX:N`` (N factors spaced geometrically) or a list ``S1,S2,...``.

    Each factor is read with :func:`cvtool.filtering.kernels.parse_number`, the grammar of every
    number the CLI takes (ASCII digits, fractions such as ``1/2``, no NaN or infinity); ``N`` is a
    whole number in ASCII digits.

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
        _check_scales([low, high])
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
    _check_scales(values)
    return values


def _check_scales(values: Sequence[float]) -> None:
    for value in values:
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"--scales: every factor must be a positive number, got {value}")


class _Peaks:
    """Best remaining position of one score map, with suppression around chosen boxes.

    The map may cover only part of the scene (a refinement window): ``origin`` is the
    scene position (x, y) of its entry ``[0, 0]``. A per-row maximum makes each pick cost
    one row scan instead of a pass over the map.
    """

    def __init__(self, scores: np.ndarray, scale: float, height: int, width: int,
                 origin: tuple[int, int] = (0, 0)) -> None:
        self.scores = np.array(scores, dtype=np.float64 if scores.dtype == np.float64
                               else np.float32)
        self.row_max = self.scores.max(axis=1)
        self.scale, self.height, self.width = scale, height, width
        self.x0, self.y0 = origin

    def best(self) -> Match | None:
        row = int(np.argmax(self.row_max))
        value = float(self.row_max[row])
        if value == -np.inf:
            return None
        col = int(np.argmax(self.scores[row]))
        return Match(self.x0 + col, self.y0 + row, self.width, self.height, value, self.scale)

    def suppress(self, chosen: Match) -> None:
        """Remove every position whose box overlaps ``chosen`` by more than half."""
        rows, cols = self.scores.shape
        cx, cy = chosen.x - self.x0, chosen.y - self.y0  # in this map's coordinates
        y0 = max(0, cy - self.height + 1)
        y1 = min(rows, cy + chosen.height)
        x0 = max(0, cx - self.width + 1)
        x1 = min(cols, cx + chosen.width)
        if y0 >= y1 or x0 >= x1:
            return
        ys = np.arange(y0, y1)[:, None]
        xs = np.arange(x0, x1)[None, :]
        dy = np.minimum(ys + self.height, cy + chosen.height) - np.maximum(ys, cy)
        dx = np.minimum(xs + self.width, cx + chosen.width) - np.maximum(xs, cx)
        limit = 0.5 * min(self.width * self.height, chosen.width * chosen.height)
        mask = (np.clip(dy, 0, None) * np.clip(dx, 0, None)) > limit
        block = self.scores[y0:y1, x0:x1]
        block[mask] = -np.inf
        self.row_max[y0:y1] = self.scores[y0:y1].max(axis=1)

    def take(self, count: int) -> list[Match]:
        """The ``count`` best positions, each suppressing its overlapping neighbours."""
        picked: list[Match] = []
        while len(picked) < count:
            match = self.best()
            if match is None:
                break
            picked.append(match)
            self.suppress(match)
        return picked


#: The coarse-to-fine search shrinks scene and template by 2 or 4, but never makes the
#: template's shorter side smaller than this (small templates lose what tells them apart).
COARSE_MIN_SIDE = 16
#: Coarse maps smaller than this many positions are not worth a pyramid.
COARSE_MIN_POSITIONS = 256 * 256


def _pyramid_level(scene: _Scene, level: int, cache: dict[int, _Scene]) -> _Scene:
    """The scene shrunk by ``2**level`` (2×2 blocks, repeatedly), cached."""
    if level not in cache:
        below = _pyramid_level(scene, level - 1, cache)
        if below.exact is None:
            cache[level] = _Scene(pyramid_down(below.values), None, below.peak)
        else:
            # Unsigned pixels: 2×2 block sums instead of means (ZNCC does not see the
            # factor 4), so the coarse levels keep the exact integer window sums too.
            exact = below.exact.astype(np.uint32, copy=False)
            rows, cols = exact.shape[0] // 2 * 2, exact.shape[1] // 2 * 2
            summed = exact[0:rows:2, 0:cols:2] + exact[1:rows:2, 0:cols:2]
            summed += exact[0:rows:2, 1:cols:2]
            summed += exact[1:rows:2, 1:cols:2]
            cache[level] = _Scene(summed.astype(below.values.dtype), summed,
                                  float(summed.max()))
    return cache[level]


def _coarse_level(size: tuple[int, int], scene_shape: tuple[int, ...]) -> int:
    """How many times (0, 1 or 2) to halve before searching a template of ``size``."""
    level = 0
    while level < 2:
        factor = 2 ** (level + 1)
        positions = ((scene_shape[0] // factor - size[0] // factor + 1)
                     * (scene_shape[1] // factor - size[1] // factor + 1))
        if min(size) / factor < COARSE_MIN_SIDE or positions < COARSE_MIN_POSITIONS:
            break
        level += 1
    return level


def _refined(scene: _Scene, sized: Callable[[tuple[int, int]], np.ndarray],
             template_size: tuple[int, int], scale: float, level: int,
             cache: dict[int, _Scene], count: int, workers: int | None) -> list[_Peaks]:
    """Coarse-to-fine: search at ``2**-level`` resolution, re-score the best places at full.

    The coarse map only nominates candidates (``count`` of them, apart from each other);
    every score reported comes from full-resolution windows within ``2**level + 1`` pixels
    of a candidate, so locations and scores are those of the exhaustive search wherever it
    nominates the right places. ``sized(size)`` is the template resized to ``size``.
    """
    factor = 2**level
    coarse_scene = _pyramid_level(scene, level, cache)
    h, w = template_size
    template_scaled = sized((max(1, round(h * scale)), max(1, round(w * scale))))
    th, tw = template_scaled.shape[:2]
    coarse_size = (max(1, round(h * scale / factor)), max(1, round(w * scale / factor)))
    coarse_map = _zncc_prepared(coarse_scene, sized(coarse_size), workers)
    candidates = _Peaks(coarse_map, scale, *coarse_size).take(count)
    big_h, big_w = scene.values.shape[:2]
    radius = factor + 1
    out = []
    for candidate in candidates:
        x = min(max(candidate.x * factor - radius, 0), big_w - tw)
        y = min(max(candidate.y * factor - radius, 0), big_h - th)
        x_end = min(big_w, candidate.x * factor + radius + tw)
        y_end = min(big_h, candidate.y * factor + radius + th)
        window = _Scene(scene.values[y:y_end, x:x_end],
                        None if scene.exact is None else scene.exact[y:y_end, x:x_end],
                        scene.peak)
        fine = _zncc_prepared(window, template_scaled, 1)
        out.append(_Peaks(fine, scale, th, tw, origin=(x, y)))
    return out


def search(scene: np.ndarray, template: np.ndarray | PreparedTemplate, *,
           threshold: float = 0.8,
           top_k: int = 1, scales: Sequence[float] = (1.0,), gray: bool = False,
           exhaustive: bool = False, workers: int | None = None,
           progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Search a scene for a template at several scales; see :func:`find`.

    Returns a :class:`SearchResult`: the matches, the best candidate even when it is below
    the threshold (for "not found (best score=...)"), and the scale-1 score map when scale 1
    was searched exhaustively (always so when the template is small).

    ``template`` may be a :class:`PreparedTemplate` (from :func:`prepare_template`): when
    one template is searched for in many scenes, its conversions and its resized copies
    for every scale are then made once, not once per scene.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.random((40, 50))
    >>> result = search(scene, scene[10:20, 5:17])
    >>> result.best.x, result.best.y, round(result.best.score, 6), result.score_map.shape
    (5, 10, 1.0, (31, 39))
    """
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise UsageError(f"--threshold must be a number, got {threshold!r}") from None
    if not -1.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold must be between -1 and 1, got {threshold}")
    if int(top_k) != top_k or top_k < 1:
        raise UsageError(f"--top-k must be a whole number >= 1, got {top_k}")
    scales = [float(s) for s in scales]
    if not scales:
        raise UsageError("--scales needs at least one factor")
    _check_scales(scales)
    prepared_scene, prepared, to_gray, dtype = _prepare(scene, template, gray)
    big_h, big_w = prepared_scene.values.shape[:2]
    h, w = prepared.size

    def sized(size: tuple[int, int]) -> np.ndarray:
        return prepared.values(to_gray, dtype, size)

    peaks: list[_Peaks] = []
    score_map = None
    sizes = [(max(1, round(h * s)), max(1, round(w * s))) for s in scales]
    fitting = [(s, size) for s, size in zip(scales, sizes, strict=True)
               if size[0] <= big_h and size[1] <= big_w]
    if not fitting:
        smallest = min(sizes)
        raise ProcessingError(
            f"template {h}x{w} is larger than the scene {big_h}x{big_w} at every scale "
            f"searched (the smallest, {smallest[0]}x{smallest[1]}, does not fit)")
    levels: dict[int, _Scene] = {0: prepared_scene}
    for done, (scale, (sh, sw)) in enumerate(fitting, start=1):
        level = 0 if exhaustive else _coarse_level((sh, sw), (big_h, big_w))
        if level:
            peaks += _refined(prepared_scene, sized, (h, w), scale, level, levels,
                              2 * top_k + 3, workers)
        else:
            scores = _zncc_prepared(prepared_scene, sized((sh, sw)), workers)
            if scale == 1.0:
                score_map = scores
            peaks.append(_Peaks(scores, scale, sh, sw))
        if progress is not None:
            progress(done, len(fitting))

    matches: list[Match] = []
    best: Match | None = None
    while len(matches) < top_k:
        candidates = [c for c in (p.best() for p in peaks) if c is not None]
        if not candidates:
            break
        # Ties go to the scale listed first, so results do not depend on float noise order.
        choice = max(candidates, key=lambda m: m.score)
        if best is None:
            best = choice
        if choice.score < threshold:
            break
        matches.append(choice)
        for p in peaks:
            p.suppress(choice)
    return SearchResult(matches=matches, best=best, score_map=score_map)


def find(scene: np.ndarray, template: np.ndarray | PreparedTemplate, *, threshold: float = 0.8,
         top_k: int = 1, scales: Sequence[float] = (1.0,), gray: bool = False,
         exhaustive: bool = False, workers: int | None = None) -> list[Match]:
    """Find up to ``top_k`` places where ``template`` appears in ``scene``.

    Parameters
    ----------
    scene, template : ndarray
        H×W or H×W×C arrays; colour handled as in :func:`zncc`. The template may be a
        :class:`PreparedTemplate` to reuse its work across scenes.
    threshold : float
        Least ZNCC score, in [-1, 1], that counts as a match.
    top_k : int
        At most this many matches, best first, no two boxes overlapping by more than half
        of the smaller box (greedy non-maximum suppression across all scales).
    scales : sequence of float
        Template resize factors to try (area averaging to shrink, bilinear to enlarge);
        scales at which the template no longer fits the scene are skipped.
    gray : bool
        Compare BT.601 gray versions.
    exhaustive : bool
        Score every position at full resolution at every scale. By default a template
        whose shorter side is at least ``2 * COARSE_MIN_SIDE`` pixels (at a given scale)
        in a large scene is first searched at half or quarter resolution, and the best
        few places (``2 * top_k + 3`` per scale) are then re-scored at full resolution
        around them: several times faster, the same result unless the coarse search fails
        to nominate the true match.
    workers : int, optional
        Threads for the FFTs.

    Returns
    -------
    list of Match
        Boxes in scene pixels, best first; empty when nothing reaches the threshold.

    Raises
    ------
    UsageError
        For a threshold outside [-1, 1], ``top_k < 1`` or a non-positive scale.
    ProcessingError
        When the template is larger than the scene at every scale.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> scene = rng.random((30, 40))
    >>> find(scene, scene[4:12, 20:30])
    [Match(x=20, y=4, width=10, height=8, score=1.0, scale=1.0)]
    """
    return search(scene, template, threshold=threshold, top_k=top_k, scales=scales,
                  gray=gray, exhaustive=exhaustive, workers=workers).matches

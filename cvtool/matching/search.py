"""Searching a scene for a template: scales, a coarse-to-fine pyramid, peaks and suppression.

The search does not know how a window is scored. It takes the score as a strategy
(``score=``, :data:`cvtool.matching.zncc_map.ZNCC` by default): an object with

- ``bounds``: the (lowest, highest) score, so ``threshold`` is checked before any data;
- ``prepare(scene, template, *, gray)``: checks and converts one scene and one template (which
  may be a :class:`~cvtool.matching.zncc_map.PreparedTemplate`, to reuse its work across
  scenes), and returns a :class:`Scorer`.

A :class:`Scorer` gives the scene's ``shape`` (H, W), the template's ``size`` (h, w) at scale
1, ``template(size)`` (the template resized), and ``scores(template, level=, window=,
workers=)``, the score map of a template over the scene (``level`` L: the scene shrunk by
``2**L``; ``window``: a part of the full-resolution scene). A scorer whose ``pyramid`` is
false is only asked for ``level=0`` and no window: the search is then exhaustive. Peaks and
suppression (:mod:`cvtool.matching.peaks`) take any map where higher is better.

Multi-scale searches of large templates run coarse-to-fine: each scale is searched on a
2×- or 4×-reduced scene and the best few places are re-scored at full resolution.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cvtool.errors import ProcessingError, UsageError
from cvtool.matching.peaks import Match, Peaks, best_matches
from cvtool.matching.zncc_map import ZNCC, PreparedTemplate

__all__ = ["MAX_SCALES", "COARSE_MIN_SIDE", "COARSE_MIN_POSITIONS", "Match", "ScoreMap",
           "Scorer", "SearchResult", "check_scales", "find", "search"]

#: The most template sizes one search takes: each is a full search, so a mistyped count must
#: not queue millions of them.
MAX_SCALES = 1000

#: The coarse-to-fine search shrinks scene and template by 2 or 4, but never makes the
#: template's shorter side smaller than this (small templates lose what tells them apart).
COARSE_MIN_SIDE = 16
#: Coarse maps smaller than this many positions are not worth a pyramid.
COARSE_MIN_POSITIONS = 256 * 256


class Scorer(Protocol):
    """One scene and one template, ready to be scored (made by :meth:`ScoreMap.prepare`)."""

    #: Whether ``scores`` accepts ``level > 0`` and ``window`` (coarse-to-fine search).
    pyramid: bool
    #: The scene's (height, width).
    shape: tuple[int, int]
    #: The template's (height, width) at scale 1.
    size: tuple[int, int]

    def template(self, size: tuple[int, int]) -> np.ndarray:
        """The template resized to ``size`` = (height, width)."""

    def scores(self, template: np.ndarray, *, level: int = 0,
               window: tuple[int, int, int, int] | None = None,
               workers: int | None = None) -> np.ndarray:
        """The score map: entry ``[y, x]`` scores the window whose top-left corner is (x, y)."""


class ScoreMap(Protocol):
    """A score as :func:`search` takes it (``score=``); :data:`cvtool.matching.zncc_map.ZNCC`."""

    #: The lowest and highest score; a threshold outside is a usage error.
    bounds: tuple[float, float]

    def prepare(self, scene: np.ndarray, template: np.ndarray | PreparedTemplate, *,
                gray: bool = False) -> Scorer:
        """Check and convert a scene and a template for scoring."""


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


def check_scales(scales: Sequence[float]) -> list[float]:
    """The scale factors as floats: at least one, at most :data:`MAX_SCALES`, each > 0 and finite.

    Examples
    --------
    >>> check_scales((1, 0.5))
    [1.0, 0.5]
    >>> check_scales([0.0])
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: scales must be positive finite numbers, got 0.0
    """
    try:
        values = [float(s) for s in scales]
    except (TypeError, ValueError):
        raise UsageError(f"scales must be a sequence of numbers, got {scales!r}",
                         parameter="scales") from None
    if not values:
        raise UsageError("scales needs at least one factor", parameter="scales")
    if len(values) > MAX_SCALES:
        raise UsageError(f"scales takes at most {MAX_SCALES} factors, got {len(values)}",
                         parameter="scales")
    for value in values:
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"scales must be positive finite numbers, got {value}",
                             parameter="scales")
    return values


def _check_threshold(threshold: float, bounds: tuple[float, float]) -> float:
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise UsageError(f"threshold must be a number, got {threshold!r}",
                         parameter="threshold") from None
    low, high = bounds
    if not low <= threshold <= high:
        raise UsageError(f"threshold must be between {low:g} and {high:g}, got {threshold}",
                         parameter="threshold")
    return threshold


def _check_top_k(top_k: int) -> int:
    try:
        whole = int(top_k) == top_k
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or top_k < 1:
        raise UsageError(f"top_k must be a whole number >= 1, got {top_k}", parameter="top_k")
    return int(top_k)


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


def _refined(scorer: Scorer, scale: float, level: int, count: int,
             workers: int | None) -> list[Peaks]:
    """Coarse-to-fine: search at ``2**-level`` resolution, re-score the best places at full.

    The coarse map only nominates candidates (``count`` of them, apart from each other);
    every score reported comes from full-resolution windows within ``2**level + 1`` pixels
    of a candidate, so locations and scores are those of the exhaustive search wherever it
    nominates the right places.
    """
    factor = 2**level
    h, w = scorer.size
    template_scaled = scorer.template((max(1, round(h * scale)), max(1, round(w * scale))))
    th, tw = template_scaled.shape[:2]
    coarse_size = (max(1, round(h * scale / factor)), max(1, round(w * scale / factor)))
    coarse_map = scorer.scores(scorer.template(coarse_size), level=level, workers=workers)
    candidates = Peaks(coarse_map, scale, *coarse_size).take(count)
    big_h, big_w = scorer.shape
    radius = factor + 1
    out = []
    for candidate in candidates:
        x = min(max(candidate.x * factor - radius, 0), big_w - tw)
        y = min(max(candidate.y * factor - radius, 0), big_h - th)
        x_end = min(big_w, candidate.x * factor + radius + tw)
        y_end = min(big_h, candidate.y * factor + radius + th)
        fine = scorer.scores(template_scaled, window=(y, y_end, x, x_end), workers=1)
        out.append(Peaks(fine, scale, th, tw, origin=(x, y)))
    return out


def search(scene: np.ndarray, template: np.ndarray | PreparedTemplate, *,
           threshold: float = 0.8,
           top_k: int = 1, scales: Sequence[float] = (1.0,), gray: bool = False,
           exhaustive: bool = False, workers: int | None = None,
           progress: Callable[[int, int], None] | None = None,
           score: ScoreMap = ZNCC) -> SearchResult:
    """Search a scene for a template at several scales; see :func:`find`.

    Returns a :class:`SearchResult`: the matches, the best candidate even when it is below
    the threshold (for "not found (best score=...)"), and the scale-1 score map when scale 1
    was searched exhaustively (always so when the template is small).

    ``template`` may be a :class:`~cvtool.matching.zncc_map.PreparedTemplate` (from
    :func:`~cvtool.matching.zncc_map.prepare_template`): when one template is searched for in many
    scenes, its conversions and its resized copies for every scale are then made once, not
    once per scene. ``score`` is the score map searched (see the module's docstring for what
    it must provide); ``progress(done, total)`` is called after each scale.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.random((40, 50))
    >>> result = search(scene, scene[10:20, 5:17])
    >>> result.best.x, result.best.y, round(result.best.score, 6), result.score_map.shape
    (5, 10, 1.0, (31, 39))
    """
    threshold = _check_threshold(threshold, score.bounds)
    top_k = _check_top_k(top_k)
    scales = check_scales(scales)
    scorer = score.prepare(scene, template, gray=gray)
    big_h, big_w = scorer.shape
    h, w = scorer.size

    peaks: list[Peaks] = []
    score_map = None
    sizes = [(max(1, round(h * s)), max(1, round(w * s))) for s in scales]
    fitting = [(s, size) for s, size in zip(scales, sizes, strict=True)
               if size[0] <= big_h and size[1] <= big_w]
    if not fitting:
        smallest = min(sizes)
        # Sizes as width x height, the order a person reads them in (as ImageMagick).
        raise ProcessingError(
            f"template {w}x{h} is larger than the scene {big_w}x{big_h} at every scale "
            f"searched (the smallest, {smallest[1]}x{smallest[0]}, does not fit; "
            f"width x height)")
    for done, (scale, (sh, sw)) in enumerate(fitting, start=1):
        level = (0 if exhaustive or not scorer.pyramid
                 else _coarse_level((sh, sw), (big_h, big_w)))
        if level:
            peaks += _refined(scorer, scale, level, 2 * top_k + 3, workers)
        else:
            scores = scorer.scores(scorer.template((sh, sw)), workers=workers)
            if scale == 1.0:
                score_map = scores
            peaks.append(Peaks(scores, scale, sh, sw))
        if progress is not None:
            progress(done, len(fitting))

    matches, best = best_matches(peaks, top_k, threshold)
    return SearchResult(matches=matches, best=best, score_map=score_map)


def find(scene: np.ndarray, template: np.ndarray | PreparedTemplate, *, threshold: float = 0.8,
         top_k: int = 1, scales: Sequence[float] = (1.0,), gray: bool = False,
         exhaustive: bool = False, workers: int | None = None,
         score: ScoreMap = ZNCC) -> list[Match]:
    """Find up to ``top_k`` places where ``template`` appears in ``scene``.

    Parameters
    ----------
    scene, template : ndarray
        H×W or H×W×C arrays; colour handled as in :func:`cvtool.matching.zncc_map.zncc`. The
        template may be a :class:`~cvtool.matching.zncc_map.PreparedTemplate` to reuse its work
        across scenes.
    threshold : float
        Least score, in [-1, 1] for ZNCC (``score.bounds``), that counts as a match.
    top_k : int
        At most this many matches, best first, no two boxes overlapping by more than half
        of the smaller box (greedy non-maximum suppression across all scales).
    scales : sequence of float
        Template resize factors to try (area averaging to shrink, bilinear to enlarge), each
        positive and finite, at most :data:`MAX_SCALES` of them; scales at which the
        template no longer fits the scene are skipped.
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
    score : ScoreMap
        The score searched (ZNCC by default; see :mod:`cvtool.matching.search`).

    Returns
    -------
    list of Match
        Boxes in scene pixels, best first; empty when nothing reaches the threshold.

    Raises
    ------
    UsageError
        For a threshold outside the score's bounds, ``top_k < 1`` or a bad scale (naming the
        parameter).
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
                  gray=gray, exhaustive=exhaustive, workers=workers, score=score).matches

"""One scene through ``find-waldo`` as the command line does it, as plain functions on arrays.

The two methods share one shape: settings checked once (:func:`find_settings`), a template
prepared once for every scene (:func:`prepare_find_template`), then per scene a search
(:func:`find_in_scene`) and, when asked, the scale-1 score map laid over the scene
(:func:`heatmap_scores`, :func:`heatmap_pixels`). :func:`find_file` is one scene file through
all of it (read, search, heatmap and annotated image written), as a module-level function that
a local batch and a Dask cluster's workers run alike, so both write the same bytes.

- ``zncc``: :func:`cvtool.matching.search` with the masked ZNCC score
  (:data:`cvtool.matching.masked_search.MASKED_ZNCC`): a template whose alpha masks something
  is scored with it as weights; any other template exactly as plain ZNCC.
- ``robust``: :func:`cvtool.matching.robust.find_robust`; ``gray`` compares BT.601 gray
  versions of scene and template (the template's alpha kept).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> scene = rng.integers(0, 256, (40, 50), dtype=np.uint8)
>>> settings = find_settings("zncc")
>>> find_in_scene(scene, prepare_find_template(scene[5:15, 8:20], settings), settings).matches
[Match(x=8, y=5, width=12, height=10, score=1.0, scale=1.0)]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cvtool import io
from cvtool.errors import ProcessingError, UsageError
from cvtool.imaging.color import split_alpha, to_gray

__all__ = ["METHODS", "ZNCC_THRESHOLD", "FindSettings", "SceneOutcome", "check_method",
           "find_settings", "prepare_find_template", "find_in_scene", "find_file",
           "heatmap_scores", "heatmap_pixels", "score_bounds"]

#: The scores ``find-waldo`` knows; ``zncc`` is the default.
METHODS = ("zncc", "robust")
#: The default threshold of ``zncc`` (``robust`` has its own,
#: :data:`cvtool.matching.robust.DEFAULT_THRESHOLD`).
ZNCC_THRESHOLD = 0.8


@dataclass(frozen=True)
class FindSettings:
    """What to look for in each scene, as values (see :func:`find_settings`).

    ``scales`` is ``None`` for ``robust``'s whole default range.
    """

    method: str = "zncc"
    threshold: float = ZNCC_THRESHOLD
    top_k: int = 1
    scales: tuple[float, ...] | None = (1.0,)
    gray: bool = False


def check_method(method: str) -> str:
    """``method`` as one of :data:`METHODS` (case-insensitive), else a usage error.

    Examples
    --------
    >>> check_method("Robust")
    'robust'
    """
    name = str(method).strip().lower()
    if name not in METHODS:
        raise UsageError(f"method must be one of {', '.join(METHODS)}, got {method!r}",
                         parameter="method")
    return name


def score_bounds(method: str) -> tuple[float, float]:
    """The lowest and highest score of ``method``: (-1, 1) for zncc, (0, 1) for robust.

    Examples
    --------
    >>> score_bounds("zncc"), score_bounds("robust")
    ((-1.0, 1.0), (0.0, 1.0))
    """
    return (-1.0, 1.0) if check_method(method) == "zncc" else (0.0, 1.0)


def find_settings(method: str = "zncc", threshold: float | None = None, top_k: int = 1,
                  scales: Sequence[float] | None = None, gray: bool = False) -> FindSettings:
    """The settings, checked by the matching core on a tiny probe before any image is read.

    ``threshold=None`` takes the method's default (:data:`ZNCC_THRESHOLD`, or robust's
    :data:`~cvtool.matching.robust.DEFAULT_THRESHOLD`); ``scales=None`` is ``[1]`` for zncc
    and robust's whole default range (0.5 to 2) for robust.

    Examples
    --------
    >>> find_settings("robust").threshold == __import__("cvtool.matching.robust",
    ...     fromlist=["x"]).DEFAULT_THRESHOLD
    True
    >>> find_settings("zncc", threshold=2)
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: threshold must be between -1 and 1, got 2.0
    """
    method = check_method(method)
    if method == "zncc":
        from cvtool.matching import search
        from cvtool.matching.search import check_scales

        values = tuple(check_scales([1.0] if scales is None else scales))
        threshold = ZNCC_THRESHOLD if threshold is None else threshold
        probe = np.zeros((4, 4), np.float32)
        search(probe, probe[:2, :2], threshold=threshold, top_k=top_k, scales=[1.0], workers=1)
        return FindSettings(method, float(threshold), int(top_k), values, bool(gray))
    from cvtool.matching.robust import DEFAULT_THRESHOLD, find_robust

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    values = None if scales is None else tuple(float(s) for s in scales)
    # The robust core checks threshold, top_k and scales first; a scene nothing fits in then
    # ends the probe at once.
    try:
        find_robust(np.zeros((1, 1, 3), np.uint8), np.zeros((2, 2, 3), np.uint8),
                    threshold=threshold, top_k=top_k, scales=values, angles=[0.0], workers=1)
    except ProcessingError:
        pass
    return FindSettings(method, float(threshold), int(top_k), values, bool(gray))


def _gray_keeping_alpha(image: np.ndarray) -> np.ndarray:
    """BT.601 gray of a colour image in its own pixel type, its alpha (if any) kept."""
    image = np.asarray(image)
    colour, alpha = split_alpha(image)
    if colour.ndim == 2 or colour.shape[2] == 1:
        return image
    gray = to_gray(colour)
    if image.dtype.kind in "ui":  # robust reads integer pixels on their type's full scale
        gray = np.clip(np.rint(gray), 0, np.iinfo(image.dtype).max).astype(image.dtype)
    else:
        gray = gray.astype(image.dtype)
    return gray if alpha is None else np.dstack([gray, alpha.astype(gray.dtype)])


def prepare_find_template(template: np.ndarray, settings: FindSettings):
    """The template prepared once for every scene of the run (checked, alpha as its mask).

    zncc: a :class:`~cvtool.matching.masked_search.MaskedTemplate` when the alpha masks
    something, else a :class:`~cvtool.matching.PreparedTemplate`; robust: a
    :class:`~cvtool.matching.robust.RobustTemplate` (of the gray template with ``gray``).
    """
    if settings.method == "zncc":
        from cvtool.matching.masked_search import prepare_masked

        return prepare_masked(template)
    from cvtool.matching.robust import prepare_robust

    template = np.asarray(template)
    return prepare_robust(_gray_keeping_alpha(template) if settings.gray else template)


def find_in_scene(scene: np.ndarray, template, settings: FindSettings, *,
                  workers: int | None = None,
                  progress: Callable[[int, int], None] | None = None):
    """Search one scene with a template from :func:`prepare_find_template`.

    Returns a :class:`cvtool.matching.SearchResult` (zncc's carries the scale-1 score map
    when scale 1 was searched exhaustively; robust's never does). ``progress(done, total)``
    is called after each scale (zncc only).
    """
    if settings.method == "zncc":
        from cvtool.matching import search
        from cvtool.matching.masked_search import MASKED_ZNCC

        return search(scene, template, threshold=settings.threshold, top_k=settings.top_k,
                      scales=settings.scales, gray=settings.gray, workers=workers,
                      progress=progress, score=MASKED_ZNCC)
    from cvtool.matching.robust import find_robust

    scene = _gray_keeping_alpha(scene) if settings.gray else scene
    return find_robust(scene, template, threshold=settings.threshold, top_k=settings.top_k,
                       scales=settings.scales, workers=workers)


def heatmap_scores(scene: np.ndarray, template, settings: FindSettings, result=None, *,
                   workers: int | None = None) -> np.ndarray:
    """The scale-1 score map of one scene: shape ``(H - h + 1, W - w + 1)``, window's top-left.

    The search's own map when it kept one (zncc, scale 1 searched exhaustively), else
    computed: masked/plain ZNCC, or :func:`cvtool.matching.robust.robust_score_map`.
    """
    if result is not None and result.score_map is not None:
        return result.score_map
    if settings.method == "zncc":
        from cvtool.matching.masked_search import MASKED_ZNCC

        scorer = MASKED_ZNCC.prepare(scene, template, gray=settings.gray)
        return scorer.scores(scorer.template(scorer.size), workers=workers)
    from cvtool.matching.robust import robust_score_map

    scene = _gray_keeping_alpha(scene) if settings.gray else scene
    return robust_score_map(scene, template, 1.0, workers=workers)


def heatmap_pixels(scores: np.ndarray, scene_shape: tuple[int, ...],
                   template_shape: tuple[int, ...], target: str,
                   bounds: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """The score map laid over the scene: its width×height, each window's score at its centre.

    The window whose top-left corner is (y, x) puts its score at pixel (y + h//2, x + w//2)
    (the anchor of ``correlate``); pixels where no window fits are 0. Raw float32 scores for
    ``.npy``/``.tif``, else 8-bit with the score's ``bounds`` (low..high) -> 0..255: -1..1 for
    zncc, 0..1 for robust (:func:`score_bounds`).

    Examples
    --------
    >>> heatmap_pixels(np.array([[-1.0, 0.0, 1.0]]), (1, 4), (1, 2), "map.png")
    array([[  0,   0, 128, 255]], dtype=uint8)
    >>> heatmap_pixels(np.array([[0.0, 0.5, 1.0]]), (1, 4), (1, 2), "map.png", (0.0, 1.0))
    array([[  0,   0, 128, 255]], dtype=uint8)
    >>> heatmap_pixels(np.array([[0.5]]), (3, 3), (3, 3), "map.npy")[1].tolist()
    [0.0, 0.5, 0.0]
    """
    height, width = scene_shape[:2]
    top, left = template_shape[0] // 2, template_shape[1] // 2
    rows, cols = scores.shape
    if io.keeps_floats(target):
        out = np.zeros((height, width), np.float32)
        out[top:top + rows, left:left + cols] = scores
        return out
    low, high = bounds
    out = np.zeros((height, width), np.uint8)
    out[top:top + rows, left:left + cols] = np.clip(
        np.rint((scores - low) * (255.0 / (high - low))), 0, 255)
    return out


@dataclass(frozen=True)
class SceneOutcome:
    """What :func:`find_file` found in one scene: the matches (best first), the best score
    whatever it is (None when nothing could be scored), and the milliseconds it took."""

    matches: list
    best: float | None
    elapsed_ms: float


def find_file(path: str, template, settings: FindSettings, *,
              template_shape: tuple[int, ...] | None = None, annotated: str | None = None,
              heatmap: str | None = None, chunk: int | None = None, workers: int | None = 1,
              progress: Callable[[int, int], None] | None = None) -> SceneOutcome:
    """One scene file through ``find-waldo``: read, search, write the heatmap and the boxes.

    Parameters
    ----------
    path : str
        The scene (any format :func:`cvtool.io.read_image` reads; with ``chunk``, a format
        read by region, see :func:`cvtool.scaleout.chunked_match.search_chunked`).
    template
        From :func:`prepare_find_template`; with ``chunk``, the template image itself.
    settings : FindSettings
        From :func:`find_settings`.
    template_shape : tuple of int, optional
        The template image's shape, which places the heatmap's scores (needed with
        ``heatmap``).
    annotated, heatmap : str, optional
        Where to write the scene with each match boxed, and the scale-1 score map laid over
        the scene (:func:`heatmap_pixels`); both atomically.
    chunk : int, optional
        Search the scene chunk by chunk with chunks of this side (zncc only; no outputs).
    workers : int, optional
        Threads for this scene's search (default 1: a batch runs scenes side by side).
    progress : callable, optional
        ``progress(done, total)`` after each scale (or chunk).

    Returns
    -------
    SceneOutcome
        The matches, the best score and the time taken, from reading to the last write.

    Examples
    --------
    >>> import os, tempfile
    >>> rng = np.random.default_rng(0)
    >>> scene = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    >>> path = os.path.join(tempfile.mkdtemp(), "scene.npy")
    >>> np.save(path, scene)
    >>> settings = find_settings("zncc")
    >>> find_file(path, prepare_find_template(scene[5:15, 8:20], settings), settings).matches
    [Match(x=8, y=5, width=12, height=10, score=1.0, scale=1.0)]
    """
    start = time.perf_counter()
    if chunk is not None:
        from cvtool.scaleout.chunked_match import search_chunked

        result = search_chunked(path, template, threshold=settings.threshold,
                                top_k=settings.top_k, scales=settings.scales,
                                gray=settings.gray, chunk=chunk, workers=workers,
                                progress=progress)
    else:
        scene = io.read_image(path)
        result = find_in_scene(scene, template, settings, workers=workers, progress=progress)
        if heatmap is not None:
            if template_shape is None:
                raise UsageError("template_shape is needed to place the heatmap's scores",
                                 parameter="template_shape")
            scores = heatmap_scores(scene, template, settings, result, workers=workers)
            io.write_image(heatmap, heatmap_pixels(scores, scene.shape, template_shape, heatmap,
                                                   score_bounds(settings.method)))
        if annotated is not None:
            from cvtool.imaging.draw import annotate_matches

            boxes = [(m.x, m.y, m.width, m.height, m.score) for m in result.matches]
            io.write_image(annotated, annotate_matches(scene, boxes))
    best = None if result.best is None else float(result.best.score)
    return SceneOutcome(list(result.matches), best, (time.perf_counter() - start) * 1e3)

"""Masked ZNCC as a score for :func:`cvtool.matching.search.search`: the template's alpha votes.

:data:`MASKED_ZNCC` is a :class:`cvtool.matching.search.ScoreMap`: passed as ``score=``, the
search's scales, top-k and one suppression over everything work as for plain ZNCC, while each
window is scored by :func:`cvtool.matching.masked.zncc_masked` with the template's alpha as the
weights (the template and its alpha are resized together for each scale).

A template without alpha, or with an alpha that is fully opaque everywhere, has nothing to
mask: it is handed to the plain :data:`cvtool.matching.zncc_map.ZNCC` unchanged, so its results
are exactly those of an unmasked search (bit for bit, coarse-to-fine pyramid included). The
masked scorer itself searches exhaustively (every position, every scale at full resolution).

>>> import numpy as np
>>> from cvtool.matching import search
>>> rng = np.random.default_rng(0)
>>> scene = rng.random((40, 50))
>>> template = np.dstack([scene[10:20, 5:17], np.ones((10, 12))])   # gray + alpha
>>> template[0, 0, 0], template[0, 0, 1] = 99.0, 0.0                # a pixel that lies, masked
>>> best = search(scene, template, score=MASKED_ZNCC).best
>>> best.x, best.y, round(best.score, 6)
(5, 10, 1.0)
"""

from __future__ import annotations

import numpy as np

from cvtool.imaging.color import split_alpha
from cvtool.imaging.resample import resize
from cvtool.matching.masked import template_mask, zncc_masked
from cvtool.matching.zncc_map import ZNCC, PreparedTemplate

__all__ = ["MASKED_ZNCC", "MaskedTemplate", "MaskedScorer", "prepare_masked"]


class MaskedTemplate:
    """A template with a mask that matters: its colour and its alpha weights, resized per size.

    Made by :func:`prepare_masked`; reuse one for many scenes (its resized copies are cached).
    """

    def __init__(self, template: np.ndarray, weights: np.ndarray) -> None:
        colour, _ = split_alpha(np.asarray(template))
        self._colour = np.array(colour, dtype=np.float64)
        self._weights = np.asarray(weights, dtype=np.float64)
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` at scale 1."""
        return self._colour.shape[0], self._colour.shape[1]

    def stacked(self, size: tuple[int, int]) -> np.ndarray:
        """The colour channels with the weights as one last plane, resized to ``size``.

        Colour and weights are resized by the same rule (area average down, bilinear up), so
        a resized weight stays in [0, 1] and lines up with its pixel.
        """
        size = (int(size[0]), int(size[1]))
        found = self._cache.get(size)
        if found is None:
            colour = self._colour if self._colour.ndim == 3 else self._colour[:, :, None]
            stack = np.concatenate([colour, self._weights[:, :, None]], axis=2)
            found = stack if size == self.size else resize(stack, size).astype(np.float64)
            found.setflags(write=False)
            found = self._cache.setdefault(size, found)
        return found


def prepare_masked(template: np.ndarray | PreparedTemplate | MaskedTemplate,
                   ) -> PreparedTemplate | MaskedTemplate:
    """The template as the masked search takes it: a :class:`MaskedTemplate` when its alpha
    masks anything, else the plain ZNCC's :class:`PreparedTemplate` (today's search, exactly).

    Examples
    --------
    >>> rgba = np.full((4, 4, 4), 255, np.uint8)
    >>> type(prepare_masked(rgba)).__name__
    'PreparedTemplate'
    >>> rgba[0, 0, 3] = 0
    >>> type(prepare_masked(rgba)).__name__
    'MaskedTemplate'
    """
    from cvtool.matching.zncc_map import prepare_template

    if isinstance(template, (PreparedTemplate, MaskedTemplate)):
        return template
    template = np.asarray(template)
    weights = template_mask(template) if template.ndim == 3 else None
    if weights is None or bool(np.all(weights == 1.0)):
        return prepare_template(template)
    return MaskedTemplate(template, weights)


class MaskedScorer:
    """One scene and one masked template for :func:`cvtool.matching.search.search`.

    Exhaustive (``pyramid`` false): every scale is scored at every position at full
    resolution by :func:`cvtool.matching.masked.zncc_masked`.
    """

    pyramid = False

    def __init__(self, scene: np.ndarray, template: MaskedTemplate, *, gray: bool) -> None:
        self._scene = np.asarray(scene)
        self._template = template
        self._gray = gray
        self.shape: tuple[int, int] = self._scene.shape[:2]
        self.size: tuple[int, int] = template.size

    def template(self, size: tuple[int, int]) -> np.ndarray:
        """The template's colour and weights, resized to ``size`` (the weights last)."""
        return self._template.stacked(size)

    def scores(self, template: np.ndarray, *, level: int = 0,
               window: tuple[int, int, int, int] | None = None,
               workers: int | None = None) -> np.ndarray:
        """The masked ZNCC of a stacked template (from :meth:`template`) over the scene."""
        if level or window is not None:  # pragma: no cover - the search never asks (pyramid)
            raise ValueError("the masked score is exhaustive: no pyramid level or window")
        colour, weights = template[:, :, :-1], template[:, :, -1]
        return zncc_masked(self._scene, colour, weights, gray=self._gray, workers=workers)


class _MaskedZncc:
    """ZNCC where the template's alpha marks the pixels that vote, as a ``score=``."""

    name = "zncc-masked"
    bounds = ZNCC.bounds

    def prepare(self, scene: np.ndarray,
                template: np.ndarray | PreparedTemplate | MaskedTemplate, *,
                gray: bool = False):
        prepared = prepare_masked(template)
        if isinstance(prepared, PreparedTemplate):
            return ZNCC.prepare(scene, prepared, gray=gray)
        return MaskedScorer(scene, prepared, gray=gray)

    def __repr__(self) -> str:
        return "MASKED_ZNCC"


#: Masked ZNCC as :func:`cvtool.matching.search.search` takes it (``score=MASKED_ZNCC``).
MASKED_ZNCC = _MaskedZncc()

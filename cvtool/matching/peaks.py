"""Picking matches from score maps: best places first, with non-maximum suppression.

Independent of how the map was scored (ZNCC or any other score where higher is better):
entry ``[y, x]`` of a map is the box whose top-left corner is ``(x, y)``. Two boxes overlap
too much when they share more than half of the smaller box's area; a chosen box removes every
position that would overlap it so, in every map it is offered to (so one suppression works
across scales).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Match", "Peaks", "best_matches"]


@dataclass(frozen=True)
class Match:
    """One match: top-left corner ``(x, y)`` (column, row), box size and score, in scene pixels."""

    x: int
    y: int
    width: int
    height: int
    score: float
    scale: float


class Peaks:
    """Best remaining position of one score map, with suppression around chosen boxes.

    The map may cover only part of the scene (a refinement window): ``origin`` is the
    scene position (x, y) of its entry ``[0, 0]``; ``height`` and ``width`` are the box of
    each position. A per-row maximum makes each pick cost one row scan instead of a pass over
    the map. The map is copied (suppression writes ``-inf`` into the copy).

    Examples
    --------
    >>> peaks = Peaks(np.array([[0.1, 0.9, 0.8], [0.2, 0.3, 0.7]]), 1.0, 1, 3)
    >>> [(m.x, m.y, m.score) for m in peaks.take(3)]
    [(1, 0, 0.9), (2, 1, 0.7), (0, 1, 0.2)]
    """

    def __init__(self, scores: np.ndarray, scale: float, height: int, width: int,
                 origin: tuple[int, int] = (0, 0)) -> None:
        self.scores = np.array(scores, dtype=np.float64 if scores.dtype == np.float64
                               else np.float32)
        self.row_max = self.scores.max(axis=1)
        self.scale, self.height, self.width = scale, height, width
        self.x0, self.y0 = origin

    def best(self) -> Match | None:
        """The best position not yet suppressed (``None`` when none is left)."""
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


def best_matches(peaks: list[Peaks], count: int, threshold: float,
                 ) -> tuple[list[Match], Match | None]:
    """Up to ``count`` boxes at or above ``threshold`` across several maps, best first.

    Greedy non-maximum suppression over all the maps together: each chosen box suppresses its
    overlapping positions in every map. Also returns the best candidate whatever its score
    (``None`` only when the maps hold nothing), for "not found (best score=...)". Ties go to
    the map listed first, so results do not depend on float noise order. The maps are
    consumed (suppressed in place).

    Examples
    --------
    >>> a = Peaks(np.array([[0.5, 0.95]]), 1.0, 1, 1)
    >>> b = Peaks(np.array([[0.9, 0.2]]), 2.0, 1, 1)
    >>> matches, best = best_matches([a, b], 5, 0.6)
    >>> [(m.x, m.score, m.scale) for m in matches], best.score
    ([(1, 0.95, 1.0), (0, 0.9, 2.0)], 0.95)
    """
    matches: list[Match] = []
    best: Match | None = None
    while len(matches) < count:
        candidates = [c for c in (p.best() for p in peaks) if c is not None]
        if not candidates:
            break
        choice = max(candidates, key=lambda m: m.score)
        if best is None:
            best = choice
        if choice.score < threshold:
            break
        matches.append(choice)
        for p in peaks:
            p.suppress(choice)
    return matches, best

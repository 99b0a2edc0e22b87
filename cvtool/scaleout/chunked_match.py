"""Template matching in a scene larger than memory: ZNCC chunk by chunk, one suppression.

The scene is cut into chunks of window positions; each chunk is read with the template's
reach (template − 1 more rows and columns on the bottom and right), so every window lies
wholly inside one chunk and is scored exactly as in memory (:mod:`cvtool.matching`'s ZNCC).

Suppression cannot run per chunk (a true match can be suppressed by a better box in the next
chunk, and suppressing locally first drops matches), and the whole score map does not fit
in memory. Each chunk therefore keeps only the positions that can still become one of the
``top_k`` matches: the j-th match is the best position not suppressed by the j − 1 before
it, and one chosen box suppresses at most ``A = (H + h − 1)(W + w − 1)`` positions of a map
of h×w boxes (H×W the largest box searched), so within its own chunk and scale it ranks at
most ``(top_k − 1)·A + 1``. Those candidates (at or above the threshold, plus each chunk's
best for "not found (best score=...)") go through one greedy suppression over all chunks
and scales, with the in-memory rules: best first, ties to the scale listed first, then
to the first row and column; a box suppresses every box it overlaps by more than half of
the smaller one. So the matches and scores equal the exhaustive in-memory search
(``cvtool.matching.search(..., exhaustive=True)``) to float32 rounding of the scores.

One difference, documented: a window counts as flat (scores 0) when its spread is below
1e-5 of the largest pixel value — of the chunk here, of the whole scene in memory. For 8- and
16-bit scenes this changes nothing (a window of integers that is not constant is far above
that floor); for float scenes it may score a nearly flat window 0 in one and not the other.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from cvtool.errors import ProcessingError
from cvtool.matching import ZNCC, Match, SearchResult, prepare_template, search
from cvtool.matching.search import check_scales
from cvtool.scaleout.chunked_filter import DEFAULT_CHUNK, _check_chunk
from cvtool.scaleout.stores import ChunkedImage, open_input

__all__ = ["search_chunked"]


def _top_positions(scores: np.ndarray, keep: int, threshold: float) -> np.ndarray:
    """Flat indices of the map's ``keep`` best positions at or above ``threshold``, and
    always its single best (for the best score when nothing is found)."""
    flat = scores.reshape(-1)
    best = int(np.argmax(flat))
    above = np.flatnonzero(flat >= threshold)
    if above.size > keep:
        part = np.argpartition(-flat[above], keep - 1)[:keep]
        above = above[part]
    return np.union1d(above, [best])


def _greedy(candidates: dict[str, np.ndarray], top_k: int, threshold: float,
            scales: list[float]) -> tuple[list[Match], Match | None]:
    """Greedy non-maximum suppression over every chunk's candidates, as in memory."""
    score, order_scale = candidates["score"], candidates["scale"]
    ys, xs, hs, ws = (candidates[k] for k in ("y", "x", "h", "w"))
    # Best score first; ties to the scale listed first, then the first row, then column.
    order = np.lexsort((xs, ys, order_scale, -score.astype(np.float64)))
    alive = np.ones(score.size, bool)
    matches: list[Match] = []
    best: Match | None = None
    position = 0
    while len(matches) < top_k:
        while position < order.size and not alive[order[position]]:
            position += 1
        if position == order.size:
            break
        i = order[position]
        choice = Match(int(xs[i]), int(ys[i]), int(ws[i]), int(hs[i]), float(score[i]),
                       scales[int(order_scale[i])])
        if best is None:
            best = choice
        if choice.score < threshold:
            break
        matches.append(choice)
        dy = np.minimum(ys + hs, choice.y + choice.height) - np.maximum(ys, choice.y)
        dx = np.minimum(xs + ws, choice.x + choice.width) - np.maximum(xs, choice.x)
        limit = 0.5 * np.minimum(hs * ws, choice.width * choice.height)
        alive &= ~((np.clip(dy, 0, None) * np.clip(dx, 0, None)) > limit)
    return matches, best


def search_chunked(scene: str | os.PathLike | ChunkedImage, template: np.ndarray, *,
                   threshold: float = 0.8, top_k: int = 1, scales: Sequence[float] = (1.0,),
                   gray: bool = False, chunk: int = DEFAULT_CHUNK, workers: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Search a scene file for a template chunk by chunk; the result of an exhaustive search.

    Parameters
    ----------
    scene : str, path-like or ChunkedImage
        Tiled or striped TIFF, a ``.zarr`` array or a ``.npy`` (see
        :func:`cvtool.scaleout.stores.open_input`).
    template : ndarray
        H×W or H×W×C, in memory; colour, gray and alpha rules as :func:`cvtool.zncc`.
    threshold, top_k, scales, gray
        As :func:`cvtool.matching.search`.
    chunk : int
        Side of the block of window positions scored at once (memory: about 12 bytes per
        pixel and channel of a chunk plus the template's reach).
    workers : int, optional
        Threads for each chunk's FFTs (default: every CPU).
    progress : callable, optional
        ``progress(done, total)`` after each chunk.

    Returns
    -------
    SearchResult
        ``matches`` best first and ``best``, as :func:`cvtool.matching.search` with
        ``exhaustive=True``; ``score_map`` is None (it would be as large as the scene).

    Raises
    ------
    UsageError
        Bad threshold, top_k, scales or chunk; a scene format that cannot be read by region.
    ProcessingError
        Unreadable scene; a template larger than the scene at every scale.

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(1)
    >>> scene = rng.integers(0, 256, (60, 80), dtype=np.uint8)
    >>> path = os.path.join(tempfile.mkdtemp(), "scene.npy")
    >>> np.save(path, scene)
    >>> search_chunked(path, scene[30:42, 50:66], chunk=16).matches
    [Match(x=50, y=30, width=16, height=12, score=1.0, scale=1.0)]
    """
    template = np.asarray(template)
    scales = check_scales(scales)
    chunk = _check_chunk(chunk)
    # The in-memory search checks threshold, top_k and the template (layout, NaN, colour
    # rules) first: ask it, on the template as its own scene, so each rule stays in one place.
    search(template, template, threshold=threshold, top_k=top_k, gray=gray, workers=1)
    threshold, top_k = float(threshold), int(top_k)
    prepared = prepare_template(template)
    source = scene if isinstance(scene, ChunkedImage) else open_input(scene)
    try:
        return _search(source, prepared, threshold, top_k, scales, gray, chunk, workers,
                       progress)
    finally:
        if source is not scene:
            source.close()


def _search(source: ChunkedImage, prepared, threshold: float, top_k: int, scales: list[float],
            gray: bool, chunk: int, workers: int | None,
            progress: Callable[[int, int], None] | None) -> SearchResult:
    big_h, big_w = source.shape[:2]
    h, w = prepared.size
    sizes = [(max(1, round(h * s)), max(1, round(w * s))) for s in scales]
    fitting = [(i, size) for i, size in enumerate(sizes)
               if size[0] <= big_h and size[1] <= big_w]
    if not fitting:
        smallest = min(sizes)
        raise ProcessingError(
            f"template {h}x{w} is larger than the scene {big_h}x{big_w} at every scale "
            f"searched (the smallest, {smallest[0]}x{smallest[1]}, does not fit)")
    reach_h = max(size[0] for _, size in fitting) - 1
    reach_w = max(size[1] for _, size in fitting) - 1
    keep = {i: (top_k - 1) * (reach_h + sh) * (reach_w + sw) + 1 for i, (sh, sw) in fitting}
    origins = [(r, c) for r in range(0, big_h, chunk) for c in range(0, big_w, chunk)]
    found: dict[str, list[np.ndarray]] = {k: [] for k in ("score", "scale", "y", "x", "h", "w")}
    for done, (r0, c0) in enumerate(origins, start=1):
        r1, c1 = min(r0 + chunk, big_h), min(c0 + chunk, big_w)
        block = source.read(r0, min(big_h, r1 + reach_h), c0, min(big_w, c1 + reach_w))
        scorer = ZNCC.prepare(block, prepared, gray=gray)
        for i, (sh, sw) in fitting:
            rows = min(r1, big_h - sh + 1) - r0  # window tops inside this chunk
            cols = min(c1, big_w - sw + 1) - c0
            if rows <= 0 or cols <= 0:
                continue
            scores = scorer.scores(scorer.template((sh, sw)), workers=workers)[:rows, :cols]
            picked = _top_positions(scores, keep[i], threshold)
            y, x = np.divmod(picked, cols)
            found["score"].append(scores.reshape(-1)[picked])
            found["y"].append(y + r0)
            found["x"].append(x + c0)
            for key, value in (("scale", i), ("h", sh), ("w", sw)):
                found[key].append(np.full(picked.size, value, np.int64))
        if progress is not None:
            progress(done, len(origins))
    candidates = {k: np.concatenate(v) for k, v in found.items()}
    matches, best = _greedy(candidates, top_k, threshold, scales)
    return SearchResult(matches=matches, best=best, score_map=None)

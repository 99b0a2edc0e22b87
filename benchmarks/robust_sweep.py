"""A threshold sweep of the robust matcher on the development split (never the held-out one).

``python -m benchmarks.bench_robust --split dev --sweep 0.70:0.90:0.01`` runs
``find_robust`` once per scene at the sweep's lowest threshold, keeps every match it reports
with its score, and then scores each threshold of the sweep from those matches alone: a
threshold ``t`` reports the matches scoring at least ``t``. That is exactly what a run at
``t`` reports, because ``find_robust``'s threshold only cuts its sorted, suppressed list
(the search does not depend on it). The run uses the benchmark's own ``top_k``
(:data:`benchmarks.bench_robust.TOP_K`), not a larger one: ``top_k`` also sets how many
candidates are refined, so a larger one could change the scores.

So the default threshold can be checked on scenes it was meant to be chosen on. The
held-out split is refused (exit 2): looking at it at many thresholds is choosing on it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

#: Splits a sweep may run on: the held-out ``test`` split is reported once, at the default
#: threshold, never swept.
SWEEP_SPLITS = ("dev",)


def check_split(split: str) -> None:
    """Refuse a sweep on any split but :data:`SWEEP_SPLITS` (``ValueError``).

    >>> check_split("test")
    Traceback (most recent call last):
    ...
    ValueError: a sweep runs on the dev split only (got test): ...
    """
    if split not in SWEEP_SPLITS:
        raise ValueError(f"a sweep runs on the {' or '.join(SWEEP_SPLITS)} split only (got "
                         f"{split}): the held-out split is not for choosing a threshold")


@dataclass
class SceneMatches:
    """One scene's true boxes and the matches reported at the sweep's lowest threshold,
    ``(x, y, w, h, score)``, best first."""

    condition: str
    truths: list
    found: list


def parse_sweep(text: str) -> list[float]:
    """``START:STOP:STEP`` -> the thresholds from START to STOP (both included).

    >>> parse_sweep("0.70:0.73:0.01")
    [0.7, 0.71, 0.72, 0.73]
    >>> parse_sweep("0.8:0.7:0.01")
    Traceback (most recent call last):
    ...
    ValueError: the sweep must satisfy 0 <= START <= STOP <= 1 and STEP > 0, got 0.8:0.7:0.01
    """
    try:
        start, stop, step = (float(part) for part in text.split(":"))
    except ValueError:
        raise ValueError(f"the sweep is START:STOP:STEP (e.g. 0.70:0.90:0.01), got {text}")\
            from None
    if not (0.0 <= start <= stop <= 1.0 and step > 0):
        raise ValueError(f"the sweep must satisfy 0 <= START <= STOP <= 1 and STEP > 0, "
                         f"got {text}")
    count = int(np.floor((stop - start) / step + 1e-9)) + 1
    return [round(start + i * step, 9) for i in range(count)]


def at_threshold(found: list, threshold: float) -> list:
    """The matches a run at ``threshold`` reports: those scoring at least ``threshold``.

    >>> at_threshold([(0, 0, 5, 5, 0.9), (9, 9, 5, 5, 0.75)], 0.8)
    [(0, 0, 5, 5, 0.9)]
    """
    return [d for d in found if d[4] >= threshold]


def sweep_counts(records: list[SceneMatches], thresholds: list[float], score_scene) -> dict:
    """Per threshold, per condition: ``[tp, fp, fn, scenes, reports on Waldo-free scenes,
    Waldo-free scenes with a report]`` (``score_scene(found, truths)`` gives tp, fp, fn)."""
    out: dict = {}
    for t in thresholds:
        per = defaultdict(lambda: np.zeros(6, np.int64))
        for rec in records:
            found = at_threshold(rec.found, t)
            c = per[rec.condition]
            c[:3] += score_scene(found, rec.truths)
            c[3] += 1
            if not rec.truths:
                c[4] += len(found)
                c[5] += bool(found)
        out[t] = dict(per)
    return out


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1 (1.0 for a precision or recall with nothing to count).

    >>> prf(3, 1, 1)
    (0.75, 0.75, 0.75)
    >>> prf(0, 0, 0)
    (1.0, 1.0, 1.0)
    """
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def _total(per: dict, skip: tuple[str, ...] = ()) -> np.ndarray:
    return sum((c for cond, c in per.items() if cond not in skip), np.zeros(6, np.int64))


def render_sweep(counts: dict, conditions: list[str]) -> str:
    """The sweep as a markdown table and the thresholds the split prefers."""
    head = ["threshold", "P", "R", "F1", "F1 without large", "FP",
            "reports on Waldo-free scenes (scenes)"]
    shown = [c for c in conditions if c != "negative"]
    lines = ["| " + " | ".join(head + [f"{c} P/R/F1" for c in shown]) + " |",
             "|" + "---:|" * (len(head) + len(shown))]
    best_all, best_clean = [], []
    for t, per in counts.items():
        total = _total(per)
        p, r, f = prf(*total[:3])
        f_small = prf(*_total(per, ("large",))[:3])[2]
        cells = [f"{t:.3f}", f"{p:.2f}", f"{r:.2f}", f"{f:.2f}", f"{f_small:.2f}",
                 str(int(total[1])), f"{int(total[4])} ({int(total[5])} of "
                 f"{int(sum(c[3] for cond, c in per.items() if cond == 'negative'))})"]
        for cond in shown:
            if cond in per:
                cells.append("/".join(f"{x:.2f}" for x in prf(*per[cond][:3])))
            else:
                cells.append("-")
        lines.append("| " + " | ".join(cells) + " |")
        best_all.append((round(f, 4), t))
        if total[4] == 0:
            best_clean.append((round(f, 4), t))
    lines.append("")
    lines.append(_preferred("best F1", best_all))
    lines.append(_preferred("best F1 with no report on a Waldo-free scene", best_clean))
    return "\n".join(lines)


def _preferred(label: str, scored: list[tuple[float, float]]) -> str:
    """``label``: the best F1 and every threshold that reaches it."""
    if not scored:
        return f"{label}: no threshold of the sweep"
    top = max(f for f, _ in scored)
    at = [t for f, t in scored if f == top]
    return f"{label}: {top:.2f} at threshold {', '.join(f'{t:.3f}' for t in at)}"


__all__ = ["SWEEP_SPLITS", "check_split", "SceneMatches", "parse_sweep", "at_threshold",
           "sweep_counts", "prf", "render_sweep"]

"""Timing helpers shared by every benchmark: medians, ratios, and one printed table.

Benchmarks print; they never assert a time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


def median_seconds(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Row:
    case: str
    baseline: str
    ours_s: float
    base_s: float | None
    target: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.base_s else self.ours_s / self.base_s


class Table:
    """Collects rows and prints them as a Markdown table (pasteable into the README)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[Row] = []

    def add(self, case: str, baseline: str, ours_s: float, base_s: float | None,
            target: str = "") -> Row:
        row = Row(case, baseline, ours_s, base_s, target)
        self.rows.append(row)
        ratio = "n/a" if row.ratio is None else f"{row.ratio:.2f}"
        print(f"  {case}: cvtool {ours_s * 1e3:.1f} ms, {baseline} "
              f"{'n/a' if base_s is None else f'{base_s * 1e3:.1f} ms'}, ratio {ratio}",
              flush=True)
        return row

    def render(self) -> str:
        lines = [f"### {self.title}", "",
                 "| case | baseline | cvtool ms | baseline ms | cvtool / baseline | target |",
                 "|---|---|---:|---:|---:|---|"]
        for r in self.rows:
            base = "n/a" if r.base_s is None else f"{r.base_s * 1e3:.1f}"
            ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}"
            lines.append(f"| {r.case} | {r.baseline} | {r.ours_s * 1e3:.1f} | {base} | {ratio} "
                         f"| {r.target} |")
        return "\n".join(lines)

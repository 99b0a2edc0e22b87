"""``cvtool find-waldo``: find a template in scenes by ZNCC, like grep for pictures."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from cvtool.cli.options import (
    Gray,
    Heatmap,
    Jobs,
    Json,
    Quiet,
    Scales,
    Scenes,
    Template,
    Threshold,
    TopK,
    output_option,
)
from cvtool.cli.reporting import reporting_errors
from cvtool.errors import ExitStatus, UsageError

if TYPE_CHECKING:
    import numpy as np

    from cvtool.matching import Match, SearchResult

__all__ = ["find_waldo", "heatmap_pixels", "Settings", "parse_settings"]

Annotated_ = Annotated[str | None, output_option(
    "ANNOTATED", "Write the scene with each match boxed and its score; a directory for several "
                 "scenes; - writes a PNG to stdout (results then go to stderr).")]


@dataclass(frozen=True)
class Settings:
    """The options as values, checked by the matching core before any file is read."""

    template_path: str
    threshold: float
    top_k: int
    scales: list[float]
    gray: bool


def parse_settings(template: str, threshold: float, top_k: int, scales: str,
                   gray: bool) -> Settings:
    """The options as :class:`Settings`; the core's own checks run on a tiny probe (exit 2).

    Threshold, top-k and scale rules live in :mod:`cvtool.matching.search`; a search of a 4×4
    zero scene costs microseconds and raises the same error a real search would, before any
    image is read.
    """
    import numpy as np

    from cvtool.cli.grammar import parse_scales
    from cvtool.matching import search
    from cvtool.matching.search import check_scales

    values = check_scales(parse_scales(scales))
    probe = np.zeros((4, 4), np.float32)
    search(probe, probe[:2, :2], threshold=threshold, top_k=top_k, scales=[1.0], workers=1)
    return Settings(template, float(threshold), int(top_k), values, gray)


def heatmap_pixels(scores: np.ndarray, scene_shape: tuple[int, ...],
                   template_shape: tuple[int, ...], target: str) -> np.ndarray:
    """The score map laid over the scene: its width×height, each window's score at its centre.

    The window whose top-left corner is (y, x) puts its score at pixel (y + h//2, x + w//2)
    (the anchor of ``correlate``); pixels where no window fits are 0. Raw float32 scores for
    ``.npy``/``.tif``, else 8-bit with score -1..1 -> 0..255.

    Examples
    --------
    >>> import numpy as np
    >>> heatmap_pixels(np.array([[-1.0, 0.0, 1.0]]), (1, 4), (1, 2), "map.png")
    array([[  0,   0, 128, 255]], dtype=uint8)
    >>> heatmap_pixels(np.array([[0.5]]), (3, 3), (3, 3), "map.npy")[1].tolist()
    [0.0, 0.5, 0.0]
    """
    import numpy as np

    from cvtool import io

    height, width = scene_shape[:2]
    top, left = template_shape[0] // 2, template_shape[1] // 2
    rows, cols = scores.shape
    if io.keeps_floats(target):
        out = np.zeros((height, width), np.float32)
        out[top:top + rows, left:left + cols] = scores
        return out
    out = np.zeros((height, width), np.uint8)
    out[top:top + rows, left:left + cols] = np.clip(np.rint((scores + 1.0) * 127.5), 0, 255)
    return out


def _match_line(name: str, m: Match) -> str:
    return (f"{name}: x={m.x} y={m.y} w={m.width} h={m.height} score={m.score:.3f} "
            f"scale={m.scale:.2f}")


def _record(path: str, settings: Settings, matches: list[Match], best: float | None,
            elapsed_ms: float) -> str:
    return json.dumps({
        "scene": path, "template": settings.template_path, "found": bool(matches),
        "matches": [{"x": m.x, "y": m.y, "width": m.width, "height": m.height,
                     "score": round(m.score, 6), "scale": round(m.scale, 6)} for m in matches],
        "best_score": None if best is None else round(best, 6),
        "elapsed_ms": round(elapsed_ms, 3)})


def _plan(paths: list[str], settings: Settings, output: str | None, heatmap: str | None,
          batch: bool) -> tuple[list[str] | None, list[str] | None]:
    """Plan the annotated and heatmap outputs; refuse clashes before any work (exit 2)."""
    from cvtool.cli.paths import STDIO, plan_outputs, same_file

    if settings.template_path == STDIO and STDIO in paths:
        raise UsageError("the template and a scene cannot both be read from stdin (-)")
    if output == STDIO and heatmap == STDIO:
        raise UsageError("-o - and --heatmap - cannot both write to stdout")
    annotated = plan_outputs(paths, output, batch=batch) if output is not None else None
    heatmaps = (plan_outputs(paths, heatmap, option="--heatmap", batch=batch)
                if heatmap is not None else None)
    for option, targets in (("-o", annotated), ("--heatmap", heatmaps)):
        for target in targets or []:
            if same_file(target, settings.template_path):
                raise UsageError(f"{option} {target} is the template; refusing to overwrite it")
    if annotated and heatmaps:
        for a, h in zip(annotated, heatmaps, strict=True):
            if a != STDIO and os.path.abspath(a) == os.path.abspath(h):
                raise UsageError(f"-o and --heatmap would both write {a}")
    return annotated, heatmaps


def _search(scene: np.ndarray, template, settings: Settings, workers: int,
            show_bar: bool) -> SearchResult:
    from cvtool.cli.console import progress_bar
    from cvtool.matching import search

    options = dict(threshold=settings.threshold, top_k=settings.top_k, scales=settings.scales,
                   gray=settings.gray, workers=workers)
    if not show_bar:
        return search(scene, template, **options)
    bar = progress_bar()
    with bar:
        task = bar.add_task("scales", total=len(settings.scales))

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return search(scene, template, progress=update, **options)


def run(scenes: list[str], settings: Settings, *, output: str | None, heatmap: str | None,
        jobs: int, quiet: bool, json_mode: bool) -> ExitStatus:
    """Search every scene; returns the exit status (0 all found, 1 any not found or failed)."""
    from cvtool import io
    from cvtool.cli.batch import run_batch
    from cvtool.cli.console import stderr_is_terminal
    from cvtool.cli.paths import STDIO, expand_inputs, is_batch
    from cvtool.imaging.draw import annotate_matches
    from cvtool.matching import prepare_template, zncc
    from cvtool.pipelines.batch import Outcome, engine_workers

    paths = expand_inputs(scenes)
    annotated, heatmaps = _plan(paths, settings, output, heatmap, is_batch(scenes))
    # Prepared once: checked, converted and resized per scale a single time for all scenes.
    template_image = io.read_image(settings.template_path)
    template = prepare_template(template_image)
    workers = engine_workers(jobs)
    # A bar over the scales for one scene; the batch runner shows its own across several.
    show_bar = (stderr_is_terminal() and not quiet and not json_mode and len(paths) == 1
                and len(settings.scales) > 1)

    def work(index: int, path: str) -> Outcome:
        start = time.perf_counter()
        scene = io.read_image(path)
        result = _search(scene, template, settings, workers, show_bar)
        if heatmaps is not None:
            scores = result.score_map
            if scores is None:  # scale 1 was not among --scales
                scores = zncc(scene, template, gray=settings.gray, workers=workers)
            io.write_image(heatmaps[index], heatmap_pixels(
                scores, scene.shape, template_image.shape, heatmaps[index]))
        if annotated is not None:
            boxes = [(m.x, m.y, m.width, m.height, m.score) for m in result.matches]
            io.write_image(annotated[index], annotate_matches(scene, boxes))
        elapsed_ms = (time.perf_counter() - start) * 1e3
        found = bool(result.matches)
        best = None if result.best is None else result.best.score
        if json_mode:
            return Outcome(_record(path, settings, result.matches, best, elapsed_ms), ok=found)
        name = io.display_name(path)
        if found:
            return Outcome("\n".join(_match_line(name, m) for m in result.matches))
        shown = "n/a" if best is None else f"{best:.3f}"
        return Outcome(f"{name}: not found (best score={shown})", ok=False)

    # An image written to stdout is the result there: the text goes to stderr.
    return run_batch(paths, work, jobs=jobs, quiet=quiet, json_mode=json_mode,
                     image_to_stdout=STDIO in (output, heatmap), done_word="found",
                     negative_word="not found", json_key="scene")


def find_waldo(
    scenes: Scenes, template: Template, output: Annotated_ = None, threshold: Threshold = 0.8,
    top_k: TopK = 1, scales: Scales = "1", gray: Gray = False, heatmap: Heatmap = None,
    json_mode: Json = False, jobs: Jobs = 1, quiet: Quiet = False,
) -> None:
    """Find a template in scenes by zero-mean normalised cross-correlation (ZNCC).

    Prints one line per match, "SCENE: x=.. y=.. w=.. h=.. score=.. scale=..", where x,y is
    the box's top-left corner in scene pixels, or "SCENE: not found (best score=..)". Exit
    status as grep: 0 when every scene had a match, 1 when one had none (or failed), 2 on
    usage errors. With -o - (or --heatmap -) the image goes to stdout and the results to stderr.

    \b
    Examples:
        cvtool find-waldo sample_images/waldo_scene.png -t sample_images/waldo_template.png
        cvtool find-waldo shots/ -t logo.png --scales 0.5:2:7 --top-k 3 -o found/ --json
    """
    with reporting_errors():
        settings = parse_settings(template, threshold, top_k, scales, gray)
        code = run(scenes, settings, output=output, heatmap=heatmap, jobs=jobs, quiet=quiet,
                   json_mode=json_mode)
    raise typer.Exit(int(code))

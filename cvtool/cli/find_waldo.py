"""``cvtool find-waldo``: find a template in scenes by ZNCC, like grep for pictures."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import typer

from cvtool import io
from cvtool.cli.common import (
    Gray,
    Jobs,
    Json,
    Outcome,
    Quiet,
    engine_workers,
    expand_inputs,
    is_batch,
    plan_outputs,
    progress_bar,
    reporting_errors,
    run_batch,
    same_file,
    stderr_is_terminal,
)
from cvtool.errors import UsageError
from cvtool.imaging.draw import annotate_matches
from cvtool.matching import Match, SearchResult, parse_scales, prepare_template, search, zncc

Scenes = Annotated[list[str], typer.Argument(
    metavar="SCENE...", show_default=False,
    help="Scene images, shell globs or directories (their images directly inside); - is stdin.")]
Template = Annotated[str, typer.Option(
    "-t", "--template", metavar="TEMPLATE", show_default=False,
    help="The image to look for (a gray template is compared with each scene's gray).")]
Annotated_ = Annotated[str | None, typer.Option(
    "-o", "--output", metavar="ANNOTATED", show_default=False,
    help="Write the scene with each match boxed and its score; a directory for several "
         "scenes.")]
Threshold = Annotated[float, typer.Option(
    "--threshold", metavar="T", help="Least score (-1..1) that counts as found.")]
TopK = Annotated[int, typer.Option(
    "--top-k", metavar="K", help="Report up to K matches, best first, overlapping <= half.")]
Scales = Annotated[str, typer.Option(
    "--scales", metavar="MIN:MAX:N|S1,S2,...",
    help="Template resize factors: N factors spaced geometrically, or a list.")]
Heatmap = Annotated[str | None, typer.Option(
    "--heatmap", metavar="PATH", show_default=False,
    help="Write the scale-1 score map: 8-bit, score -1..1 -> 0..255 (.npy: raw scores); "
         "a directory for several scenes.")]


@dataclass(frozen=True)
class Settings:
    """The options, checked before any file is read."""

    template_path: str
    threshold: float
    top_k: int
    scales: list[float]
    gray: bool


def parse_settings(template: str, threshold: float, top_k: int, scales: str,
                   gray: bool) -> Settings:
    """Validate the options (usage errors, exit 2)."""
    if not -1.0 <= threshold <= 1.0:  # also refuses NaN
        raise UsageError(f"--threshold must be between -1 and 1, got {threshold}")
    if top_k < 1:
        raise UsageError(f"--top-k must be >= 1, got {top_k}")
    return Settings(template, float(threshold), int(top_k), parse_scales(scales), gray)


def heatmap_pixels(scores: np.ndarray, target: str) -> np.ndarray:
    """Scores as written by ``--heatmap``: raw float32 for ``.npy``, else -1..1 -> 0..255.

    Examples
    --------
    >>> heatmap_pixels(np.array([[-1.0, 0.0, 1.0]]), "map.png")
    array([[  0, 128, 255]], dtype=uint8)
    """
    if io.suffix_of(target) == ".npy":
        return scores.astype(np.float32)
    return np.clip(np.rint((scores + 1.0) * 127.5), 0, 255).astype(np.uint8)


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
          json_mode: bool, batch: bool) -> tuple[list[str] | None, list[str] | None]:
    """Plan the annotated and heatmap outputs; refuse clashes before any work (exit 2)."""
    if settings.template_path == io.STDIO and io.STDIO in paths:
        raise UsageError("the template and a scene cannot both be read from stdin (-)")
    if output == io.STDIO and heatmap == io.STDIO:
        raise UsageError("-o - and --heatmap - cannot both write to stdout")
    if json_mode and io.STDIO in (output, heatmap):
        raise UsageError("--json prints results on stdout; it cannot be combined with "
                         "writing an image to stdout (-)")
    annotated = plan_outputs(paths, output, batch=batch) if output is not None else None
    heatmaps = (plan_outputs(paths, heatmap, option="--heatmap", batch=batch)
                if heatmap is not None else None)
    for option, targets in (("-o", annotated), ("--heatmap", heatmaps)):
        for target in targets or []:
            if same_file(target, settings.template_path):
                raise UsageError(f"{option} {target} is the template; refusing to overwrite it")
    if annotated and heatmaps:
        for a, h in zip(annotated, heatmaps, strict=True):
            if a != io.STDIO and os.path.abspath(a) == os.path.abspath(h):
                raise UsageError(f"-o and --heatmap would both write {a}")
    return annotated, heatmaps


def _search(scene: np.ndarray, template: np.ndarray, settings: Settings, workers: int,
            show_bar: bool) -> SearchResult:
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
        jobs: int, quiet: bool, json_mode: bool) -> int:
    """Search every scene; returns the exit code (0 all found, 1 any not found or failed)."""
    paths = expand_inputs(scenes)
    annotated, heatmaps = _plan(paths, settings, output, heatmap, json_mode, is_batch(scenes))
    # Prepared once: checked, converted and resized per scale a single time for all scenes.
    template = prepare_template(io.read_image(settings.template_path))
    workers = engine_workers(jobs)
    # An image written to stdout is the result there; the text would corrupt it.
    print_results = io.STDIO not in (output, heatmap)
    # A bar over the scales for one scene; run_batch shows its own across several.
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
            io.write_image(heatmaps[index], heatmap_pixels(scores, heatmaps[index]))
        if annotated is not None:
            boxes = [(m.x, m.y, m.width, m.height, m.score) for m in result.matches]
            io.write_image(annotated[index], annotate_matches(scene, boxes))
        elapsed_ms = (time.perf_counter() - start) * 1e3
        found = bool(result.matches)
        best = None if result.best is None else result.best.score
        if not print_results:
            return Outcome(None, ok=found)
        if json_mode:
            return Outcome(_record(path, settings, result.matches, best, elapsed_ms), ok=found)
        name = io.display_name(path)
        if found:
            return Outcome("\n".join(_match_line(name, m) for m in result.matches))
        shown = "n/a" if best is None else f"{best:.3f}"
        return Outcome(f"{name}: not found (best score={shown})", ok=False)

    return run_batch(paths, work, jobs=jobs, quiet=quiet, json_mode=json_mode,
                     done_word="found", negative_word="not found", json_key="scene")


def find_waldo(
    scenes: Scenes, template: Template, output: Annotated_ = None, threshold: Threshold = 0.8,
    top_k: TopK = 1, scales: Scales = "1", gray: Gray = False, heatmap: Heatmap = None,
    json_mode: Json = False, jobs: Jobs = 1, quiet: Quiet = False,
) -> None:
    """Find a template in scenes by zero-mean normalised cross-correlation (ZNCC).

    Prints one line per match, "SCENE: x=.. y=.. w=.. h=.. score=.. scale=..", where x,y is
    the box's top-left corner in scene pixels, or "SCENE: not found (best score=..)". Exit
    status as grep: 0 when every scene had a match, 1 when one had none (or failed), 2 on
    usage errors.

    \b
    Examples:
        cvtool find-waldo sample_images/waldo_scene.png -t sample_images/waldo_template.png
        cvtool find-waldo shots/ -t logo.png --scales 0.5:2:7 --top-k 3 -o found/ --json
    """
    with reporting_errors():
        settings = parse_settings(template, threshold, top_k, scales, gray)
        code = run(scenes, settings, output=output, heatmap=heatmap, jobs=jobs, quiet=quiet,
                   json_mode=json_mode)
    raise typer.Exit(code)


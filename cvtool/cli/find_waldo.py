"""``cvtool find-waldo``: find a template in scenes by ZNCC, like grep for pictures."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from cvtool.cli.options import (
    Chunk,
    Chunked,
    Gray,
    Heatmap,
    Jobs,
    Json,
    Method,
    Quiet,
    Scales,
    Scenes,
    Scheduler,
    Template,
    Threshold,
    TopK,
    output_option,
)
from cvtool.cli.reporting import reporting_errors
from cvtool.errors import CvToolError, ExitStatus, UsageError

if TYPE_CHECKING:

    from cvtool.matching import Match
    from cvtool.pipelines.batch import Outcome
    from cvtool.pipelines.find_scene import FindSettings, SceneOutcome

__all__ = ["find_waldo", "Settings", "parse_settings"]

Annotated_ = Annotated[str | None, output_option(
    "ANNOTATED", "Write the scene with each match boxed and its score; a directory for several "
                 "scenes; - writes a PNG to stdout (results then go to stderr).")]


@dataclass(frozen=True)
class Settings:
    """The options as values, checked by the matching core before any file is read."""

    template_path: str
    find: FindSettings
    chunked: bool = False
    chunk: int = 4096


def parse_settings(template: str, threshold: float | None, top_k: int, scales: str | None,
                   gray: bool, method: str = "zncc", chunked: bool = False,
                   chunk: int = 4096) -> Settings:
    """The options as :class:`Settings`; the core's own checks run on a tiny probe (exit 2).

    Method, threshold, top-k and scale rules live in the matching core
    (:func:`cvtool.pipelines.find_scene.find_settings`); the threshold and scales left out
    take the method's defaults.
    """
    from cvtool.cli.grammar import parse_scales, suggesting
    from cvtool.pipelines.find_scene import METHODS, find_settings

    values = None if scales is None else parse_scales(scales)
    with suggesting(method, METHODS):
        find = find_settings(method, threshold, top_k, values, gray)
    return Settings(template, find, chunked, chunk)


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


def _check_chunked(settings: Settings, output: str | None, heatmap: str | None,
                   paths: list[str]) -> None:
    """--chunked: the extra, the method and outputs it supports, readable scenes (exit 2)."""
    from cvtool.scaleout import require_extra

    require_extra("chunked")
    from cvtool.scaleout.stores import check_input_path

    if settings.find.method != "zncc":
        raise UsageError("--chunked searches with --method zncc only; --method robust needs "
                         "the scene in memory")
    if heatmap is not None:
        raise UsageError("--heatmap cannot be used with --chunked (the map is as large as the "
                         "scene)")
    if output is not None:
        raise UsageError("-o cannot be used with --chunked (the annotated scene is as large as "
                         "the scene); use --json for the boxes")
    for path in paths:
        check_input_path(path)


def _with_bar(show_bar: bool, label: str, call):
    """``call(progress)`` under a bar over ``label`` (scales or tiles) when ``show_bar``."""
    if not show_bar:
        return call(None)
    from cvtool.cli.console import progress_bar

    bar = progress_bar()
    with bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return call(update)


def _outcome(path: str, settings: Settings, found: SceneOutcome, json_mode: bool) -> Outcome:
    """One scene's result line (text or JSON), and whether it counts as found."""
    from cvtool import io
    from cvtool.pipelines.batch import Outcome

    ok = bool(found.matches)
    if json_mode:
        return Outcome(_record(path, settings, found.matches, found.best, found.elapsed_ms),
                       ok=ok)
    name = io.display_name(path)
    if ok:
        return Outcome("\n".join(_match_line(name, m) for m in found.matches))
    shown = "n/a" if found.best is None else f"{found.best:.3f}"
    return Outcome(f"{name}: not found (best score={shown})", ok=False)


def run(scenes: list[str], settings: Settings, *, output: str | None, heatmap: str | None,
        jobs: int, quiet: bool, json_mode: bool, scheduler: str | None = None) -> ExitStatus:
    """Search every scene; returns the exit status (0 all found, 1 any not found or failed).

    With ``scheduler`` each scene is one call of :func:`cvtool.pipelines.find_scene.find_file`
    on that Dask cluster (the same function a local batch runs, so the same bytes and lines).
    """
    from cvtool import io
    from cvtool.cli.batch import run_batch
    from cvtool.cli.console import stderr_is_terminal
    from cvtool.cli.paths import STDIO, expand_inputs, is_batch
    from cvtool.pipelines.batch import engine_workers
    from cvtool.pipelines.find_scene import find_file, prepare_find_template

    scheduler = scheduler or None  # an empty DASK_SCHEDULER_ADDRESS means this machine
    if scheduler is not None:
        from cvtool.scaleout import require_extra

        require_extra("scheduler")
    paths = expand_inputs(scenes)
    if settings.chunked:
        _check_chunked(settings, output, heatmap, paths)
    annotated, heatmaps = _plan(paths, settings, output, heatmap, is_batch(scenes))
    if scheduler is not None:
        from cvtool.scaleout import cluster

        # Workers read and write through a shared filesystem: absolute paths, no stdin/stdout.
        given = {**dict.fromkeys(paths), **dict.fromkeys(annotated or []),
                 **dict.fromkeys(heatmaps or [])}
        shared = {name: cluster.shared_path(name) for name in given}
    # Prepared once: checked, converted and resized per scale a single time for all scenes.
    template_image = io.read_image(settings.template_path)
    template = prepare_find_template(template_image, settings.find)
    if settings.chunked and not _plain_template(template):
        raise UsageError("--chunked searches with plain ZNCC: a template whose alpha masks "
                         "pixels needs the in-memory search (leave out --chunked)")
    # The chunked search takes the template image (it prepares it per scene itself).
    shipped = template_image if settings.chunked else template
    common = {"settings": settings.find, "template_shape": tuple(template_image.shape),
              "chunk": settings.chunk if settings.chunked else None}
    # An image written to stdout is the result there: the text goes to stderr.
    batch_options = dict(quiet=quiet, json_mode=json_mode,
                         image_to_stdout=STDIO in (output, heatmap), done_word="found",
                         negative_word="not found", json_key="scene")

    if scheduler is not None:
        items = [(shared[path],) for path in paths]
        outputs = [{"annotated": None if annotated is None else shared[annotated[i]],
                    "heatmap": None if heatmaps is None else shared[heatmaps[i]]}
                   for i in range(len(paths))]
        with cluster.ClusterBatch(scheduler) as remote:
            futures = remote.map(find_file, items, common={**common, "template": shipped},
                                 keywords=outputs)

            def remote_one(index: int, path: str) -> Outcome:
                try:
                    found = futures[index].result()
                except CvToolError as exc:
                    # The workers saw absolute paths; the user reads the names given for this
                    # scene (another input may name the same file another way).
                    own = [path] + [names[index] for names in (annotated, heatmaps) if names]
                    raise cluster.as_given(exc, {name: shared[name] for name in own}) from None
                return _outcome(path, settings, found, json_mode)

            # The cluster does the work; the local runner only waits in input order.
            return run_batch(paths, remote_one, jobs=1, **batch_options)

    workers = engine_workers(jobs)
    scales = settings.find.scales
    # A bar over the scales (or tiles) for one scene; the batch runner shows its own.
    show_bar = (stderr_is_terminal() and not quiet and not json_mode and len(paths) == 1
                and settings.find.method == "zncc"
                and (settings.chunked or scales is None or len(scales) > 1))

    def work(index: int, path: str) -> Outcome:
        found = _with_bar(show_bar, "tiles" if settings.chunked else "scales",
                          lambda progress: find_file(
                              path, shipped, workers=workers, progress=progress,
                              annotated=None if annotated is None else annotated[index],
                              heatmap=None if heatmaps is None else heatmaps[index], **common))
        return _outcome(path, settings, found, json_mode)

    return run_batch(paths, work, jobs=jobs, **batch_options)


def _plain_template(template) -> bool:
    from cvtool.matching import PreparedTemplate

    return isinstance(template, PreparedTemplate)


def find_waldo(
    scenes: Scenes, template: Template, output: Annotated_ = None, threshold: Threshold = None,
    top_k: TopK = 1, scales: Scales = None, gray: Gray = False, heatmap: Heatmap = None,
    method: Method = "zncc", json_mode: Json = False, jobs: Jobs = 1, quiet: Quiet = False,
    chunked: Chunked = False, chunk: Chunk = 4096, scheduler: Scheduler = None,
) -> None:
    """Find a template in scenes: exact copies (ZNCC) or, with --method robust, the character.

    Prints one line per match, "SCENE: x=.. y=.. w=.. h=.. score=.. scale=..", where x,y is
    the box's top-left corner in scene pixels, or "SCENE: not found (best score=..)". Exit
    status as grep: 0 when every scene had a match, 1 when one had none (or failed), 2 on
    usage errors. With -o - (or --heatmap -) the image goes to stdout and the results to stderr.
    The template's alpha, where it has one, marks which pixels are the character (both
    methods). Each method has its own default --threshold (see its help).

    \b
    Examples:
        cvtool find-waldo sample_images/waldo_scene.png -t sample_images/waldo_template.png
        cvtool find-waldo shots/ -t logo.png --scales 0.5:2:7 --top-k 3 -o found/ --json
        cvtool find-waldo crowd.png -t waldo_drawing.png --method robust -o found.png
        cvtool find-waldo /shared/shots/ -t logo.png --json --scheduler tcp://sched:8786
    """
    with reporting_errors():
        settings = parse_settings(template, threshold, top_k, scales, gray, method, chunked,
                                  chunk)
        code = run(scenes, settings, output=output, heatmap=heatmap, jobs=jobs, quiet=quiet,
                   json_mode=json_mode, scheduler=scheduler)
    raise typer.Exit(int(code))

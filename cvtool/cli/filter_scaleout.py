"""``--chunked`` and ``--scheduler`` for ``correlate``, ``convolve`` and ``filter``.

Chunked: each input is filtered tile by tile (:func:`cvtool.scaleout.chunked_filter.
filter_chunked`), on this machine's threads or on the scheduler's workers. Scheduler without
``--chunked``: each input is one call of :func:`cvtool.pipelines.filter_file.filter_file` on the
cluster (:class:`cvtool.scaleout.cluster.ClusterBatch`), the same work as a local ``-j`` batch.
Either way the batch runner prints the same lines, summary and exit status as locally.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from cvtool.cli.batch import run_batch
from cvtool.cli.paths import STDIO, expand_inputs, is_batch, plan_outputs
from cvtool.errors import CvToolError, ExitStatus, UsageError

if TYPE_CHECKING:
    from cvtool.pipelines.filter_image import FilterSettings

__all__ = ["run_scaleout_batch"]


def _record(path: str, target: str, settings: FilterSettings, shape: tuple[int, ...],
            dtype: str, mode: str) -> str:
    return json.dumps({"input": path, "output": target, "operation": settings.operation,
                       "height": int(shape[0]), "width": int(shape[1]),
                       "channels": 1 if len(shape) == 2 else int(shape[2]),
                       "dtype": str(dtype), "out_range": mode})


def run_scaleout_batch(inputs: list[str], output: str, settings: FilterSettings, *,
                       suffix: str | None, jobs: int, quiet: bool, json_mode: bool,
                       chunked: bool, chunk: int, scheduler: str | None) -> ExitStatus:
    """Filter every input chunked and/or on a cluster; returns the exit status."""
    from cvtool import io
    from cvtool.cli.console import progress_bar, stderr_is_terminal
    from cvtool.imaging.pixels import check_out_range
    from cvtool.pipelines.batch import Outcome, engine_workers
    from cvtool.scaleout import require_extra

    require_extra("chunked" if chunked else "scheduler")
    from cvtool.scaleout import cluster, stores

    paths = expand_inputs(inputs)
    batch = is_batch(inputs)
    if output == STDIO:
        raise UsageError("-o - (stdout) cannot be used with --chunked or --scheduler: the "
                         "output is written as a file")

    def check(target: str) -> None:
        if chunked:
            stores.check_output_path(target)
        keeps = io.keeps_floats(target) or (chunked and target.rstrip("/\\").endswith(".zarr"))
        check_out_range(settings.out_range, keeps_floats=keeps, output=io.display_name(target))

    if chunked:
        for path in paths:
            stores.check_input_path(path)
    targets = plan_outputs(paths, output, batch=batch, suffix=suffix, check=check)
    if scheduler is not None:
        paths_shared = [cluster.shared_path(p) for p in paths]
        targets_shared = [cluster.shared_path(t) for t in targets]
    else:
        paths_shared, targets_shared = paths, targets
    workers = engine_workers(jobs)
    show_tiles = (chunked and len(paths) == 1 and stderr_is_terminal() and not quiet
                  and not json_mode)

    if chunked:
        from cvtool.scaleout.chunked_filter import filter_chunked

        def chunked_one(index: int, path: str) -> Outcome:
            options = dict(operation=settings.operation, padding=settings.padding,
                           pad_value=settings.pad_value, stride=settings.stride,
                           shape=settings.shape, out_range=settings.out_range,
                           gray=settings.gray, chunk=chunk, workers=workers,
                           scheduler=scheduler)
            if show_tiles:
                bar = progress_bar()
                with bar:
                    task = bar.add_task("tiles", total=None)
                    result = filter_chunked(
                        paths_shared[index], targets_shared[index], settings.kernel,
                        progress=lambda done, total: bar.update(task, completed=done,
                                                                total=total), **options)
            else:
                result = filter_chunked(paths_shared[index], targets_shared[index],
                                        settings.kernel, **options)
            if not json_mode:
                return Outcome()
            return Outcome(_record(path, targets[index], settings, result.shape,
                                   str(result.dtype), result.out_range))

        return run_batch(paths, chunked_one, jobs=jobs, quiet=quiet, json_mode=json_mode)

    from cvtool.pipelines.filter_file import filter_file

    with cluster.ClusterBatch(scheduler) as remote:
        futures = remote.map(filter_file, list(zip(paths_shared, targets_shared,
                                                   strict=True)),
                             common={"settings": settings})

        def remote_one(index: int, path: str) -> Outcome:
            try:
                shape, dtype, mode = futures[index].result()
            except CvToolError as exc:
                # The workers saw absolute paths; the user reads the names given, as locally.
                raise cluster.as_given(exc, {path: paths_shared[index],
                                             targets[index]: targets_shared[index]}) from None
            if not json_mode:
                return Outcome()
            return Outcome(_record(path, targets[index], settings, shape, dtype, mode))

        # The cluster does the work; the local runner only waits in input order.
        return run_batch(paths, remote_one, jobs=1, quiet=quiet, json_mode=json_mode)

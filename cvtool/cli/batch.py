"""A command's batch, run by :func:`cvtool.pipelines.batch.run_batch` with the terminal's wiring.

The pipeline runs the work and counts; this adds what belongs to the command line: flags in
error messages, a progress bar on a terminal, the success summary only on a terminal without
``-q``, results on stderr when an image goes to stdout, and leaving the process at once after
an interrupt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cvtool.cli.console import BatchProgress, results_stream, stderr_is_terminal
from cvtool.cli.errors import cli_message
from cvtool.cli.reporting import in_cli_process, start_of_work
from cvtool.errors import ExitStatus

__all__ = ["run_batch"]


def run_batch(inputs: Sequence[str], work: Callable, *, jobs: int = 1, quiet: bool = False,
              json_mode: bool = False, image_to_stdout: bool = False, done_word: str = "written",
              negative_word: str | None = None, json_key: str = "input") -> ExitStatus:
    """Run ``work(index, input)`` for every input as the ``cvtool`` command does; the exit status.

    See :func:`cvtool.pipelines.batch.run_batch` for the rules (order, failures, summary).
    """
    import sys

    from cvtool import io
    from cvtool.pipelines import batch

    start_of_work()
    interactive = stderr_is_terminal() and not quiet and not json_mode
    progress = BatchProgress(len(inputs)) if interactive and len(inputs) > 1 else None
    return batch.run_batch(
        inputs, work, results=results_stream(image_to_stdout), errors=sys.stderr, jobs=jobs,
        json_mode=json_mode, done_word=done_word, negative_word=negative_word,
        json_key=json_key, describe=cli_message, display_name=io.display_name,
        progress=progress, show_success_summary=interactive, stop_writes=io.stop_writes,
        exit_now=in_cli_process())

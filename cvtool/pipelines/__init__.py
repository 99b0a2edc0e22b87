"""Pipelines: what a command does around the core, as plain functions over arrays and paths.

No Typer or Rich here, so each step is usable from a script and tested without the CLI:

- :mod:`cvtool.pipelines.filter_image`: one image through correlate/convolve (gray, border
  values split between colour and alpha, alpha carried onto the output grid, output pixels);
- :mod:`cvtool.pipelines.normalize_set`: two-pass batch-normalization statistics over paths;
- :mod:`cvtool.pipelines.batch`: one piece of work per input, outcomes in order, the summary
  line, interruption, an :class:`~cvtool.errors.ExitStatus`.
"""

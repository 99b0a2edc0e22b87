"""Core errors in the CLI's words: the one table from parameter names to command-line flags.

The core names the argument at fault as Python spells it (``top_k must be >= 1``); a user of
the command line reads the flag (``--top-k must be >= 1``). Only this table knows both.
"""

from __future__ import annotations

import re

from cvtool.errors import CvToolError

#: Keyword argument of the core -> the flag that sets it on the command line.
PARAMETER_FLAGS: dict[str, str] = {
    "padding": "--padding",
    "pad_value": "--pad-value",
    "stride": "--stride",
    "shape": "--shape",
    "out_range": "--out-range",
    "threshold": "--threshold",
    "top_k": "--top-k",
    "scales": "--scales",
    "method": "--method",
    "window": "--window",
    "base": "--base",
    "p": "--probs",
    "probs": "--probs",
    "pred": "--probs",
    "target": "--target",
    "logits": "--logits",
    "label": "--label",
    "gamma": "--gamma",
    "beta": "--beta",
    "eps": "--eps",
    "size": "--size",
    "sigma": "--sigma",
    "name": "--name",
    "chunk": "--chunk",
    "chunked": "--chunked",
    "scheduler": "--scheduler",
    "format": "--format",
    "stats": "--stats",
    "save_stats": "--save-stats",
    "workers": "--jobs",
    "jobs": "--jobs",
}


def cli_message(exc: CvToolError) -> str:
    """The error's message with its parameter name replaced by the flag that sets it.

    Examples
    --------
    >>> from cvtool.errors import UsageError
    >>> cli_message(UsageError("top_k must be >= 1, got 0", parameter="top_k"))
    '--top-k must be >= 1, got 0'
    >>> cli_message(UsageError("kernel is empty", parameter="kernel"))
    'kernel is empty'
    >>> cli_message(UsageError("format png: pass `out_range` clip", parameter="format"))
    '--format png: pass --out-range clip'
    """
    message = str(exc)
    parameter = getattr(exc, "parameter", None)
    flag = PARAMETER_FLAGS.get(parameter or "")
    if flag is not None and message.startswith(parameter):
        message = flag + message[len(parameter):]
    # Other parameters a message names are written `name`: each becomes its flag too.
    return re.sub(r"`(\w+)`", lambda m: PARAMETER_FLAGS.get(m.group(1), m.group(0)), message)

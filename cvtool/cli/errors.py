"""Core errors in the CLI's words: the one table from parameter names to command-line flags.

The core names the argument at fault as Python spells it (``top_k must be >= 1``); a user of
the command line reads the flag (``--top-k must be >= 1``). Only this table knows both.
"""

from __future__ import annotations

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
    "format": "--format",
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
    """
    message = str(exc)
    parameter = getattr(exc, "parameter", None)
    flag = PARAMETER_FLAGS.get(parameter or "")
    if flag is None:
        return message
    if message.startswith(parameter):
        return flag + message[len(parameter):]
    return message.replace(f"`{parameter}`", flag)

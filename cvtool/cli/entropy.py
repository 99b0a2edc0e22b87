"""``cvtool entropy``: image entropy, local entropy maps, and entropy of distributions and logits.

Four forms share one command (see docs/cli.md): images (``IMAGE...``), a local entropy map
(``IMAGE --window N -o MAP``), a distribution (``--probs P [--target T]``) and logits
(``--logits Z [--target T | --label I]``). Which form is meant, and every option's value,
is checked before any file is read.

Choices made here (documented in docs/cli.md):

- ``--base`` takes exactly 2, e or 10 (units bits, nats, hartleys, printed with every number);
  in JSON ``base`` is the number (2, 2.718281828459045, 10) beside ``unit``.
- An infinite cross-entropy or KL (``--probs`` 0 where ``--target`` > 0) is a true result, so
  the exit code is 0: text prints ``inf``; JSON, which has no infinity, gives ``null`` and a
  ``note`` saying why. With ``--logits`` the loss is always finite (log-softmax).
- ``--window`` maps are in bits, so ``--base`` other than 2 with ``--window`` is refused, as
  is ``--per-channel`` (the map is of the luminance). Several images with ``--window`` write
  into ``-o`` as a directory, as every batch command does.
- Floating-point images are taken on 0..1 and binned as 8-bit (round(255·x)); values outside
  0..1 are a data error (exit 1) for that file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated

import typer

from cvtool.cli.options import (
    Base as BaseOption,
)
from cvtool.cli.options import (
    Inputs,
    Jobs,
    Json,
    Label,
    Logits,
    PerChannel,
    Probs,
    Quiet,
    Target,
    Window,
    output_option,
)
from cvtool.cli.reporting import reporting_errors
from cvtool.errors import UsageError

__all__ = ["entropy_command"]

MapOutput = Annotated[str | None, output_option(
    "MAP", "Where --window writes the map: .npy/.tif raw bits, else 8-bit scaled; - writes a "
           "PNG to stdout (results then go to stderr).")]

#: JSON has no infinity; an infinite cross-entropy or KL is written as null, with this note.
INFINITE_NOTE = ("infinite: --probs gives probability 0 to an outcome --target allows, "
                 "so log 0 = -inf; JSON has no infinity, so the value is null")


@dataclass(frozen=True)
class Base:
    """The logarithm base as the user named it, its value and its unit."""

    name: str
    value: float
    unit: str

    @classmethod
    def parse(cls, text: str | None) -> Base:
        from cvtool.measures.information import UNITS, base_value

        name = "2" if text is None else text.strip().lower()
        value = base_value(name)          # refuses anything but 2, e, 10
        return cls(name, value, UNITS[name])

    def json_value(self) -> float | int:
        # Numbers for scripts: 2 and 10 stay integers, e is 2.718281828459045.
        return int(self.value) if self.value.is_integer() else self.value


def _fmt(value: float, unit: str) -> str:
    return f"inf {unit}" if math.isinf(value) else f"{value:.6f} {unit}"


def _json_number(value: float) -> float | None:
    return None if math.isinf(value) else value


def _emit(record: dict, lines: list[str], json_mode: bool) -> None:
    if json_mode:
        typer.echo(json.dumps(record))
    else:
        typer.echo("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# --probs and --logits


def _probs_form(probs: str, target: str | None, base: Base, json_mode: bool) -> None:
    from cvtool.cli.grammar import parse_number_list
    from cvtool.measures.information import (
        check_distribution,
        cross_entropy,
        entropy,
        kl_divergence,
    )

    p = check_distribution(parse_number_list(probs, "--probs"), "probs")
    record: dict = {"probs": p.tolist(), "base": base.json_value(), "unit": base.unit,
                    "entropy": entropy(p, base.value)}
    lines = [f"entropy: {_fmt(record['entropy'], base.unit)}"]
    if target is not None:
        t = check_distribution(parse_number_list(target, "--target"), "target")
        if t.size != p.size:
            raise UsageError(f"--target has {t.size} values but --probs has {p.size}; "
                             "they must be the same length")
        ce = cross_entropy(t, p, base.value)
        kl = kl_divergence(t, p, base.value)
        record.update(target=t.tolist(), cross_entropy=_json_number(ce),
                      kl_divergence=_json_number(kl))
        if math.isinf(ce):
            record["note"] = INFINITE_NOTE
        lines += [f"cross-entropy: {_fmt(ce, base.unit)}",
                  f"KL divergence: {_fmt(kl, base.unit)}"]
    _emit(record, lines, json_mode)


def _logits_form(logits: str, target: str | None, label: int | None, base: Base,
                 json_mode: bool) -> None:
    from cvtool.cli.grammar import parse_number_list
    from cvtool.measures.information import (
        check_distribution,
        check_logits,
        cross_entropy_logits,
        entropy,
        kl_divergence_logits,
        softmax,
    )

    z = check_logits(parse_number_list(logits, "--logits"))
    sm = softmax(z)
    record: dict = {"logits": z.tolist(), "base": base.json_value(), "unit": base.unit,
                    "softmax": sm.tolist(), "entropy": entropy(sm, base.value)}
    lines = ["softmax: " + " ".join(f"{v:.6g}" for v in sm),
             f"entropy: {_fmt(record['entropy'], base.unit)}"]
    if label is not None:
        record["label"] = label
        ce = cross_entropy_logits(z, label=label, base=base.value)
        record["cross_entropy"] = _json_number(ce)
        lines.append(f"cross-entropy: {_fmt(ce, base.unit)}")
    elif target is not None:
        t = check_distribution(parse_number_list(target, "--target"), "target")
        if t.size != z.size:
            raise UsageError(f"--target has {t.size} values but --logits has {z.size}; "
                             "they must be the same length")
        ce = cross_entropy_logits(z, target=t, base=base.value)
        kl = kl_divergence_logits(t, z, base.value)
        record.update(target=t.tolist(), cross_entropy=_json_number(ce),
                      kl_divergence=_json_number(kl))
        lines += [f"cross-entropy: {_fmt(ce, base.unit)}", f"KL divergence: {_fmt(kl, base.unit)}"]
    else:
        ce = 0.0
    if math.isinf(ce):
        # Only logits ~1e308 apart get here: their difference itself overflows to infinity.
        record["note"] = "infinite: the logits differ by more than a float can hold"
    _emit(record, lines, json_mode)


# ---------------------------------------------------------------------------------------------
# Images


def _image_batch(inputs: list[str], base: Base, per_channel: bool, jobs: int, quiet: bool,
                 json_mode: bool) -> int:
    from cvtool import io
    from cvtool.cli.batch import run_batch
    from cvtool.cli.paths import expand_inputs
    from cvtool.measures.image_entropy import channel_entropies, image_entropy
    from cvtool.pipelines.batch import Outcome

    paths = expand_inputs(inputs)

    def work(index: int, path: str) -> Outcome:
        image = io.read_image(path)
        record: dict = {"input": path, "base": base.json_value(), "unit": base.unit,
                        "entropy": image_entropy(image, base.value)}
        if per_channel:
            channels = channel_entropies(image, base.value)
            record["channels"] = channels
            text = f"{io.display_name(path)}: " + " ".join(
                f"{name}={_fmt(value, base.unit)}" for name, value in channels.items())
        else:
            text = f"{io.display_name(path)}: {_fmt(record['entropy'], base.unit)}"
        return Outcome(json.dumps(record) if json_mode else text)

    return run_batch(paths, work, jobs=jobs, quiet=quiet, json_mode=json_mode,
                     done_word="measured")


def _map_batch(inputs: list[str], window: int, output: str, jobs: int, quiet: bool,
               json_mode: bool) -> int:
    import numpy as np

    from cvtool import io
    from cvtool.cli.batch import run_batch
    from cvtool.cli.console import stderr_is_terminal
    from cvtool.cli.paths import STDIO, expand_inputs, is_batch, plan_outputs
    from cvtool.measures.image_entropy import levels_of, local_entropy, max_local_entropy
    from cvtool.pipelines.batch import Outcome

    paths = expand_inputs(inputs)
    targets = plan_outputs(paths, output, batch=is_batch(inputs))
    # A bar for one big image; run_batch shows its own across several.
    show_bar = stderr_is_terminal() and not quiet and not json_mode and len(paths) == 1

    def work(index: int, path: str) -> Outcome:
        image = io.read_image(path)
        emap = _local_entropy_with_bar(image, window) if show_bar else local_entropy(image,
                                                                                      window)
        target = targets[index]
        top = max_local_entropy(window, levels_of(image.dtype))
        if io.keeps_floats(target):
            pixels, scale = emap, "raw bits"
        else:
            # 255 is the largest value this window and pixel type allow, not this map's max,
            # so maps of different images compare.
            pixels = np.clip(np.rint(emap * (255.0 / top)), 0, 255).astype(np.uint8)
            scale = f"255 = {top:.6f} bits"
        io.write_image(target, pixels)
        if not json_mode:
            return Outcome()
        record = {"input": path, "output": target, "window": window, "base": 2,
                  "unit": "bits", "min": float(emap.min()), "max": float(emap.max()),
                  "mean": float(emap.mean()), "max_possible": top, "scale": scale}
        return Outcome(json.dumps(record))

    return run_batch(paths, work, jobs=jobs, quiet=quiet, json_mode=json_mode,
                     image_to_stdout=output == STDIO)


def _local_entropy_with_bar(image, window: int):
    from cvtool.cli.console import progress_bar
    from cvtool.measures.image_entropy import local_entropy

    bar = progress_bar(counted=False)
    with bar:
        task = bar.add_task("local entropy", total=1.0)

        def update(done: float) -> None:
            bar.update(task, completed=done)

        return local_entropy(image, window, progress=update)


# ---------------------------------------------------------------------------------------------
# The command


def _check_form(inputs: list[str] | None, probs: str | None, logits: str | None,
                target: str | None, label: int | None, window: int | None,
                output: str | None, per_channel: bool, base: Base, json_mode: bool) -> str:
    """Which of the four forms the options name; every inconsistency is a usage error."""
    if probs is not None and logits is not None:
        raise UsageError("--probs and --logits are separate forms; give one of them")
    if probs is not None or logits is not None:
        given = "--probs" if probs is not None else "--logits"
        if inputs:
            raise UsageError(f"give either images or {given}, not both")
        for flag, present in (("--window", window is not None), ("-o", output is not None),
                              ("--per-channel", per_channel)):
            if present:
                raise UsageError(f"{flag} applies to images, not to {given}")
        if label is not None and logits is None:
            raise UsageError("--label goes with --logits (a class index of the logits)")
        if label is not None and target is not None:
            raise UsageError("give --target or --label, not both")
        return "probs" if probs is not None else "logits"
    if not inputs:
        raise UsageError("give IMAGE..., --probs P or --logits Z (see cvtool entropy --help)")
    if target is not None or label is not None:
        flag = "--target" if target is not None else "--label"
        raise UsageError(f"{flag} goes with --probs or --logits, not with images")
    if window is None:
        if output is not None:
            raise UsageError("-o writes a local entropy map; give --window N as well")
        return "images"
    from cvtool.measures.image_entropy import check_window

    check_window(window)
    if output is None:
        raise UsageError("--window needs -o MAP (the file the map is written to)")
    if per_channel:
        raise UsageError("--per-channel applies to whole-image entropy, not to --window maps")
    if base.name != "2":
        raise UsageError("--window maps are in bits; --base applies to whole-image entropy")
    return "map"


def entropy_command(
    inputs: Inputs = None, base: BaseOption = None, per_channel: PerChannel = False,
    window: Window = None, output: MapOutput = None, probs: Probs = None,
    target: Target = None, logits: Logits = None, label: Label = None,
    jobs: Jobs = 1, quiet: Quiet = False, json_mode: Json = False,
) -> None:
    """Shannon entropy of images, local entropy maps, and entropy/cross-entropy of distributions.

    Images: the entropy of the intensity histogram (256 bins for 8-bit, 65536 for 16-bit;
    the BT.601 luminance of colour images unless --per-channel; alpha is ignored; float
    images are taken on 0..1 and binned as 8-bit). --window N maps the entropy of every
    N×N neighbourhood (at the border, of the pixels inside the image).

    Distributions: H(P) = -sum P log P; with --target, the cross-entropy H(T, P) and
    KL(T || P), printed as inf when P is 0 where T is not (null in JSON). Logits: their
    softmax, its entropy, and the cross-entropy against --target or --label.

    \b
    Examples:
        cvtool entropy photo.png
        cvtool entropy photos/*.png --per-channel --json
        cvtool entropy photo.png --window 9 -o entropy_map.png
        cvtool entropy --probs "0.125 0.875" --base 10
        cvtool entropy --probs "0.25 0.75" --target "0 1"
        cvtool entropy --logits "2 1 0.1" --label 0 --base e
    """
    with reporting_errors():
        parsed_base = Base.parse(base)
        form = _check_form(inputs, probs, logits, target, label, window, output, per_channel,
                           parsed_base, json_mode)
        if form == "probs":
            _probs_form(probs, target, parsed_base, json_mode)
            code = 0
        elif form == "logits":
            _logits_form(logits, target, label, parsed_base, json_mode)
            code = 0
        elif form == "images":
            code = _image_batch(inputs, parsed_base, per_channel, jobs, quiet, json_mode)
        else:
            code = _map_batch(inputs, window, output, jobs, quiet, json_mode)
    raise typer.Exit(int(code))

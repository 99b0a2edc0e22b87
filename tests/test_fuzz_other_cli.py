"""Fuzzing find-waldo, entropy and normalize: whatever a user types, one result or one error.

The companion of ``test_fuzz_cli.py`` (the kernel commands). Hypothesis throws tiny images
(1×1 to 8×8; gray, colour, colour+alpha; 8-bit, 16-bit, float; .npy and .png), option values
from the documented grammar with deliberate mistakes, number lists, stats files and output
paths at ``find-waldo``, ``entropy`` and ``normalize`` through Typer's ``CliRunner``, and checks
the contract of docs/cli.md "Everywhere" for every run: exit code 0, 1 or 2; never a traceback; an
``error:`` line whenever the code is not 0 (or Click's usage block for its own parse errors;
or, for find-waldo, "not found" on stdout); stderr holds cvtool's lines only; stdout is
results only (strict JSON with ``--json``); no temporary file left behind; the inputs are
untouched; and whatever was written is a whole image of the documented size.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cvtool import io
from cvtool.cli.app import app

# ---------------------------------------------------------------------------------------------
# Strategies shared by the three commands


def mostly(valid: st.SearchStrategy, faulty: st.SearchStrategy) -> st.SearchStrategy:
    """``valid`` seven times in eight, else ``faulty``: most runs get past option checking."""
    return st.integers(0, 7).flatmap(lambda n: faulty if n == 0 else valid)


def sometimes(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """``strategy`` or None (the option left out), half and half."""
    return st.one_of(st.none(), strategy)


_bad_numbers = st.sampled_from(["1e400", "nan", "-inf", "Infinity", "1/0", "0/0", "1//2", "--1",
                                "1e", "abc", "0x10", "½", "١", "1_0", "", "/", "٣", "1,5"])
_separators = st.sampled_from([" ", ",", ", ", "  ", "\t", " ,"])


def number_list(values: st.SearchStrategy, min_size: int = 1, max_size: int = 4
                ) -> st.SearchStrategy:
    """A number list as typed on the command line: values with spaces and/or commas."""
    return st.tuples(st.lists(values, min_size=min_size, max_size=max_size), _separators).map(
        lambda t: t[1].join(t[0]))


@dataclass
class Image:
    """A tiny test image and how it is stored."""

    array: np.ndarray
    suffix: str  # .png (8/16-bit only) or .npy (any dtype)


def _array(draw, height: int, width: int, channels: int, dtype: np.dtype,
           unit_floats: bool) -> np.ndarray:
    shape = (height, width) if channels == 0 else (height, width, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    flat = draw(st.integers(0, 7)) == 0  # a constant image now and then (zero variance)
    if dtype.kind == "u":
        array = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
    elif unit_floats or draw(st.booleans()):
        array = rng.random(shape).astype(dtype)
    else:
        array = (rng.standard_normal(shape) * draw(st.sampled_from([1.0, 255.0, 1e6]))
                 ).astype(dtype)
    if flat:
        array[...] = array.flat[0]
    return array


@st.composite
def images(draw, max_side: int = 6, dtypes: tuple[str, ...] | None = None,
           channels: int | None = None, unit_floats: bool = False) -> Image:
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    if channels is None:
        channels = draw(st.sampled_from([0, 3, 4]))  # 0: gray (H×W)
    dtype = np.dtype(draw(st.sampled_from(dtypes or ("uint8", "uint16", "float32", "float64"))))
    array = _array(draw, height, width, channels, dtype, unit_floats)
    suffix = draw(st.sampled_from([".png", ".npy"])) if dtype.kind == "u" else ".npy"
    return Image(array, suffix)


IMAGE_OUT_SUFFIXES = [".png", ".npy", ".tif", ".jpg", ".bmp"]
BAD_OUT_SUFFIXES = [".xyz", "", ".hdr", ".pbm"]
# Where an output goes: a new file of some suffix, or (mistakes) the input or the template.
SAME_AS_INPUT, SAME_AS_TEMPLATE = "<input>", "<template>"
_output_kinds = mostly(st.sampled_from(IMAGE_OUT_SUFFIXES),
                       st.sampled_from([*BAD_OUT_SUFFIXES, SAME_AS_INPUT]))


@dataclass
class Run:
    """One generated command line; ``{in0}``, ``{template}``, ``{out}``... are filled per run."""

    command: str
    options: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    template: Image | None = None
    files: dict[str, str] = field(default_factory=dict)  # extra input files: name -> text
    json_mode: bool = False


# ---------------------------------------------------------------------------------------------
# find-waldo

_thresholds = mostly(
    st.one_of(st.floats(-1, 1).map(lambda v: f"{v:.3g}"),
              st.sampled_from(["0.8", "-1", "1", "0", "0.99", "-0.5"])),
    st.sampled_from(["1.5", "-1.01", "nan", "inf", "abc", "", "2", "1e9", "½"]))
_top_ks = mostly(st.sampled_from(["1", "3", "2"]),
                 st.sampled_from(["0", "-1", "x", "1.5", "", "99999999999999999999999"]))
_scales = mostly(
    st.one_of(
        st.sampled_from(["1", "0.5:2:3", "1,2", "1/2, 1", "0.5:1:2", "1:1:1", "0.8 1 1.25",
                         "2:0.5:4", "0.25:4:5", " 1 ", "3"]),
        st.tuples(st.sampled_from(["0.5", "1", "1/3", "2"]), st.sampled_from(["1", "2", "3/2"]),
                  st.integers(1, 4)).map(lambda t: f"{t[0]}:{t[1]}:{t[2]}"),
        number_list(st.sampled_from(["0.5", "1", "1.5", "2", "1/2", "3/4"]), 1, 3)),
    st.sampled_from(["0:1:3", "-1", "nan", "١", "1:2", "1:1:0", "", "1:2:1", "1:2:1.5",
                     "1e9", "1e-9", "0", ",", "1::2", "1:2:3:4", "inf", "1:2:١", "1:2:-3",
                     "1e400", "1:2:99999999", "1/0"]))


def _with_jobs_and_json(draw: st.DrawFn, run: Run) -> Run:
    """The options every command shares at the end of a run: sometimes -j, sometimes --json."""
    if draw(st.integers(0, 3)) == 0:
        run.options.append(f"--jobs={draw(st.integers(1, 3))}")
    run.json_mode = draw(st.booleans())
    if run.json_mode:
        run.options.append("--json")
    return run


@st.composite
def waldo_runs(draw) -> Run:
    run = Run("find-waldo")
    count = draw(mostly(st.just(1), st.just(2)))
    run.images = draw(st.lists(images(max_side=8), min_size=count, max_size=count))
    scene = run.images[0].array
    if draw(st.booleans()):  # a crop of the first scene: found at threshold ~1
        h, w = draw(st.integers(1, scene.shape[0])), draw(st.integers(1, scene.shape[1]))
        y, x = draw(st.integers(0, scene.shape[0] - h)), draw(st.integers(0, scene.shape[1] - w))
        crop = scene[y:y + h, x:x + w].copy()
        if crop.ndim == 3 and draw(st.booleans()):
            crop = crop[..., 0].copy()  # a gray template against a colour scene
        suffix = ".npy" if crop.dtype.kind == "f" else draw(st.sampled_from([".png", ".npy"]))
        run.template = Image(crop, suffix)
    else:  # anything, fitting or not
        run.template = draw(images(max_side=5))
    run.options.append("--template={template}")
    for option, values in (("--threshold", _thresholds), ("--top-k", _top_ks),
                           ("--scales", _scales)):
        value = draw(sometimes(values))
        if value is not None:
            run.options.append(f"{option}={value}")
    if draw(st.booleans()):
        run.options.append("--gray")
    if draw(st.integers(0, 3)) == 0:
        run.options.append(f"--jobs={draw(st.integers(1, 3))}")
    for option in ("--output", "--heatmap"):
        if draw(st.booleans()):
            kind = draw(mostly(_output_kinds, st.just(SAME_AS_TEMPLATE)))
            run.options.append(f"{option}={{{option[2:]}:{kind}}}")
    run.json_mode = draw(st.booleans())
    if run.json_mode:
        run.options.append("--json")
    return run


# ---------------------------------------------------------------------------------------------
# entropy

_distributions = st.lists(st.integers(0, 9), min_size=1, max_size=5).filter(any).flatmap(
    lambda ws: st.sampled_from([
        [repr(w / sum(ws)) for w in ws],
        [f"{w}/{sum(ws)}" for w in ws],
        [f"{w / sum(ws):.7f}" for w in ws]]))
_faulty_lists = st.one_of(
    st.lists(st.floats(-2, 2, allow_nan=False).map(lambda v: f"{v:.3g}"), min_size=1,
             max_size=4),  # negative, or not summing to 1
    st.lists(st.sampled_from(["1e308", "-1e308", "1e300", "5e-324", "0"]), min_size=1,
             max_size=3),
    st.lists(st.one_of(_bad_numbers, st.sampled_from(["0.5", "1"])), min_size=1, max_size=3),
    st.sampled_from([[], [""], [" "], [","], ["-0.5", "1.5"], ["0", "0"], ["1", "0", "-0"]]))
_prob_texts = st.tuples(mostly(_distributions, _faulty_lists), _separators).map(
    lambda t: t[1].join(t[0]))
_logit_texts = mostly(
    number_list(st.one_of(st.integers(-1000, 1000).map(str),
                          st.floats(-50, 50, allow_nan=False).map(lambda v: f"{v:.4g}"),
                          st.sampled_from(["1000", "-1000", "0", "1e5", "-1e5"])), 1, 5),
    st.one_of(number_list(_bad_numbers, 1, 3),
              st.sampled_from(["", " ", "1e308 -1e308", "1.7e308 -1.7e308", "1e308,1e308",
                               "-1e308", "5e-324 0"])))
_labels = mostly(st.integers(0, 5).map(str),
                 st.sampled_from(["-1", "x", "1.5", "99999999999999999999999", "", "1e1"]))
_windows = mostly(st.sampled_from(["3", "5", "7", "9"]),
                  st.sampled_from(["1", "2", "4", "0", "-3", "x", "3.0", "", "1501", "1e3"]))
_bases = mostly(st.sampled_from(["2", "e", "10", "E", " 2"]),
                st.sampled_from(["3", "1", "0", "-2", "nan", "", "ln", "2.0", "ten"]))


@st.composite
def entropy_runs(draw) -> Run:
    run = Run("entropy")
    form = draw(st.sampled_from(["images", "map", "probs", "logits"]))
    confused = draw(st.integers(0, 5)) == 0  # options of another form mixed in
    if form in ("images", "map") or (confused and draw(st.booleans())):
        count = draw(mostly(st.just(1), st.just(2)))
        run.images = draw(st.lists(images(unit_floats=draw(mostly(st.just(True),
                                                                  st.just(False)))),
                                   min_size=count, max_size=count))
    if form == "map" or (confused and draw(st.booleans())):
        run.options.append(f"--window={draw(_windows)}")
        if draw(mostly(st.just(True), st.just(False))):
            run.options.append(f"--output={{out:{draw(_output_kinds)}}}")
    if form == "images" or (confused and draw(st.booleans())):
        if draw(st.booleans()):
            run.options.append("--per-channel")
    if form in ("images", "probs", "logits") or confused:
        base = draw(sometimes(_bases))
        if base is not None:
            run.options.append(f"--base={base}")
    if form == "probs" or (confused and draw(st.booleans())):
        run.options.append(f"--probs={draw(_prob_texts)}")
    if form == "logits" or (confused and draw(st.booleans())):
        run.options.append(f"--logits={draw(_logit_texts)}")
    if form in ("probs", "logits") or confused:
        if draw(st.booleans()):
            run.options.append(f"--target={draw(_prob_texts)}")
    if form == "logits" or confused:
        if draw(st.booleans()):
            run.options.append(f"--label={draw(_labels)}")
    return _with_jobs_and_json(draw, run)


# ---------------------------------------------------------------------------------------------
# normalize

_factor_lists = mostly(
    number_list(st.one_of(st.integers(-50, 200).map(str),
                          st.floats(-3, 3, allow_nan=False).map(lambda v: f"{v:.3g}"),
                          st.sampled_from(["1/2", "0", "40", "128"])), 1, 4),
    st.one_of(number_list(_bad_numbers, 1, 3), st.sampled_from(["", " ", ",", "1e308"])))
_eps = mostly(st.sampled_from(["1e-5", "1e-3", "1", "0.5", "1e-12"]),
              st.sampled_from(["0", "-1", "-1e-5", "abc", "nan", "inf", "", "1/2", "1e400"]))
_formats = mostly(st.sampled_from(["npy", "tif", "png", "NPY", ".npy", "jpg", "tiff"]),
                  st.sampled_from(["xyz", "", "hdr", "pbm", "png ", "."]))
_out_ranges = mostly(st.sampled_from(["auto", "clip", "rescale", "abs", "raw", "CLIP"]),
                     st.sampled_from(["none", "", "Clip ", "x"]))


def _stats_json(draw) -> str:
    """A stats file: as --save-stats writes it, or with missing, wrong or malformed content."""
    channels = draw(st.sampled_from([1, 3]))
    finite = st.floats(-1e3, 1e3, allow_nan=False)
    data: dict = {
        "mean": draw(st.lists(finite, min_size=channels, max_size=channels)),
        "var": draw(st.lists(st.floats(0, 1e4), min_size=channels, max_size=channels)),
        "count": draw(st.integers(1, 1000)), "eps": 1e-5, "gamma": [1.0] * channels,
        "beta": [0.0] * channels, "channel_order": "L" if channels == 1 else "RGB",
        "scale": draw(st.sampled_from([255.0, 65535.0, 1.0])), "images": 1}
    data["mean01"] = [m / data["scale"] for m in data["mean"]]
    data["std01"] = [math.sqrt(v) / data["scale"] for v in data["var"]]
    if draw(st.integers(0, 2)) == 0:  # a mistake in it
        key = draw(st.sampled_from(sorted(data)))
        fault = draw(st.sampled_from(["drop", "null", "string", "bool", "nan", "inf", "huge",
                                      "negative", "zero", "nested", "short", "long", "empty"]))
        if fault == "drop":
            del data[key]
        else:
            data[key] = {"null": None, "string": "abc", "bool": True, "nan": float("nan"),
                         "inf": float("inf"), "huge": 1e308,
                         "negative": -1.0, "zero": 0, "nested": [[1.0]],
                         "short": [1.0, 2.0], "long": [1.0] * 4, "empty": []}[fault]
    text = json.dumps(data)
    return draw(mostly(st.just(text), st.sampled_from([
        "", "{", "[]", "null", "42", '"stats"', "{\"mean\": [0]}", '{"var": [1]}',
        "{'mean': [0], 'var': [1]}", text[: len(text) // 2], '{"mean": [0], "var": [1]}',
        '{"mean": [0], "var": [1], "count": 1e400}', '{"mean": [1e308], "var": [0], "eps": 1}',
        '{"mean": [0, 0, 0], "var": [1, 1, 1], "gamma": [1, 2]}', "\ufeff" + text,
        "[" * 3000 + "]" * 3000])))


@st.composite
def normalize_runs(draw) -> Run:
    run = Run("normalize")
    count = draw(st.integers(1, 3))
    if draw(mostly(st.just(True), st.just(False))):  # one layout and depth for the batch
        channels = draw(st.sampled_from([0, 3, 4]))
        dtype = draw(st.sampled_from(["uint8", "uint16", "float32", "float64"]))
        run.images = draw(st.lists(images(dtypes=(dtype,), channels=channels),
                                   min_size=count, max_size=count))
    else:  # mixed channels and bit depths
        run.images = draw(st.lists(images(), min_size=count, max_size=count))
    run.options.append("--output={outdir}")
    fmt = draw(sometimes(_formats))
    if fmt is not None:
        run.options.append(f"--format={fmt}")
    pixels = fmt is not None and fmt.strip(". ").lower() not in ("npy", "tif", "tiff")
    # Pixel formats need a mapping: mostly given, so that most runs get to the data.
    out_range = draw(mostly(st.sampled_from(["clip", "rescale", "abs"]), _out_ranges)
                     if pixels else sometimes(_out_ranges))
    if out_range is not None:
        run.options.append(f"--out-range={out_range}")
    evaluation = draw(st.integers(0, 2)) == 0
    if evaluation:
        which = draw(mostly(st.just("given"), st.sampled_from(["missing", "input", "folder"])))
        if which == "given":
            run.files["stats.json"] = _stats_json(draw)
        run.options.append(f"--stats={{stats:{which}}}")
    for option, values in (("--gamma", _factor_lists), ("--beta", _factor_lists),
                           ("--eps", _eps)):
        if draw(st.integers(0, 9 if evaluation else 1)) == 0:
            run.options.append(f"{option}={draw(values)}")
    if draw(st.integers(0, 9 if evaluation else 1)) == 0:
        where = draw(mostly(st.sampled_from(["folder", "outdir"]),
                            st.sampled_from(["input", "nodir", "output"])))
        run.options.append(f"--save-stats={{save:{where}}}")
    return _with_jobs_and_json(draw, run)


# ---------------------------------------------------------------------------------------------
# The property

SUMMARY = re.compile(r"\d+ (written|found|measured)(, \d+ not found)?(, \d+ failed)?")
#: The one hint line a usage error may add after its error line (Click's parse errors).
HINT = re.compile(r"try 'cvtool( [a-z-]+)? --help'")
WALDO_LINE = re.compile(r".+: (x=\d+ y=\d+ w=\d+ h=\d+ score=-?[01]\.\d{3} scale=\d+\.\d{2}"
                        r"|not found \(best score=(-?[01]\.\d{3}|n/a)\))")


SECONDS_PER_RUN = 10.0  # tiny images answer in milliseconds; generous for a loaded CI machine


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".")
                  or p.name.endswith(".tmp"))


def _refuse_constant(name: str) -> None:
    raise ValueError(f"not JSON: {name}")


def _write_input(path: Path, image: Image) -> None:
    if image.suffix == ".npy":
        np.save(path, image.array)
    else:
        io.write_image(path, image.array)


def _fill(run: Run, folder: Path) -> tuple[list[str], list[str], dict[str, Path]]:
    """Write the inputs; return the inputs, the filled-in options and the outputs asked for."""
    inputs = []
    for index, image in enumerate(run.images):
        path = folder / f"in{index}{image.suffix}"
        _write_input(path, image)
        inputs.append(str(path))
    template = None
    if run.template is not None:
        template = folder / f"template{run.template.suffix}"
        _write_input(template, run.template)
    for name, text in run.files.items():
        (folder / name).write_text(text, encoding="utf-8")
    out = folder / "out"
    out.mkdir()
    single = len(inputs) == 1
    outputs: dict[str, Path] = {}

    def target(role: str, kind: str) -> str:
        if kind == SAME_AS_INPUT:
            return inputs[0] if inputs else str(folder / "nothing.png")
        if kind == SAME_AS_TEMPLATE:
            return str(template)
        path = out / (f"{role}{kind}" if single else role)
        outputs[role] = path
        return str(path)

    def replace(match: re.Match) -> str:
        role, _, kind = match.group(1).partition(":")
        if role == "template":
            return str(template)
        if role == "outdir":
            outputs["outdir"] = out
            return str(out)
        if role == "stats":
            return {"given": str(folder / "stats.json"), "missing": str(folder / "none.json"),
                    "input": inputs[0], "folder": str(folder)}[kind]
        if role == "save":
            path = {"folder": folder / "saved.json", "outdir": out / "saved.json",
                    "input": Path(inputs[0]), "nodir": folder / "no" / "such" / "s.json",
                    "output": out / Path(inputs[0]).with_suffix(".npy").name}[kind]
            if kind != "input":
                outputs["save"] = path
            return str(path)
        return target(role, kind)

    options = [re.sub(r"\{([a-z]+(?::[^}]*)?)\}", replace, option) for option in run.options]
    return inputs, options, outputs


def _check_json_lines(stdout: str, shown: str) -> list[dict]:
    records = []
    for line in stdout.splitlines():
        try:  # strict JSON: no NaN or Infinity, which JSON does not have
            records.append(json.loads(line, parse_constant=_refuse_constant))
        except ValueError as exc:
            raise AssertionError(f"stdout line is not JSON ({exc}): {line!r}\n{shown}") from None
    return records


def _check_written(run: Run, inputs: list[str], options: list[str], outputs: dict[str, Path],
                   code: int, shown: str) -> None:
    """Whatever was written is a whole, readable image (or JSON) of the documented size."""
    for role, path in outputs.items():
        if role == "save":
            if path.exists():
                data = json.loads(path.read_text(encoding="utf-8"),
                                  parse_constant=_refuse_constant)
                assert {"mean", "var", "count", "eps", "gamma", "beta", "channel_order",
                        "mean01", "std01"} <= set(data), shown
            continue
        files = ([path] if path.is_file() else sorted(path.iterdir()) if path.is_dir() else [])
        files = [file for file in files if file != outputs.get("save")]  # the user's choice
        for file in files:
            written = io.read_image(file)
            source = run.images[int(re.match(r"in(\d+)", file.name).group(1))
                                if file.name.startswith("in") else 0].array
            if run.command == "find-waldo" and role == "heatmap":
                # The scene's own size, so that the map overlays the scene.
                expected = source.shape[:2]
                if file.suffix == ".npy":
                    assert written.dtype == np.float32 and written.ndim == 2, shown
                    assert np.all(np.abs(written) <= 1.0 + 1e-5), shown  # also refuses NaN
            else:
                expected = source.shape[:2]
            assert written.shape[:2] == expected, shown
            if run.command == "normalize" and file.suffix == ".npy":
                assert written.shape == source.shape, shown
                assert np.all(np.isfinite(written)), shown
            if run.command == "entropy" and file.suffix == ".npy":
                assert written.ndim == 2 and np.all(np.isfinite(written)), shown
                assert written.min() >= 0 and written.max() <= 16 + 1e-9, shown
        if code == 0 and role == "outdir":
            assert len(files) == len(inputs), shown


def check_run(run: Run) -> None:
    """Run ``run`` in a fresh folder and assert the contract; raises AssertionError if broken."""
    with tempfile.TemporaryDirectory(prefix="cvtool-fuzz-") as folder_name:
        folder = Path(folder_name)
        inputs, options, outputs = _fill(run, folder)
        before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        args = [run.command, *inputs, *options]
        start = time.perf_counter()
        result = CliRunner().invoke(app, args)
        elapsed = time.perf_counter() - start
        shown = (f"cvtool {' '.join(map(repr, args))}\nexit={result.exit_code}\n"
                 f"stdout={result.stdout!r}\nstderr={result.stderr!r}")

        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"uncaught {type(result.exception).__name__}: {result.exception}\n{shown}")
        code = result.exit_code
        assert code in (0, 1, 2), shown
        # Images of at most 8×8 pixels: any answer, even a refusal, takes milliseconds.
        assert elapsed < SECONDS_PER_RUN, f"took {elapsed:.1f} s\n{shown}"
        assert "Traceback" not in result.stdout + result.stderr, shown
        lines = result.stderr.splitlines()
        # Click's parse errors follow the rule too: error: first, at most one hint line.
        hinted = code == 2 and len(lines) == 2 and HINT.fullmatch(lines[1]) is not None
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        # stderr holds cvtool's own lines only: no warnings, no noise, no Usage block
        assert "Usage:" not in result.stderr, shown
        assert all(line.startswith("error: ") or SUMMARY.fullmatch(line)
                   for line in (lines[:1] if hinted else lines)), shown
        if code == 0:
            assert errors == [], shown
        else:
            # find-waldo's "not found" is exit 1 without an error, as grep's no-match.
            not_found = (run.command == "find-waldo" and code == 1 and not errors
                         and ("not found (best score=" in result.stdout
                              or '"found": false' in result.stdout))
            assert result.stderr.startswith("error: ") or not_found, shown
        if code == 2:  # usage errors are found before any file is read or written
            assert result.stdout == "", shown
        if run.json_mode:
            _check_json_lines(result.stdout, shown)
        elif run.command == "find-waldo":
            assert all(WALDO_LINE.fullmatch(line) for line in result.stdout.splitlines()), shown
        elif run.command == "normalize" or any(o.startswith("--window") for o in options):
            assert result.stdout == "", shown
        if code == 0:  # results are numbers, never NaN (error messages may name NaN)
            assert not re.search(r"\bnan\b", result.stdout, re.IGNORECASE), shown
        assert _leftovers(folder) == [], shown
        for path, content in before.items():  # inputs (scenes, template, stats) untouched
            assert path.is_file() and path.read_bytes() == content, f"{path} changed\n{shown}"
        # A failed single input leaves no output; find-waldo writes two (--heatmap, then -o),
        # and the first, whole and checked below, may stay when the second fails.
        if code == 2 or (code == 1 and errors and len(inputs) == 1
                         and run.command != "find-waldo"):
            written = sorted(p.name for p in (folder / "out").rglob("*")
                             if p.is_file() and p != outputs.get("save"))
            assert written == [], f"written on failure: {written}\n{shown}"
        _check_written(run, inputs, options, outputs, code, shown)


def _settings(default: int) -> settings:
    return settings(max_examples=int(os.environ.get("CVTOOL_FUZZ_EXAMPLES", str(default))),
                    deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=os.environ.get("CVTOOL_FUZZ_RANDOM") is None)


@_settings(300)
@given(waldo_runs())
def test_find_waldo_never_crashes_and_leaves_nothing_behind(run):
    """Any generated find-waldo command: exit 0/1/2, an error or "not found", no debris.

    Derandomized unless CVTOOL_FUZZ_RANDOM is set; CVTOOL_FUZZ_EXAMPLES=N runs N examples.
    """
    check_run(run)


@_settings(400)
@given(entropy_runs())
def test_entropy_never_crashes_and_leaves_nothing_behind(run):
    """Any generated entropy command (four forms, mixed up now and then): the contract holds."""
    check_run(run)


@_settings(300)
@given(normalize_runs())
def test_normalize_never_crashes_and_leaves_nothing_behind(run):
    """Any generated normalize command (batches, stats files good and bad): the contract holds."""
    check_run(run)


def test_the_property_catches_a_traceback(monkeypatch):
    """The checker is not vacuous: an exception escaping the CLI is reported as a failure."""
    import cvtool.cli.find_waldo as find_waldo_module

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(find_waldo_module, "parse_settings", explode)
    run = Run("find-waldo", ["--template={template}"],
              images=[Image(np.zeros((4, 4), np.uint8), ".png")],
              template=Image(np.zeros((2, 2), np.uint8), ".png"))
    with pytest.raises(AssertionError, match="RuntimeError"):
        check_run(run)

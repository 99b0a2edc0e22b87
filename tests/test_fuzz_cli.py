"""Fuzzing the kernel commands: whatever a user types, cvtool answers with a result or one error.

Hypothesis throws generated kernel texts (from the grammar, with mistakes, and raw junk),
option values and tiny images (1×1 to 6×6; gray, colour, colour+alpha; 8-bit, 16-bit, float)
at ``correlate``, ``convolve`` and ``filter`` through Typer's ``CliRunner`` and checks the
contract of docs/cli.md "Everywhere": exit code 0, 1 or 2; never a traceback; an ``error:`` line
whenever the code is not 0; nothing left behind on failure; and on success an output of the
documented size. ``scripts/fuzz_campaign.py`` runs the same property far longer, outside CI.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cvtool import io
from cvtool.cli.app import app
from cvtool.cli.grammar import parse_kernel
from cvtool.filtering.kernels import named_kernel

# ---------------------------------------------------------------------------------------------
# Strategies

def mostly(valid: st.SearchStrategy, faulty: st.SearchStrategy) -> st.SearchStrategy:
    """``valid`` seven times in eight, else ``faulty``: most runs get past option checking."""
    return st.integers(0, 7).flatmap(lambda n: faulty if n == 0 else valid)


_good_numbers = st.one_of(
    st.integers(-9, 9).map(str),
    st.floats(-10, 10, allow_nan=False).map(lambda v: f"{v:.3g}"),
    st.tuples(st.integers(-9, 9), st.integers(1, 9)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.sampled_from(["0", "-0", "1e-300", "1e300", ".5", "5.", "+3", "-1/8"]))
_bad_numbers = st.sampled_from(["1e400", "nan", "-inf", "Infinity", "1/0", "0/0", "1//2", "--1",
                                "1e", "abc", "0x10", "½", "١", "1_0", "", "/"])
# A kernel is well formed seven times in eight; otherwise its values may be anything and its
# rows ragged.
_rows = mostly(
    st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(lambda hw: st.lists(
        st.lists(_good_numbers, min_size=hw[1], max_size=hw[1]),
        min_size=hw[0], max_size=hw[0])),
    st.lists(st.lists(st.one_of(_good_numbers, _bad_numbers), min_size=0, max_size=4),
             min_size=1, max_size=4))


@st.composite
def kernel_texts(draw) -> str:
    """Kernel text in the CLI grammar (values, separators, fractions) with deliberate faults."""
    if draw(st.integers(0, 15)) == 0:  # raw junk now and then
        return draw(st.text(max_size=12))
    rows = draw(_rows)
    value_sep = draw(st.sampled_from([" ", ",", ", ", "  ", "\t", " ,"]))
    row_sep = draw(st.sampled_from([";", "; ", "\n", " ; ", "\r\n"]))
    text = row_sep.join(value_sep.join(row) for row in rows)
    return draw(mostly(st.just(text), st.sampled_from([";", " ", ";;", "\n"]).map(
        lambda extra: extra + text + extra)))


PADDINGS = ["zero", "constant", "clamp", "mirror", "symmetric", "wrap", "extend", "normalized",
            "replicate", "edge", "nearest", "reflect101", "circular", "odd", "CLAMP"]
FILTER_NAMES = ["identity", "box", "gaussian", "sharpen", "laplacian", "edge", "lines-h",
                "lines-v", "lines-45", "lines-135", "sobel-x", "sobel-y", "emboss", "Box"]
OUTPUT_SUFFIXES = [".png", ".npy", ".tif", ".jpg", ".bmp", ".webp", ".tiff", ".ppm"]

_pad_values = mostly(
    st.one_of(st.integers(-300, 70000).map(str),
              st.lists(st.integers(-300, 70000).map(str), min_size=3, max_size=4).map(",".join),
              st.lists(st.floats(-2, 2, allow_nan=False).map(lambda v: f"{v:.2f}"),
                       min_size=1, max_size=4).map(" ".join)),
    st.sampled_from(["", "x", "1,,2", "nan", "1/3", "1 2", "1,2,3,4,5", "inf"]),
)
_strides = mostly(
    st.one_of(st.integers(1, 7).map(str),
              st.tuples(st.integers(1, 7), st.integers(1, 7)).map(lambda t: f"{t[0]},{t[1]}")),
    st.sampled_from(["", "0", "-1", "1.5", "a", "1,2,3", "2 3", "0,1", "+2"]),
)


@dataclass
class Image:
    """A tiny test image and how it is stored."""

    array: np.ndarray
    suffix: str  # .png (8/16-bit only) or .npy (any dtype)


@st.composite
def images(draw) -> Image:
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    channels = draw(st.sampled_from([0, 3, 4]))  # 0: gray (H×W)
    dtype = np.dtype(draw(st.sampled_from(["uint8", "uint16", "float32", "float64"])))
    shape = (height, width) if channels == 0 else (height, width, channels)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if dtype.kind == "u":
        array = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
        suffix = draw(st.sampled_from([".png", ".npy"]))
    else:
        array = (rng.standard_normal(shape) * draw(st.sampled_from([1.0, 255.0, 1e6]))
                 ).astype(dtype)
        suffix = ".npy"
    return Image(array, suffix)


@dataclass
class Call:
    """One generated command line (inputs and outputs filled in per run)."""

    command: str
    options: list[str] = field(default_factory=list)
    kernel_text: str | None = None
    filter_name: str | None = None
    size: int | None = None
    sigma: float | None = None
    images: list[Image] = field(default_factory=list)
    output_suffix: str = ".png"
    json_mode: bool = False


@st.composite
def calls(draw) -> Call:
    command = draw(st.sampled_from(["correlate", "convolve", "filter"]))
    call = Call(command)
    if command == "filter":
        call.filter_name = draw(mostly(st.sampled_from(FILTER_NAMES),
                                       st.sampled_from(["blur", "", "sobel", "EDGE"])))
        call.options.append(f"--name={call.filter_name}")
        sized = call.filter_name.lower() in ("box", "gaussian")
        if draw(st.booleans() if sized else mostly(st.just(False), st.just(True))):
            call.size = draw(mostly(st.integers(1, 9), st.integers(-2, 0)))
            call.options.append(f"--size={call.size}")
        if draw(st.booleans() if sized else mostly(st.just(False), st.just(True))):
            call.sigma = draw(mostly(st.sampled_from([0.3, 1.0, 2.5]),
                                     st.sampled_from([-1.0, 0.0, 1e-9, 1e6])))
            call.options.append(f"--sigma={call.sigma}")
    else:
        call.kernel_text = draw(kernel_texts())
        call.options.append(f"--kernel={call.kernel_text}")
        if draw(st.booleans()):
            call.options.append("--normalize-kernel")
    optional = {
        "--padding": mostly(st.sampled_from(PADDINGS),
                            st.sampled_from(["reflect", "bogus", "", "zero "])),
        "--pad-value": _pad_values,
        "--stride": _strides,
        "--shape": mostly(st.sampled_from(["same", "valid", "full", "FULL"]),
                          st.sampled_from(["half", ""])),
        "--out-range": mostly(st.sampled_from(["auto", "clip", "abs", "rescale", "raw"]),
                              st.sampled_from(["none", ""])),
    }
    for option, values in optional.items():
        if draw(st.booleans()):
            call.options.append(f"{option}={draw(values)}")
    if draw(st.booleans()):
        call.options.append("--gray")
    if draw(st.booleans()):
        call.options.append(f"--jobs={draw(st.integers(1, 3))}")
    call.json_mode = draw(st.booleans())
    if call.json_mode:
        call.options.append("--json")
    call.images = draw(st.lists(images(), min_size=1, max_size=2))
    call.output_suffix = draw(mostly(st.sampled_from(OUTPUT_SUFFIXES),
                                     st.sampled_from([".xyz", "", ".PNG", ".gif"])))
    return call


# ---------------------------------------------------------------------------------------------
# The property


def _option_value(options: list[str], name: str, default: str) -> str:
    values = [o.split("=", 1)[1] for o in options if o.startswith(name + "=")]
    return values[-1] if values else default


def _expected_shape(call: Call, image: np.ndarray, suffix: str) -> tuple[int, ...]:
    """Output size by docs/cli.md: --shape, then ceil(n / stride); --gray makes colour one channel
    and keeps alpha (gray + alpha, which image formats other than .npy store as RGBA)."""
    if call.kernel_text is not None:
        kh, kw = parse_kernel(call.kernel_text).shape
    else:
        kh, kw = named_kernel(call.filter_name, size=call.size, sigma=call.sigma).shape
    shape = _option_value(call.options, "--shape", "same").lower()
    words = _option_value(call.options, "--stride", "1").replace(",", " ").split()
    sy, sx = int(words[0]), int(words[-1])
    height, width = image.shape[:2]
    if shape == "valid":
        height, width = height - kh + 1, width - kw + 1
    elif shape == "full":
        height, width = height + kh - 1, width + kw - 1
    size = (math.ceil(height / sy), math.ceil(width / sx))
    if image.ndim == 3 and "--gray" not in call.options:
        return (*size, image.shape[2])
    if image.ndim == 3 and image.shape[2] == 4:  # --gray on RGBA: gray + alpha
        return (*size, 2 if suffix == ".npy" else 4)
    return size


SUMMARY = re.compile(r"\d+ written, \d+ failed")
#: The one hint line a usage error may add after its error line (Click's parse errors).
HINT = re.compile(r"try 'cvtool( [a-z-]+)? --help'")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".")
                  or p.name.endswith(".tmp"))


def check_call(call: Call) -> None:
    """Run ``call`` in a fresh folder and assert the contract; raises AssertionError if broken."""
    with tempfile.TemporaryDirectory(prefix="cvtool-fuzz-") as folder_name:
        folder = Path(folder_name)
        inputs = []
        for index, image in enumerate(call.images):
            path = folder / f"in{index}{image.suffix}"
            if image.suffix == ".npy":
                np.save(path, image.array)
            else:
                io.write_image(path, image.array)
            inputs.append(str(path))
        outdir = folder / "out"
        single = len(inputs) == 1
        target = outdir / f"result{call.output_suffix}" if single else outdir
        if single:
            outdir.mkdir()
        args = [call.command, *inputs, *call.options, f"--output={target}"]
        result = CliRunner().invoke(app, args)
        shown = f"cvtool {' '.join(map(repr, args))}\nstdout={result.stdout!r}\n" \
                f"stderr={result.stderr!r}"

        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"uncaught {type(result.exception).__name__}: {result.exception}\n{shown}")
        code = result.exit_code
        assert code in (0, 1, 2), shown
        assert "Traceback" not in result.output, shown
        lines = result.stderr.splitlines()
        # Click's parse errors follow the rule too: error: first, at most one hint line.
        hinted = code == 2 and len(lines) == 2 and HINT.fullmatch(lines[1]) is not None
        # stderr holds cvtool's own lines only: no warnings, no noise, no Usage block
        assert "Usage:" not in result.stderr, shown
        assert all(line.startswith("error: ") or SUMMARY.fullmatch(line)
                   for line in (lines[:1] if hinted else lines)), shown
        if code != 0:
            assert result.stderr.startswith("error: "), shown
        if not call.json_mode:
            assert result.stdout == "", shown
        assert _leftovers(folder) == [], shown
        outputs = sorted(outdir.iterdir()) if outdir.exists() else []
        if code != 0 and single:
            assert outputs == [], shown
        for path in outputs:  # whatever is there is a whole image of the documented size
            source = call.images[int(path.stem[2:])] if not single else call.images[0]
            written = io.read_image(path)
            expected = _expected_shape(call, source.array, path.suffix.lower())
            if path.suffix.lower() in (".npy", ".png", ".tif", ".tiff"):
                assert written.shape == expected, shown
            else:  # other formats may lack gray (WebP) or alpha (JPEG, GIF...): size only
                assert written.shape[:2] == expected[:2], shown
        if code == 0:
            assert len(outputs) == len(inputs), shown


SETTINGS = settings(max_examples=int(os.environ.get("CVTOOL_FUZZ_EXAMPLES", "150")),
                    deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=os.environ.get("CVTOOL_FUZZ_RANDOM") is None)


@SETTINGS
@given(calls())
def test_cli_never_crashes_and_leaves_nothing_behind(call):
    """Any generated command: exit 0/1/2, an `error:` line when not 0, no traceback, no debris.

    Derandomized in CI (the same examples every run, so a red build is reproducible); set
    CVTOOL_FUZZ_RANDOM=1 and CVTOOL_FUZZ_EXAMPLES=N to explore, or run
    scripts/fuzz_campaign.py.
    """
    check_call(call)


def test_the_property_catches_a_traceback(monkeypatch):
    """The checker is not vacuous: an exception escaping the CLI is reported as a failure."""
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("cvtool.cli.grammar.parse_kernel", explode)
    call = Call("correlate", ["--kernel=1"], kernel_text="1",
                images=[Image(np.zeros((2, 2), np.uint8), ".png")])
    with pytest.raises(AssertionError, match="RuntimeError"):
        check_call(call)

"""A fast self-check of an installation: every subcommand run through the CLI on tiny images.

Each check writes tiny images to a temporary folder, runs ``cvtool SUBCOMMAND ...`` on them
(in-process, through the real option parsing, ``--out-range`` mapping, batches, JSON and file
output) and compares the files written, or the JSON printed, with values known by hand: an
impulse correlated with a kernel gives the kernel rotated; a patch planted in a scene is found
where it was planted with score 1; a half-black, half-white image holds exactly 1 bit; batch
normalization of a small set gives its known mean and variance, and outputs of mean 0 and
variance 1. Every image format this OpenCV build writes is also encoded and decoded back.

No typer or rich here: the caller passes a :data:`Cli` that runs ``cvtool ARGS`` and returns
what it printed (``cvtool/cli/selftest.py`` provides it and prints the :class:`Report`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cvtool import __version__, io
from cvtool.errors import CvToolError, UsageError

__all__ = ["Check", "CheckFailed", "CliResult", "Cli", "Session", "Report", "run_selftest",
           "expect_array", "expect_value", "CHECKS"]

#: Formats whose encoders lose information by design; their round trip is checked loosely.
LOSSY_SUFFIXES = frozenset(".jpg .jpeg .jpe .webp .jp2 .gif".split())


@dataclass(frozen=True)
class Check:
    """The outcome of one check: its name, whether it held, and what was seen if it did not."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class CliResult:
    """What one ``cvtool ARGS`` run gave: its exit code and everything it printed."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""


#: Runs ``cvtool ARGS`` (the arguments after ``cvtool``) and returns its :class:`CliResult`.
Cli = Callable[[Sequence[str]], CliResult]


class CheckFailed(Exception):
    """Raised inside a check with what was seen and what was expected."""


@dataclass
class Report:
    """Everything ``cvtool selftest`` reports: checks, versions, formats and the pixel limit."""

    checks: list[Check]
    versions: dict[str, str]
    formats: dict[str, list[str]]
    max_pixels: int
    elapsed_ms: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check held."""
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict:
        """A JSON-ready dictionary (``cvtool selftest --json``)."""
        return {"ok": self.ok, "versions": self.versions, "formats": self.formats,
                "max_pixels": self.max_pixels, "elapsed_ms": round(self.elapsed_ms, 1),
                "notes": self.notes,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail}
                           for c in self.checks]}


# ---------------------------------------------------------------------------------------------
# Running the CLI on files in a folder, and comparing what comes back


def _listed(values: np.ndarray) -> str:
    """Values for messages: whole numbers without '.0', others to 4 places; a constant array
    of several values as ``all V (HxW)``.

    Examples
    --------
    >>> _listed(np.array([[1.0, 2.5]])), _listed(np.full((2, 3), 7.0))
    ('[[1, 2.5]]', 'all 7 (2x3)')
    """
    values = np.asarray(values, dtype=float)
    whole = np.isfinite(values).all() and np.array_equal(values, np.round(values))
    shown = values.astype(np.int64) if whole else np.round(values, 4)
    if values.size > 1 and whole and (shown == shown.flat[0]).all():
        return f"all {shown.flat[0]} ({'x'.join(map(str, values.shape))})"
    return str(shown.tolist()).replace(".0,", ",").replace(".0]", "]")


class Session:
    """One check's folder and CLI: writes input images, runs ``cvtool``, reads outputs back.

    Failures raise :class:`CheckFailed` naming the command and the expected value; file names
    in messages are shown relative to the folder.

    Examples
    --------
    >>> folder = tempfile.TemporaryDirectory()
    >>> session = Session(lambda args: CliResult(0, '{"entropy": 0.0}\\n'), Path(folder.name))
    >>> image = session.write("a.png", np.zeros((2, 2), np.uint8))
    >>> session.run_json("entropy", image, "--json")
    [{'entropy': 0.0}]
    >>> session.run("entropy", image, code=1)
    Traceback (most recent call last):
    ...
    cvtool.cli.selftest_checks.CheckFailed: `cvtool entropy a.png` exited 0, expected 1
    >>> folder.cleanup()
    """

    def __init__(self, cli: Cli, folder: Path) -> None:
        self.cli = cli
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> str:
        """The absolute path of ``name`` in this check's folder."""
        return str(self.folder / name)

    def write(self, name: str, image: np.ndarray) -> str:
        """Write an input image (``.npy`` with NumPy itself) and return its path."""
        target = self.path(name)
        if name.endswith(".npy"):
            np.save(target, image)
        else:
            io.write_image(target, image)
        return target

    def read(self, name: str) -> np.ndarray:
        """Read an output back (``.npy`` with NumPy itself); a missing file is a failure."""
        source = self.path(name)
        if not Path(source).is_file():
            raise CheckFailed(f"{name} was not written")
        return np.load(source) if name.endswith(".npy") else io.read_image(source)

    def relative(self, text: str) -> str:
        """``text`` with this folder's paths shown relative to it (shorter messages)."""
        return text.replace(str(self.folder) + os.sep, "")

    def _shown(self, args: Sequence[str]) -> str:
        return "cvtool " + " ".join(repr(a) if " " in a else self.relative(a) for a in args)

    def run(self, *args: str, code: int = 0) -> CliResult:
        """Run ``cvtool ARGS``; an exit code other than ``code`` is a failure."""
        args = tuple(str(a) for a in args)
        result = self.cli(args)
        if result.exit_code != code:
            said = self.relative(result.stderr).strip().splitlines()
            raise CheckFailed(f"`{self._shown(args)}` exited {result.exit_code}, expected {code}"
                              + (f" ({said[-1]})" if said else ""))
        return result

    def run_json(self, *args: str, code: int = 0) -> list[dict]:
        """Run ``cvtool ARGS`` (with ``--json``) and parse one JSON object per stdout line."""
        result = self.run(*args, code=code)
        try:
            return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        except ValueError:
            raise CheckFailed(f"`{self._shown(args)}` printed {result.stdout[:80]!r}, "
                              "expected one JSON object per line") from None


def expect_array(label: str, got: np.ndarray, expected, *, atol: float = 0.0,
                 dtype: str | None = None) -> None:
    """Raise :class:`CheckFailed` unless ``got`` has ``expected``'s shape, values and ``dtype``.

    Examples
    --------
    >>> expect_array("x.png", np.array([1, 2], np.uint8), [1, 2], dtype="uint8")
    >>> expect_array("x.png", np.array([1, 3]), [1, 2])
    Traceback (most recent call last):
    ...
    cvtool.cli.selftest_checks.CheckFailed: x.png: got [1, 3], expected [1, 2]
    """
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        raise CheckFailed(f"{label}: shape {got.shape}, expected {expected.shape} "
                          f"{_listed(expected)}")
    if not np.allclose(got.astype(float), expected, rtol=0, atol=atol):
        raise CheckFailed(f"{label}: got {_listed(got)}, expected {_listed(expected)}")
    if dtype is not None and str(got.dtype) != dtype:
        raise CheckFailed(f"{label}: dtype {got.dtype}, expected {dtype}")


def expect_value(label: str, got, expected, *, atol: float = 0.0) -> None:
    """Raise :class:`CheckFailed` unless ``got == expected`` (numbers within ``atol``).

    Examples
    --------
    >>> expect_value("entropy", 1.0, 1.0)
    >>> expect_value("found", False, True)
    Traceback (most recent call last):
    ...
    cvtool.cli.selftest_checks.CheckFailed: found: got False, expected True
    """
    if isinstance(expected, float):
        good = isinstance(got, (int, float)) and not isinstance(got, bool) and math.isclose(
            got, expected, rel_tol=0, abs_tol=atol)
    else:
        good = got == expected
    if not good:
        raise CheckFailed(f"{label}: got {got!r}, expected {expected!r}")


def _field(record: dict, key: str, label: str):
    if key not in record:
        raise CheckFailed(f"{label}: no {key!r} in {sorted(record)}, expected one")
    return record[key]


def _one_record(records: list[dict], label: str) -> dict:
    if len(records) != 1:
        raise CheckFailed(f"{label}: {len(records)} JSON objects, expected 1")
    return records[0]


# ---------------------------------------------------------------------------------------------
# The checks: each runs one subcommand through the CLI on tiny images written to its folder,
# and raises CheckFailed (or returns a description) when what comes back is not the known value.

#: The kernel of the correlate/convolve checks, and what an impulse of 10 gives with it.
_KERNEL = "1 2 3; 4 5 6; 7 8 9"
_K10 = np.arange(10, 100, 10).reshape(3, 3)  # 10 × the kernel


def _impulse(value: int = 10) -> np.ndarray:
    image = np.zeros((5, 5), np.uint8)
    image[2, 2] = value
    return image


def _centred(block, size: int = 5) -> np.ndarray:
    """A ``size``×``size`` array of zeros with the 3×3 ``block`` in its centre."""
    out = np.zeros((size, size))
    out[size // 2 - 1:size // 2 + 2, size // 2 - 1:size // 2 + 2] = block
    return out


def check_correlate(session: Session) -> None:
    """correlate: an impulse gives the kernel rotated by 180°, raw to .npy and clipped to PNG."""
    impulse = session.write("impulse.png", _impulse())
    session.run("correlate", impulse, "-k", _KERNEL, "--out-range", "raw",
                "-o", session.path("raw.npy"))
    expect_array("raw.npy", session.read("raw.npy"), _centred(_K10[::-1, ::-1]))
    # 10 × (-1 2 30; 4 5 6; 7 8 9) rotated has -10 and 300: clip saturates both ends.
    session.run("correlate", impulse, "-k", "-1 2 30; 4 5 6; 7 8 9", "--out-range", "clip",
                "-o", session.path("clip.png"))
    expect_array("clip.png", session.read("clip.png"),
                 _centred([[90, 80, 70], [60, 50, 40], [255, 20, 0]]), dtype="uint8")


def check_convolve(session: Session) -> None:
    """convolve: an impulse gives the kernel itself; --shape valid/full and --stride sizes."""
    impulse = session.write("impulse.png", _impulse())
    session.run("convolve", impulse, "-k", _KERNEL, "-o", session.path("same.png"))
    expect_array("same.png", session.read("same.png"), _centred(_K10), dtype="uint8")
    session.run("convolve", impulse, "-k", _KERNEL, "--shape", "valid",
                "-o", session.path("valid.npy"), "--out-range", "raw")
    expect_array("valid.npy (--shape valid)", session.read("valid.npy"), _K10)
    # full: 7×7 with 10 × kernel at rows/columns 2..4; stride 2 keeps rows/columns 0, 2, 4, 6.
    # With zero padding (the default, mirror, would reflect the impulse into the margin).
    session.run("convolve", impulse, "-k", _KERNEL, "--shape", "full", "--stride", "2",
                "-p", "zero", "-o", session.path("full.npy"), "--out-range", "raw")
    expected = np.zeros((4, 4))
    expected[1:3, 1:3] = [[10, 30], [70, 90]]
    expect_array("full.npy (--shape full --stride 2)", session.read("full.npy"), expected)


#: The padding table of docs/cli.md: the row 1 2 3 4 extended by two pixels each side.
PADDED_ROWS = {
    "zero": [0, 0, 1, 2, 3, 4, 0, 0], "clamp": [1, 1, 1, 2, 3, 4, 4, 4],
    "mirror": [3, 2, 1, 2, 3, 4, 3, 2], "symmetric": [2, 1, 1, 2, 3, 4, 4, 3],
    "wrap": [3, 4, 1, 2, 3, 4, 1, 2], "extend": [-1, 0, 1, 2, 3, 4, 5, 6],
}


def check_padding(session: Session) -> None:
    """-p/--padding: each mode extends a row as the documented table shows; `reflect` is refused.

    With the kernel ``0 0 1 0 0`` and ``--shape full``, a 1×4 row gives its padded self
    from two pixels left of the row to two pixels right of it.
    """
    row = session.write("row.npy", np.array([[1.0, 2.0, 3.0, 4.0]]))
    modes = [(mode, ()) for mode in PADDED_ROWS] + [("constant", ("--pad-value", "9"))]
    for mode, extra in modes:
        name = f"{mode}.npy"
        session.run("correlate", row, "-k", "0 0 1 0 0", "--shape", "full", "-p", mode, *extra,
                    "-o", session.path(name))
        expected = PADDED_ROWS.get(mode, [9, 9, 1, 2, 3, 4, 9, 9])
        expect_array(f"-p {mode} {' '.join(extra)}".strip(), session.read(name), [expected])
    said = session.run("correlate", row, "-k", "1", "-p", "reflect",
                       "-o", session.path("reflect.npy"), code=2).stderr.strip()
    if "mirror" not in said or "symmetric" not in said:
        raise CheckFailed(f"-p reflect: said {said!r}, expected an error naming mirror and "
                          "symmetric")


def check_filter(session: Session) -> None:
    """filter: box 3×3 keeps a flat image and a ramp (a batch, -j 2); sobel-x on ramps.

    Sobel-x on a left-to-right ramp of 10 per column is +80 everywhere (``--out-range raw``);
    on a right-to-left ramp it is -80, which ``auto`` maps by ``abs`` (zero-sum kernel) to 80.
    """
    ramp = np.tile(np.arange(0, 60, 10, dtype=np.uint8), (5, 1))
    flat = session.write("flat.png", np.full((5, 6), 100, np.uint8))
    rising = session.write("ramp.png", ramp)
    falling = session.write("down.png", ramp[:, ::-1].copy())
    session.run("filter", flat, rising, "-n", "box", "--size", "3", "-p", "extend",
                "-j", "2", "-o", session.path("boxed"))
    expect_array("box of flat.png", session.read("boxed/flat.png"), np.full((5, 6), 100),
                 dtype="uint8")
    expect_array("box of ramp.png", session.read("boxed/ramp.png"), ramp, dtype="uint8")
    session.run("filter", rising, "-n", "sobel-x", "-p", "extend", "--out-range", "raw",
                "-o", session.path("sobel.npy"))
    expect_array("sobel-x of ramp.png", session.read("sobel.npy"), np.full((5, 6), 80.0))
    session.run("filter", falling, "-n", "sobel-x", "-p", "extend", "-o", session.path("abs.png"))
    expect_array("sobel-x of down.png (auto = abs)", session.read("abs.png"),
                 np.full((5, 6), 80), dtype="uint8")


def check_find_waldo(session: Session) -> None:
    """find-waldo --json: a patch planted at x=13 y=9 is found there with score 1; another
    patch is not found (exit 1)."""
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    patch = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    absent = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    scene[9:17, 13:23] = patch
    scene_path = session.write("scene.png", scene)
    found = _one_record(session.run_json(
        "find-waldo", scene_path, "-t", session.write("patch.png", patch), "--json"), "found")
    expect_value("found", _field(found, "found", "found"), True)
    matches = _field(found, "matches", "found")
    if len(matches) != 1:
        raise CheckFailed(f"{len(matches)} matches, expected 1 (x=13 y=9)")
    match = matches[0]
    box = {key: match.get(key) for key in ("x", "y", "width", "height")}
    expect_value("match", box, {"x": 13, "y": 9, "width": 10, "height": 8})
    expect_value("score", match.get("score"), 1.0, atol=1e-6)
    missing = _one_record(session.run_json(
        "find-waldo", scene_path, "-t", session.write("absent.png", absent), "--json", code=1),
        "not found")
    expect_value("absent patch found", _field(missing, "found", "not found"), False)
    expect_value("absent patch matches", _field(missing, "matches", "not found"), [])
    best = _field(missing, "best_score", "not found")
    if not isinstance(best, (int, float)) or not -1 <= best < 0.8:
        raise CheckFailed(f"absent patch best_score {best!r}, expected below 0.8")


def check_entropy(session: Session) -> None:
    """entropy --json: half black/half white = 1 bit; H(1/8, 7/8) = 0.163629 in base 10;
    softmax of logits 1000 1000 = 0.5 0.5 (stable), cross-entropy against label 0 = 1 bit."""
    half = np.zeros((4, 4), np.uint8)
    half[:, 2:] = 255
    image = _one_record(session.run_json(
        "entropy", session.write("half.png", half), "--json"), "image")
    expect_value("half black/half white entropy", _field(image, "entropy", "image"), 1.0,
                 atol=1e-12)
    expect_value("unit", image.get("unit"), "bits")
    probs = _one_record(session.run_json(
        "entropy", "--probs", "0.125 0.875", "--base", "10", "--json"), "probs")
    expect_value("H(0.125, 0.875) base 10", _field(probs, "entropy", "probs"), 0.163629,
                 atol=5e-7)
    logits = _one_record(session.run_json(
        "entropy", "--logits", "1000 1000", "--label", "0", "--json"), "logits")
    expect_array("softmax(1000, 1000)", np.asarray(_field(logits, "softmax", "logits")),
                 [0.5, 0.5], atol=1e-12)
    expect_value("cross-entropy of softmax(1000, 1000) with label 0",
                 _field(logits, "cross_entropy", "logits"), 1.0, atol=1e-9)


def check_normalize(session: Session) -> None:
    """normalize: --save-stats of two 2×2 RGB images holds their known mean and variance;
    the outputs have mean 0 and variance 1; --stats maps the mean colour to 0."""
    values = np.arange(0, 80, 10, dtype=float).reshape(2, 2, 2)  # image a: 0..30, b: 40..70
    images = [np.stack([v, 2 * v, 255 - v], axis=2).astype(np.uint8) for v in values]
    inputs = [session.write(f"{name}.png", image) for name, image in zip("ab", images, strict=True)]
    stats_path = session.path("stats.json")
    session.run("normalize", *inputs, "-o", session.path("out"), "--save-stats", stats_path)
    mean, var = [35.0, 70.0, 220.0], [525.0, 2100.0, 525.0]  # R = v, G = 2v, B = 255 - v
    try:
        stats = json.loads(Path(stats_path).read_text())
    except (OSError, ValueError) as exc:
        raise CheckFailed(f"--save-stats: {exc}, expected a JSON file") from None
    expect_array("mean", np.asarray(_field(stats, "mean", "stats")), mean, atol=1e-9)
    expect_array("var", np.asarray(_field(stats, "var", "stats")), var, atol=1e-9)
    expect_value("count", _field(stats, "count", "stats"), 8)
    expect_value("channel_order", _field(stats, "channel_order", "stats"), "RGB")
    expect_array("mean01", np.asarray(_field(stats, "mean01", "stats")),
                 np.array(mean) / 255, atol=1e-9)
    outputs = [session.read(f"out/{name}.npy") for name in "ab"]
    for name, image, output in zip("ab", images, outputs, strict=True):
        expect_array(f"out/{name}.npy", output,
                     (image - np.array(mean)) / np.sqrt(np.array(var) + 1e-5), atol=1e-5)
    pixels = np.concatenate([o.reshape(-1, 3) for o in outputs]).astype(float)
    expect_array("output mean", pixels.mean(axis=0), [0.0, 0.0, 0.0], atol=1e-6)
    expect_array("output variance", pixels.var(axis=0), [1.0, 1.0, 1.0], atol=1e-4)
    middle = session.write("middle.png", np.full((2, 3, 3), [35, 70, 220], np.uint8))
    session.run("normalize", middle, "-o", session.path("eval"), "--stats", stats_path)
    expect_array("--stats of the mean colour", session.read("eval/middle.npy"),
                 np.zeros((2, 3, 3)), atol=1e-6)


def check_pixel_limit(session: Session) -> None:
    """A header claiming 100000x100000 pixels is refused (exit 1) before anything is decoded."""
    header = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (100000).to_bytes(4, "big") * 2
              + b"\x08\x00\x00\x00\x00")
    bomb = session.path("bomb.png")
    Path(bomb).write_bytes(header)
    said = session.relative(session.run("entropy", bomb, code=1).stderr).strip()
    if "CVTOOL_MAX_PIXELS" not in said:
        raise CheckFailed(f"bomb.png: said {said!r}, expected an error naming CVTOOL_MAX_PIXELS")


#: Every check, in the order they are reported. A check returns None (or a description of
#: what went wrong) and may raise CheckFailed.
CHECKS: dict[str, Callable[[Session], str | None]] = {
    "correlate": check_correlate,
    "convolve": check_convolve,
    "padding": check_padding,
    "filter": check_filter,
    "find-waldo": check_find_waldo,
    "entropy": check_entropy,
    "normalize": check_normalize,
    "pixel limit": check_pixel_limit,
}


# ---------------------------------------------------------------------------------------------
# Formats


def _refused(suffix: str) -> str | None:
    """Why cvtool refuses to write ``suffix`` files up front (None when it does not)."""
    try:
        io.check_output_path("x" + suffix)
    except UsageError as exc:
        return str(exc)
    return None


#: Radiance HDR keeps floating-point colour only (8-bit data would come back as float / 256).
HDR_SUFFIXES = frozenset(".hdr .pic".split())


def _sample(dtype: np.dtype, channels: int) -> np.ndarray:
    """A smooth ramp (lossy encoders keep it within a few levels), in ``dtype``'s range."""
    # 32×36: JPEG 2000's encoder refuses images below 32 pixels a side.
    rows, cols = np.mgrid[0:32, 0:36]
    ramp = (rows * 36 + cols) / (32 * 36 - 1.0)  # 0..1
    if channels > 1:
        ramp = np.stack([ramp, 1 - ramp, ramp / 2][:channels], axis=2)
    if np.dtype(dtype).kind == "f":
        return (ramp * 4 + 0.25).astype(dtype)
    return np.rint(ramp * np.iinfo(dtype).max).astype(dtype)


def _kinds(suffix: str) -> list[tuple[type, int]]:
    if suffix in HDR_SUFFIXES:
        return [(np.float32, 3)]
    gray_only = suffix in (".pgm", ".pbm")
    kinds: list[tuple[type, int]] = [(np.uint8, 1 if gray_only else 3)]
    if suffix in io.SIXTEEN_BIT_SUFFIXES:
        kinds.append((np.uint16, 1 if gray_only else 3))
    if suffix in io.FLOAT_SUFFIXES:
        kinds.append((np.float32, 1))
    return kinds


def check_format(suffix: str, folder: Path) -> tuple[bool, str | None]:
    """Write ``suffix`` files (8-bit colour; 16-bit and float where kept) and read them back.

    Returns (written, problem): ``written`` is False when the data could not be encoded (the
    build lacks the codec; ``problem`` then says why); otherwise ``problem`` describes a file
    that came back different (a broken codec), or is None.
    """
    for dtype, channels in _kinds(suffix):
        image = _sample(np.dtype(dtype), channels)
        if suffix == ".pbm":
            image = np.where(image > 127, 255, 0).astype(np.uint8)
        path = folder / f"sample{suffix}"
        try:
            io.write_image(path, image)
        except CvToolError as exc:
            return False, str(exc).replace(f"{path}: ", "")
        try:
            back = io.read_image(path)
        except CvToolError as exc:
            return True, f"{np.dtype(dtype)}: written, but {exc}"
        if suffix in HDR_SUFFIXES:
            close = back.shape == image.shape and np.allclose(back, image, rtol=0.02)
        else:
            close = back.shape == image.shape and back.dtype == image.dtype
            if close:
                error = np.abs(back.astype(float) - image.astype(float))
                # Lossy codecs (JPEG chroma subsampling, GIF's palette) may move single pixels
                # a lot on a small image; on average they stay within a few levels.
                # OpenCV's GIF writer maps colour onto a fixed palette ~36 levels apart.
                allowed = 24 if suffix == ".gif" else 8
                close = (error.mean() <= allowed) if suffix in LOSSY_SUFFIXES else not error.any()
        if not close:
            return True, (f"{np.dtype(dtype)} {image.shape}: read back {back.dtype} "
                          f"{back.shape} with different values")
    return True, None


def _format_checks() -> tuple[list[Check], dict[str, list[str]], list[str]]:
    checks, writable, notes = [], [], []
    with tempfile.TemporaryDirectory(prefix="cvtool-selftest-") as name:
        for suffix in sorted(io.IMAGE_SUFFIXES):
            refused = _refused(suffix)
            if refused:  # a fact about this build (or about cvtool's probe): reported, not failed
                notes.append(f"{suffix} not writable here: {refused}")
                continue
            try:
                written, problem = check_format(suffix, Path(name))
            except Exception as exc:  # noqa: BLE001 - a selftest reports, never crashes
                written, problem = True, f"{type(exc).__name__}: {exc}"
            if not written:  # a missing codec is a fact about the build, not a failure
                notes.append(f"{suffix} not writable here: {problem}")
                continue
            writable.append(suffix)
            checks.append(Check(f"format {suffix}", problem is None, problem or ""))
    # Every writable format was read back by the round trip; .npy is cvtool's own.
    return checks, {"read": list(writable), "write": writable}, notes


# ---------------------------------------------------------------------------------------------


def _run_check(function: Callable[[Session], str | None], session: Session) -> str | None:
    try:
        return function(session)
    except CheckFailed as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a selftest reports, never crashes
        return f"{type(exc).__name__}: {exc}"


def run_selftest(cli: Cli, *, formats: bool = True) -> Report:
    """Run every check through ``cli`` (and, with ``formats``, a round trip per image format).

    ``cli`` runs ``cvtool ARGS`` and returns a :class:`CliResult`;
    :func:`cvtool.cli.selftest.cli_runner` makes one that runs it in-process. The checks'
    files live in one temporary folder, removed at the end.

    Examples
    --------
    >>> from cvtool.cli.app import app
    >>> from cvtool.cli.selftest import cli_runner
    >>> report = run_selftest(cli_runner(app), formats=False)
    >>> report.ok, [c.name for c in report.checks][:2]
    (True, ['correlate', 'convolve'])
    """
    started = time.perf_counter()
    checks = []
    with tempfile.TemporaryDirectory(prefix="cvtool-selftest-") as name:
        for index, (check, function) in enumerate(CHECKS.items()):
            folder = Path(name) / f"{index:02d}-{re.sub(r'[^a-z0-9]+', '-', check.lower())}"
            problem = _run_check(function, Session(cli, folder))
            checks.append(Check(check, problem is None, problem or ""))
    found: dict[str, list[str]] = {"read": [], "write": []}
    notes: list[str] = []
    if formats:
        format_checks, found, notes = _format_checks()
        checks.extend(format_checks)
    versions = {"cvtool": __version__, "numpy": np.__version__, "opencv": io.opencv_version(),
                "python": platform.python_version()}
    try:
        limit = io.max_pixels()
    except UsageError as exc:
        checks.append(Check("pixel limit setting", False, str(exc)))
        limit = io.DEFAULT_MAX_PIXELS
    return Report(checks, versions, found, limit, (time.perf_counter() - started) * 1000, notes)

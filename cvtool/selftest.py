"""A fast self-check of an installation: every subcommand's core on tiny built-in images.

Each check computes something whose answer is known by hand (an impulse correlated with a
kernel returns the kernel rotated; a patch matched against itself scores 1; a half-black,
half-white image holds exactly 1 bit; batch normalization gives mean 0 and variance 1) and
every image format this OpenCV build writes is encoded and decoded back. No typer or rich
here: ``cvtool selftest`` (``cvtool/cli/selftest.py``) only prints the :class:`Report`.
"""

from __future__ import annotations

import math
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cvtool import __version__, io
from cvtool.errors import CvToolError, UsageError

__all__ = ["Check", "Report", "run_selftest", "CHECKS"]

#: Formats whose encoders lose information by design; their round trip is checked loosely.
LOSSY_SUFFIXES = frozenset(".jpg .jpeg .jpe .webp .jp2 .gif".split())


@dataclass(frozen=True)
class Check:
    """The outcome of one check: its name, whether it held, and what was seen if it did not."""

    name: str
    ok: bool
    detail: str = ""


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
# The checks: each returns None when it holds, or a short description of what went wrong.

_KERNEL = np.arange(1.0, 10.0).reshape(3, 3)


def _impulse(size: int = 5) -> np.ndarray:
    image = np.zeros((size, size), np.float64)
    image[size // 2, size // 2] = 1.0
    return image


def _differs(name: str, got: np.ndarray, expected: np.ndarray, atol: float = 1e-9) -> str | None:
    got, expected = np.asarray(got, float), np.asarray(expected, float)
    if got.shape != expected.shape:
        return f"{name}: shape {got.shape}, expected {expected.shape}"
    if not np.allclose(got, expected, atol=atol, rtol=0):
        return f"{name}: got {np.round(got, 4).tolist()}, expected {expected.tolist()}"
    return None


def check_correlate() -> str | None:
    """correlate: an impulse returns the kernel rotated by 180 degrees."""
    from cvtool.filtering import correlate

    return _differs("centre", correlate(_impulse(), _KERNEL)[1:4, 1:4], _KERNEL[::-1, ::-1])


def check_convolve() -> str | None:
    """convolve: an impulse returns the kernel itself."""
    from cvtool.filtering import convolve

    return _differs("centre", convolve(_impulse(), _KERNEL)[1:4, 1:4], _KERNEL)


def check_shapes_and_stride() -> str | None:
    """--shape valid/full and --stride give the documented sizes."""
    from cvtool.filtering import correlate

    image = np.ones((7, 9))
    kernel = np.ones((3, 2))
    sizes = {shape: correlate(image, kernel, shape=shape, stride=(2, 3)).shape
             for shape in ("same", "valid", "full")}
    expected = {"same": (4, 3), "valid": (3, 3), "full": (5, 4)}
    return None if sizes == expected else f"sizes {sizes}, expected {expected}"


def check_padding() -> str | None:
    """Padding modes extend the row a b c d as the CLI.md table shows."""
    from cvtool.padding import pad

    row = np.array([[1.0, 2.0, 3.0, 4.0]])
    expected = {"zero": [0, 0, 1, 2, 3, 4, 0, 0], "clamp": [1, 1, 1, 2, 3, 4, 4, 4],
                "mirror": [3, 2, 1, 2, 3, 4, 3, 2], "symmetric": [2, 1, 1, 2, 3, 4, 4, 3],
                "wrap": [3, 4, 1, 2, 3, 4, 1, 2], "extend": [-1, 0, 1, 2, 3, 4, 5, 6]}
    for mode, values in expected.items():
        problem = _differs(mode, pad(row, ((0, 0), (2, 2)), mode)[0], np.array(values))
        if problem:
            return problem
    return None


def check_filter() -> str | None:
    """filter: box keeps a constant image; sobel-x gives 8 per unit of a left-to-right ramp."""
    from cvtool.filtering import correlate
    from cvtool.kernels import named_kernel

    flat = correlate(np.full((5, 5), 7.0), named_kernel("box", size=3), padding="clamp")
    ramp = np.tile(np.arange(6.0), (5, 1))
    edges = correlate(ramp, named_kernel("sobel-x"), padding="extend")
    return _differs("box", flat, np.full((5, 5), 7.0)) or _differs(
        "sobel-x", edges, np.full((5, 6), 8.0))


def check_find_waldo() -> str | None:
    """find-waldo: a patch cut from a scene scores 1 where it was cut, and is found there."""
    from cvtool.matching import find, zncc

    scene = np.random.default_rng(0).integers(0, 256, (24, 32), dtype=np.uint8)
    template = scene[9:17, 13:23]
    scores = zncc(scene, template)
    row, col = np.unravel_index(int(np.argmax(scores)), scores.shape)
    if (row, col) != (9, 13) or not math.isclose(float(scores[row, col]), 1.0, abs_tol=1e-5):
        return f"best score {float(scores.max()):.6f} at x={col} y={row}, expected 1 at x=13 y=9"
    if float(np.abs(scores).max()) > 1 + 1e-6:
        return "a score outside [-1, 1]"
    matches = find(scene, template, threshold=0.99)
    if not matches or (matches[0].x, matches[0].y, matches[0].width, matches[0].height) != (
            13, 9, 10, 8):
        return f"find() returned {matches[:1]}, expected a 10x8 box at x=13 y=9"
    return None


def check_entropy() -> str | None:
    """entropy: half black, half white = 1 bit; H(1/8, 7/8) = 0.5436 bits; stable softmax."""
    from cvtool.entropy import entropy, image_entropy, softmax

    image = np.zeros((4, 4), np.uint8)
    image[:, 2:] = 255
    bits = image_entropy(image)
    if not math.isclose(bits, 1.0, abs_tol=1e-12):
        return f"half black/half white: {bits} bits, expected 1"
    h = entropy([0.125, 0.875])
    expected = -(0.125 * math.log2(0.125) + 0.875 * math.log2(0.875))
    if not math.isclose(h, expected, rel_tol=1e-12):
        return f"H(0.125, 0.875) = {h}, expected {expected}"
    return _differs("softmax(1000, 1000)", softmax([1000.0, 1000.0]), np.array([0.5, 0.5]))


def check_normalize() -> str | None:
    """normalize: statistics of a small batch, applied to it, give mean 0 and variance 1."""
    from cvtool.batchnorm import batch_norm, channel_stats

    rng = np.random.default_rng(1)
    batch = [rng.integers(0, 256, (3, 4, 3), dtype=np.uint8) for _ in range(3)]
    stats = channel_stats(batch)
    normed = np.stack([batch_norm(image.astype(np.float64), stats.mean, stats.var, eps=1e-12)
                       for image in batch]).reshape(-1, 3)
    return _differs("mean", normed.mean(axis=0), np.zeros(3), 1e-9) or _differs(
        "variance", normed.var(axis=0), np.ones(3), 1e-9)


def check_pixel_limit() -> str | None:
    """A header claiming 100000x100000 pixels is refused before anything is decoded."""
    header = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (100000).to_bytes(4, "big") * 2
              + b"\x08\x00\x00\x00\x00")
    with tempfile.TemporaryDirectory(prefix="cvtool-selftest-") as folder:
        bomb = Path(folder) / "bomb.png"
        bomb.write_bytes(header)
        try:
            io.read_image(bomb)
        except CvToolError as exc:
            return None if "CVTOOL_MAX_PIXELS" in str(exc) else f"refused, but: {exc}"
    return "a 100000x100000 header was decoded"


#: Every check, in the order they are reported.
CHECKS: dict[str, Callable[[], str | None]] = {
    "correlate": check_correlate,
    "convolve": check_convolve,
    "shapes and stride": check_shapes_and_stride,
    "padding": check_padding,
    "filter": check_filter,
    "find-waldo": check_find_waldo,
    "entropy": check_entropy,
    "normalize": check_normalize,
    "pixel limit": check_pixel_limit,
}


# ---------------------------------------------------------------------------------------------
# Formats


def _writable(suffix: str) -> bool:
    try:
        io.check_output_path("x" + suffix)
    except UsageError:
        return False
    return True


#: Radiance HDR keeps floating-point colour only (8-bit data would come back as float / 256).
HDR_SUFFIXES = frozenset(".hdr .pic".split())


def _sample(dtype: np.dtype, channels: int) -> np.ndarray:
    """A smooth ramp (lossy encoders keep it within a few levels), in ``dtype``'s range."""
    rows, cols = np.mgrid[0:6, 0:7]
    ramp = (rows * 7 + cols) / 41.0  # 0..1
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
                # a lot on a 6×7 image; on average they stay within a few levels.
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
            if not _writable(suffix):
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


def run_selftest(*, formats: bool = True) -> Report:
    """Run every check (and, with ``formats``, a round trip per writable image format).

    Examples
    --------
    >>> report = run_selftest(formats=False)
    >>> report.ok, [c.name for c in report.checks][:2]
    (True, ['correlate', 'convolve'])
    """
    started = time.perf_counter()
    checks = []
    for name, function in CHECKS.items():
        try:
            problem = function()
        except Exception as exc:  # noqa: BLE001 - a selftest reports, never crashes
            problem = f"{type(exc).__name__}: {exc}"
        checks.append(Check(name, problem is None, problem or ""))
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

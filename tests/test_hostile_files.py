"""Hostile and broken input files: each gives a correct result or one `error:` line, exit 1.

Through the CLI (the whole path a user's file takes), never a traceback: empty, truncated and
mislabelled files, decompression bombs, pickles hidden in .npy files, devices, degenerate
sizes and unusual pixel types, odd file names.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
from helpers import CVTOOL, PEAK_RSS, PicklePayload, png_header

from cvtool import io


def _one_error_line(result, needle: str) -> None:
    """The contract for a bad input: exit 1, exactly one stderr line `error: ...needle...`."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.output


def _noise(shape, dtype=np.uint8, seed=0) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(0, info.max, shape, dtype=dtype, endpoint=True)


# ---------------------------------------------------------------------------------------------
# Broken files


@pytest.mark.parametrize("name,content,needle", [
    ("empty.png", b"", "empty file"),
    ("text.png", b"hello, I am a text file\n", "not a readable image"),
    ("text.jpg", b"\xff\xd8 but nothing else", "not a readable image"),
    ("empty.npy", b"", "not a .npy file"),
    ("text.npy", b"just text", "not a .npy file"),
])
def test_broken_file_is_one_error_line(invoke, tmp_path, name, content, needle):
    """Zero bytes, text under an image name, a bare JPEG marker: exit 1, one line, no output."""
    bad = tmp_path / name
    bad.write_bytes(content)
    out = tmp_path / "out.png"
    result = invoke("correlate", bad, "-k", "1", "-o", out)
    _one_error_line(result, f"{name}: {needle}")
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp", ".bmp"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_image_is_an_error_not_a_partial_result(invoke, tmp_path, suffix, fraction):
    """A file cut short is refused; it is not decoded into a half-grey image that "worked"."""
    data = cv2.imencode(suffix, _noise((64, 64, 3)))[1].tobytes()
    bad = tmp_path / f"cut{suffix}"
    bad.write_bytes(data[: int(len(data) * fraction)])
    result = invoke("correlate", bad, "-k", "1", "-o", tmp_path / "out.png")
    _one_error_line(result, f"cut{suffix}:")


@pytest.mark.parametrize("command", [
    ["correlate", "-k", "1", "-o", "{out}"], ["filter", "-n", "box", "-o", "{out}"],
    ["entropy"], ["find-waldo", "-t", "{template}"], ["normalize", "-o", "{folder}"],
])
def test_empty_npy_is_refused_by_every_command(invoke, tmp_path, command):
    """A 0x5 .npy: exit 1, one line naming the file, "image is empty", nothing written.

    The library's filters may accept empty arrays (as SciPy's do); a file with no pixels is
    still no image to any command, because read_image refuses it.
    """
    bad = tmp_path / "hollow.npy"
    np.save(bad, np.zeros((0, 5), np.uint8))
    template = tmp_path / "t.png"
    io.write_image(template, np.zeros((2, 2), np.uint8))
    fill = {"out": tmp_path / "o.png", "template": template, "folder": tmp_path / "normed"}
    args = [command[0], bad, *(str(a).format(**fill) for a in command[1:])]
    result = invoke(*args)
    _one_error_line(result, "hollow.npy: image is empty")
    assert not (tmp_path / "o.png").exists() and not any((tmp_path / "normed").glob("*"))


def test_truncated_npy_is_named_as_such(invoke, tmp_path):
    data = (tmp_path / "whole.npy")
    np.save(data, _noise((40, 40)))
    cut = tmp_path / "cut.npy"
    cut.write_bytes(data.read_bytes()[:500])
    result = invoke("correlate", cut, "-k", "1", "-o", tmp_path / "out.png")
    _one_error_line(result, "cut.npy: truncated .npy file")


def test_device_is_refused_instead_of_read_forever(invoke, tmp_path):
    """/dev/zero never ends; reading it whole would exhaust memory."""
    result = invoke("correlate", "/dev/zero", "-k", "1", "-o", tmp_path / "out.png")
    _one_error_line(result, "/dev/zero: is a device")


# ---------------------------------------------------------------------------------------------
# Decompression bombs and the pixel limit


@pytest.mark.parametrize("name,header", [
    ("bomb.png", png_header(100000, 100000)),
    ("bomb.pgm", b"P5\n# 900 megapixels\n30000 30000\n255\n"),
    ("bomb.bmp", b"BM" + b"\0" * 16 + struct.pack("<ii", 100000, -100000) + b"\0" * 28),
])
def test_decompression_bomb_is_refused_before_allocating(tmp_path, name, header):
    """A header claiming a gigantic image: `error:` naming the limit, and no memory spent.

    The real cvtool process is measured: its peak memory stays that of an idle interpreter
    (well under the gigabytes the header asks for).
    """
    bomb = tmp_path / name
    bomb.write_bytes(header + zlib.compress(b"\0" * 100000))
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, CVTOOL, "correlate", str(bomb), "-k", "1", "-o",
         str(tmp_path / "out.png")], capture_output=True, text=True, timeout=120)
    code, peak_kib = map(int, result.stdout.split())
    assert code == 1
    assert result.stderr.startswith(f"error: {bomb}: ") and result.stderr.count("\n") == 1
    assert "is more than the limit of 268435456 (set CVTOOL_MAX_PIXELS" in result.stderr
    assert peak_kib < 300 * 1024


def test_pixel_limit_is_adjustable_by_environment(invoke, tmp_path, monkeypatch):
    """CVTOOL_MAX_PIXELS lowers (or raises) the limit: 20×20 = 400 pixels, refused at 399."""
    src = tmp_path / "a.png"
    io.write_image(src, _noise((20, 20)))
    monkeypatch.setenv("CVTOOL_MAX_PIXELS", "399")
    _one_error_line(invoke("correlate", src, "-k", "1", "-o", tmp_path / "o.png"),
                    "20x20 pixels is more than the limit of 399")
    monkeypatch.setenv("CVTOOL_MAX_PIXELS", "400")
    assert invoke("correlate", src, "-k", "1", "-o", tmp_path / "o.png").exit_code == 0


def test_malformed_pixel_limit_is_a_usage_error(invoke, tmp_path, monkeypatch):
    """A bad CVTOOL_MAX_PIXELS is known before any file is read: exit 2, one line."""
    src = tmp_path / "a.png"
    io.write_image(src, _noise((2, 2)))
    monkeypatch.setenv("CVTOOL_MAX_PIXELS", "lots")
    result = invoke("correlate", src, src, "-k", "1", "-o", tmp_path / "outs")
    assert result.exit_code == 2
    assert result.stderr == "error: CVTOOL_MAX_PIXELS must be a whole number, got 'lots'\n"


# ---------------------------------------------------------------------------------------------
# .npy files never execute what they contain


def test_npy_with_a_pickle_payload_is_refused_and_not_executed(invoke, tmp_path):
    """An object array holding a pickle that would create a file: refused, file not created."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npy"
    np.save(evil, np.array([PicklePayload(marker)], dtype=object), allow_pickle=True)
    assert b"touch" in evil.read_bytes()  # the payload really is in the file
    result = invoke("correlate", evil, "-k", "1", "-o", tmp_path / "out.png")
    _one_error_line(result, "never unpickles")
    assert not marker.exists()


def test_bare_pickle_named_npy_is_not_executed(invoke, tmp_path):
    """A plain pickle file (no NumPy header) under a .npy name is not loaded either."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npy"
    evil.write_bytes(pickle.dumps(PicklePayload(marker)))
    result = invoke("correlate", evil, "-k", "1", "-o", tmp_path / "out.png")
    _one_error_line(result, "not a .npy file")
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# Degenerate sizes and unusual pixel types: correct results


PADDINGS = ["zero", "constant", "clamp", "mirror", "symmetric", "wrap", "extend", "normalized"]


@pytest.mark.parametrize("padding", PADDINGS)
def test_one_by_one_image_works_with_every_padding(invoke, tmp_path, padding):
    """A 1×1 image and a 3×3 kernel: the padding rule repeats; the output is 1×1 (same)."""
    src, out = tmp_path / "dot.npy", tmp_path / "out.npy"
    np.save(src, np.array([[4.0]]))
    result = invoke("correlate", src, "-k", "1 1 1; 1 2 1; 1 1 1", "-p", padding, "-o", out)
    assert result.exit_code == 0, result.output
    expected = {"zero": 8.0, "constant": 8.0, "extend": 40.0, "normalized": 40.0}.get(
        padding, 40.0)  # replicated/reflected/wrapped borders all repeat the single pixel
    np.testing.assert_allclose(np.load(out), [[expected]])


def test_one_by_one_image_with_valid_shape_is_exit_1(invoke, tmp_path):
    src = tmp_path / "dot.png"
    io.write_image(src, np.array([[9]], np.uint8))
    result = invoke("correlate", src, "-k", "1 1; 1 1", "--shape", "valid",
                    "-o", tmp_path / "o.png")
    _one_error_line(result, "larger than the image")


@pytest.mark.parametrize("shape", [(1, 3000), (3000, 1), (2, 2000)])
def test_extreme_aspect_ratio_matches_scipy(invoke, tmp_path, shape):
    """Very thin images (kernel taller or wider than the image) still equal the oracle."""
    image = _noise(shape, seed=3)
    src, out = tmp_path / "thin.png", tmp_path / "out.npy"
    io.write_image(src, image)
    kernel = np.arange(1, 26, dtype=float).reshape(5, 5)
    text = "; ".join(" ".join(f"{v:g}" for v in row) for row in kernel)
    result = invoke("correlate", src, "-k", text, "-p", "symmetric", "--out-range", "clip",
                    "-o", out)
    assert result.exit_code == 0, result.output
    expected = ndi.correlate(image.astype(float), kernel, mode="reflect")
    np.testing.assert_array_equal(np.load(out), np.clip(np.rint(expected), 0, 255))


def test_sixteen_bit_colour_with_alpha(invoke, tmp_path):
    """16-bit RGBA PNG in, 16-bit RGBA PNG out: colour filtered, alpha untouched."""
    image = _noise((7, 9, 4), np.uint16, seed=5)
    src, out = tmp_path / "deep.png", tmp_path / "out.png"
    io.write_image(src, image)
    result = invoke("correlate", src, "-k", "1 1 1", "--normalize-kernel", "-p", "clamp",
                    "-o", out)
    assert result.exit_code == 0, result.output
    written = io.read_image(out)
    assert written.dtype == np.uint16 and written.shape == (7, 9, 4)
    np.testing.assert_array_equal(written[..., 3], image[..., 3])
    expected = ndi.correlate1d(image[..., :3].astype(float), np.ones(3) / 3, axis=1,
                               mode="nearest")
    np.testing.assert_allclose(written[..., :3], np.rint(expected), atol=1)


def test_float_tiff_is_filtered_in_floating_point(invoke, tmp_path):
    """Float TIFF in, float TIFF out (auto = raw), values as scipy computes them."""
    image = np.random.default_rng(2).standard_normal((11, 13)).astype(np.float32) * 1000
    src, out = tmp_path / "f.tif", tmp_path / "out.tif"
    io.write_image(src, image)
    result = invoke("convolve", src, "-k", "0 1 0; 1 -4 1; 0 1 0", "-p", "wrap", "-o", out)
    assert result.exit_code == 0, result.output
    written = io.read_image(out)
    assert written.dtype == np.float32
    laplace = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float)
    expected = ndi.convolve(image.astype(float), laplace, mode="wrap")
    np.testing.assert_allclose(written, expected, rtol=1e-5, atol=1e-2)


def test_overflowing_float_result_is_refused(invoke, tmp_path):
    """float32 × 1e300 overflows: exit 1 naming the problem, not an output full of inf/NaN."""
    src, out = tmp_path / "f.npy", tmp_path / "out.npy"
    np.save(src, np.ones((3, 3), np.float32))
    result = invoke("correlate", src, "-k", "1e300 -1e300", "-o", out)
    _one_error_line(result, "infinite or NaN")
    assert not out.exists()


def test_two_channel_npy_becomes_an_rgba_png(invoke, tmp_path):
    """A gray+alpha .npy has no 2-channel PNG in OpenCV: it is stored as gray, gray, gray,
    alpha, and the .npy output keeps the two channels."""
    src = tmp_path / "ga.npy"
    image = _noise((4, 4, 2))
    np.save(src, image)
    assert invoke("correlate", src, "-k", "1", "-o", tmp_path / "out.png").exit_code == 0
    png = io.read_image(tmp_path / "out.png")
    np.testing.assert_array_equal(png, image[..., [0, 0, 0, 1]])
    assert invoke("correlate", src, "-k", "1", "-o", tmp_path / "out.npy").exit_code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), image)


# ---------------------------------------------------------------------------------------------
# File names


@pytest.mark.parametrize("name", ["with space.png", "ünï cödé 日本.png", "-dash.png",
                                  "semi;colon 'quote\".png"])
def test_odd_names_in_a_directory_batch(tmp_path, name):
    """Spaces, non-ASCII, leading dash and quotes: read from a folder, written under the name."""
    folder = tmp_path / "in put"
    folder.mkdir()
    io.write_image(folder / name, np.full((3, 3), 5, np.uint8))
    io.write_image(folder / "plain.png", np.full((3, 3), 6, np.uint8))
    outdir = tmp_path / "out dir ö"
    result = subprocess.run([CVTOOL, "correlate", str(folder), "-k", "1", "-o", str(outdir)],
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (io.read_image(outdir / name) == 5).all()


def test_name_that_is_not_utf8(tmp_path):
    """A Linux file name with bytes that are not UTF-8 is read, written and reported intact."""
    name = os.fsdecode(b"caf\xe9 \xff.png")
    src = tmp_path / name
    io.write_image(src, np.full((3, 3), 7, np.uint8))
    bad = tmp_path / os.fsdecode(b"bro\xffken.png")
    bad.write_bytes(b"")
    outdir = tmp_path / "out"
    result = subprocess.run([CVTOOL, "correlate", os.fsencode(src), os.fsencode(bad), "-k", "1",
                             "-o", str(outdir)], capture_output=True, timeout=120)
    assert result.returncode == 1
    err = result.stderr
    assert err.startswith(b"error: ") and b"bro" in err and b"Traceback" not in err
    assert err.splitlines()[-1] == b"1 written, 1 failed"
    assert (io.read_image(outdir / name) == 7).all()

"""`cvtool correlate` / `convolve` through Typer's CliRunner: results, options and user mistakes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as sig

from cvtool import io

KERNEL_TEXT = "1 2 0; -1 3 1/2"  # 2x3: even height, fractions, negative weights
KERNEL = np.array([[1, 2, 0], [-1, 3, 0.5]])


def _read(path):
    return io.read_image(path)


def test_correlate_raw_equals_scipy(invoke, gray_png, tmp_path):
    """The CLI path gives the engine's numbers: scipy.ndimage.correlate, zero padding, same."""
    out = tmp_path / "out.npy"
    result = invoke("correlate", gray_png, "-k", KERNEL_TEXT, "--out-range", "raw", "-p", "zero",
                    "-o", out)
    assert result.exit_code == 0, result.output
    image = _read(gray_png).astype(np.float64)
    expected = ndi.correlate(image, KERNEL, mode="constant", cval=0)
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("shape,mode", [("valid", "valid"), ("full", "full")])
def test_convolve_shapes_equal_scipy_signal(invoke, gray_png, tmp_path, shape, mode):
    out = tmp_path / "out.npy"
    result = invoke("convolve", gray_png, "-k", KERNEL_TEXT, "--shape", shape, "-p", "zero",
                    "--out-range", "raw", "-o", out)
    assert result.exit_code == 0, result.output
    expected = sig.convolve2d(_read(gray_png).astype(np.float64), KERNEL, mode=mode)
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-5, atol=1e-3)


def test_stride_and_padding_through_the_cli(invoke, gray_png, tmp_path):
    """`-p mirror -s 2,3` is scipy's mirror mode, then every 2nd row and 3rd column."""
    out = tmp_path / "out.npy"
    result = invoke("correlate", gray_png, "-k", "1 2 3; 4 5 6; 7 8 9", "-p", "reflect101",
                    "-s", "2,3", "--out-range", "raw", "-o", out)
    assert result.exit_code == 0, result.output
    kernel = np.arange(1, 10, dtype=float).reshape(3, 3)
    expected = ndi.correlate(_read(gray_png).astype(float), kernel, mode="mirror")[::2, ::3]
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-5)


def test_png_output_keeps_bit_depth_and_clips(invoke, tmp_path):
    """8-bit in, 8-bit out; a positive-sum kernel saturates (auto = clip)."""
    src = tmp_path / "in.png"
    io.write_image(src, np.full((5, 5), 200, np.uint8))
    out = tmp_path / "out.png"
    assert invoke("correlate", src, "-k", "2", "-o", out).exit_code == 0
    pixels = _read(out)
    assert pixels.dtype == np.uint8 and (pixels == 255).all()


def test_zero_sum_kernel_takes_absolute_value(invoke, tmp_path):
    """Edge kernels (sum 0) map with `abs` under auto, so falling edges are not lost."""
    src = tmp_path / "in.png"
    io.write_image(src, np.array([[0, 0, 100, 100]] * 3, np.uint8))
    out = tmp_path / "out.png"  # a pixel format: .npy outputs keep the sign under auto
    assert invoke("correlate", src, "-k", "1 0 -1", "-p", "clamp", "-o", out).exit_code == 0
    np.testing.assert_array_equal(_read(out), [[0, 100, 100, 0]] * 3)


def test_sixteen_bit_stays_sixteen_bit(invoke, tmp_path):
    src = tmp_path / "in.png"
    io.write_image(src, np.full((4, 4), 40000, np.uint16))
    out = tmp_path / "out.png"
    assert invoke("correlate", src, "-k", "1", "-o", out).exit_code == 0
    assert _read(out).dtype == np.uint16 and (_read(out) == 40000).all()


def test_alpha_is_passed_through(invoke, tmp_path):
    """Colour is filtered per channel; the alpha plane is copied unchanged."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (9, 8, 4), dtype=np.uint8)
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    io.write_image(src, image)
    assert invoke("correlate", src, "-k", "1 1 1", "--normalize-kernel", "-p", "zero",
                  "-o", out).exit_code == 0
    result = _read(out)
    np.testing.assert_array_equal(result[..., 3], image[..., 3])
    expected = ndi.correlate1d(image[..., 0].astype(float), np.ones(3) / 3, axis=1,
                               mode="constant")
    np.testing.assert_array_equal(result[..., 0], np.clip(np.rint(expected), 0, 255))


def test_constant_padding_per_channel(invoke, tmp_path):
    """`--pad-value R,G,B` sets each channel's border (the full shape's corner reads it)."""
    src, out = tmp_path / "in.png", tmp_path / "out.npy"
    io.write_image(src, np.zeros((2, 2, 3), np.uint8))
    result = invoke("correlate", src, "-k", "1 0 0", "-p", "constant", "--pad-value",
                    "10,20,30", "--shape", "full", "-o", out)
    assert result.exit_code == 0, result.output
    corner = np.load(out)[0, 0]
    np.testing.assert_array_equal(corner, [10, 20, 30])


def test_gray_option_gives_one_channel(invoke, colour_png, tmp_path):
    out = tmp_path / "out.png"
    assert invoke("correlate", colour_png, "-k", "1", "--gray", "-o", out).exit_code == 0
    expected = np.rint(_read(colour_png).astype(float) @ [0.299, 0.587, 0.114])
    np.testing.assert_allclose(_read(out), expected, atol=1)


def test_batch_into_directory_keeps_names(invoke, gray_png, colour_png, tmp_path):
    outdir = tmp_path / "outs"
    result = invoke("correlate", gray_png, colour_png, "-k", "1", "-o", outdir, "-j", "2")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in outdir.iterdir()) == ["colour.png", "gray.png"]
    assert result.stdout == ""


def test_json_lists_each_output(invoke, gray_png, tmp_path):
    out = tmp_path / "o.png"
    result = invoke("correlate", gray_png, "-k", "1", "-o", out, "--json")
    record = json.loads(result.stdout)
    assert record["output"] == str(out) and record["width"] == 24 and record["height"] == 20


def test_bad_input_in_a_batch_does_not_stop_the_rest(invoke, gray_png, tmp_path):
    """One unreadable input: its error, the others written, exit 1, a summary last."""
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    outdir = tmp_path / "outs"
    result = invoke("correlate", bad, gray_png, "-k", "1", "-o", outdir)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "bad.png" in lines[0]
    assert lines[-1] == "1 written, 1 failed"
    assert sorted(p.name for p in outdir.iterdir()) == ["gray.png"]


@pytest.mark.parametrize("args,needle", [
    (["-k", "1 2; 3"], "row 2"),
    (["-k", "1 abc"], "abc"),
    (["-k", ""], "empty"),
    (["-k", "1 nan"], "NaN"),
    (["-k", "1", "-p", "reflect"], "mirror"),
    (["-k", "1", "-p", "bogus"], "bogus"),
    (["-k", "1", "-s", "0"], "--stride"),
    (["-k", "1", "--shape", "half"], "--shape"),
    (["-k", "1", "--out-range", "raw"], "--out-range raw"),
    (["-k", "1 -1", "--normalize-kernel"], "sums to 0"),
    (["-k", "1 -2 1", "-p", "normalized"], "normalized"),
    (["-k", "1", "--pad-value", "1,2"], "--pad-value"),
])
def test_usage_errors_exit_2_with_one_line(invoke, gray_png, tmp_path, args, needle):
    """Each user mistake: exit 2, one `error:` line naming the problem, nothing written."""
    out = tmp_path / "out.png"
    result = invoke("correlate", gray_png, *args, "-o", out)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert needle in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_output_equal_to_input_is_refused(invoke, gray_png):
    before = open(gray_png, "rb").read()
    result = invoke("correlate", gray_png, "-k", "1", "-o", gray_png)
    assert result.exit_code == 2 and "refusing to overwrite" in result.stderr
    assert open(gray_png, "rb").read() == before


def test_valid_with_kernel_larger_than_image_is_exit_1(invoke, tmp_path):
    src, out = tmp_path / "small.png", tmp_path / "out.png"
    io.write_image(src, np.zeros((3, 3), np.uint8))
    result = invoke("correlate", src, "-k", "1 1 1 1 1", "--shape", "valid", "-o", out)
    assert result.exit_code == 1 and result.stderr.startswith("error: ")
    assert not out.exists()


def test_unknown_option_is_one_error_line_and_a_hint(invoke, gray_png, tmp_path):
    """Click's parse errors speak as every other usage error: `error: ...`, one hint, exit 2."""
    result = invoke("correlate", gray_png, "-k", "1", "-o", tmp_path / "o.png", "--bogus")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: no such option --bogus",
                                          "try 'cvtool correlate --help'"]


def test_stdout_output_is_png(invoke, gray_png):
    result = invoke("correlate", gray_png, "-k", "1", "-o", "-")
    assert result.exit_code == 0
    assert result.stdout_bytes[:8] == b"\x89PNG\r\n\x1a\n"


def test_stdin_input(invoke, gray_png, tmp_path):
    out = tmp_path / "o.npy"
    data = open(gray_png, "rb").read()
    result = invoke("correlate", "-", "-k", "1", "--out-range", "clip", "-o", out, input=data)
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(out), _read(gray_png))

"""Alpha through correlate/convolve: passed through unchanged, following the output grid."""

from __future__ import annotations

import numpy as np
import pytest

from cvtool import io


def _rgba(tmp_path, shape=(7, 9)):
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, shape + (4,), dtype=np.uint8)
    path = tmp_path / "in.png"
    io.write_image(path, image)
    return path, image


@pytest.mark.parametrize("operation", ["correlate", "convolve"])
@pytest.mark.parametrize("kernel", ["1 2 1", "1 2; 3 4", "1 1 1 1; 1 1 1 1; 2 2 2 2"])
def test_same_shape_keeps_alpha_exactly(invoke, tmp_path, operation, kernel):
    """With --shape same (any kernel, even ones) the alpha plane is the input's, bit for bit."""
    src, image = _rgba(tmp_path)
    out = tmp_path / "out.png"
    assert invoke(operation, src, "-k", kernel, "-p", "mirror", "-o", out).exit_code == 0
    np.testing.assert_array_equal(io.read_image(out)[..., 3], image[..., 3])


def test_valid_shape_takes_alpha_under_the_anchor(invoke, tmp_path):
    """valid: output (i, j) has the alpha of input (i + kh//2, j + kw//2), then the stride."""
    src, image = _rgba(tmp_path)
    out = tmp_path / "out.png"
    result = invoke("correlate", src, "-k", "1 1 1 1; 1 1 1 1", "--normalize-kernel",
                    "--shape", "valid", "-s", "2", "-o", out)
    assert result.exit_code == 0, result.output
    expected = image[1:1 + 7 - 2 + 1, 2:2 + 9 - 4 + 1, 3][::2, ::2]
    np.testing.assert_array_equal(io.read_image(out)[..., 3], expected)


def test_full_shape_pads_alpha_with_the_mode(invoke, tmp_path):
    """full with zero padding: alpha is transparent where the kernel anchor is outside."""
    src, image = _rgba(tmp_path)
    out = tmp_path / "out.png"
    assert invoke("correlate", src, "-k", "1 1 1", "--shape", "full", "-p", "zero",
                  "-o", out).exit_code == 0
    alpha = io.read_image(out)[..., 3]
    assert alpha.shape == (7, 11)
    np.testing.assert_array_equal(alpha[:, 1:10], image[..., 3])
    assert not alpha[:, 0].any() and not alpha[:, 10].any()


def test_constant_padding_fourth_value_is_the_alpha_border(invoke, tmp_path):
    src, _ = _rgba(tmp_path)
    out = tmp_path / "out.png"
    result = invoke("correlate", src, "-k", "1 0 0", "--shape", "full", "-p", "constant",
                    "--pad-value", "1,2,3,44", "-o", out)
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(io.read_image(out)[0, 0], [1, 2, 3, 44])


def test_gray_plus_alpha_npy_keeps_alpha(invoke, tmp_path):
    """A 2-channel array is gray + alpha: only the gray plane is filtered."""
    image = np.dstack([np.full((4, 5), 10.0), np.full((4, 5), 200.0)]).astype(np.float32)
    src, out = tmp_path / "ga.npy", tmp_path / "out.npy"
    np.save(src, image)
    assert invoke("correlate", src, "-k", "1 1 1", "-p", "clamp", "-o", out).exit_code == 0
    result = np.load(out)
    np.testing.assert_allclose(result[..., 0], 30.0)
    np.testing.assert_array_equal(result[..., 1], 200.0)


@pytest.mark.parametrize("operation", ["correlate", "convolve"])
@pytest.mark.parametrize("shape", ["valid", "full"])
@pytest.mark.parametrize("kernel", [np.array([[0.0, 1.0]]), np.array([[0.0], [0.0], [1.0],
                                                                        [0.0]])])
def test_alpha_follows_the_colour_for_even_kernels(invoke, tmp_path, operation, shape, kernel):
    """An impulse at the kernel's anchor (kh//2, kw//2) copies the colour onto the output
    grid; alpha (equal to the colour here) must land on the same pixels, for correlate and
    convolve, even kernels included."""
    rng = np.random.default_rng(12)
    plane = rng.integers(1, 256, (6, 7), dtype=np.uint8)
    image = np.dstack([plane, plane, plane, plane])
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    io.write_image(src, image)
    np.save(tmp_path / "k.npy", kernel)
    result = invoke(operation, src, "-k", tmp_path / "k.npy", "--shape", shape, "-p", "clamp",
                    "-o", out)
    assert result.exit_code == 0, result.output
    pixels = io.read_image(out)
    np.testing.assert_array_equal(pixels[..., 3], pixels[..., 0])


@pytest.mark.parametrize("value,expected", [("300", 255), ("-5", 0)])
def test_alpha_border_saturates_like_the_colour(invoke, tmp_path, value, expected):
    """An out-of-range alpha border clips to the pixel range; it must not wrap around."""
    src, _ = _rgba(tmp_path)
    out = tmp_path / "out.png"
    result = invoke("correlate", src, "-k", "1 0 0", "--shape", "full", "-p", "constant",
                    "--pad-value", f"1,2,3,{value}", "-o", out)
    assert result.exit_code == 0, result.output
    assert io.read_image(out)[0, 0, 3] == expected


def test_gray_option_keeps_alpha(invoke, tmp_path):
    """--gray converts the colour to one channel and passes alpha through (gray, alpha)."""
    src, image = _rgba(tmp_path)
    out = tmp_path / "out.npy"
    assert invoke("correlate", src, "-k", "1", "--gray", "-o", out).exit_code == 0
    result = np.load(out)
    assert result.shape == image.shape[:2] + (2,)
    np.testing.assert_array_equal(result[..., 1], image[..., 3])
    expected = np.rint(image[..., :3].astype(float) @ [0.299, 0.587, 0.114])
    np.testing.assert_allclose(result[..., 0], expected, atol=1)

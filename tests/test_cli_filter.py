"""`cvtool filter`: each named kernel equals `correlate -k <its kernel>`, and --list shows them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cvtool.filtering.kernels import KERNEL_NAMES, named_kernel


def _kernel_text(kernel: np.ndarray) -> str:
    return "; ".join(" ".join(repr(float(v)) for v in row) for row in kernel)


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_filter_equals_correlate_with_its_kernel(invoke, colour_png, tmp_path, name):
    """The contract: `filter -n NAME` gives byte-identical output to `correlate -k KERNEL`."""
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert invoke("filter", colour_png, "-n", name, "-p", "mirror", "-o", a).exit_code == 0
    kernel = _kernel_text(named_kernel(name))
    assert invoke("correlate", colour_png, "-k", kernel, "-p", "mirror", "-o", b).exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_gaussian_matches_opencv(invoke, tmp_path):
    """`-n gaussian --size 7 --sigma 1.5 -p symmetric` is cv2.GaussianBlur with BORDER_REFLECT."""
    rng = np.random.default_rng(5)
    image = rng.random((30, 40), dtype=np.float32) * 255
    src, out = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, image)
    result = invoke("filter", src, "-n", "gaussian", "--size", "7", "--sigma", "1.5",
                    "-p", "symmetric", "-o", out)
    assert result.exit_code == 0, result.output
    expected = cv2.GaussianBlur(image, (7, 7), 1.5, borderType=cv2.BORDER_REFLECT)
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-5, atol=1e-3)


def test_sobel_x_is_positive_where_brightness_grows_rightwards(invoke, tmp_path):
    src, out = tmp_path / "ramp.npy", tmp_path / "out.npy"
    np.save(src, np.tile(np.arange(8, dtype=np.float64), (5, 1)))
    assert invoke("filter", src, "-n", "sobel-x", "-p", "extend", "-o", out).exit_code == 0
    np.testing.assert_allclose(np.load(out), 8.0)


def test_list_prints_every_kernel(invoke):
    result = invoke("filter", "--list")
    assert result.exit_code == 0
    for name in KERNEL_NAMES:
        assert name in result.stdout
    assert "-1 -1 -1" in result.stdout


@pytest.mark.parametrize("args,needle", [
    (["-n", "sobel-x", "--size", "5"], "--size"),
    (["-n", "sharpen", "--sigma", "2"], "--sigma"),
    (["-n", "gaussian", "--size", "4"], "--size"),
    (["-n", "gaussian", "--sigma", "-1"], "--sigma"),
    (["-n", "blur"], "unknown kernel"),
    ([], "--name"),
])
def test_filter_usage_errors(invoke, gray_png, tmp_path, args, needle):
    out = tmp_path / "o.png"
    result = invoke("filter", gray_png, *args, "-o", out)
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert needle in result.stderr and not out.exists()

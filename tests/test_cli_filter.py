"""`cvtool filter`: each named kernel equals `correlate -k <its kernel>`, and --list shows them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cvtool.filtering.kernels import KERNEL_NAMES

#: Each named kernel as the contract writes it, typed here rather than taken from the code
#: (an oracle built from ``named_kernel`` would agree with a wrong constant).
CONTRACT_KERNELS = {
    "identity": "0 0 0; 0 1 0; 0 0 0",
    "box": "; ".join([" ".join(["1/25"] * 5)] * 5),
    "sharpen": "0 -1 0; -1 5 -1; 0 -1 0",
    "laplacian": "-1 -1 -1; -1 8 -1; -1 -1 -1",
    "lines-h": "-1 -1 -1; 2 2 2; -1 -1 -1",
    "lines-v": "-1 2 -1; -1 2 -1; -1 2 -1",
    "lines-45": "-1 -1 2; -1 2 -1; 2 -1 -1",
    "lines-135": "2 -1 -1; -1 2 -1; -1 -1 2",
    "sobel-x": "-1 0 1; -2 0 2; -1 0 1",
    "sobel-y": "-1 -2 -1; 0 0 0; 1 2 1",
    "emboss": "-2 -1 0; -1 1 1; 0 1 2",
}


def _gaussian_text() -> str:
    """size 5 without sigma: OpenCV's rule sigma = 0.3*((5-1)/2 - 1) + 0.8, from OpenCV."""
    g = cv2.getGaussianKernel(5, 0.3 * ((5 - 1) / 2 - 1) + 0.8, cv2.CV_64F)[:, 0]
    return "; ".join(" ".join(repr(float(v)) for v in row) for row in np.outer(g, g))


def test_every_name_has_a_contract_kernel():
    """The table below covers every name (gaussian is computed by OpenCV)."""
    assert set(KERNEL_NAMES) == set(CONTRACT_KERNELS) | {"gaussian"}


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_filter_equals_correlate_with_the_documented_kernel(invoke, colour_png, tmp_path, name):
    """`filter -n NAME` gives byte-identical output to `correlate -k <the documented kernel>`
    (gaussian: to OpenCV's getGaussianKernel within the PNG's rounding)."""
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert invoke("filter", colour_png, "-n", name, "-o", a).exit_code == 0
    kernel = CONTRACT_KERNELS.get(name) or _gaussian_text()
    assert invoke("correlate", colour_png, "-k", kernel, "-o", b).exit_code == 0
    if name == "gaussian":
        diff = np.abs(cv2.imread(str(a)).astype(int) - cv2.imread(str(b)).astype(int))
        assert diff.max() <= 1
    else:
        assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("name", sorted(CONTRACT_KERNELS))
def test_filter_raw_values_equal_scipy(invoke, gray_png, tmp_path, name):
    """The raw .npy result of each named kernel equals scipy.ndimage.correlate (mirror)."""
    from fractions import Fraction

    import scipy.ndimage as ndi

    out = tmp_path / "o.npy"
    assert invoke("filter", gray_png, "-n", name, "-o", out).exit_code == 0
    kernel = np.array([[float(Fraction(v)) for v in row.split()]
                       for row in CONTRACT_KERNELS[name].split(";")])
    image = cv2.imread(gray_png, cv2.IMREAD_UNCHANGED).astype(np.float64)
    np.testing.assert_allclose(np.load(out), ndi.correlate(image, kernel, mode="mirror"),
                               rtol=1e-5, atol=1e-3)


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

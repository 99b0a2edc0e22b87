"""Kernel grammar, kernel files, named kernels and their error messages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cvtool.errors import UsageError
from cvtool.filtering import kernels
from cvtool.filtering.kernels import (
    KERNEL_ALIASES,
    KERNEL_NAMES,
    box_kernel,
    gaussian_kernel,
    is_zero_sum,
    named_kernel,
    normalize_kernel,
)


def test_normalize_and_zero_sum():
    """--normalize-kernel divides by the sum; zero-sum kernels are refused and detected."""
    np.testing.assert_allclose(normalize_kernel(np.ones((3, 3))).sum(), 1.0)
    with pytest.raises(UsageError, match="^kernel sums to 0: it cannot be normalized"):
        normalize_kernel(kernels.LAPLACIAN)
    assert is_zero_sum(kernels.SOBEL_X) and is_zero_sum(np.array([[1e-12, -1e-12]]))
    assert not is_zero_sum(kernels.EMBOSS) and not is_zero_sum(box_kernel(3))


def test_names_in_contract_order():
    """Names and aliases are those of docs/cli.md, each producing a 2-D float64 kernel."""
    assert KERNEL_NAMES == ("identity", "box", "gaussian", "sharpen", "laplacian", "lines-h",
                            "lines-v", "lines-45", "lines-135", "sobel-x", "sobel-y", "emboss")
    assert KERNEL_ALIASES == {"edge": "laplacian"}
    for name in KERNEL_NAMES:
        k = named_kernel(name)
        assert k.dtype == np.float64 and k.ndim == 2


@pytest.mark.parametrize(("name", "text"), [
    ("identity", "0 0 0; 0 1 0; 0 0 0"),
    ("sharpen", "0 -1 0; -1 5 -1; 0 -1 0"),
    ("laplacian", "-1 -1 -1; -1 8 -1; -1 -1 -1"),
    ("edge", "-1 -1 -1; -1 8 -1; -1 -1 -1"),
    ("lines-h", "-1 -1 -1; 2 2 2; -1 -1 -1"),
    ("lines-v", "-1 2 -1; -1 2 -1; -1 2 -1"),
    ("lines-45", "-1 -1 2; -1 2 -1; 2 -1 -1"),
    ("lines-135", "2 -1 -1; -1 2 -1; -1 -1 2"),
    ("sobel-x", "-1 0 1; -2 0 2; -1 0 1"),
    ("sobel-y", "-1 -2 -1; 0 0 0; 1 2 1"),
    ("emboss", "-2 -1 0; -1 1 1; 0 1 2"),
])
def test_fixed_kernels(name, text):
    """Each fixed kernel is exactly the one written in docs/cli.md."""
    rows = [[float(v) for v in row.split()] for row in text.split(";")]
    np.testing.assert_array_equal(named_kernel(name), np.array(rows))


def test_named_kernel_returns_a_copy():
    """Changing a returned kernel does not change the module constant."""
    k = named_kernel("sobel-x")
    k[0, 0] = 99
    assert kernels.SOBEL_X[0, 0] == -1 and not kernels.SOBEL_X.flags.writeable


def test_box():
    """box: size default 5, any size >= 1, every weight 1/size²."""
    np.testing.assert_allclose(named_kernel("box"), np.full((5, 5), 1 / 25))
    assert named_kernel("box", size=4).shape == (4, 4)
    assert named_kernel("box", size=1).tolist() == [[1.0]]
    with pytest.raises(UsageError, match="^size"):
        named_kernel("box", size=0)
    with pytest.raises(UsageError, match="^sigma"):
        named_kernel("box", sigma=1.0)


@pytest.mark.parametrize("size", [1, 3, 5, 7, 9, 15, 31])
def test_gaussian_size_only_matches_opencv(size):
    """Size only: OpenCV's sigma rule, equal to cv2.getGaussianKernel's outer product."""
    sigma = 0.3 * ((size - 1) / 2 - 1) + 0.8
    g = cv2.getGaussianKernel(size, sigma, ktype=cv2.CV_64F)
    np.testing.assert_allclose(gaussian_kernel(size), g @ g.T, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(named_kernel("gaussian", size=size), g @ g.T, rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize(("sigma", "size"), [(0.5, 5), (1.0, 7), (1.5, 11), (2.0, 13)])
def test_gaussian_sigma_only(sigma, size):
    """Sigma only: size = 2·ceil(3σ) + 1, sum 1, equal to OpenCV with that size and sigma."""
    k = gaussian_kernel(sigma=sigma)
    assert k.shape == (size, size)
    g = cv2.getGaussianKernel(size, sigma, ktype=cv2.CV_64F)
    np.testing.assert_allclose(k, g @ g.T, rtol=1e-12, atol=1e-15)


def test_gaussian_defaults_and_both():
    """Neither: size 5; both: as given; symmetric and summing to 1."""
    k = named_kernel("gaussian")
    assert k.shape == (5, 5)
    np.testing.assert_allclose(k, gaussian_kernel(5))
    k = named_kernel("gaussian", size=9, sigma=3.0)
    g = cv2.getGaussianKernel(9, 3.0, ktype=cv2.CV_64F)
    np.testing.assert_allclose(k, g @ g.T, rtol=1e-12)
    np.testing.assert_allclose(k, k.T)
    assert abs(k.sum() - 1) < 1e-12


@pytest.mark.parametrize(("kwargs", "option"), [
    ({"size": 4}, "^size"), ({"size": 0}, "^size"), ({"size": 2.5}, "^size"),
    ({"sigma": 0}, "^sigma"), ({"sigma": -1}, "^sigma"), ({"sigma": float("nan")}, "^sigma"),
])
def test_gaussian_bad_options(kwargs, option):
    """Gaussian needs an odd size >= 1 and a positive sigma; the message starts with the
    parameter's name, which the error carries for the CLI to turn into its flag."""
    with pytest.raises(UsageError, match=option) as caught:
        named_kernel("gaussian", **kwargs)
    assert caught.value.parameter == option.lstrip("^")


@pytest.mark.parametrize("name", ["sobel-x", "identity", "edge"])
def test_options_on_fixed_kernels(name):
    """--size / --sigma on a fixed 3×3 kernel is a usage error naming the option."""
    with pytest.raises(UsageError, match="^size"):
        named_kernel(name, size=3)
    with pytest.raises(UsageError, match="^sigma"):
        named_kernel(name, sigma=1.0)


def test_unknown_name_lists_names():
    """An unknown kernel name lists the valid names."""
    with pytest.raises(UsageError, match=r"^name 'blur': unknown kernel \(choose from "
                                         r"identity, box, gaussian"):
        named_kernel("blur")
    np.testing.assert_array_equal(named_kernel("Sobel-X"), kernels.SOBEL_X)

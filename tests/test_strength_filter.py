"""`cvtool filter`: every named kernel against matrices written here, and the command's output
against SciPy with those literal matrices.

The older CLI filter tests built both sides from ``named_kernel`` (``filter -n NAME`` versus
``correlate -k <named_kernel(NAME)>``), so a wrong entry in a kernel table (``LINES_45``,
``EMBOSS``) changed both sides alike and passed. Nothing here reads cvtool's kernel tables:
the matrices are the contract's, typed out, and the reference result is
``scipy.ndimage.correlate`` (an implementation that is not ours). Padding is always given
with ``-p`` (the default mode is a separate decision) and ``--out-range`` explicitly.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi

import cvtool

# The contract's fixed kernels, typed out (cvtool correlates with them, as cv2.filter2D).
LITERAL = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "laplacian": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "lines-h": [[-1, -1, -1], [2, 2, 2], [-1, -1, -1]],
    "lines-v": [[-1, 2, -1], [-1, 2, -1], [-1, 2, -1]],
    "lines-45": [[-1, -1, 2], [-1, 2, -1], [2, -1, -1]],
    "lines-135": [[2, -1, -1], [-1, 2, -1], [-1, -1, 2]],
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
}
ZERO_SUM = {"laplacian", "edge", "lines-h", "lines-v", "lines-45", "lines-135", "sobel-x",
            "sobel-y"}

# cvtool's padding names spelled in SciPy's vocabulary (the contract's "also known as" column).
SCIPY_MODE = {"zero": "constant", "clamp": "nearest", "mirror": "mirror",
              "symmetric": "reflect", "wrap": "wrap"}


def _gauss_literal(size: int, sigma: float) -> np.ndarray:
    """A sampled, normalised 2-D Gaussian written from its definition."""
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    g /= g.sum()
    return np.outer(g, g)


def _scipy(image: np.ndarray, kernel, mode: str) -> np.ndarray:
    """Per-channel scipy.ndimage.correlate in float64 with the mode translated by hand."""
    k = np.asarray(kernel, dtype=np.float64)
    img = image.astype(np.float64)
    if img.ndim == 2:
        return ndi.correlate(img, k, mode=SCIPY_MODE[mode], cval=0.0)
    return np.stack([ndi.correlate(img[..., c], k, mode=SCIPY_MODE[mode], cval=0.0)
                     for c in range(img.shape[2])], axis=-1)


@pytest.fixture(scope="module")
def float_image() -> np.ndarray:
    # Values of different sizes in every pixel, so a kernel entry moved anywhere shows up.
    return np.random.default_rng(11).random((13, 17, 3)) * 200 - 50


@pytest.mark.parametrize("name", sorted(LITERAL))
def test_named_kernel_is_the_literal_matrix(name):
    """named_kernel(NAME) is exactly the matrix the contract prints for NAME."""
    np.testing.assert_array_equal(cvtool.named_kernel(name), np.array(LITERAL[name], float))


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_box_is_the_mean(size):
    """box of size N is the N×N matrix of 1/N²; the default is N = 5."""
    np.testing.assert_allclose(cvtool.named_kernel("box", size=size),
                               np.full((size, size), 1 / size**2), rtol=1e-15)
    np.testing.assert_allclose(cvtool.named_kernel("box"), np.full((5, 5), 0.04), rtol=1e-15)


@pytest.mark.parametrize(("size", "sigma"), [(3, 0.8), (5, 1.1), (7, 1.4), (9, 1.7)])
def test_gaussian_size_only_uses_opencvs_sigma(size, sigma):
    """Size only: σ = 0.3·((size−1)/2 − 1) + 0.8, here written out as numbers per size."""
    np.testing.assert_allclose(cvtool.named_kernel("gaussian", size=size),
                               _gauss_literal(size, sigma), rtol=1e-12)


@pytest.mark.parametrize(("sigma", "size"), [(0.3, 3), (0.5, 5), (1.0, 7), (1.2, 9), (2.0, 13)])
def test_gaussian_sigma_only_size(sigma, size):
    """Sigma only: size = 2·ceil(3σ) + 1, written out as numbers per sigma."""
    np.testing.assert_allclose(cvtool.named_kernel("gaussian", sigma=sigma),
                               _gauss_literal(size, sigma), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(LITERAL))
@pytest.mark.parametrize("mode", ["zero", "mirror"])
def test_cli_filter_equals_scipy_with_the_literal_kernel(invoke, tmp_path, float_image, name,
                                                          mode):
    """`filter -n NAME --out-range raw` on a float colour .npy is scipy's correlation with the
    contract's matrix, channel by channel."""
    src, out = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, float_image)
    result = invoke("filter", src, "-n", name, "-p", mode, "--out-range", "raw", "-o", out)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(out), _scipy(float_image, LITERAL[name], mode),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("args", "kernel"), [
    (["-n", "box", "--size", "4"], np.full((4, 4), 1 / 16)),
    (["-n", "box"], np.full((5, 5), 1 / 25)),
    (["-n", "gaussian", "--size", "5"], _gauss_literal(5, 1.1)),
    (["-n", "gaussian", "--sigma", "1"], _gauss_literal(7, 1.0)),
])
@pytest.mark.parametrize("mode", ["clamp", "symmetric", "wrap"])
def test_cli_filter_smoothing_kernels_equal_scipy(invoke, tmp_path, float_image, args, kernel,
                                                  mode):
    """box (even size included: anchor N//2 as scipy) and gaussian through the command."""
    src, out = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, float_image)
    result = invoke("filter", src, *args, "-p", mode, "--out-range", "raw", "-o", out)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(out), _scipy(float_image, kernel, mode),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["sharpen", "emboss", "lines-45", "sobel-y", "laplacian"])
def test_cli_filter_png_auto_range_is_clip_or_abs(invoke, tmp_path, name):
    """An 8-bit colour PNG with the default out-range: |result| for zero-sum kernels, the result
    itself otherwise, then saturated to 0..255 (integer kernels give exact integers).

    The oracle reads and writes PNGs with cv2 (BGR on disk), turning them into R, G, B itself.
    """
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (15, 19, 3), dtype=np.uint8)
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    assert cv2.imwrite(str(src), np.ascontiguousarray(rgb[..., ::-1]))
    result = invoke("filter", src, "-n", name, "-p", "symmetric", "-o", out)
    assert result.exit_code == 0, result.output
    got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., ::-1]
    expected = _scipy(rgb, LITERAL[name], "symmetric")
    if name in ZERO_SUM:
        expected = np.abs(expected)
    np.testing.assert_array_equal(got, np.clip(np.rint(expected), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("name", ["lines-45", "emboss", "sobel-x"])
def test_cli_filter_gray_uses_bt601(invoke, tmp_path, float_image, name):
    """`--gray` first takes 0.299 R + 0.587 G + 0.114 B (written here), then filters."""
    src, out = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, float_image)
    result = invoke("filter", src, "-n", name, "--gray", "-p", "wrap", "--out-range", "raw",
                    "-o", out)
    assert result.exit_code == 0, result.output
    gray = float_image @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(np.load(out), _scipy(gray, LITERAL[name], "wrap"),
                               rtol=1e-5, atol=1e-4)


def test_literal_table_covers_every_fixed_name():
    """Every fixed-size name the command lists has a literal matrix above (none is skipped)."""
    listed = set(cvtool.filtering.kernels.KERNEL_NAMES) - {"box", "gaussian"}
    assert listed <= set(LITERAL)
    assert math.isclose(sum(sum(r) for r in LITERAL["emboss"]), 1.0)

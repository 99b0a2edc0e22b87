"""Entropy and batch-normalisation numbers against oracles written here (SciPy or a few lines
of NumPy from the definition), on the inputs where a wrong formula shows.

Found by breaking the code on purpose: logarithms in a base other than 2, e or 10 computed as
natural logarithms, local-entropy maps scaled by log2(N²) instead of log2(min(N², levels)),
float pixels quantised by floor instead of rounding, and ε added outside the square root all
passed the earlier suite (it tried only bases 2, e and 10, windows whose N² is below 256, float
pixels that are exact multiples of 1/255, and ε too small to matter).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import scipy.stats

import cvtool

# ----------------------------------------------------------------------------- bases


@pytest.mark.parametrize("base", [3, 5.5, 1.5, 16])
def test_any_numeric_base_equals_scipy(base):
    """cross_entropy(p, p) is H(p); in base 3 (or 1.5, 16, ...) it is scipy's entropy."""
    p = np.array([0.1, 0.2, 0.3, 0.4])
    q = np.array([0.25, 0.25, 0.4, 0.1])
    assert math.isclose(cvtool.cross_entropy(p, p, base=base),
                        scipy.stats.entropy(p, base=base), rel_tol=1e-12)
    assert math.isclose(cvtool.kl_divergence(p, q, base=base),
                        scipy.stats.entropy(p, q, base=base), rel_tol=1e-12)
    assert math.isclose(cvtool.cross_entropy(p, q, base=base),
                        scipy.stats.entropy(p, base=base) + scipy.stats.entropy(p, q, base=base),
                        rel_tol=1e-12)


@pytest.mark.parametrize(("base", "divisor"), [(2, math.log(2)), ("e", 1.0), (10, math.log(10)),
                                               (7, math.log(7))])
def test_image_entropy_base_is_nats_over_log_base(base, divisor):
    """An image's entropy in base b is its entropy in nats divided by ln b (scipy's nats)."""
    image = np.random.default_rng(1).integers(0, 40, (30, 30), dtype=np.uint8)
    counts = np.bincount(image.ravel(), minlength=256)
    nats = scipy.stats.entropy(counts)  # scipy normalises the counts itself
    assert math.isclose(cvtool.image_entropy(image, base=base), nats / divisor, rel_tol=1e-12)


# ----------------------------------------------------------------------------- float pixels


def test_float_pixels_round_to_the_nearest_of_256_levels():
    """Float images are on 0..1 and binned by round(255·x): 0.4/255 and 0.6/255 are the levels 0
    and 1 (two bins, one bit), 1.4/255 and 1.6/255 are 1 and 2."""
    image = np.array([[0.4, 0.6], [1.4, 1.6]]) / 255
    # levels 0, 1, 1, 2: probabilities 1/4, 1/2, 1/4 -> 1.5 bits
    assert math.isclose(cvtool.image_entropy(image), 1.5, rel_tol=1e-12)


def test_float_image_equals_its_8_bit_original():
    """x/255 as floats has the entropy of the 8-bit x (k/255·255 lands within rounding of k)."""
    image = np.random.default_rng(2).integers(0, 256, (25, 31), dtype=np.uint8)
    assert math.isclose(cvtool.image_entropy(image.astype(np.float64) / 255),
                        cvtool.image_entropy(image), rel_tol=1e-12)
    assert math.isclose(cvtool.image_entropy(image.astype(np.float32) / np.float32(255)),
                        cvtool.image_entropy(image), rel_tol=1e-12)


# ----------------------------------------------------------------------------- local entropy


def _local_entropy_oracle(image: np.ndarray, n: int) -> np.ndarray:
    """Bits of the histogram of the in-image pixels of each n×n window, by brute force."""
    h, w = image.shape
    r = n // 2
    out = np.empty((h, w))
    for y in range(h):
        for x in range(w):
            win = image[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]
            p = np.bincount(win.ravel()) / win.size
            p = p[p > 0]
            out[y, x] = -(p * np.log2(p)).sum()
    return out


@pytest.mark.parametrize("window", [3, 5, 17])
def test_local_entropy_equals_brute_force(window):
    """local_entropy is, pixel by pixel, the entropy of the in-image part of its window."""
    image = np.random.default_rng(3).integers(0, 256, (19, 23), dtype=np.uint8)
    np.testing.assert_allclose(cvtool.local_entropy(image, window),
                               _local_entropy_oracle(image, window), atol=1e-9)


@pytest.mark.parametrize(("window", "top"), [(3, math.log2(9)), (15, math.log2(225)),
                                             (17, 8.0), (21, 8.0)])
def test_local_entropy_png_scales_the_largest_possible_value_to_255(invoke, tmp_path, window,
                                                                      top):
    """An 8-bit map is round(H·255/top) with top = log2(min(N², 256)): 8 bits from N = 17 on,
    since a window of 289 pixels still holds at most 256 different 8-bit values."""
    image = np.random.default_rng(4).integers(0, 256, (24, 26), dtype=np.uint8)
    src, out = tmp_path / "in.png", tmp_path / "map.png"
    cv2.imwrite(str(src), image)
    result = invoke("entropy", src, "--window", str(window), "-o", out)
    assert result.exit_code == 0, result.output
    got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED).astype(int)
    expected = np.clip(np.rint(_local_entropy_oracle(image, window) * 255 / top), 0, 255)
    assert np.abs(got - expected).max() <= 1
    assert abs(got.mean() - expected.mean()) < 0.5


def test_local_entropy_npy_is_raw_bits(invoke, tmp_path):
    """To .npy the map is written in bits, unscaled."""
    image = np.random.default_rng(5).integers(0, 256, (16, 18), dtype=np.uint8)
    src, out = tmp_path / "in.png", tmp_path / "map.npy"
    cv2.imwrite(str(src), image)
    assert invoke("entropy", src, "--window", "5", "-o", out).exit_code == 0
    np.testing.assert_allclose(np.load(out), _local_entropy_oracle(image, 5), atol=1e-6)


# ----------------------------------------------------------------------------- batch norm


@pytest.mark.parametrize("eps", [1e-5, 0.5, 4.0])
def test_batch_norm_eps_is_inside_the_square_root(eps):
    """y = γ·(x − μ)/√(σ² + ε) + β: with a visible ε (and a small σ²), √(σ² + ε) and √σ² + ε
    differ, so the formula is pinned down."""
    x = np.random.default_rng(6).random((5, 7, 3)) * 4
    mean, var = [1.0, 2.0, 0.5], [0.25, 1.0, 0.01]
    gamma, beta = [2.0, 0.5, 1.0], [0.0, 10.0, -1.0]
    expected = (np.array(gamma) * (x - np.array(mean)) / np.sqrt(np.array(var) + eps)
                + np.array(beta))
    np.testing.assert_allclose(cvtool.batch_norm(x, mean, var, gamma, beta, eps), expected,
                               rtol=1e-12)


def test_normalize_cli_equals_the_formula_with_numpy_statistics(invoke, tmp_path):
    """`normalize --eps 2` end to end: μ and population σ² over all pixels of all images
    (numpy's mean/var), then the formula, channel by channel, in R, G, B order."""
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (6, 9, 3), dtype=np.uint8),
              rng.integers(100, 140, (4, 5, 3), dtype=np.uint8)]
    paths = []
    for i, rgb in enumerate(images):
        paths.append(tmp_path / f"im{i}.png")
        cv2.imwrite(str(paths[-1]), np.ascontiguousarray(rgb[..., ::-1]))
    outdir = tmp_path / "out"
    result = invoke("normalize", *paths, "-o", outdir, "--eps", "2", "--gamma", "3",
                    "--beta", "1,2,3")
    assert result.exit_code == 0, result.output
    pixels = np.concatenate([im.reshape(-1, 3).astype(np.float64) for im in images])
    mu, var = pixels.mean(axis=0), pixels.var(axis=0)
    for i, rgb in enumerate(images):
        got = np.load(outdir / f"im{i}.npy")
        expected = 3 * (rgb - mu) / np.sqrt(var + 2) + np.array([1.0, 2.0, 3.0])
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)

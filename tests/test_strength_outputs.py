"""Output rules whose earlier tests could not tell a right constant from a wrong one.

Found by breaking the code on purpose: the zero-sum tolerance of ``--out-range auto`` widened
a millionfold, an alpha border made transparent under ``--shape full -p constant``, and
``mean01``/``std01`` divided by 255 whatever the bit depth all passed the earlier suite (its
zero-sum kernels summed to exactly 0, its alpha tests used ``same`` or zero padding, its stats
files came from 8-bit images only). The expected values are computed here with NumPy/SciPy.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi


def _write_rgb(path, rgb: np.ndarray) -> None:
    """Write R, G, B(, A) pixels with cv2, which stores B, G, R(, A)."""
    order = [2, 1, 0, 3][:rgb.shape[2]]
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., order]))


def _read_rgb(path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if bgr.ndim == 2:
        return bgr
    return bgr[..., [2, 1, 0, 3][:bgr.shape[2]]]


# ----------------------------------------------------------------------------- zero-sum rule


@pytest.mark.parametrize(("kernel", "zero_sum"), [
    ("1 -1 0", True),
    ("0.1 0.2 -0.3", True),      # sums to 5.6e-17 in binary: zero within 1e-9·Σ|h|
    ("1 -1 1e-9", True),         # |sum| = 1e-9 <= 1e-9 · 2.000000001
    ("1 -1 3e-9", False),        # |sum| = 3e-9 >  1e-9 · 2.000000003
    ("1 -1 1e-4", False),        # far from zero relative to 1e-9, close to it in absolute terms
    ("1.001 0 -1", False),
])
def test_auto_range_zero_sum_tolerance_is_1e_9_of_the_weights(invoke, tmp_path, kernel, zero_sum):
    """`auto` takes |result| only when |Σh| <= 1e-9·Σ|h| (edge and line detectors); a kernel
    that merely sums to little is clipped like any other. On a rising ramp every one of these
    kernels gives negative values inside, so clip (0) and abs (> 0) differ everywhere there."""
    ramp = np.tile(np.arange(0, 80, 2, dtype=np.uint8), (6, 1))
    src, out = tmp_path / "ramp.png", tmp_path / "out.png"
    cv2.imwrite(str(src), ramp)
    result = invoke("correlate", src, "-k", kernel, "-p", "clamp", "-o", out)
    assert result.exit_code == 0, result.output
    weights = np.array([[float(v) for v in kernel.split()]])
    raw = ndi.correlate(ramp.astype(np.float64), weights, mode="nearest")
    expected = np.clip(np.rint(np.abs(raw) if zero_sum else raw), 0, 255)
    np.testing.assert_array_equal(cv2.imread(str(out), cv2.IMREAD_UNCHANGED), expected)
    assert (raw[:, 1:-1] < 0).all()
    assert ((expected[:, 1:-1] > 0) == zero_sum).all()


# ----------------------------------------------------------------------------- alpha border


@pytest.mark.parametrize(("pad_value", "alpha_border"), [("10,20,30", 255), ("10,20,30,40", 40),
                                                          ("7", 255)])
def test_full_constant_border_alpha(invoke, tmp_path, pad_value, alpha_border):
    """`--shape full -p constant`: the border's colour is the pad value (R, G, B) and its alpha
    the fourth value when given, else opaque; the image's own alpha is carried unchanged."""
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    _write_rgb(src, rgba)
    result = invoke("correlate", src, "-k", "0 0 0; 0 1 0; 0 0 0", "--shape", "full",
                    "-p", "constant", "--pad-value", pad_value, "-o", out)
    assert result.exit_code == 0, result.output
    got = _read_rgb(out)
    assert got.shape == (7, 8, 4)
    colour = [int(v) for v in pad_value.split(",")][:3]
    colour = colour * 3 if len(colour) == 1 else colour
    # One ring of border: the identity kernel's output there is the padded pixel itself.
    border = np.ones((7, 8), bool)
    border[1:6, 1:7] = False
    np.testing.assert_array_equal(got[border][:, :3], np.tile(colour, (border.sum(), 1)))
    assert (got[border][:, 3] == alpha_border).all()
    np.testing.assert_array_equal(got[1:6, 1:7], rgba)


# ----------------------------------------------------------------------------- stats scale


@pytest.mark.parametrize(("dtype", "scale"), [(np.uint8, 255.0), (np.uint16, 65535.0)])
def test_saved_stats_on_the_0_1_scale_follow_the_bit_depth(invoke, tmp_path, dtype, scale):
    """--save-stats: mean/var in the images' units (numpy's population statistics over every
    pixel of every image, R, G, B order), mean01/std01 divided by 255 for 8-bit and 65535 for
    16-bit inputs."""
    rng = np.random.default_rng(2)
    top = np.iinfo(dtype).max
    images = [rng.integers(0, top, (5, 7, 3), dtype=dtype, endpoint=True),
              rng.integers(top // 3, top // 2, (3, 4, 3), dtype=dtype)]
    paths = [tmp_path / f"im{i}.png" for i in range(len(images))]
    for path, image in zip(paths, images, strict=True):
        _write_rgb(path, image)
    stats = tmp_path / "stats.json"
    result = invoke("normalize", *paths, "-o", tmp_path / "out", "--save-stats", stats)
    assert result.exit_code == 0, result.output
    saved = json.loads(stats.read_text())
    pixels = np.concatenate([im.reshape(-1, 3).astype(np.float64) for im in images])
    mean, var = pixels.mean(axis=0), pixels.var(axis=0)
    np.testing.assert_allclose(saved["mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(saved["var"], var, rtol=1e-9)
    np.testing.assert_allclose(saved["mean01"], mean / scale, rtol=1e-12)
    np.testing.assert_allclose(saved["std01"], np.sqrt(var) / scale, rtol=1e-9)
    assert saved["count"] == pixels.shape[0] and saved["channel_order"] == "RGB"

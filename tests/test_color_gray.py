"""to_gray converts band by band: the same bits as the whole-image product, without its
three-times-the-result floating-point temporary."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import peak_bytes

from cvtool.imaging import color
from cvtool.imaging.color import BT601, to_gray


def _whole_image_gray(image: np.ndarray) -> np.ndarray:
    """The reference: every R,G,B converted to floats at once, then one product."""
    dtype = np.float64 if image.dtype == np.float64 else np.float32
    return image[..., :3].astype(dtype) @ np.asarray(BT601, dtype=dtype)


@pytest.mark.parametrize("shape,dtype", [
    ((301, 257, 3), np.uint8), ((97, 131, 4), np.uint16), ((64, 80, 4), np.float32),
    ((50, 61, 3), np.float64), ((0, 5, 3), np.uint8),
])
def test_banded_gray_has_the_bits_of_the_whole_image_product(monkeypatch, shape, dtype):
    """Bit-identical to the whole-image product for every band height, ragged last band
    included (bands made a few rows high here); the oracle is the BT.601 weighted sum."""
    rng = np.random.default_rng(3)
    image = (rng.random(shape) * 255).astype(dtype)
    expected = _whole_image_gray(image)
    monkeypatch.setattr(color, "_GRAY_BAND_BYTES", 3 * shape[1] * 4 * 7)
    result = to_gray(image)
    assert result.dtype == expected.dtype and result.shape == shape[:2]
    assert result.tobytes() == expected.tobytes()
    rgb = image[..., :3].astype(np.float64)
    oracle = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    np.testing.assert_allclose(result, oracle, rtol=1e-6, atol=1e-4)


def test_gray_allocates_about_its_result():
    """Peak allocation is the result plus a band, not R,G,B as floats (3x the result)."""
    image = np.random.default_rng(4).integers(0, 256, (1000, 1200, 3), dtype=np.uint8)
    peak = peak_bytes(lambda: to_gray(image))
    gray_bytes = image.shape[0] * image.shape[1] * np.dtype(np.float32).itemsize
    assert peak < 1.5 * gray_bytes, peak / gray_bytes

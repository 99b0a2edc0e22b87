"""What keeps the tiled FFT fast: no image-sized temporaries, single-precision transforms.

Speed itself is never asserted (benchmarks print it); these pin the properties it rests on:
tiles read in place and written straight into the output (tracemalloc sees every NumPy
buffer), and float32 tiles transformed by numpy.fft calls that keep pocketfft's float32 loop.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import peak_bytes

from cvtool.filtering import correlate
from cvtool.imaging.fft import fft_correlate_valid


@pytest.mark.parametrize("padding", ["zero", "mirror"])
def test_fft_strategy_makes_no_image_sized_temporary(padding):
    """With out= given, the FFT strategy allocates per-thread tile buffers only: neither the
    padded image (a whole copy before) nor an unstrided result (another) is made."""
    rng = np.random.default_rng(0)
    image = rng.random((2048, 2048), dtype=np.float32)
    kernel = rng.random((31, 31))
    out = np.empty_like(image)
    peak = peak_bytes(lambda: correlate(image, kernel, padding=padding, strategy="fft",
                                         workers=2, out=out))
    assert peak < 0.5 * image.nbytes, peak


def test_fft_correlate_valid_converts_8bit_tiles_not_the_image():
    """An 8-bit image is converted tile by tile: beyond the float32 result, no float copy
    of the whole image is made."""
    image = np.random.default_rng(1).integers(0, 256, (2048, 2048), dtype=np.uint8)
    kernel = np.ones((31, 31), np.float32)
    peak = peak_bytes(lambda: fft_correlate_valid(image, kernel, workers=2))
    result_bytes = (2048 - 30) ** 2 * 4
    assert peak < result_bytes + 0.5 * image.size * 4, peak


def test_float32_tiles_use_scaled_transforms(monkeypatch):
    """Every per-tile transform of float32 data passes norm="ortho": numpy hands an unscaled
    transform the Python int 1 as its factor, which selects pocketfft's float64 loop (about
    7x slower per tile, measured with numpy 2.4)."""
    seen = []
    for name in ("rfft", "irfft", "fft", "ifft"):
        original = getattr(np.fft, name)

        def spy(a, *args, _name=name, _original=original, **kwargs):
            if np.asarray(a).dtype in (np.float32, np.complex64):
                seen.append((_name, kwargs.get("norm")))
            return _original(a, *args, **kwargs)

        monkeypatch.setattr(np.fft, name, spy)
    rng = np.random.default_rng(2)
    fft_correlate_valid(rng.random((300, 260), dtype=np.float32),
                        rng.random((21, 17)).astype(np.float32), workers=1)
    assert {name for name, _ in seen} == {"rfft", "irfft", "fft", "ifft"}
    assert {norm for _, norm in seen} == {"ortho"}

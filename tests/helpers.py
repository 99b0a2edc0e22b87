"""Helpers shared by several test modules (one copy each; import them, do not paste them).

Plain functions and constants rather than fixtures, because some are needed at import time
(in ``@pytest.mark.parametrize`` tables) or inside Hypothesis tests.
"""

from __future__ import annotations

import shutil
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks' harness
from benchmarks.harness import peak_bytes  # noqa: E402,F401  (one copy for tests and benches)

# The installed console script beside this interpreter (the venv's), as a user would run it.
CVTOOL = shutil.which("cvtool", path=str(Path(sys.executable).parent)) or "cvtool"

# How each padding mode is spelled for numpy.pad (``constant`` also needs constant_values).
NUMPY_PAD = {
    "zero": {"mode": "constant"},
    "normalized": {"mode": "constant"},
    "clamp": {"mode": "edge"},
    "mirror": {"mode": "reflect"},
    "symmetric": {"mode": "symmetric"},
    "wrap": {"mode": "wrap"},
    "extend": {"mode": "reflect", "reflect_type": "odd"},
}

# Run as ``python -c PEAK_RSS COMMAND...``: a wrapper whose only child is COMMAND, so its
# RUSAGE_CHILDREN is COMMAND's own peak RSS (the test process's would be the largest of every
# child it ever waited for). Prints ``RETURNCODE PEAK_KIB`` and passes COMMAND's stderr on.
PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                      text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.stderr.write(done.stderr)
"""


def texture(shape, seed: int = 0, sigma: float = 2.0) -> np.ndarray:
    """Smooth random texture in 0..255 (uint8): every window has structure to match."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(shape).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigma)
    blurred = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    return np.clip(blurred * 255 + 0.5, 0, 255).astype(np.uint8)


def png_header(width: int, height: int) -> bytes:
    """The signature and IHDR chunk of an 8-bit gray PNG claiming ``width × height`` pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


class PicklePayload:
    """Unpickling this creates a marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))

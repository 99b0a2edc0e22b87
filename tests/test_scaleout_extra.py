"""The dask extra as a whole: never imported unless asked for, named when missing, and
chunked work whose memory is bounded by the tile, not by the image."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cvtool.errors import UsageError
from cvtool.scaleout import EXTRA_MODULES, require_extra


def test_plain_import_and_the_cli_load_no_dask_module():
    """`import cvtool` and the CLI's app import none of the extra's modules (in a fresh
    interpreter, so nothing another test imported counts)."""
    code = textwrap.dedent("""
        import json, sys
        import cvtool, cvtool.cli.app, cvtool.scaleout
        heavy = ("dask", "distributed", "zarr", "tifffile", "imagecodecs", "numcodecs")
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert json.loads(done.stdout) == []


def test_missing_extra_is_a_usage_error_naming_the_install(monkeypatch):
    """Without zarr (say), the option that needs it is refused with the pip command."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "zarr" else real(name, *a))
    with pytest.raises(UsageError) as caught:
        require_extra("chunked")
    message = str(caught.value)
    assert message.startswith("chunked needs the dask extra (zarr is not installed)")
    assert caught.value.parameter == "chunked"
    assert "pip install 'cvtool[dask]'" in message
    assert caught.value.exit_code == 2


def test_installed_extra_passes():
    """With the extra installed (the test extra pulls it in), nothing is refused."""
    require_extra("scheduler")
    assert all(importlib.util.find_spec(name) for name in EXTRA_MODULES)


MEASURE = """
import resource, sys
import numpy as np
import tifffile, zarr  # the libraries' own import cost is not the image's
from cvtool.scaleout.chunked_filter import filter_chunked
src, dst = sys.argv[1:3]
# Warm up the thread pool, BLAS and the codecs on a small image first.
np.save(dst + ".warm.npy", np.zeros((600, 600), np.uint8))
filter_chunked(dst + ".warm.npy", dst + ".warm.tif", np.ones((5, 5)) / 25, chunk=512, workers=2)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = filter_chunked(src, dst, np.ones((5, 5)) / 25, padding="mirror", chunk=384, workers=2)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after, *result.shape)
"""


def test_memory_is_bounded_by_the_tile_not_the_image(tmp_path):
    """A 49 MB 8-bit image (196 MB as the float32 the in-memory filter works in, plus its
    output) is filtered into a tiled TIFF while the process's peak RSS grows by less than a
    quarter of the image's own bytes (measured with getrusage in a fresh process)."""
    side = 7000
    image = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.uint8,
                                      shape=(side, side))
    for r in range(0, side, 1000):  # a pattern, written band by band
        image[r:r + 1000] = (np.arange(r, r + 1000)[:, None] + np.arange(side)) % 251
    image.flush()
    del image
    done = subprocess.run([sys.executable, "-c", MEASURE, str(tmp_path / "big.npy"),
                           str(tmp_path / "out.tif")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    before, after, height, width = (int(v) for v in done.stdout.split())
    assert (height, width) == (side, side)
    growth_bytes = (after - before) * 1024  # ru_maxrss is in KiB on Linux
    cap = side * side // 4
    assert growth_bytes < cap, f"peak RSS grew by {growth_bytes / 2**20:.0f} MiB"

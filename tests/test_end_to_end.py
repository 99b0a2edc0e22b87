"""The installed `cvtool` script, run in a subprocess exactly as a user would."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from helpers import CVTOOL

from cvtool import __version__, io


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([CVTOOL, *map(str, args)], capture_output=True, timeout=120, **kwargs)


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.decode().strip() == f"cvtool {__version__}"


def test_correlate_a_png_end_to_end(tmp_path):
    """Impulse in, kernel rotated by 180 degrees out, through the real script and real files."""
    image = np.zeros((5, 5), np.uint8)
    image[2, 2] = 1
    src, out = tmp_path / "impulse.png", tmp_path / "out.npy"
    io.write_image(src, image)
    result = run("correlate", src, "-k", "1 2 3; 4 5 6; 7 8 9", "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"" and result.stderr == b""
    np.testing.assert_array_equal(np.load(out)[1:4, 1:4], np.arange(9, 0, -1).reshape(3, 3))


def test_user_mistake_is_one_line_without_traceback(tmp_path):
    """A usage mistake (a ragged kernel) is exactly one `error:` line, exit 2, no traceback."""
    result = run("convolve", tmp_path / "missing.png", "-k", "1 2; 3", "-o", tmp_path / "o.png")
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "kernel row 2" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["a b.png", "ümlaut é.png"])
def test_paths_with_spaces_and_non_ascii(tmp_path, name):
    src = tmp_path / name
    io.write_image(src, np.full((3, 3), 5, np.uint8))
    out = tmp_path / f"out {name}"
    result = run("correlate", src, "-k", "1", "-o", out)
    assert result.returncode == 0, result.stderr
    assert (io.read_image(out) == 5).all()

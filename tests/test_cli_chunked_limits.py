"""The pixel limit's error points to --chunked (no dask extra needed to see it)."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from cvtool import io
from cvtool.cli.app import app


def test_pixel_limit_error_names_chunked(tmp_path, monkeypatch):
    """An image over CVTOOL_MAX_PIXELS is refused (exit 1) with a message naming --chunked,
    the way out for huge images."""
    io.write_image(tmp_path / "a.png", np.zeros((20, 20), np.uint8))
    monkeypatch.setenv("CVTOOL_MAX_PIXELS", "100")
    result = CliRunner().invoke(app, ["filter", str(tmp_path / "a.png"), "-n", "box", "-o",
                                      str(tmp_path / "b.png")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "--chunked" in result.stderr

"""Shared fixtures: small images written to a temporary folder, and a CLI runner.

Shared plain helpers (the installed-script path, texture(), png_header(), PEAK_RSS,
NUMPY_PAD, PicklePayload) live in ``tests/helpers.py``: ``from helpers import ...``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings
from typer.testing import CliRunner

from cvtool import io
from cvtool.cli.app import app

# In CI (CI=true) hypothesis draws the same examples on every run, so a submission passes or
# fails on its code, not on the draw; developers' runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner):
    """Run ``cvtool ARGS`` in-process; returns the Click result (stdout and stderr apart)."""

    def call(*args: str, input: bytes | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input)

    return call


@pytest.fixture
def gray_png(tmp_path) -> str:
    rng = np.random.default_rng(0)
    path = tmp_path / "gray.png"
    io.write_image(path, rng.integers(0, 256, (20, 24), dtype=np.uint8))
    return str(path)


@pytest.fixture
def colour_png(tmp_path) -> str:
    rng = np.random.default_rng(1)
    path = tmp_path / "colour.png"
    io.write_image(path, rng.integers(0, 256, (18, 22, 3), dtype=np.uint8))
    return str(path)

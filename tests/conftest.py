"""Shared fixtures: small images written to a temporary folder, and a CLI runner.

Shared plain helpers (the installed-script path, texture(), png_header(), PEAK_RSS,
NUMPY_PAD, PicklePayload) live in ``tests/helpers.py``: ``from helpers import ...``. The
robust matcher's tests share the benchmark's drawing of Waldo (``waldo_drawing``) and it
prepared (``robust_template``).
"""

from __future__ import annotations

import os

import helpers  # noqa: F401,I001 - puts the repository root (the benchmarks) on sys.path
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


@pytest.fixture(scope="session")
def waldo_drawing() -> np.ndarray:
    """The robust benchmark's template: Waldo in his fixed pose on plain grey (RGB)."""
    from benchmarks.waldo_world import make_template

    return make_template()


@pytest.fixture(scope="session")
def robust_template(waldo_drawing):
    """``waldo_drawing`` prepared for the robust matcher once per session."""
    from cvtool.matching.robust import prepare_robust

    return prepare_robust(waldo_drawing)

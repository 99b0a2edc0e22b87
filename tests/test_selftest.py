"""`cvtool selftest`: passes on a sound installation, and really fails on a broken one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import cvtool
from cvtool import selftest

CVTOOL = shutil.which("cvtool", path=str(Path(sys.executable).parent)) or "cvtool"


def test_installed_selftest_passes():
    """The smoke test CI runs: exit 0, nothing on stderr, every check line `ok`."""
    result = subprocess.run([CVTOOL, "selftest"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    check_lines = [line for line in result.stdout.splitlines() if line.startswith(("ok", "FAIL"))]
    assert len(check_lines) >= len(selftest.CHECKS)
    assert all(line.startswith("ok ") for line in check_lines)
    assert result.stdout.rstrip().splitlines()[-1].startswith("all checks passed")


def test_human_output_names_versions_and_formats(invoke):
    result = invoke("selftest")
    assert result.exit_code == 0
    assert (f"versions: cvtool {cvtool.__version__}, numpy {np.__version__}, "
            f"opencv {cv2.__version__}") in result.stdout
    assert ".png" in result.stdout.split("writes:")[1].splitlines()[0]


def test_json_is_one_object_with_versions_formats_and_checks(invoke):
    result = invoke("selftest", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)  # a single JSON document
    assert report["ok"] is True
    assert report["versions"]["numpy"] == np.__version__
    assert report["versions"]["opencv"] == cv2.__version__
    assert {".png", ".npy", ".tif"} <= set(report["formats"]["write"])
    assert set(report["formats"]["write"]) <= set(report["formats"]["read"])
    names = [check["name"] for check in report["checks"]]
    assert names[:len(selftest.CHECKS)] == list(selftest.CHECKS)
    assert "format .png" in names


def test_every_subcommand_has_a_check():
    """correlate, convolve, filter, find-waldo, entropy and normalize are each checked."""
    assert {"correlate", "convolve", "filter", "find-waldo", "entropy", "normalize"} <= set(
        selftest.CHECKS)


def test_failed_check_gives_exit_1_a_fail_line_and_an_error(invoke, monkeypatch):
    """A check that does not hold: FAIL with what was seen, an `error:` line, exit 1."""
    monkeypatch.setitem(selftest.CHECKS, "entropy", lambda: "1 bit expected, got 0.9")
    result = invoke("selftest")
    assert result.exit_code == 1
    assert "FAIL  entropy: 1 bit expected, got 0.9" in result.stdout
    assert result.stderr == "error: selftest: 1 check(s) failed: entropy\n"


def test_crashing_check_is_reported_not_raised(invoke, monkeypatch):
    """A check that raises becomes a FAIL line naming the exception, never a traceback."""
    def boom():
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(selftest.CHECKS, "normalize", boom)
    result = invoke("selftest", "--json")
    assert result.exit_code == 1
    check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "normalize")
    assert check == {"name": "normalize", "ok": False,
                     "detail": "ZeroDivisionError: division by zero"}


@pytest.mark.parametrize("check,module,name,wrong", [
    ("correlate", "cvtool.filtering", "correlate",
     lambda image, kernel, **kw: np.zeros_like(image)),
    ("convolve", "cvtool.filtering", "convolve",
     lambda image, kernel, **kw: __import__("scipy.ndimage").ndimage.correlate(image, kernel)),
    ("find-waldo", "cvtool.matching", "zncc", lambda scene, template, **kw: np.zeros((3, 3))),
    ("entropy", "cvtool.entropy", "image_entropy", lambda image, base=2: 0.5),
    ("normalize", "cvtool.batchnorm", "batch_norm", lambda x, *a, **kw: x / 2.0),
])
def test_checks_catch_a_wrong_engine(monkeypatch, check, module, name, wrong):
    """Each known-value check fails when the function it checks gives a wrong answer."""
    monkeypatch.setattr(f"{module}.{name}", wrong)
    assert selftest.CHECKS[check]() is not None


def test_lossless_round_trip_catches_a_corrupting_codec(monkeypatch, tmp_path):
    """A codec that changes pixels fails its format check (it is not just 'written')."""
    from cvtool import io

    real = io.read_image
    monkeypatch.setattr(io, "read_image", lambda path: real(path) // 2)
    written, problem = selftest.check_format(".png", tmp_path)
    assert written and "different values" in problem

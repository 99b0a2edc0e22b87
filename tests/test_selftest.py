"""`cvtool selftest`: passes on a sound installation, and really fails on a broken one.

Each check runs its subcommand through the CLI; the tests below break one piece of behaviour
at a time (the function the CLI calls is patched to give a wrong answer) and require that
exactly the check about it reports FAIL with the expected value, and that the command exits 1.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer.main

import cvtool
from cvtool.cli import selftest_checks as selftest
from cvtool.cli.app import app
from cvtool.cli.selftest import cli_runner

run_cli = cli_runner(app)

CVTOOL = shutil.which("cvtool", path=str(Path(sys.executable).parent)) or "cvtool"

#: What a line of `cvtool selftest` may start with: its own report, nothing of the sub-runs.
REPORT_LINE = re.compile(r"(ok  |FAIL  |versions: |reads: |writes: |pixel limit: |note: "
                         r"|all checks passed |SELFTEST FAILED )")


def test_installed_selftest_passes():
    """The smoke test CI runs: exit 0, nothing on stderr, only the report's own lines."""
    result = subprocess.run([CVTOOL, "selftest"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert all(REPORT_LINE.match(line) for line in lines), result.stdout
    check_lines = [line for line in lines if line.startswith(("ok", "FAIL"))]
    assert [line.split(None, 1)[1] for line in check_lines[:len(selftest.CHECKS)]] == list(
        selftest.CHECKS)
    assert all(line.startswith("ok ") for line in check_lines)
    assert lines[-1].startswith("all checks passed")


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


#: The subcommands each check must run (through the CLI, not the core functions).
RUNS = {"correlate": {"correlate"}, "convolve": {"convolve"}, "padding": {"correlate"},
        "filter": {"filter"}, "find-waldo": {"find-waldo"}, "entropy": {"entropy"},
        "normalize": {"normalize"}, "pixel limit": {"entropy"}}


def test_every_subcommand_is_run_through_the_cli(tmp_path):
    """Each check invokes its subcommand via the CLI, and every subcommand is invoked."""
    assert set(selftest.CHECKS) == set(RUNS)
    invoked: dict[str, set[str]] = {}
    for name, check in selftest.CHECKS.items():
        calls: list[str] = []

        def recording(args, calls=calls):
            calls.append(args[0])
            return run_cli(args)

        assert check(selftest.Session(recording, tmp_path / name.replace(" ", "-"))) is None
        invoked[name] = set(calls)
    assert invoked == RUNS
    subcommands = set(typer.main.get_command(app).commands) - {"selftest"}
    assert subcommands <= set().union(*invoked.values())


def test_sub_runs_print_nothing_and_the_temporary_folder_is_removed(invoke, monkeypatch,
                                                                     tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = invoke("selftest")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert all(REPORT_LINE.match(line) for line in result.stdout.splitlines()), result.stdout
    assert list(tmp_path.iterdir()) == []


def test_checks_are_fast():
    """In-process sub-runs: the CLI checks take well under the 2 s budget of the whole run."""
    started = time.perf_counter()
    report = selftest.run_selftest(run_cli, formats=False)
    assert report.ok, report.checks
    assert time.perf_counter() - started < 2.0


def test_failed_check_gives_exit_1_a_fail_line_and_an_error(invoke, monkeypatch):
    """A check that does not hold: FAIL with what was seen, an `error:` line, exit 1."""
    monkeypatch.setitem(selftest.CHECKS, "entropy", lambda session: "1 bit expected, got 0.9")
    result = invoke("selftest")
    assert result.exit_code == 1
    assert "FAIL  entropy: 1 bit expected, got 0.9" in result.stdout
    assert result.stderr == "error: selftest: 1 check(s) failed: entropy\n"


def test_crashing_check_is_reported_not_raised(invoke, monkeypatch):
    """A check that raises becomes a FAIL line naming the exception, never a traceback."""
    def boom(session):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(selftest.CHECKS, "normalize", boom)
    result = invoke("selftest", "--json")
    assert result.exit_code == 1
    check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "normalize")
    assert check == {"name": "normalize", "ok": False,
                     "detail": "ZeroDivisionError: division by zero"}


def test_a_crashing_subcommand_is_a_failed_run_not_a_crash(monkeypatch):
    """A bug escaping a sub-run is its exit 1 and an `internal error` line, kept in memory."""
    def broken(*args, **kwargs):
        raise RuntimeError("engine broke")

    monkeypatch.setattr("cvtool.measures.information.entropy", broken)
    result = run_cli(["entropy", "--probs", "0.5 0.5"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert "internal error: RuntimeError: engine broke" in result.stderr


# ---------------------------------------------------------------------------------------------
# Wrong behaviour, one piece at a time: the check about it fails, naming the expected value.


def _wrap(target: str, change):
    """A patch for ``target`` that calls the real function and changes its answer."""
    module, name = target.rsplit(".", 1)
    real = getattr(__import__(module, fromlist=[name]), name)
    return target, lambda *args, **kwargs: change(real(*args, **kwargs), *args, **kwargs)


def _always_flip(monkeypatch, flip: bool) -> None:
    """Break both paths of the pipeline: the whole-image table and the banded filter."""
    from cvtool.pipelines import filter_image

    name = "convolve" if flip else "correlate"
    for operation in filter_image.OPERATIONS:
        monkeypatch.setitem(filter_image.OPERATIONS, operation, filter_image.OPERATIONS[name])
    real = filter_image.correlate_bands
    forced = flip
    monkeypatch.setattr(filter_image, "correlate_bands",
                        lambda *args, flip=False, **kwargs: real(*args, flip=forced, **kwargs))


def _correlate_is_convolve(monkeypatch):
    _always_flip(monkeypatch, True)


def _convolve_is_correlate(monkeypatch):
    _always_flip(monkeypatch, False)


def _clip_wraps_around(monkeypatch):
    monkeypatch.setattr("cvtool.pipelines.filter_image.to_pixel_type", lambda values, mode, dtype: (
        np.rint(np.abs(values) if mode == "abs" else values).astype(np.int64) % 256
    ).astype(dtype))


def _mirror_is_symmetric(monkeypatch):
    from cvtool.imaging.padding import canonical_padding

    monkeypatch.setattr("cvtool.pipelines.filter_image.canonical_padding",
                        lambda name: canonical_padding("symmetric" if name == "mirror" else name))


def _sobel_x_upside_down(monkeypatch):
    monkeypatch.setattr(*_wrap("cvtool.filtering.kernels.named_kernel",
                               lambda k, name, **kw: -k if name == "sobel-x" else k))


def _box_off_by_one(monkeypatch):
    monkeypatch.setattr(*_wrap("cvtool.filtering.kernels.named_kernel",
                               lambda k, name, **kw: k * 10 / 9 if name == "box" else k))


def _waldo_one_column_right(monkeypatch):
    def shifted(result, *args, **kwargs):
        return dataclasses.replace(result, matches=[dataclasses.replace(m, x=m.x + 1)
                                                    for m in result.matches])

    monkeypatch.setattr(*_wrap("cvtool.matching.search", shifted))


def _waldo_ignores_the_threshold(monkeypatch):
    monkeypatch.setattr(*_wrap("cvtool.matching.search", lambda result, *a, **kw:
                               dataclasses.replace(result, matches=[result.best])))


def _image_entropy_halved(monkeypatch):
    monkeypatch.setattr(*_wrap("cvtool.measures.image_entropy.image_entropy",
                               lambda h, *a, **kw: h / 2))


def _base_ignored(monkeypatch):
    from cvtool.measures.information import entropy

    monkeypatch.setattr("cvtool.measures.information.entropy", lambda p, base=2: entropy(p, 2))


def _naive_softmax(monkeypatch):
    def softmax(z):
        with np.errstate(all="ignore"):
            e = np.exp(np.asarray(z, float))
            return e / e.sum()

    monkeypatch.setattr("cvtool.measures.information.softmax", softmax)


def _sample_variance(monkeypatch):
    from cvtool.measures.batch_stats import RunningStats

    monkeypatch.setattr(RunningStats, "var", property(lambda s: s.m2 / (s.count - 1)))


def _no_pixel_limit(monkeypatch):
    monkeypatch.setattr("cvtool.io.max_pixels", lambda: 10**12)
    monkeypatch.setattr("cvtool.io.limits.max_pixels", lambda: 10**12)


@pytest.mark.parametrize("check,breakage,expected", [
    ("correlate", _correlate_is_convolve,
     "expected [[0, 0, 0, 0, 0], [0, 90, 80, 70, 0], [0, 60, 50, 40, 0], [0, 30, 20, 10, 0]"),
    ("correlate", _clip_wraps_around, "expected [[0, 0, 0, 0, 0], [0, 90, 80, 70, 0], "
     "[0, 60, 50, 40, 0], [0, 255, 20, 0, 0]"),
    ("convolve", _convolve_is_correlate,
     "expected [[0, 0, 0, 0, 0], [0, 10, 20, 30, 0], [0, 40, 50, 60, 0], [0, 70, 80, 90, 0]"),
    ("padding", _mirror_is_symmetric, "-p mirror: got [[2, 1, 1, 2, 3, 4, 4, 3]], "
     "expected [[3, 2, 1, 2, 3, 4, 3, 2]]"),
    ("filter", _sobel_x_upside_down, "sobel-x of ramp.png: got all -80 (5x6), expected all 80"),
    ("filter", _box_off_by_one, "box of flat.png: got all 111 (5x6), expected all 100 (5x6)"),
    ("find-waldo", _waldo_one_column_right, "match: got {'x': 14, 'y': 9, 'width': 10, "
     "'height': 8}, expected {'x': 13, 'y': 9, 'width': 10, 'height': 8}"),
    ("find-waldo", _waldo_ignores_the_threshold, "--json` exited 0, expected 1"),
    ("entropy", _image_entropy_halved, "half black/half white entropy: got 0.5, expected 1.0"),
    ("entropy", _base_ignored, "H(0.125, 0.875) base 10: got 0.5435644431995964, "
     "expected 0.163629"),
    # exp(1000) overflows: the run itself fails, on the NaN entropy of the NaN softmax.
    ("entropy", _naive_softmax, "--label 0 --json` exited 2, expected 0"),
    ("normalize", _sample_variance, "var: got [600, 2400, 600], expected [525, 2100, 525]"),
    ("pixel limit", _no_pixel_limit, "expected an error naming CVTOOL_MAX_PIXELS"),
])
def test_each_check_catches_the_wrong_behaviour_it_is_about(invoke, monkeypatch, check,
                                                            breakage, expected):
    breakage(monkeypatch)
    result = invoke("selftest", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}
    assert check in failed, failed
    assert "expected" in failed[check]
    assert expected in failed[check]
    assert "cvtool-selftest-" not in failed[check]  # files named relative to the check's folder
    assert result.stderr.startswith("error: selftest: ")
    assert check in result.stderr


def test_the_human_report_shows_the_failure_and_exits_1(invoke, monkeypatch):
    _convolve_is_correlate(monkeypatch)
    result = invoke("selftest")
    assert result.exit_code == 1
    assert "FAIL  convolve: same.png: got " in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("SELFTEST FAILED")
    assert result.stderr == "error: selftest: 1 check(s) failed: convolve\n"


def test_lossless_round_trip_catches_a_corrupting_codec(monkeypatch, tmp_path):
    """A codec that changes pixels fails its format check (it is not just 'written')."""
    from cvtool import io

    real = io.read_image
    monkeypatch.setattr(io, "read_image", lambda path: real(path) // 2)
    written, problem = selftest.check_format(".png", tmp_path)
    assert written and "different values" in problem

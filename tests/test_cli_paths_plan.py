"""Planning a batch's outputs: an output that is an input is refused, in time linear in the batch.

Large batches (and cluster batches, which the planning precedes) must not pay a check per
pair of input and output: 500 inputs once cost 1.2 s of CPU before any image was read.
"""

from __future__ import annotations

import os

import pytest

from cvtool.cli import paths
from cvtool.errors import UsageError


def test_an_output_that_is_an_input_through_a_hard_link_is_refused(tmp_path):
    """Both exist: the same file (inode) under another name is still the input."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"x")
    (tmp_path / "out").mkdir()
    os.link(tmp_path / "in" / "a.png", tmp_path / "out" / "a.png")
    with pytest.raises(UsageError, match="is the input .*a.png; refusing to overwrite"):
        paths.plan_outputs([str(tmp_path / "in" / "a.png")], str(tmp_path / "out"),
                           batch=True)


def test_a_missing_input_is_compared_by_its_absolute_path(tmp_path, monkeypatch):
    """An input that does not exist yet (it fails later, on reading) still may not be the
    output: the absolute paths are compared, as same_file does."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="refusing to overwrite an input"):
        paths.plan_outputs(["sub/../b.png"], str(tmp_path / "b.png"))
    (tmp_path / "b.png").write_bytes(b"x")  # the output exists, the input name does not
    with pytest.raises(UsageError, match="refusing to overwrite an input"):
        paths.plan_outputs([str(tmp_path / "x" / ".." / "b.png")], "b.png")


def test_distinct_outputs_pass_with_one_stat_per_path(tmp_path, monkeypatch):
    """1000 inputs into another directory: nothing refused, and the clobbering check stats
    each path once (a pairwise check would stat a million pairs)."""
    (tmp_path / "in").mkdir()
    inputs = []
    for i in range(1000):
        (tmp_path / "in" / f"{i}.png").write_bytes(b"x")
        inputs.append(str(tmp_path / "in" / f"{i}.png"))
    calls = []
    real = os.stat
    monkeypatch.setattr(os, "stat", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    targets = paths.plan_outputs(inputs, str(tmp_path / "out"), batch=True)
    assert targets == [str(tmp_path / "out" / f"{i}.png") for i in range(1000)]
    assert len(calls) < 5 * len(inputs)

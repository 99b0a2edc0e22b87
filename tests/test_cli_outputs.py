"""Where outputs go: -o is a file for one input and a directory for a batch, decided up front."""

from __future__ import annotations

import numpy as np
import pytest

from cvtool import io


@pytest.fixture
def folder_of_one(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    io.write_image(folder / "only.png", np.full((3, 3), 9, np.uint8))
    return folder


def test_directory_input_with_one_image_still_writes_into_a_directory(invoke, folder_of_one,
                                                                     tmp_path):
    """A script's `filter photos/ -o out` must not change meaning when photos/ holds one image."""
    out = tmp_path / "out"
    result = invoke("filter", folder_of_one, "-n", "identity", "-o", out)
    assert result.exit_code == 0, result.output
    assert (out / "only.png").is_file()


@pytest.mark.parametrize("command", [
    ["correlate", "-k", "1"], ["filter", "-n", "box"]])
def test_batch_into_a_file_name_is_a_usage_error(invoke, gray_png, colour_png, tmp_path,
                                                 command):
    """Two inputs and `-o single.png` used to create a directory called single.png."""
    target = tmp_path / "single.png"
    result = invoke(command[0], gray_png, colour_png, *command[1:], "-o", target)
    assert result.exit_code == 2 and "directory" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not target.exists()


def test_normalize_output_named_like_a_file_is_refused(invoke, gray_png, tmp_path):
    target = tmp_path / "x.npy"
    result = invoke("normalize", gray_png, "-o", target)
    assert result.exit_code == 2 and "directory" in result.stderr
    assert not target.exists()


def test_normalize_to_stdout_says_why(invoke, gray_png):
    result = invoke("normalize", gray_png, "-o", "-")
    assert result.exit_code == 2
    assert "into a directory" in result.stderr and "got 1" not in result.stderr


def test_stdin_twice_is_refused(invoke, tmp_path):
    result = invoke("correlate", "-", "-", "-k", "1", "-o", tmp_path / "d")
    assert result.exit_code == 2 and "only once" in result.stderr


def test_stdout_refuses_a_batch(invoke, folder_of_one):
    result = invoke("correlate", folder_of_one, "-k", "1", "-o", "-")
    assert result.exit_code == 2 and "single input" in result.stderr


def test_single_input_into_existing_directory_keeps_its_name(invoke, gray_png, tmp_path):
    out = tmp_path / "existing"
    out.mkdir()
    assert invoke("correlate", gray_png, "-k", "1", "-o", out).exit_code == 0
    assert (out / "gray.png").is_file()


@pytest.mark.parametrize("suffix", [".pgm", ".ppm", ".gif", ".pbm"])
def test_netpbm_and_gif_outputs_are_accepted(invoke, gray_png, tmp_path, suffix):
    """Encoders that take only gray (.pgm, .pbm) or only colour (.ppm, .gif) are still writers:
    the up-front check must not refuse them, and a gray result is written to colour ones."""
    out = tmp_path / f"out{suffix}"
    result = invoke("filter", gray_png, "-n", "identity", "-o", out)
    assert result.exit_code == 0, result.output
    assert io.read_image(out).shape[:2] == io.read_image(gray_png).shape

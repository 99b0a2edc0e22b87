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


@pytest.mark.parametrize("suffix", [".pgm", ".ppm"])
def test_netpbm_outputs_are_accepted(invoke, gray_png, tmp_path, suffix):
    """Encoders that take only gray (.pgm) or only colour (.ppm) are still writers: the
    up-front check must not refuse them, and a gray result is written to all colours."""
    out = tmp_path / f"out{suffix}"
    result = invoke("filter", gray_png, "-n", "identity", "-o", out)
    assert result.exit_code == 0, result.output
    back = io.read_image(out)
    gray = io.read_image(gray_png)
    np.testing.assert_array_equal(back if back.ndim == 2 else back[..., 1], gray)


@pytest.mark.parametrize("suffix", [".pbm", ".hdr"])
def test_outputs_that_would_change_the_values_are_refused_up_front(invoke, gray_png, tmp_path,
                                                                   suffix):
    """PBM keeps 1 bit, Radiance HDR only 3-channel floats: a usage error, nothing written."""
    out = tmp_path / f"out{suffix}"
    result = invoke("filter", gray_png, "-n", "identity", "-o", out)
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert not out.exists()


def test_gray_plus_alpha_is_written_to_png_as_rgba(invoke, tmp_path):
    """A gray+alpha result (from a 2-channel array) goes into a PNG as gray, gray, gray, alpha."""
    image = np.dstack([np.full((3, 4), 70, np.uint8), np.full((3, 4), 128, np.uint8)])
    src, out = tmp_path / "ga.npy", tmp_path / "out.png"
    np.save(src, image)
    assert invoke("correlate", src, "-k", "1", "-o", out).exit_code == 0
    np.testing.assert_array_equal(io.read_image(out)[0, 0], [70, 70, 70, 128])


def test_small_jpeg2000_output_says_why_it_fails(invoke, gray_png, tmp_path):
    """OpenCV's JPEG 2000 encoder refuses images under 32x32; the error says so."""
    out = tmp_path / "out.jp2"
    result = invoke("filter", gray_png, "-n", "identity", "-o", out)
    assert result.exit_code == 1 and "at least 32x32" in result.stderr
    assert not out.exists()

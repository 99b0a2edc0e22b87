"""cvtool.pipelines.normalize_set without Typer: exact two-pass statistics, NumPy as oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cvtool import io
from cvtool.errors import ProcessingError, UsageError
from cvtool.pipelines.normalize_set import (
    gather_stats,
    load_stats,
    normalize_one,
    resolve_out_range,
    training_stats,
    write_stats,
)


@pytest.fixture
def rgb_files(tmp_path):
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (5 + i, 6, 3), dtype=np.uint8) for i in range(3)]
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        io.write_image(paths[-1], image)
    return paths, images


def test_first_pass_equals_numpy_over_every_pixel(rgb_files):
    """Per channel, the mean and population variance over all pixels of all images, exactly
    as NumPy computes them on the concatenated pixels (images of different sizes)."""
    paths, images = rgb_files
    first = gather_stats(paths, jobs=2)
    pixels = np.concatenate([im.reshape(-1, 3) for im in images]).astype(np.float64)
    np.testing.assert_allclose(first.stats.mean, pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(first.stats.var, pixels.var(axis=0), rtol=1e-10)
    assert first.stats.count == len(pixels) and first.scale == 255.0 and not first.failures


def test_a_mismatched_input_fails_alone_with_its_name(rgb_files, tmp_path):
    """A gray image in an RGB batch is left out of the statistics and handed back as a failure."""
    paths, images = rgb_files
    gray = str(tmp_path / "gray.png")
    io.write_image(gray, np.zeros((4, 4), np.uint8))
    first = gather_stats([*paths, gray])
    assert list(first.failures) == [3] and "gray.png: has 1 channel" in str(first.failures[3])
    assert first.stats.count == sum(im.shape[0] * im.shape[1] for im in images)


def test_second_pass_gives_zero_mean_unit_variance(rgb_files):
    """Normalised with the batch's own statistics, the batch has mean 0 and variance 1."""
    paths, images = rgb_files
    first = gather_stats(paths)
    norm = training_stats(first, gamma=[1.0], beta=[0.0], eps=1e-12, images=3)
    outputs = np.concatenate([normalize_one(im, norm, "the batch").reshape(-1, 3)
                              for im in images]).astype(np.float64)
    np.testing.assert_allclose(outputs.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(outputs.var(axis=0), 1, atol=1e-4)


def test_gamma_that_does_not_fit_the_channels_is_a_data_error(rgb_files):
    """Two gammas for three channels is found in the data: exit 1, naming gamma."""
    first = gather_stats(rgb_files[0])
    with pytest.raises(ProcessingError) as info:
        training_stats(first, gamma=[1.0, 2.0], beta=[0.0], eps=1e-5, images=3)
    assert info.value.parameter == "gamma"


def test_saved_statistics_round_trip(rgb_files, tmp_path):
    """write_stats then load_stats gives the same numbers (JSON with the documented keys)."""
    first = gather_stats(rgb_files[0])
    norm = training_stats(first, gamma=[2.0], beta=[1.0], eps=1e-5, images=3)
    path = str(tmp_path / "stats.json")
    write_stats(path, norm)
    assert {"mean", "var", "count", "eps", "gamma", "beta", "channel_order", "mean01",
            "std01"} <= set(json.loads((tmp_path / "stats.json").read_text()))
    loaded = load_stats(path)
    np.testing.assert_allclose(loaded.mean, norm.mean)
    np.testing.assert_allclose(loaded.var, norm.var)


@pytest.mark.parametrize("content, needle", [(None, "no such file"), ("{", "not valid JSON"),
                                             ("[1, 2]", "not a JSON object")])
def test_a_bad_stats_file_is_a_data_error_naming_the_parameter(tmp_path, content, needle):
    """Missing, malformed or foreign files: ProcessingError with parameter 'stats'."""
    path = tmp_path / "s.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ProcessingError, match=needle) as info:
        load_stats(str(path))
    assert info.value.parameter == "stats" and str(info.value).startswith("stats ")


def test_out_range_for_normalised_values():
    """auto keeps floats in .npy/.tif; a pixel format needs an explicit mapping; raw needs
    a float format."""
    assert resolve_out_range("auto", ".npy") == "raw"
    assert resolve_out_range("AUTO", ".tif") == "raw"
    assert resolve_out_range("clip", ".png") == "clip"
    with pytest.raises(UsageError) as info:
        resolve_out_range("auto", ".png")
    assert info.value.parameter == "format" and "`out_range` clip" in str(info.value)
    with pytest.raises(UsageError) as info:
        resolve_out_range("raw", ".png")
    assert info.value.parameter == "out_range"

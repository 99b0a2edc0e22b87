"""Chunked filtering (the dask extra) against the in-memory ``cvtool.correlate``/``convolve``.

The oracle is the in-memory filter on the whole image: the chunked path must give the same
values for every padding mode, output shape, stride, channel layout and tile size, including
tiles that do not divide the image and tiles smaller than the kernel.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cvtool
from cvtool import io
from cvtool.errors import ProcessingError, UsageError
from cvtool.imaging.pixels import to_pixel_type

pytest.importorskip("zarr")
pytest.importorskip("tifffile")

from cvtool.scaleout import chunked_filter, stores  # noqa: E402
from cvtool.scaleout.chunked_filter import filter_chunked, map_pixels  # noqa: E402

MODES = ("zero", "constant", "clamp", "mirror", "symmetric", "wrap", "extend", "normalized")


def _close(got: np.ndarray, expected: np.ndarray) -> None:
    """Equal to float32 rounding, relative to the result's own magnitude."""
    assert got.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * scale)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mode=st.sampled_from(MODES),
    shape=st.sampled_from(("same", "valid", "full")),
    stride=st.sampled_from((1, 2, 3, (2, 5), (3, 1))),
    channels=st.sampled_from((None, 1, 3)),
    operation=st.sampled_from(("correlate", "convolve")),
    kernel_shape=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    image_shape=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    chunk=st.integers(1, 23),
    dtype=st.sampled_from((np.uint8, np.uint16, np.float64)),
    seed=st.integers(0, 2**16),
)
def test_chunked_equals_in_memory(tmp_path, mode, shape, stride, channels, operation,
                                  kernel_shape, image_shape, chunk, dtype, seed):
    """Every mode × shape × stride × channel layout × uneven tile size, including kernels
    larger than the image (the padding rule repeats) and tiles smaller than the kernel."""
    rng = np.random.default_rng(seed)
    if shape == "valid" and (kernel_shape[0] > image_shape[0] or kernel_shape[1] > image_shape[1]):
        kernel_shape = (min(kernel_shape[0], image_shape[0]), min(kernel_shape[1], image_shape[1]))
    size = image_shape + ((channels,) if channels else ())
    top = 255 if dtype == np.uint8 else 65535
    image = (rng.random(size) * top).astype(dtype)
    kernel = (rng.random(kernel_shape) + 0.1 if mode == "normalized"
              else rng.standard_normal(kernel_shape))
    pad_value = 17.5 if channels in (None, 1) else [17.5, -3.0, 300.0]
    src = tmp_path / "in.npy"
    np.save(src, image)
    expected = getattr(cvtool, operation)(image, kernel, padding=mode, pad_value=pad_value,
                                          stride=stride, shape=shape)
    result = filter_chunked(src, tmp_path / "out.npy", kernel, operation=operation,
                            padding=mode, pad_value=pad_value, stride=stride, shape=shape,
                            out_range="raw", chunk=chunk, workers=2)
    got = np.load(tmp_path / "out.npy")
    assert got.dtype == expected.dtype
    assert result.shape == got.shape
    _close(got, expected)


@pytest.mark.parametrize("kernel_shape", [(31, 31), (41, 17), (12, 12)])
def test_large_kernels_whose_strategy_differs_per_tile(tmp_path, kernel_shape):
    """Large kernels run through FFT-based strategies, whose rounding depends on the tile's
    size: still within float32 rounding of the whole-image result (16-bit colour)."""
    rng = np.random.default_rng(13)
    image = rng.integers(0, 65536, (300, 260, 3), dtype=np.uint16)
    kernel = rng.standard_normal(kernel_shape)
    np.save(tmp_path / "in.npy", image)
    expected = cvtool.correlate(image, kernel, padding="mirror")
    filter_chunked(tmp_path / "in.npy", tmp_path / "out.npy", kernel, padding="mirror",
                   out_range="raw", chunk=110)
    _close(np.load(tmp_path / "out.npy"), expected)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", ["same", "valid", "full"])
def test_tiny_tiles_inside_the_border(tmp_path, mode, shape):
    """Tiles of 1 and 3 pixels, so that some tiles lie wholly inside the made-up border
    (``full``): each must still see the pixels the border rule copies or reflects."""
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    kernel = rng.random((5, 4)) + 0.1
    np.save(tmp_path / "in.npy", image)
    for chunk, stride in ((1, 1), (3, (2, 3))):
        expected = cvtool.correlate(image, kernel, padding=mode, pad_value=[1, 2, 3],
                                    stride=stride, shape=shape)
        filter_chunked(tmp_path / "in.npy", tmp_path / "out.npy", kernel, padding=mode,
                       pad_value=[1, 2, 3], stride=stride, shape=shape, out_range="raw",
                       chunk=chunk, workers=1)
        _close(np.load(tmp_path / "out.npy"), expected)


@pytest.mark.parametrize("suffix", [".tif", ".zarr", ".npy"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_stores_round_trip_colour_and_gray(tmp_path, suffix, dtype):
    """Each input format reads back what was written, by region, for 8/16-bit gray and RGB,
    through the same output writers the filter uses (tiles written out of order)."""
    rng = np.random.default_rng(3)
    for shape in ((301, 517), (300, 260, 3)):
        image = (rng.random(shape) * np.iinfo(dtype).max).astype(dtype)
        path = tmp_path / f"img{len(shape)}{suffix}"
        out = stores.create_output(path, shape, dtype, chunks=(64, 100))
        tiles = chunked_filter.tile_grid(shape[:2], (64, 100))
        for r0, r1, c0, c1 in reversed(tiles):
            out.write(r0, c0, image[r0:r1, c0:c1])
        out.commit()
        with stores.open_input(path) as back:
            assert back.shape == shape and back.dtype == dtype
            np.testing.assert_array_equal(back.read(0, shape[0], 0, shape[1]), image)
            np.testing.assert_array_equal(back.read(7, 190, 33, 250), image[7:190, 33:250])
        assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in tmp_path.iterdir()
                                                      if not p.name.startswith("."))


def test_tiff_output_is_a_tiled_tiff_others_read(tmp_path):
    """A chunked .tif output is an ordinary tiled TIFF: tifffile reads it whole, RGB in
    R, G, B order, alpha as an extra sample."""
    import tifffile

    image = np.random.default_rng(4).integers(0, 256, (70, 90, 4), dtype=np.uint8)
    np.save(tmp_path / "in.npy", image)
    filter_chunked(tmp_path / "in.npy", tmp_path / "out.tif", [[1.0]], chunk=32)
    with tifffile.TiffFile(tmp_path / "out.tif") as tiff:
        page = tiff.pages[0]
        assert page.is_tiled and page.photometric == tifffile.PHOTOMETRIC.RGB
        np.testing.assert_array_equal(page.asarray(), image)


def test_reads_tiled_and_striped_tiff_and_zarr_inputs(tmp_path):
    """Tiled TIFF (compressed), striped TIFF and a Zarr array give the .npy input's result."""
    import tifffile
    import zarr

    image = np.random.default_rng(5).integers(0, 65536, (120, 150, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "tiled.tif", image, tile=(32, 48), compression="zlib",
                     photometric="rgb")
    tifffile.imwrite(tmp_path / "striped.tif", image, rowsperstrip=7, photometric="rgb")
    zarr.save_array(str(tmp_path / "in.zarr"), image, zarr_format=3)
    kernel = np.arange(12.0).reshape(3, 4) - 5
    expected = cvtool.correlate(image, kernel, padding="mirror", stride=2)
    for name in ("tiled.tif", "striped.tif", "in.zarr"):
        filter_chunked(tmp_path / name, tmp_path / "out.npy", kernel, padding="mirror",
                       stride=2, out_range="raw", chunk=50)
        _close(np.load(tmp_path / "out.npy"), expected)


def test_planar_tiff_input_is_read_as_rows_of_pixels(tmp_path):
    """A TIFF stored plane by plane (C×H×W on disk) is read as H×W×C, R, G, B in order."""
    import tifffile

    image = np.random.default_rng(12).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(image, -1, 0), photometric="rgb",
                     planarconfig="separate", tile=(16, 16))
    with stores.open_input(tmp_path / "planar.tif") as back:
        assert back.shape == (40, 50, 3)
        np.testing.assert_array_equal(back.read(3, 30, 5, 44), image[3:30, 5:44])


def test_large_tiff_outputs_are_bigtiff(tmp_path, monkeypatch):
    """Past the classic TIFF's 4 GB the output is BigTIFF (the limit lowered here so that a
    small file crosses it); below it, a classic TIFF that every reader opens."""
    import tifffile

    np.save(tmp_path / "in.npy", np.zeros((300, 300), np.uint8))
    filter_chunked(tmp_path / "in.npy", tmp_path / "small.tif", [[1.0]], chunk=128)
    monkeypatch.setattr(stores, "_CLASSIC_TIFF_LIMIT", 10_000)
    filter_chunked(tmp_path / "in.npy", tmp_path / "big.tif", [[1.0]], chunk=128)
    with tifffile.TiffFile(tmp_path / "small.tif") as small, \
            tifffile.TiffFile(tmp_path / "big.tif") as big:
        assert not small.is_bigtiff and big.is_bigtiff
        np.testing.assert_array_equal(big.asarray(), small.asarray())


@pytest.mark.parametrize("out_range", ["clip", "abs", "rescale"])
@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_pixel_mapping_equals_in_memory(tmp_path, out_range, suffix):
    """clip/abs/rescale map tile by tile exactly as the in-memory mapping maps the whole
    result (rescale from one min/max over every tile), to the input's bit depth."""
    import zarr

    image = np.random.default_rng(6).integers(0, 65536, (90, 110), dtype=np.uint16)
    np.save(tmp_path / "in.npy", image)
    kernel = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    values = cvtool.correlate(image, kernel, padding="clamp")
    expected = to_pixel_type(values, out_range, np.dtype(np.uint16))
    result = filter_chunked(tmp_path / "in.npy", tmp_path / f"out{suffix}", kernel,
                            padding="clamp", out_range=out_range, chunk=40)
    assert result.dtype == np.uint16 and result.out_range == out_range
    with stores.open_input(tmp_path / f"out{suffix}") as back:
        got = back.read(0, 90, 0, 110)
    assert np.abs(got.astype(np.int64) - expected).max() <= 1  # ±1 on a rounding boundary
    assert (got != expected).mean() < 1e-3
    del zarr


def test_auto_out_range_follows_the_output(tmp_path):
    """auto: raw for .npy and .zarr outputs (they keep numbers, sign and all), clip/abs for
    an 8-bit input written to .tif, as the in-memory command decides."""
    np.save(tmp_path / "in.npy", np.zeros((6, 6), np.uint8))
    edge = np.array([[-1.0, 0, 1]])
    for name, expected in (("o.npy", "raw"), ("o.zarr", "raw"), ("o.tif", "abs")):
        result = filter_chunked(tmp_path / "in.npy", tmp_path / name, edge)
        assert result.out_range == expected, name
    assert filter_chunked(tmp_path / "in.npy", tmp_path / "b.tif", [[1.0]]).out_range == "clip"


def test_rescale_map_matches_to_pixel_type():
    """map_pixels' rescale of one tile, given the whole result's min/max, is the same
    arithmetic as to_pixel_type on the whole result (bit for bit)."""
    values = np.random.default_rng(7).standard_normal((50, 60)).astype(np.float32) * 1e3
    expected = to_pixel_type(values, "rescale", np.dtype(np.uint8))
    low, high = float(values.min()), float(values.max())
    got = map_pixels(values[10:30], "rescale", np.dtype(np.uint8), (low, high))
    np.testing.assert_array_equal(got, expected[10:30])


def test_alpha_is_carried_through(tmp_path):
    """An RGBA input keeps its alpha unchanged on the output grid (same shape, stride),
    while the colour channels are filtered, as in memory."""
    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    np.save(tmp_path / "in.npy", image)
    kernel = np.ones((3, 3)) / 9
    filter_chunked(tmp_path / "in.npy", tmp_path / "out.tif", kernel, padding="mirror",
                   stride=2, chunk=16)
    with stores.open_input(tmp_path / "out.tif") as back:
        got = back.read(0, 20, 0, 25)
    colour = to_pixel_type(cvtool.correlate(image[..., :3], kernel, padding="mirror",
                                               stride=2), "clip", np.dtype(np.uint8))
    assert np.abs(got[..., :3].astype(int) - colour).max() <= 1
    np.testing.assert_array_equal(got[..., 3], image[::2, ::2, 3])


@pytest.mark.parametrize("mode", ["zero", "constant", "extend", "wrap", "normalized"])
@pytest.mark.parametrize("shape", ["same", "valid", "full"])
@pytest.mark.parametrize("layout", [(4, (9, 8, 7, 99)), (2, (9, 300)), (4, (40,))])
def test_equals_the_in_memory_pipeline_with_alpha(tmp_path, mode, shape, layout):
    """RGBA and gray+alpha through the whole in-memory pipeline (alpha carried on the output
    grid with its own border value, mapped to 8 bits): the chunked output is the same file
    content, pixel for pixel (±1 level where a float sits on a rounding boundary)."""
    from cvtool.pipelines.filter_image import FilterSettings, filter_image, to_output_pixels

    channels, pad_value = layout
    rng = np.random.default_rng(14)
    image = rng.integers(0, 256, (37, 45, channels), dtype=np.uint8)
    kernel = rng.random((4, 5)) + 0.05
    np.save(tmp_path / "in.npy", image)
    settings = FilterSettings("convolve", kernel, padding=mode, pad_value=pad_value,
                              stride=(2, 3), shape=shape, out_range="clip")
    values, alpha = filter_image(image, settings)
    expected, _ = to_output_pixels(values, alpha, image.dtype, settings, "x.tif")
    filter_chunked(tmp_path / "in.npy", tmp_path / "out.tif", kernel, operation="convolve",
                   padding=mode, pad_value=pad_value, stride=(2, 3), shape=shape,
                   out_range="clip", chunk=13)
    with stores.open_input(tmp_path / "out.tif") as back:
        got = back.read(0, expected.shape[0], 0, expected.shape[1])
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected).max() <= 1
    np.testing.assert_array_equal(got[..., -1], expected[..., -1])  # alpha exactly


def test_gray_converts_before_padding(tmp_path):
    """gray=True filters the BT.601 gray of the colour channels, as the in-memory path does."""
    from cvtool.imaging.color import to_gray

    image = np.random.default_rng(9).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    np.save(tmp_path / "in.npy", image)
    filter_chunked(tmp_path / "in.npy", tmp_path / "out.npy", np.ones((5, 5)), gray=True,
                   padding="constant", pad_value=40, out_range="raw", chunk=9)
    expected = cvtool.correlate(to_gray(image), np.ones((5, 5)), padding="constant",
                                pad_value=40)
    _close(np.load(tmp_path / "out.npy"), expected)


def test_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    """A tile that fails half-way through removes the temporary output: no partial file and
    no stray temporary, and an existing output is left as it was."""
    image = np.random.default_rng(10).integers(0, 256, (64, 64), dtype=np.uint8)
    np.save(tmp_path / "in.npy", image)
    (tmp_path / "out.tif").write_bytes(b"old")
    calls = {"n": 0}
    real = chunked_filter.FilterJob.write

    def failing(self, tile):
        calls["n"] += 1
        if calls["n"] == 5:
            raise ProcessingError("disk on fire")
        return real(self, tile)

    monkeypatch.setattr(chunked_filter.FilterJob, "write", failing)
    for name in ("out.tif", "out.zarr", "out.npy"):
        calls["n"] = 0
        with pytest.raises(ProcessingError, match="disk on fire"):
            filter_chunked(tmp_path / "in.npy", tmp_path / name, np.ones((3, 3)), chunk=16)
    assert sorted(os.listdir(tmp_path)) == ["in.npy", "out.tif"]
    assert (tmp_path / "out.tif").read_bytes() == b"old"


def test_outputs_get_the_usual_permissions(tmp_path):
    """Outputs are written under private temporary names, but published with the
    permissions any new file gets (0666/0777 less the umask), as other cvtool outputs."""
    import stat

    np.save(tmp_path / "in.npy", np.zeros((8, 8), np.uint8))
    mask = os.umask(0o022)
    try:
        for name in ("o.tif", "o.npy", "o.zarr"):
            filter_chunked(tmp_path / "in.npy", tmp_path / name, [[1.0]])
            mode = stat.S_IMODE(os.stat(tmp_path / name).st_mode)
            assert mode == (0o755 if name.endswith(".zarr") else 0o644), (name, oct(mode))
    finally:
        os.umask(mask)


def test_interrupt_leaves_nothing_behind(tmp_path, monkeypatch):
    """Ctrl-C (KeyboardInterrupt) in the middle of the tiles: the interrupt goes on up to the
    caller (which exits 130) and the temporary output is gone."""
    np.save(tmp_path / "in.npy", np.zeros((64, 64), np.uint8))
    real = chunked_filter.FilterJob.write
    calls = {"n": 0}

    def interrupted(self, tile):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, tile)

    monkeypatch.setattr(chunked_filter.FilterJob, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        filter_chunked(tmp_path / "in.npy", tmp_path / "out.zarr", np.ones((3, 3)), chunk=16,
                       workers=1)
    assert os.listdir(tmp_path) == ["in.npy"]


def test_existing_zarr_output_is_replaced_whole(tmp_path):
    """Writing over an existing .zarr replaces it (no chunk of the old array survives)."""
    import zarr

    np.save(tmp_path / "in.npy", np.full((20, 20), 9, np.uint8))
    zarr.save_array(str(tmp_path / "out.zarr"), np.zeros((50, 50), np.uint8), zarr_format=3)
    filter_chunked(tmp_path / "in.npy", tmp_path / "out.zarr", [[1.0]], chunk=8)
    back = zarr.open(str(tmp_path / "out.zarr"), mode="r")
    assert back.shape == (20, 20) and (back[:] == 9).all()
    assert sorted(os.listdir(tmp_path)) == ["in.npy", "out.zarr"]


def test_png_input_is_refused_with_a_conversion_hint(tmp_path):
    """PNG can only be decoded whole: a usage error naming a conversion command."""
    io.write_image(tmp_path / "in.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(UsageError, match="vips copy") as caught:
        filter_chunked(tmp_path / "in.png", tmp_path / "out.tif", [[1.0]])
    assert "tifffile.imwrite('out.tif', cvtool.io.read_image('in.png')" in str(caught.value)
    assert os.listdir(tmp_path) == ["in.png"]


def test_one_strip_tiff_is_refused(tmp_path, monkeypatch):
    """A TIFF stored as one huge strip would be decoded whole for any region: refused."""
    import tifffile

    tifffile.imwrite(tmp_path / "one.tif", np.zeros((64, 64), np.uint8), rowsperstrip=64)
    monkeypatch.setattr(stores, "MAX_SEGMENT_BYTES", 1024)
    with pytest.raises(ProcessingError, match="strips of 64 rows"):
        stores.open_input(tmp_path / "one.tif")


@pytest.mark.parametrize("bad, parameter", [
    ({"chunk": 0}, "chunk"), ({"stride": 0}, "stride"), ({"padding": "reflect"}, None),
    ({"shape": "big"}, "shape"), ({"dst": "out.png"}, None),
    ({"operation": "blur"}, "operation"), ({"out_range": "loud"}, None),
])
def test_bad_arguments_are_usage_errors(tmp_path, bad, parameter):
    """Argument mistakes are usage errors before any output exists (named where they can be)."""
    np.save(tmp_path / "in.npy", np.zeros((8, 8), np.uint8))
    dst = tmp_path / bad.pop("dst", "out.npy")
    options = {"padding": "zero", **bad}
    with pytest.raises(UsageError) as caught:
        filter_chunked(tmp_path / "in.npy", dst, np.ones((3, 3)), **options)
    if parameter:
        assert caught.value.parameter == parameter
    assert os.listdir(tmp_path) == ["in.npy"]


def test_missing_output_folder_fails_before_any_tile(tmp_path, monkeypatch):
    """An output folder that does not exist is found before the tiles run (rescale would
    otherwise compute a whole pass first): a processing error naming the folder."""
    np.save(tmp_path / "in.npy", np.zeros((8, 8), np.uint8))
    monkeypatch.setattr(chunked_filter.FilterJob, "values", None)  # any tile would fail
    with pytest.raises(ProcessingError, match="does not exist"):
        filter_chunked(tmp_path / "in.npy", tmp_path / "no" / "o.tif", [[1.0]],
                       out_range="rescale")


def test_valid_with_a_kernel_larger_than_the_image_is_a_processing_error(tmp_path):
    """As in memory: found in the data (exit 1), naming the shape."""
    np.save(tmp_path / "in.npy", np.zeros((4, 4), np.uint8))
    with pytest.raises(ProcessingError) as caught:
        filter_chunked(tmp_path / "in.npy", tmp_path / "o.npy", np.ones((5, 5)), shape="valid")
    assert caught.value.parameter == "shape"


def test_progress_counts_every_tile_and_both_rescale_passes(tmp_path):
    """progress(done, total) reaches total once per tile (twice with rescale)."""
    np.save(tmp_path / "in.npy", np.arange(400, dtype=np.uint8).reshape(20, 20))
    seen = []
    filter_chunked(tmp_path / "in.npy", tmp_path / "o.tif", np.ones((3, 3)), chunk=8,
                   out_range="rescale", progress=lambda d, t: seen.append((d, t)), workers=1)
    assert seen[-1] == (18, 18) and len(seen) == 18

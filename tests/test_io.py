"""Image I/O: channel order, bit depths, .npy safety, the pixel limit and atomic writes."""

from __future__ import annotations

import errno
import os

import cv2
import numpy as np
import pytest
from helpers import png_header

from cvtool import io
from cvtool.errors import ProcessingError, UsageError
from cvtool.io import codecs


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp", ".webp", ".ppm"])
def test_colour_round_trip_keeps_rgb_order(tmp_path, suffix):
    """What we write as R,G,B is what we read back as R,G,B, and OpenCV sees B,G,R on disk."""
    image = np.zeros((4, 5, 3), np.uint8)
    image[..., 0] = 200  # red
    path = tmp_path / f"red{suffix}"
    io.write_image(path, image)
    if suffix != ".webp":  # webp is lossy by default
        np.testing.assert_array_equal(io.read_image(path), image)
    assert cv2.imread(str(path))[0, 0, 2] >= 190  # OpenCV's channel 2 is red


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_rgba_round_trip(tmp_path, suffix):
    """16-bit colour with alpha keeps its depth and its alpha."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 65536, (6, 7, 4), dtype=np.uint16)
    path = tmp_path / f"deep{suffix}"
    io.write_image(path, image)
    np.testing.assert_array_equal(io.read_image(path), image)


def test_float_tiff_round_trip(tmp_path):
    """Float TIFF keeps floating-point values exactly."""
    image = np.linspace(-1, 1, 30, dtype=np.float32).reshape(5, 6)
    io.write_image(tmp_path / "f.tif", image)
    np.testing.assert_array_equal(io.read_image(tmp_path / "f.tif"), image)


def test_boolean_npy_reads_as_8_bit(tmp_path):
    """A bool mask saved with NumPy reads as 0/1 uint8, a pixel type every command handles."""
    np.save(tmp_path / "m.npy", np.array([[True, False]]))
    image = io.read_image(tmp_path / "m.npy")
    assert image.dtype == np.uint8 and image.tolist() == [[1, 0]]


def test_npy_object_array_is_refused_without_unpickling(tmp_path):
    """An object array would need pickle; we refuse it instead of running what it contains."""
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ProcessingError, match="never unpickles"):
        io.read_image(path)


@pytest.mark.parametrize("array,message", [
    (np.zeros((2, 3, 4, 5)), "not an image"),
    (np.zeros((3, 3), np.complex64), "not a real number"),
    (np.array([[np.nan, 1.0]]), "NaN"),
])
def test_npy_that_is_not_an_image_is_refused(tmp_path, array, message):
    path = tmp_path / "x.npy"
    np.save(path, array)
    with pytest.raises(ProcessingError, match=message):
        io.read_image(path)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 5, 3), (0, 0)])
def test_empty_npy_is_refused_naming_the_file(tmp_path, shape):
    """A .npy with no pixels is no image: ProcessingError "image is empty", naming the file.

    The library's filters accept empty arrays (as SciPy's do); reading a file is where an
    empty image is refused, so every command keeps refusing it.
    """
    path = tmp_path / "hollow.npy"
    np.save(path, np.zeros(shape, np.uint8))
    with pytest.raises(ProcessingError, match=r"hollow\.npy: image is empty"):
        io.read_image(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    """A header claiming 100000×100000 pixels is refused from the header alone."""
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(100000, 100000) + b"\0" * 64)
    with pytest.raises(ProcessingError, match="CVTOOL_MAX_PIXELS"):
        io.read_image(path)


def test_pixel_limit_can_be_raised_and_lowered(tmp_path, monkeypatch):
    image = np.zeros((10, 10), np.uint8)
    io.write_image(tmp_path / "a.png", image)
    monkeypatch.setenv("CVTOOL_MAX_PIXELS", "99")
    with pytest.raises(ProcessingError, match="limit of 99"):
        io.read_image(tmp_path / "a.png")
    monkeypatch.setenv("CVTOOL_MAX_PIXELS", "100")
    assert io.read_image(tmp_path / "a.png").shape == (10, 10)


@pytest.mark.parametrize("suffix,encode", [
    (".png", lambda a: cv2.imencode(".png", a)[1].tobytes()),
    (".jpg", lambda a: cv2.imencode(".jpg", a)[1].tobytes()),
    (".bmp", lambda a: cv2.imencode(".bmp", a)[1].tobytes()),
    (".tif", lambda a: cv2.imencode(".tif", a)[1].tobytes()),
    (".webp", lambda a: cv2.imencode(".webp", a)[1].tobytes()),
])
def test_declared_size_matches_the_encoder(suffix, encode):
    """The header sniffer reads the size OpenCV wrote, for every format it knows."""
    data = encode(np.zeros((37, 53, 3), np.uint8))
    assert io.declared_size(data) == (53, 37)


@pytest.mark.parametrize("content", [b"", b"this is text, not a PNG", None])
def test_broken_files_are_processing_errors(tmp_path, content):
    """Empty, non-image and truncated files give a ProcessingError naming the file."""
    path = tmp_path / "broken.png"
    if content is None:
        good = cv2.imencode(".png", np.zeros((50, 50), np.uint8))[1].tobytes()
        content = good[: len(good) // 2]
    path.write_bytes(content)
    with pytest.raises(ProcessingError, match="broken.png"):
        io.read_image(path)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(ProcessingError, match="nope.png: no such file"):
        io.read_image(tmp_path / "nope.png")


def test_failed_write_leaves_nothing_behind(tmp_path):
    """A write that fails (folder missing) raises and leaves no temporary file."""
    with pytest.raises(ProcessingError, match="cannot write"):
        io.write_image(tmp_path / "missing" / "a.png", np.zeros((2, 2), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    """The temporary file is private (0600) while written; the result gets 0666 minus the
    umask, as a plain open() would give it, not the temporary file's 0600."""
    old = os.umask(0o022)
    try:
        io.write_image(tmp_path / "a.png", np.zeros((2, 2), np.uint8))
    finally:
        os.umask(old)
    from cvtool.io import atomic
    assert os.stat(tmp_path / "a.png").st_mode & 0o777 == atomic._FILE_MODE
    assert atomic._FILE_MODE & 0o044  # readable by others under the usual umask


def test_write_replaces_existing_file_by_rename(tmp_path):
    """The new content arrives as a new file renamed over the old (a new inode), so a reader
    sees the old file or the new one, never a half-rewritten one; no temporary file remains."""
    path = tmp_path / "a.png"
    io.write_image(path, np.zeros((2, 2), np.uint8))
    old_inode = os.stat(path).st_ino
    io.write_image(path, np.full((3, 3), 9, np.uint8))
    assert os.stat(path).st_ino != old_inode  # renamed into place, not rewritten in place
    np.testing.assert_array_equal(io.read_image(path), np.full((3, 3), 9, np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_write_that_fails_before_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    """If the write fails before the new file is complete and in place (here: the final
    rename fails), the old file keeps its exact bytes and the temporary file is removed.

    An in-place rewrite (open with O_TRUNC, then write) would already have destroyed the old
    content at that point, or would not fail at all; both fail this test.
    """
    path = tmp_path / "a.png"
    io.write_image(path, np.zeros((2, 2), np.uint8))
    before = path.read_bytes()

    def refuse(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", refuse)
    monkeypatch.setattr(os, "rename", refuse)
    with pytest.raises(ProcessingError, match="a.png: cannot write"):
        io.write_image(path, np.full((3, 3), 9, np.uint8))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_sixteen_bit_into_jpeg_is_refused(tmp_path):
    """OpenCV would silently drop to 8 bits; we say so instead."""
    with pytest.raises(ProcessingError, match="16-bit"):
        io.write_image(tmp_path / "a.jpg", np.zeros((2, 2), np.uint16))
    assert list(tmp_path.iterdir()) == []


def test_unknown_output_format_is_a_usage_error():
    with pytest.raises(UsageError, match="cannot write"):
        io.check_output_path("result.xyz")


def test_gray_gif_is_written_as_colour(tmp_path):
    """OpenCV's GIF encoder takes no gray; the gray plane goes to all three channels.

    GIF quantises to a palette, so the gray file must equal the file of the same colour image.
    """
    io.write_image(tmp_path / "g.gif", np.full((3, 4), 90, np.uint8))
    io.write_image(tmp_path / "c.gif", np.full((3, 4, 3), 90, np.uint8))
    assert (tmp_path / "g.gif").read_bytes() == (tmp_path / "c.gif").read_bytes()


def test_claimed_writer_that_cannot_encode_is_refused_up_front(monkeypatch):
    """A format whose encoder fails in this build is a usage error before any work.

    The failing encoder is simulated (imencode patched to fail, probed with .png), so the test
    does not depend on which formats this OpenCV build really lacks.
    """
    codecs.can_encode.cache_clear()
    monkeypatch.setattr(codecs.cv2, "imencode", lambda *a, **k: (False, None))
    try:
        with pytest.raises(UsageError, match="cannot write '.png'"):
            io.check_output_path("out.png")
    finally:
        codecs.can_encode.cache_clear()


def test_stopped_writes_are_refused_until_reopened(tmp_path):
    """After an interrupt closes the write gate no file appears; reopening lets writes go on."""
    io.stop_writes()
    try:
        with pytest.raises(io.WritesStopped):
            io.write_image(tmp_path / "a.png", np.zeros((2, 2), np.uint8))
        assert list(tmp_path.iterdir()) == []
    finally:
        io.reopen_writes()
    io.write_image(tmp_path / "a.png", np.zeros((2, 2), np.uint8))
    assert (tmp_path / "a.png").is_file()

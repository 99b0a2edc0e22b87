"""Image I/O without extra whole-image copies: in-place channel swaps, large files decoded and
encoded by OpenCV from and into the file itself, and the fallbacks that keep the same bytes.

Every path here must give exactly what decoding or encoding the bytes in memory gives (the
reference: :func:`cvtool.io.codecs.decode_image` and :func:`~cvtool.io.codecs.encode_image`).
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import zlib

import cv2
import numpy as np
import pytest
from helpers import peak_bytes

from cvtool import io
from cvtool.errors import ProcessingError
from cvtool.io import atomic, codecs


def _noise(shape, dtype=np.uint8, seed=0) -> np.ndarray:
    """Incompressible pixels, so that encoded files are larger than codecs.HEAD_BYTES."""
    top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape).astype(dtype)
    return rng.integers(0, top, shape, dtype=dtype, endpoint=True)


class _Spy:
    """Wraps an OpenCV function and counts its calls."""

    def __init__(self, monkeypatch, name: str):
        self.calls = 0
        self.real = getattr(codecs.cv2, name)
        monkeypatch.setattr(codecs.cv2, name, self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_in_place_swap_equals_the_swapped_copy(monkeypatch, channels, dtype):
    """The in-place red/blue swap gives the copy's pixels, in the same array, across bands.

    The scratch band is made a few rows high so that a ragged last band is exercised.
    """
    image = _noise((23, 7, channels), dtype)
    monkeypatch.setattr(codecs, "_SWAP_BYTES", 7 * np.dtype(dtype).itemsize * 5)
    expected = codecs._swap_red_blue(image)
    work = image.copy()
    result = codecs._swap_red_blue_in_place(work)
    assert result is work
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(result[..., 0], image[..., 2])


# (suffix, shape, dtype): every format cvtool reads that OpenCV encodes here, 8 and 16 bit,
# gray, colour and alpha, each large enough (noise) to be read from the file by OpenCV.
FORMATS = [
    (".png", (200, 210, 3), np.uint8), (".png", (150, 160, 4), np.uint16),
    (".png", (150, 160, 3), np.uint16), (".png", (150, 160, 4), np.uint8),
    (".png", (300, 310), np.uint8), (".jpg", (300, 310, 3), np.uint8),
    (".tif", (150, 160, 3), np.uint16), (".bmp", (150, 160, 3), np.uint8),
    (".webp", (200, 210, 3), np.uint8), (".ppm", (150, 160, 3), np.uint8),
    (".pgm", (300, 310), np.uint16),
]


@pytest.mark.parametrize("suffix,shape,dtype", FORMATS)
def test_large_file_reads_as_its_bytes_decode(tmp_path, monkeypatch, suffix, shape, dtype):
    """A large file gives exactly the array decoding its bytes gives, and only a PNG is
    handed to OpenCV by name (other readers differ by name from their bytes' decoding)."""
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(codecs.encode_image(_noise(shape, dtype), suffix))
    data = path.read_bytes()
    assert len(data) >= codecs.HEAD_BYTES
    expected = codecs.decode_image(data, path.name)
    imread = _Spy(monkeypatch, "imread")
    result = io.read_image(path)
    assert imread.calls == (suffix == ".png")
    assert result.dtype == expected.dtype and result.flags.c_contiguous
    np.testing.assert_array_equal(result, expected)


def _with_chunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    """``png`` with one more chunk right after IHDR (which ends at byte 33)."""
    chunk = len(body).to_bytes(4, "big") + kind + body
    return png[:33] + chunk + zlib.crc32(kind + body).to_bytes(4, "big") + png[33:]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgb_png_is_decoded_in_rgb_order_by_the_decoder(tmp_path, monkeypatch, dtype):
    """An R,G,B PNG (colour type 2, no tRNS) is decoded by libpng in R,G,B order, so no
    reordering pass follows: the flags asked for are the RGB ones and the pixels those of
    decoding the bytes (and reordering)."""
    image = _noise((150, 160, 3), dtype)
    path = tmp_path / "rgb.png"
    path.write_bytes(codecs.encode_image(image, ".png"))
    flags = []
    real = codecs.cv2.imread
    monkeypatch.setattr(codecs.cv2, "imread", lambda *a: flags.append(a[2]) or real(*a))
    monkeypatch.setattr(codecs, "_swap_red_blue_in_place", None)  # must not be needed
    result = io.read_image(path)
    assert flags == [codecs._RGB_FLAGS]
    assert result.dtype == image.dtype
    np.testing.assert_array_equal(result, image)


def test_png_with_a_transparent_colour_keeps_its_alpha(tmp_path):
    """A truecolour PNG with a tRNS chunk decodes with an alpha channel (OpenCV adds it):
    it is not taken for plain R,G,B, and reads as decoding its bytes does."""
    image = _noise((150, 160, 3))
    image[:5, :5] = (1, 2, 3)
    data = _with_chunk(codecs.encode_image(image, ".png"), b"tRNS", bytes([0, 1, 0, 2, 0, 3]))
    assert not codecs._is_rgb_png(data[:codecs.HEAD_BYTES])
    path = tmp_path / "trns.png"
    path.write_bytes(data)
    result = io.read_image(path)
    expected = codecs.decode_image(data, "trns.png")
    assert result.shape == expected.shape == (150, 160, 4)
    np.testing.assert_array_equal(result, expected)
    assert (result[:5, :5, 3] == 0).all() and result[:5, :5, :3].tolist() == [[[1, 2, 3]] * 5] * 5


def test_rgb_png_sniffing_reads_only_what_the_head_holds():
    """R,G,B only when IHDR says truecolour and the first IDAT is seen before any tRNS;
    a head cut before the IDAT, another colour type or another format is not R,G,B."""
    rgb = codecs.encode_image(_noise((8, 9, 3)), ".png")
    assert codecs._is_rgb_png(rgb)
    assert not codecs._is_rgb_png(rgb[:40])
    assert not codecs._is_rgb_png(codecs.encode_image(_noise((8, 9, 4)), ".png"))
    assert not codecs._is_rgb_png(codecs.encode_image(_noise((8, 9)), ".png"))
    assert not codecs._is_rgb_png(codecs.encode_image(_noise((8, 9, 3)), ".bmp"))
    assert codecs._is_rgb_png(_with_chunk(rgb, b"gAMA", (45455).to_bytes(4, "big")))


def test_large_file_read_holds_one_image(tmp_path):
    """Reading a large PNG allocates about the image, not also the file's bytes and a second
    copy of the pixels (``imdecode`` of the bytes peaks near three times the image here)."""
    image = _noise((800, 1000, 3))
    path = tmp_path / "noise.png"
    io.write_image(path, image)
    peak = peak_bytes(lambda: io.read_image(path))
    np.testing.assert_array_equal(io.read_image(path), image)
    assert peak < 1.3 * image.nbytes, peak / image.nbytes


@pytest.mark.parametrize("suffix,shape", [(".png", (300, 310, 3)), (".jpg", (400, 410, 3))])
def test_large_truncated_file_is_a_processing_error(tmp_path, suffix, shape):
    """A large truncated file is refused as its bytes are: a PNG OpenCV fails to decode by
    name, and a JPEG, which OpenCV's reader by name would pad with grey and accept (with
    libjpeg's warning on stderr)."""
    data = codecs.encode_image(_noise(shape), suffix)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[:len(data) // 2])
    assert len(data) // 2 >= codecs.HEAD_BYTES
    with pytest.raises(ProcessingError, match=f"cut{suffix}: not a readable image"):
        io.read_image(path)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_large_tiff_with_any_orientation_reads_as_its_bytes(tmp_path, orientation):
    """A TIFF whose orientation tag says the picture is turned reads, large or small, as its
    bytes decode (OpenCV's reader by name refuses orientations 5 to 8)."""
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "turned.tif"
    tifffile.imwrite(path, _noise((150, 160, 3)), photometric="rgb",
                     extratags=[(274, "H", 1, orientation, False)])
    data = path.read_bytes()
    assert len(data) >= codecs.HEAD_BYTES
    np.testing.assert_array_equal(io.read_image(path), codecs.decode_image(data, path.name))


def test_file_replaced_during_the_read_is_decoded_from_the_opened_file(tmp_path, monkeypatch):
    """If the name is given another file between the header check and OpenCV's read, the
    file that was opened (and checked) is what is decoded, not the newcomer."""
    first = _noise((150, 160, 3), seed=1)
    newcomer = _noise((150, 160, 4), seed=2)
    path = tmp_path / "swapped.png"
    path.write_bytes(codecs.encode_image(first, ".png"))
    real = codecs.cv2.imread

    def swap_then_read(*args):
        other = tmp_path / "other.png"
        other.write_bytes(codecs.encode_image(newcomer, ".png"))
        os.replace(other, path)
        return real(*args)

    monkeypatch.setattr(codecs.cv2, "imread", swap_then_read)
    np.testing.assert_array_equal(io.read_image(path), first)


def test_large_png_over_the_pixel_limit_is_refused_before_opencv_reads_it(tmp_path,
                                                                         monkeypatch):
    """The pixel limit is cvtool's own check on the path by name too: its message, and
    OpenCV is never asked to decode."""
    path = tmp_path / "big.png"
    path.write_bytes(codecs.encode_image(_noise((300, 310, 3)), ".png"))
    monkeypatch.setenv("CVTOOL_MAX_PIXELS", str(300 * 310 - 1))
    imread = _Spy(monkeypatch, "imread")
    with pytest.raises(ProcessingError, match="big.png: 310x300 pixels is more than the limit"):
        io.read_image(path)
    assert imread.calls == 0


def test_large_image_from_a_pipe_is_read_from_its_bytes(tmp_path):
    """A pipe cannot be opened a second time by OpenCV: it is read once and decoded."""
    image = _noise((200, 210, 3))
    data = codecs.encode_image(image, ".png")
    fifo = tmp_path / "in.png"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb") as handle:
            handle.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        back = io.read_image(fifo)
    finally:
        feeder.join(timeout=30)
    np.testing.assert_array_equal(back, image)


WRITE_FORMATS = FORMATS + [(".png", (40, 50, 2), np.uint8), (".gif", (60, 70), np.uint8),
                           (".tif", (50, 60), np.float32), (".png", (3, 4, 3), np.uint8)]


@pytest.mark.parametrize("suffix,shape,dtype", WRITE_FORMATS)
def test_file_write_equals_the_encoded_bytes(tmp_path, monkeypatch, suffix, shape, dtype):
    """OpenCV writing the file by name gives the bytes of encoding in memory; the caller's
    array is left as it was."""
    image = _noise(shape, dtype)
    before = image.copy()
    expected = codecs.encode_image(image, suffix)
    imwrite = _Spy(monkeypatch, "imwrite")
    path = tmp_path / f"out{suffix}"
    io.write_image(path, image)
    assert imwrite.calls == 1
    assert path.read_bytes() == expected
    np.testing.assert_array_equal(image, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("suffix", sorted(io.IMAGE_SUFFIXES - {".npy"}))
def test_every_writable_format_writes_its_encoded_bytes(tmp_path, suffix):
    """Every suffix this OpenCV build encodes: the file OpenCV writes by name is the bytes of
    encoding in memory, for gray and colour (whichever the format takes)."""
    if not codecs.can_encode(suffix):
        pytest.skip(f"this OpenCV build does not write {suffix}")
    written = 0
    for image in (_noise((64, 70)), _noise((64, 70, 3))):
        try:
            expected = codecs.encode_image(image, suffix)
        except ProcessingError:
            continue
        path = tmp_path / f"x{suffix}"
        io.write_image(path, image)
        assert path.read_bytes() == expected
        written += 1
    assert written


@pytest.mark.parametrize("channels", [3, 4])
def test_overwrite_input_writes_the_same_bytes_without_a_copy(tmp_path, channels):
    """With ``overwrite_input`` the channels are reordered in the caller's array: the same
    file, and no second image allocated (without it, the swapped copy is a whole image)."""
    image = _noise((800, 1000, channels))
    expected = codecs.encode_image(image, ".png")
    peaks = {}
    for overwrite in (False, True):
        peak = peak_bytes(lambda flag=overwrite: io.write_image(
            tmp_path / f"{flag}.png", image, overwrite_input=flag))
        peaks[overwrite] = peak / image.nbytes
        assert (tmp_path / f"{overwrite}.png").read_bytes() == expected
    assert peaks[False] >= 1.0 and peaks[True] < 0.2, peaks


def test_read_only_input_is_copied_even_if_it_may_be_overwritten(tmp_path):
    """``overwrite_input`` on an array that cannot be written (a read-only view) still
    writes the right file, through a copy."""
    image = _noise((20, 30, 3))
    image.flags.writeable = False
    io.write_image(tmp_path / "a.png", image, overwrite_input=True)
    assert (tmp_path / "a.png").read_bytes() == codecs.encode_image(image, ".png")


@pytest.mark.parametrize("why", ["imwrite fails", "no room", "imwrite raises"])
def test_when_opencv_does_not_write_the_file_the_bytes_are_the_same(tmp_path, monkeypatch,
                                                                      why):
    """The in-memory fallback (OpenCV's writer failed, or the disk may be too full for it)
    writes the same file."""
    image = _noise((120, 130, 3))
    expected = codecs.encode_image(image, ".png")
    if why == "imwrite fails":
        monkeypatch.setattr(codecs.cv2, "imwrite", lambda *a, **k: False)
    elif why == "imwrite raises":
        def broken(*args, **kwargs):
            raise cv2.error("simulated")
        monkeypatch.setattr(codecs.cv2, "imwrite", broken)
    else:
        monkeypatch.setattr(codecs, "_has_room", lambda *a: False)
    io.write_image(tmp_path / "a.png", image)
    assert (tmp_path / "a.png").read_bytes() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_failed_file_write_names_the_os_reason(tmp_path, monkeypatch):
    """OpenCV's writer says only that it failed; the fallback's own write names the reason
    (here a simulated full disk), and no temporary file is left."""
    monkeypatch.setattr(codecs.cv2, "imwrite", lambda *a, **k: False)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(codecs, "open", full, raising=False)
    with pytest.raises(ProcessingError, match=r"a.png: cannot write \(No space left"):
        io.write_image(tmp_path / "a.png", _noise((20, 30, 3)))
    assert list(tmp_path.iterdir()) == []


def test_room_is_twice_the_pixels(tmp_path):
    """The room check asks the file system of the file: a real folder has room for a tiny
    image and none for an absurdly large one."""
    assert codecs._has_room(str(tmp_path / "a.png"), np.zeros((2, 2), np.uint8))
    huge = np.broadcast_to(np.zeros((), np.uint8), (1 << 31, 1 << 31))
    assert not codecs._has_room(str(tmp_path / "a.png"), huge)


def test_refused_encoding_leaves_nothing_behind(tmp_path):
    """A refusal found while the temporary file exists removes it and names the output."""
    with pytest.raises(ProcessingError, match="a.png: cannot store 3-channel|a.png: cannot "
                                              "store floating-point"):
        io.write_image(tmp_path / "a.png", np.zeros((2, 2, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


UNDECODABLE_NAMES = r"""
import os, sys
import numpy as np
from cvtool import io
folder = sys.argv[1]
rng = np.random.default_rng(0)
image = rng.integers(0, 256, (200, 210, 3), dtype=np.uint8)
path = os.path.join(folder, os.fsdecode(b"caf\xe9.png"))   # Latin-1 bytes, not UTF-8
io.write_image(path, image)
assert os.path.getsize(path) >= 1 << 16
assert (io.read_image(path) == image).all()
print("ok")
"""


def test_names_opencv_cannot_take_are_read_and_written_from_bytes(tmp_path):
    """A file name with bytes that are not UTF-8 would crash the process inside OpenCV
    (imread and imwrite take UTF-8 names): such files go through the bytes in memory.

    Run in a child process, so that a regression is a failed test, not a crashed run.
    """
    if sys.platform != "linux":
        pytest.skip("non-UTF-8 file names are a POSIX matter")
    result = subprocess.run([sys.executable, "-c", UNDECODABLE_NAMES, str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "ok\n", (result.returncode,
                                                                 result.stderr)


def test_write_atomically_gives_a_hidden_temporary_name_with_the_suffix(tmp_path):
    """The writer gets a hidden temporary file beside the target, whose name ends with the
    format's suffix (OpenCV picks its encoder by it); the target appears only complete."""
    seen = []

    def write(name: str) -> None:
        seen.append(name)
        assert not (tmp_path / "x.png").exists()
        with open(name, "wb") as handle:
            handle.write(b"data")

    atomic.write_atomically(tmp_path / "x.png", write, suffix=".png")
    (name,) = seen
    assert os.path.dirname(name) == str(tmp_path)
    assert os.path.basename(name).startswith(".x.png.") and name.endswith(".tmp.png")
    assert (tmp_path / "x.png").read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


@pytest.mark.parametrize("error", [OSError(errno.EIO, "Input/output error"),
                                   ProcessingError("refused")])
def test_write_atomically_failure_keeps_the_old_file(tmp_path, error):
    """A writer that fails half-way leaves the old file's bytes and no temporary file; an
    OSError becomes a ProcessingError naming the target, anything else passes unchanged."""
    target = tmp_path / "x.png"
    target.write_bytes(b"old")

    def write(name: str) -> None:
        with open(name, "wb") as handle:
            handle.write(b"half")
        raise error

    expected = "x.png: cannot write" if isinstance(error, OSError) else "refused"
    with pytest.raises(ProcessingError, match=expected):
        atomic.write_atomically(target, write, suffix=".png")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]

"""Reading and writing images: the only module that imports OpenCV, and only to decode and encode.

Arrays handed to and from the rest of cvtool are H×W (gray) or H×W×C with channels in
R, G, B(, A) order; OpenCV's B, G, R order never leaves this module. Writes are atomic: the
bytes go to a temporary file in the target directory, which is then renamed over the target,
so an interrupted or failed run never leaves a truncated image behind.
"""

from __future__ import annotations

import io as _bytesio
import os
import struct
import sys
import tempfile
import threading
from functools import cache
from pathlib import Path

import numpy as np

from cvtool.errors import ProcessingError, UsageError
from cvtool.imaging.color import full_scale

#: Default largest image, in pixels, that cvtool decodes (override with ``CVTOOL_MAX_PIXELS``).
DEFAULT_MAX_PIXELS = 1 << 28

# OpenCV logs to stderr, errors included ("[ERROR:0@0.5] ... imdecode_ ..."), which would add
# lines around cvtool's own one-line `error:`; cvtool reports every failure itself.
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")


def _opencv_pixel_limit() -> str:
    # OpenCV's own decoder limit (read once, when cv2 loads) backs up the header check below
    # for formats declared_size() does not know (EXR, HDR, JPEG 2000, ...): keep it at ours.
    # A malformed CVTOOL_MAX_PIXELS is reported by max_pixels() when a file is read.
    text = os.environ.get("CVTOOL_MAX_PIXELS", "")
    return text if text.isdigit() and int(text) >= 1 else str(DEFAULT_MAX_PIXELS)


# Assigned, not defaulted: CVTOOL_MAX_PIXELS is the one documented limit, whatever else is set.
os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = _opencv_pixel_limit()

import cv2  # noqa: E402  (the environment above must be set before OpenCV loads)

#: File suffixes taken as images when a directory is given as input.
IMAGE_SUFFIXES = frozenset(
    ".png .jpg .jpeg .jpe .tif .tiff .bmp .dib .webp .pgm .pbm .ppm .pnm .pxm .sr .ras "
    ".jp2 .hdr .pic .exr .gif .npy".split()
)

#: Suffixes whose encoders store 16-bit samples; every other format holds 8 bits only.
SIXTEEN_BIT_SUFFIXES = frozenset(".png .tif .tiff .pgm .ppm .pnm .jp2".split())

#: Suffixes whose OpenCV encoders take colour only: gray is written to all three channels.
_COLOUR_ONLY_SUFFIXES = frozenset(".gif .ppm".split())

#: Radiance HDR: OpenCV stores 8-bit data there as value/256 floats, so cvtool does not write it.
_RADIANCE_SUFFIXES = frozenset(".hdr .pic".split())

#: Suffixes that keep floating-point samples (``--out-range raw``).
FLOAT_SUFFIXES = frozenset(".npy .tif .tiff".split())

OUT_RANGES = ("auto", "clip", "abs", "rescale", "raw")

# Elements mapped at a time by to_pixel_type (256 KiB of float32).
_MAP_CHUNK = 1 << 16

_NOT_FINITE = ("the result has infinite or NaN values (overflow: kernel or pixel values too "
               "large for the arithmetic)")

STDIO = "-"


def opencv_version() -> str:
    """The version of the OpenCV build that decodes and encodes images (for ``selftest``).

    Examples
    --------
    >>> opencv_version().count(".") >= 2
    True
    """
    return str(cv2.__version__)


def max_pixels() -> int:
    """The pixel limit in force: ``CVTOOL_MAX_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`.

    Examples
    --------
    >>> max_pixels() >= 1
    True
    """
    text = os.environ.get("CVTOOL_MAX_PIXELS", "")
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"CVTOOL_MAX_PIXELS must be a whole number, got {text!r}") from None
    if value < 1:
        raise UsageError(f"CVTOOL_MAX_PIXELS must be >= 1, got {value}")
    return value


def suffix_of(path: str | os.PathLike) -> str:
    """The lower-case suffix of ``path``; ``-`` (stdout) counts as ``.png``.

    Examples
    --------
    >>> suffix_of("a/B.TIFF"), suffix_of("-")
    ('.tiff', '.png')
    """
    return ".png" if str(path) == STDIO else Path(path).suffix.lower()


def display_name(path: str | os.PathLike) -> str:
    """How a path is named in messages (``-`` is stdin/stdout)."""
    return "<stdin>" if str(path) == STDIO else str(path)


# ---------------------------------------------------------------------------------------------
# Reading


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file (any format OpenCV decodes, or ``.npy``); ``-`` reads stdin.

    Returns H×W or H×W×C with channels in R, G, B(, A) order, in the file's own dtype
    (8-bit, 16-bit or float). Anything unreadable is a :class:`ProcessingError` naming the file.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> write_image(os.path.join(folder, "a.png"), np.full((2, 3), 7, np.uint8))
    >>> read_image(os.path.join(folder, "a.png"))
    array([[7, 7, 7],
           [7, 7, 7]], dtype=uint8)
    """
    name = display_name(path)
    if str(path) == STDIO:
        data = sys.stdin.buffer.read()
        return _decode(data, name)
    p = Path(path)
    if p.is_dir():
        raise ProcessingError(f"{name}: is a directory, not an image")
    if p.is_char_device() or p.is_block_device():
        # /dev/zero or /dev/urandom would be read until memory runs out (pipes stay allowed).
        raise ProcessingError(f"{name}: is a device, not an image file")
    if p.suffix.lower() == ".npy":
        return _read_npy(p, name)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ProcessingError(f"{name}: no such file") from None
    except OSError as exc:
        raise ProcessingError(f"{name}: cannot read ({exc.strerror or exc})") from None
    return _decode(data, name)


def _decode(data: bytes, name: str) -> np.ndarray:
    if not data:
        raise ProcessingError(f"{name}: empty file, not an image")
    size = declared_size(data)
    if size is not None:
        _check_pixel_limit(size[0] * size[1], f"{size[0]}x{size[1]}", name)
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise ProcessingError(
            f"{name}: not a readable image (unknown format, truncated or corrupt)")
    return _from_opencv_order(image)


def _read_npy(path: Path, name: str) -> np.ndarray:
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
        # Without the magic, np.load would take the file for a pickle (and refuse it, as
        # allow_pickle=False): say what is really wrong instead of "holds Python objects".
        if magic != b"\x93NUMPY":
            raise ProcessingError(f"{name}: not a .npy file (no NumPy header)")
        # mmap first: the shape is checked against the pixel limit before anything is allocated.
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise ProcessingError(f"{name}: no such file") from None
    except ValueError as exc:
        if "mmap length" in str(exc):  # the header promises more bytes than the file holds
            raise ProcessingError(f"{name}: truncated .npy file") from None
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise ProcessingError(
                f"{name}: holds Python objects; cvtool never unpickles files") from None
        raise ProcessingError(f"{name}: not a valid .npy file ({exc})") from None
    except EOFError as exc:
        raise ProcessingError(f"{name}: not a valid .npy file ({exc})") from None
    except OSError as exc:
        raise ProcessingError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(mapped, np.ndarray):
        raise ProcessingError(f"{name}: not a single array")
    if mapped.dtype.kind not in "biuf":
        raise ProcessingError(f"{name}: dtype {mapped.dtype} is not a real number type")
    shape = mapped.shape
    if mapped.ndim == 3 and shape[2] == 1:
        shape = shape[:2]
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] > 4) or 0 in shape:
        raise ProcessingError(
            f"{name}: array of shape {mapped.shape} is not an image (H×W or H×W×C, C ≤ 4)")
    _check_pixel_limit(shape[0] * shape[1], f"{shape[1]}x{shape[0]}", name)
    try:
        array = np.array(mapped).reshape(shape)
    except (OSError, ValueError) as exc:
        raise ProcessingError(f"{name}: truncated .npy file ({exc})") from None
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ProcessingError(f"{name}: contains NaN or infinite values")
    return array


def _check_pixel_limit(pixels: int, size: str, name: str) -> None:
    limit = max_pixels()
    if pixels > limit:
        raise ProcessingError(
            f"{name}: {size} pixels is more than the limit of {limit} "
            f"(set CVTOOL_MAX_PIXELS to raise it)")


def declared_size(data: bytes) -> tuple[int, int] | None:
    """The (width, height) an encoded image's header claims, read before decoding anything.

    Knows PNG, JPEG, GIF, BMP, WebP, TIFF and the Netpbm family (PBM/PGM/PPM/PAM/PFM);
    ``None`` for anything else, which OpenCV's own limit (``OPENCV_IO_MAX_IMAGE_PIXELS``, set
    to the same value) still guards.

    Examples
    --------
    >>> ihdr = b"\\x89PNG\\r\\n\\x1a\\n" + b"\\0\\0\\0\\rIHDR" + (100000).to_bytes(4, "big") * 2
    >>> declared_size(ihdr)
    (100000, 100000)
    >>> declared_size(b"P5\\n# a comment\\n30000 20000\\n255\\n")
    (30000, 20000)
    """
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"BM":
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
        if data[:4] in (b"II*\0", b"MM\0*"):
            return _tiff_size(data)
        if data[:1] == b"P" and data[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"F",
                                              b"f"):
            return _netpbm_size(data)
    except struct.error:
        return None
    return None


def _netpbm_size(data: bytes) -> tuple[int, int] | None:
    # PBM/PGM/PPM (P1-P6) and PFM (PF, Pf): "P5 <width> <height> ...", '#' comments allowed.
    # PAM (P7): "WIDTH <w>" and "HEIGHT <h>" lines. The header is text in the first bytes.
    head = data[:4096]
    words: list[bytes] = []
    for line in head[2:].split(b"\n"):
        words.extend(line.split(b"#", 1)[0].split())
    if data[1:2] == b"7":
        fields = dict(zip(words[0::2], words[1::2], strict=False))
        width, height = fields.get(b"WIDTH", b""), fields.get(b"HEIGHT", b"")
    elif len(words) >= 2:
        width, height = words[0], words[1]
    else:
        return None
    if width.isdigit() and height.isdigit():
        return int(width), int(height)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        # SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    endian = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(endian + "I", data[4:8])
    (count,) = struct.unpack(endian + "H", data[offset:offset + 2])
    found: dict[int, int] = {}
    for index in range(count):
        entry = data[offset + 2 + 12 * index: offset + 14 + 12 * index]
        tag, kind = struct.unpack(endian + "HH", entry[:4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
            fmt = "H" if kind == 3 else "I"
            found[tag] = struct.unpack(endian + fmt, entry[8:8 + struct.calcsize(fmt)])[0]
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def _swap_red_blue(image: np.ndarray) -> np.ndarray:
    """A contiguous copy with channels 0 and 2 exchanged (B,G,R(,A) <-> R,G,B(,A)).

    Copying plane by plane is about three times faster than ``ascontiguousarray`` of a
    reversed view, which walks the pixels with a negative stride.
    """
    swapped = np.empty_like(image)
    swapped[..., 0] = image[..., 2]
    swapped[..., 1] = image[..., 1]
    swapped[..., 2] = image[..., 0]
    if image.shape[2] == 4:
        swapped[..., 3] = image[..., 3]
    return swapped


def _from_opencv_order(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        if image.shape[2] == 1:
            return image[..., 0]
        if image.shape[2] in (3, 4):
            return _swap_red_blue(image)
    return image


def _to_opencv_order(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return _swap_red_blue(image)
    return image


# ---------------------------------------------------------------------------------------------
# Writing


def check_output_path(path: str | os.PathLike, *, option: str = "-o") -> None:
    """Refuse, before any work, an output whose format cvtool cannot write (a usage error).

    Examples
    --------
    >>> check_output_path("out.png")
    >>> check_output_path("out.xyz")
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: -o out.xyz: cannot write '.xyz' files (use .png, .tif, .jpg, .npy...)
    """
    if str(path) == STDIO:
        return
    suffix = suffix_of(path)
    if suffix == ".npy":
        return
    if suffix in _RADIANCE_SUFFIXES:
        raise UsageError(
            f"{option} {path}: Radiance HDR ({suffix}) stores 3-channel floating point only; "
            f"write .tif or .npy for floating-point results")
    if suffix == ".pbm":
        raise UsageError(f"{option} {path}: PBM stores 1 bit per pixel and would turn every "
                         f"non-zero value white; write .pgm or .png")
    if not suffix or not _can_encode(suffix):
        shown = suffix or "(no suffix)"
        raise UsageError(
            f"{option} {path}: cannot write '{shown}' files (use .png, .tif, .jpg, .npy...)")


@cache
def _can_encode(suffix: str) -> bool:
    # Some builds claim a writer whose encoder then fails: try a small image once, so the
    # user hears it before any work, as a usage error. Gray or colour will do: .pgm takes
    # only gray, .ppm and .gif only colour, and JPEG 2000 refuses images below about 32x32.
    if not cv2.haveImageWriter("x" + suffix):
        return False
    for shape in ((64, 64), (64, 64, 3)):
        try:
            ok, _ = cv2.imencode(suffix, np.zeros(shape, np.uint8))
        except cv2.error:
            continue
        if ok:
            return True
    return False


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """Encode an R,G,B(,A)-ordered array into the bytes of a ``suffix`` file.

    Examples
    --------
    >>> encode_image(np.zeros((1, 1), np.uint8), ".png")[:4]
    b'\\x89PNG'
    """
    if suffix == ".npy":
        buffer = _bytesio.BytesIO()
        np.save(buffer, image, allow_pickle=False)
        return buffer.getvalue()
    if image.dtype.kind == "f" and suffix not in FLOAT_SUFFIXES:
        raise ProcessingError(f"cannot store floating-point pixels in a {suffix} file")
    if image.dtype == np.uint16 and suffix not in SIXTEEN_BIT_SUFFIXES:
        raise ProcessingError(
            f"cannot store 16-bit pixels in a {suffix} file (use .png or .tif, or --out-range "
            f"rescale with an 8-bit input)")
    if image.dtype not in (np.uint8, np.uint16) and image.dtype.kind != "f":
        raise ProcessingError(f"cannot store {image.dtype} pixels in a {suffix} file")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.ndim == 3 and channels == 2:
        # Gray + alpha: image formats hold it as RGBA with the gray in all three colours.
        gray, alpha = image[..., 0], image[..., 1]
        image = np.stack([gray, gray, gray, alpha], axis=2)
        channels = 4
    if image.ndim not in (2, 3) or channels not in (1, 3, 4):
        # OpenCV's own message for this is an assertion text ("channels == 1 || ...").
        raise ProcessingError(
            f"cannot store {channels}-channel pixels in a {suffix} file (1, 3 or 4 channels; "
            f"use .npy)")
    try:
        if image.ndim == 2 and suffix in _COLOUR_ONLY_SUFFIXES:
            image = np.repeat(image[..., None], 3, axis=2)
        ok, buffer = cv2.imencode(suffix, _to_opencv_order(image))
    except cv2.error as exc:
        raise ProcessingError(f"cannot encode a {suffix} file: {exc.err or exc}") from None
    if not ok:  # OpenCV's reason went to its (silenced) log: say what was refused
        hint = ("; JPEG 2000 needs at least 32x32 pixels"
                if suffix == ".jp2" and min(image.shape[:2]) < 32 else "")
        raise ProcessingError(
            f"cannot encode {channels}-channel {image.dtype} pixels as a {suffix} file{hint}")
    return buffer.tobytes()


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write ``image`` atomically to ``path`` (format from its suffix); ``-`` writes PNG to stdout.

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> write_image(target, np.eye(2))
    >>> np.load(target)
    array([[1., 0.],
           [0., 1.]])
    """
    name = display_name(path) if str(path) != STDIO else "<stdout>"
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        # cvtool refuses such files as input, so it does not write them either.
        raise ProcessingError(f"{name}: {_NOT_FINITE}")
    try:
        data = encode_image(image, suffix_of(path))
    except ProcessingError as exc:
        raise ProcessingError(f"{name}: {exc}") from None
    if str(path) == STDIO:
        write_stdout_bytes(data)
    else:
        write_bytes_atomically(Path(path), data)


# The write gate. On Ctrl-C/SIGTERM the CLI closes it: writes in flight finish (each is quick
# and atomic), writes not yet begun are refused, so the process can exit at once without leaving
# a temporary file behind while worker threads may still be computing.
_gate = threading.Condition()
_writes_in_flight: dict[int, int] = {}  # thread id -> nesting depth
_gate_closed = False


class WritesStopped(ProcessingError):
    """A write refused because the run is being interrupted (see :func:`stop_writes`)."""


def stop_writes(timeout: float = 30.0) -> set[int]:
    """Refuse every write not yet begun; wait for those in flight. Returns their thread ids.

    Meant for an interrupted run that is about to exit; the gate stays closed.

    Examples
    --------
    >>> stop_writes(); reopen_writes()
    set()
    """
    global _gate_closed
    with _gate:
        writers = set(_writes_in_flight)
        _gate_closed = True
        _gate.wait_for(lambda: not _writes_in_flight, timeout)
    return writers


def reopen_writes() -> None:
    """Open the gate again (for library callers and tests that continue after an interrupt)."""
    global _gate_closed
    with _gate:
        _gate_closed = False


def _enter_write(name: str) -> None:
    with _gate:
        if _gate_closed:
            raise WritesStopped(f"{name}: not written (interrupted)")
        ident = threading.get_ident()
        _writes_in_flight[ident] = _writes_in_flight.get(ident, 0) + 1


def _leave_write() -> None:
    with _gate:
        ident = threading.get_ident()
        depth = _writes_in_flight.pop(ident, 1) - 1
        if depth:
            _writes_in_flight[ident] = depth
        _gate.notify_all()


def write_stdout_bytes(data: bytes) -> None:
    """Write bytes to stdout, turning a full disk or closed pipe into a :class:`ProcessingError`."""
    _enter_write("<stdout>")
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except OSError as exc:
        # Point fd 1 at /dev/null so the interpreter's own flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise ProcessingError(f"<stdout>: cannot write ({exc.strerror or exc})") from None
    finally:
        _leave_write()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    Nothing but a complete file ever appears at ``path``; on failure the temporary file is
    removed and a :class:`ProcessingError` names the target.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "x.bin"
    >>> write_bytes_atomically(target, b"abc")
    >>> target.read_bytes(), sorted(p.name for p in target.parent.iterdir())
    (b'abc', ['x.bin'])
    """
    folder = path.parent
    temp_name = None
    _enter_write(str(path))
    try:
        fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, _FILE_MODE)
        os.replace(temp_name, path)
        temp_name = None
    except FileNotFoundError:
        raise ProcessingError(f"{path}: cannot write (folder {folder} does not exist)") from None
    except OSError as exc:
        raise ProcessingError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if temp_name is not None:
            try:
                os.unlink(temp_name)
            except OSError:
                pass
        _leave_write()


# ---------------------------------------------------------------------------------------------
# Pixel types (--out-range)


def check_out_range(mode: str, output: str | os.PathLike) -> str:
    """Validate ``--out-range`` against the output's format before anything is read.

    Examples
    --------
    >>> check_out_range("RAW", "x.npy")
    'raw'
    """
    canonical = mode.lower()
    if canonical not in OUT_RANGES:
        raise UsageError(f"--out-range must be one of {', '.join(OUT_RANGES)}, got {mode!r}")
    if canonical == "raw" and suffix_of(output) not in FLOAT_SUFFIXES:
        raise UsageError(
            f"--out-range raw writes floating point, which only .npy and .tif files hold "
            f"(output {display_name(output)})")
    return canonical


def resolve_out_range(mode: str, input_dtype: np.dtype, output: str | os.PathLike,
                      zero_sum: bool) -> str:
    """What ``auto`` means for this input, output and kernel (see CLI.md ``--out-range``).

    Examples
    --------
    >>> resolve_out_range("auto", np.dtype(np.float32), "x.npy", False)
    'raw'
    >>> resolve_out_range("auto", np.dtype(np.uint8), "x.png", True)
    'abs'
    """
    if mode != "auto":
        return mode
    if np.dtype(input_dtype).kind == "f" and suffix_of(output) in FLOAT_SUFFIXES:
        return "raw"
    return "abs" if zero_sum else "clip"


def output_dtype(input_dtype: np.dtype) -> np.dtype:
    """The integer pixel type results are mapped to: the input's own for 8/16-bit, else 8-bit.

    Examples
    --------
    >>> output_dtype(np.dtype(np.uint16)), output_dtype(np.dtype(np.float32))
    (dtype('uint16'), dtype('uint8'))
    """
    dtype = np.dtype(input_dtype)
    return dtype if dtype in (np.dtype(np.uint8), np.dtype(np.uint16)) else np.dtype(np.uint8)


def to_pixel_type(values: np.ndarray, mode: str, dtype: np.dtype) -> np.ndarray:
    """Map floating-point results to a pixel type by ``--out-range`` (not ``auto``).

    ``clip`` rounds and saturates, ``abs`` takes the magnitude first, ``rescale`` stretches
    one min..max over all channels to the type's full range (a constant result maps to 0),
    ``raw`` returns the values unchanged.

    Examples
    --------
    >>> to_pixel_type(np.array([-3.0, 2.5, 300.0]), "clip", np.dtype(np.uint8))
    array([  0,   2, 255], dtype=uint8)
    >>> to_pixel_type(np.array([-3.0, 2.5, 300.0]), "abs", np.dtype(np.uint8))
    array([  3,   2, 255], dtype=uint8)
    >>> to_pixel_type(np.array([1.0, 2.0, 3.0]), "rescale", np.dtype(np.uint8))
    array([  0, 128, 255], dtype=uint8)
    """
    if mode == "raw":
        return values
    if mode not in ("clip", "abs", "rescale"):
        raise UsageError(f"--out-range must be one of {', '.join(OUT_RANGES)}, got {mode!r}")
    dtype = np.dtype(dtype)
    top = full_scale(dtype)
    flat = np.ascontiguousarray(values).reshape(-1)
    offset, scale = 0.0, 1.0
    if mode == "rescale" and flat.size:
        low, high = float(flat.min()), float(flat.max())
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ProcessingError(_NOT_FINITE)
        if high - low <= 0:
            return np.zeros(values.shape, dtype)
        offset, scale = low, top / (high - low)
    out = np.empty(flat.shape, dtype)
    # Work in chunks that stay in cache: whole-image temporaries for abs, rint and clip cost
    # more than the filter itself on a 4K colour image.
    # rescale's (x - low) can overflow float32 near ±3e38: that mode works in float64.
    work_dtype = (flat.dtype if flat.dtype.kind == "f" and mode != "rescale"
                  else np.dtype(np.float64))
    buffer = np.empty(min(flat.size, _MAP_CHUNK), work_dtype)
    for start in range(0, flat.size, _MAP_CHUNK):
        part = flat[start:start + _MAP_CHUNK]
        chunk = buffer[:part.size]
        if mode == "abs":
            np.abs(part, out=chunk)
        elif mode == "rescale":
            np.subtract(part, offset, out=chunk)
            chunk *= scale
        else:
            chunk[...] = part
        if not np.isfinite(chunk).all():  # NaN has no pixel value (the cast would be arbitrary)
            raise ProcessingError(_NOT_FINITE)
        np.rint(chunk, out=chunk)
        np.clip(chunk, 0, top, out=chunk)
        out[start:start + part.size] = chunk
    return out.reshape(values.shape)

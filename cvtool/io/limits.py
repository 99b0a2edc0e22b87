"""The pixel limit: how large an image cvtool decodes, checked from the header before decoding.

``CVTOOL_MAX_PIXELS`` (default :data:`DEFAULT_MAX_PIXELS`) bounds what is read: an encoded
file's header is read for its size (:func:`declared_size`) and refused before OpenCV allocates
anything; OpenCV's own limit, set to the same value when it loads
(:func:`opencv_pixel_limit`), backs this up for formats whose header is not read here.
"""

from __future__ import annotations

import os
import struct

from cvtool.errors import ProcessingError, UsageError

__all__ = ["DEFAULT_MAX_PIXELS", "check_pixel_limit", "declared_size", "max_pixels",
           "opencv_pixel_limit"]

#: Default largest image, in pixels, that cvtool decodes (override with ``CVTOOL_MAX_PIXELS``).
DEFAULT_MAX_PIXELS = 1 << 28


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


def opencv_pixel_limit() -> str:
    """The value for ``OPENCV_IO_MAX_IMAGE_PIXELS``: the limit in force, or the default.

    OpenCV reads it once, when it loads. A malformed ``CVTOOL_MAX_PIXELS`` is reported by
    :func:`max_pixels` when a file is read, not here.

    Examples
    --------
    >>> int(opencv_pixel_limit()) >= 1
    True
    """
    text = os.environ.get("CVTOOL_MAX_PIXELS", "")
    return text if text.isdigit() and int(text) >= 1 else str(DEFAULT_MAX_PIXELS)


def check_pixel_limit(pixels: int, size: str, name: str) -> None:
    """Refuse an image of ``pixels`` pixels (shown as ``size``) over the limit, naming the file.

    Examples
    --------
    >>> check_pixel_limit(6, "3x2", "a.png")
    """
    limit = max_pixels()
    if pixels > limit:
        raise ProcessingError(
            f"{name}: {size} pixels is more than the limit of {limit} "
            f"(set CVTOOL_MAX_PIXELS to raise it, or process it tile by tile with `chunked`)")


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

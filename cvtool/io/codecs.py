"""Decoding and encoding images, as bytes or files: the only module of cvtool that imports OpenCV.

Arrays handed to and from the rest of cvtool are H×W (gray) or H×W×C with channels in
R, G, B(, A) order; OpenCV's B, G, R order never leaves this module (it is put right in
place where the array is ours, so no second image is allocated). Large files are decoded
and encoded by OpenCV from and into the file itself, so the encoded bytes are never held
whole. OpenCV's environment (its log level, and its own pixel limit kept at cvtool's) is
set here, before it loads. ``.npy`` bytes are encoded by :mod:`cvtool.io.npy`.
"""

from __future__ import annotations

import os
import stat
from functools import cache

import numpy as np

from cvtool.errors import ProcessingError
from cvtool.io.limits import check_pixel_limit, declared_size, opencv_pixel_limit
from cvtool.io.npy import encode_npy

# OpenCV logs to stderr, errors included ("[ERROR:0@0.5] ... imdecode_ ..."), which would add
# lines around cvtool's own one-line `error:`; cvtool reports every failure itself.
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
# OpenCV's own decoder limit (read once, when cv2 loads) backs up the header check for formats
# declared_size() does not know (EXR, HDR, JPEG 2000, ...): keep it at ours. Assigned, not
# defaulted: CVTOOL_MAX_PIXELS is the one documented limit, whatever else is set.
os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = opencv_pixel_limit()

import cv2  # noqa: E402  (the environment above must be set before OpenCV loads)

__all__ = ["FLOAT_SUFFIXES", "SIXTEEN_BIT_SUFFIXES", "RADIANCE_SUFFIXES", "can_encode",
           "decode_image", "encode_image", "opencv_version", "read_image_file",
           "write_image_file"]

#: Suffixes whose encoders store 16-bit samples; every other format holds 8 bits only.
SIXTEEN_BIT_SUFFIXES = frozenset(".png .tif .tiff .pgm .ppm .pnm .jp2".split())

#: Suffixes whose OpenCV encoders take colour only: gray is written to all three channels.
_COLOUR_ONLY_SUFFIXES = frozenset(".gif .ppm".split())

#: Radiance HDR: OpenCV stores 8-bit data there as value/256 floats, so cvtool does not write it.
RADIANCE_SUFFIXES = frozenset(".hdr .pic".split())

#: Suffixes that keep floating-point samples.
FLOAT_SUFFIXES = frozenset(".npy .tif .tiff".split())


def opencv_version() -> str:
    """The version of the OpenCV build that decodes and encodes images (for ``selftest``).

    Examples
    --------
    >>> opencv_version().count(".") >= 2
    True
    """
    return str(cv2.__version__)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode the bytes of an image file (any format OpenCV reads) into an R,G,B(,A) array.

    The header's declared size is checked against the pixel limit before anything is decoded;
    every failure is a :class:`ProcessingError` naming ``name``.

    Examples
    --------
    >>> decode_image(encode_image(np.full((1, 2), 9, np.uint8), ".png"), "x.png")
    array([[9, 9]], dtype=uint8)
    """
    if not data:
        raise ProcessingError(f"{name}: empty file, not an image")
    size = declared_size(data)
    if size is not None:
        check_pixel_limit(size[0] * size[1], f"{size[0]}x{size[1]}", name)
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise ProcessingError(f"{name}: {_UNREADABLE}")
    return _from_opencv_order(image)


_UNREADABLE = "not a readable image (unknown format, truncated or corrupt)"

#: Bytes of a file read to find its declared size; a file this large or larger is decoded by
#: OpenCV from the file itself (:func:`read_image_file`), a smaller one from these bytes.
HEAD_BYTES = 1 << 16


def read_image_file(path: str | os.PathLike, name: str) -> np.ndarray:
    """Decode the image file at ``path`` into an R,G,B(,A) array: :func:`decode_image` of its
    bytes, without holding them.

    A regular PNG file of :data:`HEAD_BYTES` or more whose header declares its size (checked
    against the pixel limit first) is decoded by OpenCV from the file, into an array that is
    returned as it is: neither the file's bytes nor a second copy of the pixels is held (for
    a 4K PNG ~18 MiB and 24 MiB less at the peak than ``imdecode``, which hands back a
    copy of its result). The pixels and errors are those of :func:`decode_image`, which
    decodes anything else from the whole file. An :class:`OSError` is the caller's to report.

    Only PNG goes by name: OpenCV's readers of other formats differ by name from their
    decoding of bytes (a truncated JPEG is padded with grey and accepted, a TIFF with a
    rotated orientation tag is refused), and cvtool's answer must not depend on a file's size.

    Examples
    --------
    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> _ = open(target, "wb").write(encode_image(np.full((1, 2), 9, np.uint8), ".png"))
    >>> read_image_file(target, "x.png")
    array([[9, 9]], dtype=uint8)
    """
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
        size = declared_size(head) if len(head) == HEAD_BYTES else None
        # A pipe is read once, here; only a regular file can be opened again by OpenCV.
        opened = os.fstat(handle.fileno())
        if size is not None and head.startswith(_PNG_SIGNATURE) \
                and stat.S_ISREG(opened.st_mode) and _opencv_can_name(path):
            check_pixel_limit(size[0] * size[1], f"{size[0]}x{size[1]}", name)
            rgb = _is_rgb_png(head)
            image = _imread(path, _RGB_FLAGS if rgb else cv2.IMREAD_UNCHANGED)
            if rgb and image is not None and (image.ndim != 3 or image.shape[2] != 3):
                rgb, image = False, _imread(path, cv2.IMREAD_UNCHANGED)  # not as sniffed
            if _same_file(opened, path):
                if image is None or not image.size:
                    # Not a second try from the bytes: the same decoder would fail the same
                    # way (and a libpng failure would print its line to stderr twice).
                    raise ProcessingError(f"{name}: {_UNREADABLE}")
                return image if rgb else _from_opencv_order(image)
            # The name now leads to another file than the one whose header was checked:
            # what OpenCV read is discarded and the opened file is decoded from its bytes.
            del image
        data = head + handle.read()
    return decode_image(data, name)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _same_file(opened: os.stat_result, path: str | os.PathLike) -> bool:
    """Whether ``path`` still names the unchanged file that ``opened`` describes."""
    try:
        now = os.stat(path)
    except OSError:
        return False
    return (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) == \
        (opened.st_dev, opened.st_ino, opened.st_size, opened.st_mtime_ns)


#: Decoder flags for an R,G,B PNG: libpng writes R,G,B itself (no swap afterwards, ~10 % of
#: the decoding time), at the file's own bit depth, with no EXIF rotation (as UNCHANGED).
_RGB_FLAGS = (cv2.IMREAD_COLOR_RGB | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
              | cv2.IMREAD_IGNORE_ORIENTATION)


def _imread(path: str | os.PathLike, flags: int) -> np.ndarray | None:
    """OpenCV's decoding of the file at ``path`` (None when it fails)."""
    try:
        # The overload with an output argument (None) returns the array OpenCV decoded
        # into; the one without copies it first.
        return cv2.imread(os.fspath(path), None, flags)
    except cv2.error:
        return None


def _is_rgb_png(head: bytes) -> bool:
    """Whether ``head`` starts a PNG that decodes to exactly R,G,B: truecolour without alpha
    (colour type 2) and no ``tRNS`` chunk (which adds an alpha channel) before the first
    ``IDAT``, all within ``head``. Anything else is decoded as it is and then reordered."""
    if head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR" or head[25:26] != b"\x02":
        return False
    pos = 8
    while pos + 8 <= len(head):
        kind = head[pos + 4:pos + 8]
        if kind == b"tRNS":
            return False
        if kind == b"IDAT":
            return True
        pos += 12 + int.from_bytes(head[pos:pos + 4], "big")
    return False


def _opencv_can_name(path: str | os.PathLike) -> bool:
    """Whether OpenCV can be handed ``path`` by name: a ``str`` whose UTF-8 bytes are the
    file system's. OpenCV takes names as UTF-8 and crashes the process on a name Python
    holds with undecodable bytes (surrogate escapes), so those never reach it."""
    name = os.fspath(path)
    if not isinstance(name, str):
        return False
    try:
        return name.encode("utf-8") == os.fsencode(name)
    except UnicodeError:
        return False


def _has_room(filename: str, image: np.ndarray) -> bool:
    """Whether the file system of ``filename`` has room for any encoding of ``image``: twice
    its raw pixels and 1 MiB (no format cvtool writes grows the pixels more than that).

    OpenCV's file writers fail on a full disk without saying so, and libpng prints its own
    line to stderr: where the file might not fit, cvtool encodes in memory and writes the
    bytes itself, so a failure names its reason and nothing else is printed.
    """
    try:
        stats = os.statvfs(os.path.dirname(filename) or ".")
    except (OSError, AttributeError):  # no statvfs (Windows): the in-memory path is safe
        return False
    return stats.f_bavail * stats.f_frsize >= 2 * image.nbytes + (1 << 20)


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


#: Bytes of one channel passed through the scratch buffer of an in-place swap at a time.
_SWAP_BYTES = 1 << 16


def _swap_red_blue_in_place(image: np.ndarray) -> np.ndarray:
    """Exchange channels 0 and 2 of the writeable H×W×C array ``image`` in place; returns it.

    A band of rows of channel 0 waits in a small scratch buffer while channel 2 moves over
    it, so no second image is allocated (a 4K colour image would need 24 MiB more), and the
    time is that of the plane-by-plane copy.
    """
    rows = max(1, _SWAP_BYTES // max(1, image.shape[1] * image.itemsize))
    scratch = np.empty((min(rows, image.shape[0]), image.shape[1]), image.dtype)
    for r0 in range(0, image.shape[0], rows):
        band = image[r0:r0 + rows]
        held = scratch[:band.shape[0]]
        np.copyto(held, band[..., 0])
        np.copyto(band[..., 0], band[..., 2])
        np.copyto(band[..., 2], held)
    return image


def _from_opencv_order(image: np.ndarray) -> np.ndarray:
    """The decoder's array in R,G,B(,A) order; a colour array is swapped in place (it is ours)."""
    if image.ndim == 3:
        if image.shape[2] == 1:
            return image[..., 0]
        if image.shape[2] in (3, 4):
            return _swap_red_blue_in_place(image)
    return image


def _to_opencv_order(image: np.ndarray, overwrite: bool) -> np.ndarray:
    """``image`` in B,G,R(,A) order for the encoder: swapped in place when ``overwrite`` allows
    it and the array can take it, else a swapped copy."""
    if image.ndim == 3 and image.shape[2] in (3, 4):
        if overwrite and image.flags.writeable and image.flags.c_contiguous:
            return _swap_red_blue_in_place(image)
        return _swap_red_blue(image)
    return image


@cache
def can_encode(suffix: str) -> bool:
    """Whether this OpenCV build really encodes ``suffix`` files (tried once, then cached).

    Examples
    --------
    >>> can_encode(".png"), can_encode(".xyz")
    (True, False)
    """
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
        return encode_npy(image)
    encodable, channels = _for_encoder(image, suffix, overwrite=False)
    return _encode_in_memory(encodable, suffix, channels).tobytes()


def write_image_file(image: np.ndarray, suffix: str, filename: str, *,
                     overwrite_input: bool = False) -> None:
    """Encode an R,G,B(,A)-ordered array as a ``suffix`` file straight into ``filename``.

    OpenCV writes the file as it encodes, so the encoded image is never held in memory (a
    4K PNG is ~20 MB, and the in-memory encoder's growing buffer peaks near twice that).
    The bytes are those of :func:`encode_image`. ``filename`` must end with ``suffix``
    (OpenCV picks its encoder by the name). With ``overwrite_input`` the caller gives
    ``image`` up: its colour channels are put in OpenCV's order in place instead of in a
    copy, and its content is undefined afterwards. A refused encoding is a
    :class:`ProcessingError`, a failed write an :class:`OSError` (the caller names the file).

    Examples
    --------
    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> write_image_file(np.full((1, 2), 9, np.uint8), ".png", target)
    >>> open(target, "rb").read() == encode_image(np.full((1, 2), 9, np.uint8), ".png")
    True
    """
    if suffix == ".npy":
        data = encode_npy(image)
    else:
        encodable, channels = _for_encoder(image, suffix, overwrite=overwrite_input)
        written = False
        if _opencv_can_name(filename) and _has_room(filename, encodable):
            try:
                written = bool(cv2.imwrite(filename, encodable))
            except cv2.error:
                pass
        if written:
            return
        # OpenCV's file writer says only that it failed: a full disk and a refused encoding
        # look alike. Encoding in memory names a refusal; writing those bytes names the OS's
        # reason (ENOSPC, EIO, ...). Only failures (and names OpenCV cannot take) pay for
        # this second encoding.
        data = _encode_in_memory(encodable, suffix, channels)
    with open(filename, "wb") as handle:
        handle.write(data)


def _for_encoder(image: np.ndarray, suffix: str, *,
                 overwrite: bool) -> tuple[np.ndarray, int]:
    """Check that a ``suffix`` file holds the pixels; the array in OpenCV's layout and order,
    and its channel count. Arrays made here are swapped in place (they are ours)."""
    if image.dtype.kind == "f" and suffix not in FLOAT_SUFFIXES:
        raise ProcessingError(f"cannot store floating-point pixels in a {suffix} file")
    if image.dtype == np.uint16 and suffix not in SIXTEEN_BIT_SUFFIXES:
        # The hint names the parameter in backticks: the CLI shows the flag in its place.
        raise ProcessingError(
            f"cannot store 16-bit pixels in a {suffix} file (use .png or .tif, or `out_range` "
            f"rescale with an 8-bit input)", parameter="out_range")
    if image.dtype not in (np.uint8, np.uint16) and image.dtype.kind != "f":
        raise ProcessingError(f"cannot store {image.dtype} pixels in a {suffix} file")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.ndim == 3 and channels == 2:
        # Gray + alpha: image formats hold it as RGBA with the gray in all three colours.
        gray, alpha = image[..., 0], image[..., 1]
        image = np.stack([gray, gray, gray, alpha], axis=2)
        channels = 4
        overwrite = True
    if image.ndim not in (2, 3) or channels not in (1, 3, 4):
        # OpenCV's own message for this is an assertion text ("channels == 1 || ...").
        raise ProcessingError(
            f"cannot store {channels}-channel pixels in a {suffix} file (1, 3 or 4 channels; "
            f"use .npy)")
    if image.ndim == 2 and suffix in _COLOUR_ONLY_SUFFIXES:
        image = np.repeat(image[..., None], 3, axis=2)
        overwrite = True
    return _to_opencv_order(image, overwrite), channels


def _encode_in_memory(encodable: np.ndarray, suffix: str, channels: int) -> np.ndarray:
    """OpenCV's encoding of an array :func:`_for_encoder` prepared, as a uint8 array."""
    try:
        ok, buffer = cv2.imencode(suffix, encodable)
    except cv2.error as exc:
        raise ProcessingError(f"cannot encode a {suffix} file: {exc.err or exc}") from None
    if not ok:  # OpenCV's reason went to its (silenced) log: say what was refused
        hint = ("; JPEG 2000 needs at least 32x32 pixels"
                if suffix == ".jp2" and min(encodable.shape[:2]) < 32 else "")
        raise ProcessingError(
            f"cannot encode {channels}-channel {encodable.dtype} pixels as a {suffix} "
            f"file{hint}")
    return buffer

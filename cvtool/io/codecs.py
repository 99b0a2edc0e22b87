"""Decoding and encoding image bytes: the only module of cvtool that imports OpenCV.

Arrays handed to and from the rest of cvtool are H×W (gray) or H×W×C with channels in
R, G, B(, A) order; OpenCV's B, G, R order never leaves this module. OpenCV's environment
(its log level, and its own pixel limit kept at cvtool's) is set here, before it loads.
``.npy`` bytes are encoded by :mod:`cvtool.io.npy`.
"""

from __future__ import annotations

import os
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
           "decode_image", "encode_image", "opencv_version"]

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
        raise ProcessingError(
            f"{name}: not a readable image (unknown format, truncated or corrupt)")
    return _from_opencv_order(image)


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

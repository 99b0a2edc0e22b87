"""Image files in and out; OpenCV is imported here only, and only to decode and encode.

Arrays handed to and from the rest of cvtool are H×W (gray) or H×W×C with channels in
R, G, B(, A) order. One job per module:

- :mod:`cvtool.io.images`: ``read_image`` / ``write_image``, path to array and back;
- :mod:`cvtool.io.codecs`: decoding and encoding bytes (the only ``cv2`` importer);
- :mod:`cvtool.io.npy`: the ``.npy`` format, read safely;
- :mod:`cvtool.io.limits`: the pixel limit (``CVTOOL_MAX_PIXELS``) and header size sniffing;
- :mod:`cvtool.io.atomic`: atomic writes and the write gate closed on a signal;
- :mod:`cvtool.io.paths`: suffixes, display names, ``-`` for stdin/stdout, output checks.

How results become pixels (``out_range``) is :mod:`cvtool.imaging.pixels`.
"""

from __future__ import annotations

from cvtool.io.atomic import (
    WritesStopped,
    reopen_writes,
    stop_writes,
    write_bytes_atomically,
    write_stdout_bytes,
)
from cvtool.io.codecs import (
    FLOAT_SUFFIXES,
    SIXTEEN_BIT_SUFFIXES,
    can_encode,
    decode_image,
    encode_image,
    opencv_version,
)
from cvtool.io.images import read_image, write_image
from cvtool.io.limits import DEFAULT_MAX_PIXELS, declared_size, max_pixels
from cvtool.io.paths import (
    IMAGE_SUFFIXES,
    STDIO,
    check_output_path,
    display_name,
    keeps_floats,
    suffix_of,
)

__all__ = [
    "DEFAULT_MAX_PIXELS", "FLOAT_SUFFIXES", "IMAGE_SUFFIXES", "SIXTEEN_BIT_SUFFIXES", "STDIO",
    "WritesStopped", "can_encode", "check_output_path", "declared_size", "decode_image",
    "display_name", "encode_image", "keeps_floats", "max_pixels", "opencv_version", "read_image",
    "reopen_writes", "stop_writes", "suffix_of", "write_bytes_atomically", "write_image",
    "write_stdout_bytes",
]


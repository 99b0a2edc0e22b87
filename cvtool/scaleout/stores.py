"""Images too large for memory: read by region, written tile by tile, published atomically.

Inputs (:func:`open_input`): tiled or striped TIFF/BigTIFF (tifffile, read through its Zarr
view so only the tiles a region touches are decoded), Zarr arrays (a ``.zarr`` directory,
v2 or v3), and ``.npy`` files (the header parsed once, each region read row by row with
``os.pread``). Formats that can only be decoded whole (PNG, JPEG, ...) are refused with a
message that says how to convert them.

Outputs (:func:`create_output`) are written under a temporary name in the target directory
and renamed over the target by :meth:`OutputStore.commit`, so a failed or interrupted run
leaves nothing behind (:meth:`OutputStore.abort`):

- ``.zarr``: a Zarr v3 array whose chunks are the output tiles, so every tile write is
  whole chunks and tiles never race on one chunk;
- ``.tif``/``.tiff``: an uncompressed tiled TIFF (BigTIFF beyond 4 GB), whose tags tifffile
  writes first (the tiles as one sparse run after them); every region is then written in
  place with ``os.pwrite`` at the tiles' offsets, so tiles may arrive in any order, from
  threads or from cluster workers;
- ``.npy``: ``numpy.lib.format.open_memmap`` writes the header and sizes the file; regions are
  then written with ``os.pwrite`` row by row.

Why ``pread``/``pwrite`` rather than a memory map for the whole run: the pages a map touches
stay in the process's resident set until the map is closed, so a 30000² run would report the
whole file as its peak memory (and a ``RLIMIT_AS`` cap counts the whole map).

Arrays are H×W or H×W×C, channels in R, G, B(, A) order as everywhere in cvtool.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cvtool.errors import ProcessingError, UsageError

__all__ = ["INPUT_SUFFIXES", "OUTPUT_SUFFIXES", "ChunkedImage", "OutputStore",
           "check_input_path", "check_output_path", "create_output", "open_input"]

#: What chunked work reads, by suffix (a Zarr store is a directory named ``*.zarr``).
INPUT_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".zarr", ".npy")
#: What chunked work writes.
OUTPUT_SUFFIXES: tuple[str, ...] = (".zarr", ".tif", ".tiff", ".npy")

# A TIFF whose smallest readable piece (strip or tile) is larger than this is refused: reading
# any region would decode the whole piece (a one-strip 30000² scan is one 900 MB piece).
MAX_SEGMENT_BYTES = 256 << 20
# Side of the tiles of TIFF outputs (a multiple of 16, as TIFF requires).
TIFF_TILE = 256
# Largest classic TIFF; beyond it the output is BigTIFF (some slack for the tags).
_CLASSIC_TIFF_LIMIT = 2**32 - 2**25

# Written without command-line flags and without OpenCV: vips takes its options in the file
# name, and cvtool's own reader gives the pixels in R, G, B order.
_CONVERT_HINT = (
    "convert it to a tiled TIFF first, e.g. `vips copy {name} \"out.tif[tile,bigtiff]\"`, or "
    "in Python `tifffile.imwrite('out.tif', cvtool.io.read_image('{name}'), tile=(256, 256), "
    "bigtiff=True)`")


def _suffix(path: str | os.PathLike) -> str:
    return Path(str(path).rstrip("/\\")).suffix.lower()


def check_input_path(path: str | os.PathLike) -> None:
    """Refuse, before reading, an input whose format cannot be read by region (a usage error).

    Examples
    --------
    >>> check_input_path("scan.tif")
    >>> check_input_path("photo.png")
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: photo.png: a .png file can only be decoded whole, so it cannot \
be read chunk by chunk; convert it to a tiled TIFF first, e.g. ...
    """
    suffix = _suffix(path)
    if suffix not in INPUT_SUFFIXES:
        shown = suffix or "(no suffix)"
        raise UsageError(
            f"{path}: a {shown} file can only be decoded whole, so it cannot be read chunk by "
            f"chunk; " + _CONVERT_HINT.format(name=os.path.basename(str(path))))


def check_output_path(path: str | os.PathLike) -> None:
    """Refuse, before any work, an output that cannot be written tile by tile (a usage error).

    Examples
    --------
    >>> check_output_path("out.zarr")
    >>> check_output_path("out.png")
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: out.png: chunked results are written to .zarr, .tif or .npy, \
not .png
    """
    suffix = _suffix(path)
    if suffix not in OUTPUT_SUFFIXES:
        raise UsageError(f"{path}: chunked results are written to .zarr, .tif or .npy, "
                         f"not {suffix or '(no suffix)'}")


# ---------------------------------------------------------------------------------------------
# Reading


class ChunkedImage:
    """An image on disk that is read one region at a time.

    ``shape`` is (H, W) or (H, W, C); ``dtype`` the file's own; ``chunks`` the (rows, cols)
    of the pieces the file is stored in (reads aligned to them decode nothing twice).
    Instances are safe to share between threads and are picklable (a worker process reopens
    the file), so they may be shipped to cluster workers.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.path.abspath(str(path))
        self.name = str(path)
        self._lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        raise NotImplementedError

    def __getstate__(self) -> dict:
        return {"path": self.path, "name": self.name}

    def __setstate__(self, state: dict) -> None:
        self.path, self.name = state["path"], state["name"]
        self._lock = threading.Lock()
        self._open()

    @property
    def height(self) -> int:
        return int(self.shape[0])

    @property
    def width(self) -> int:
        return int(self.shape[1])

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Rows ``r0:r1`` × columns ``c0:c1`` (inside the image) as a new array."""
        raise NotImplementedError

    def close(self) -> None:
        """Release file handles (reading again reopens nothing: make a new object)."""

    def __enter__(self) -> ChunkedImage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_layout(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if len(shape) not in (2, 3) or min(shape) == 0:
        raise ProcessingError(f"{name}: an image must be H×W or H×W×C, got shape {shape}")
    if np.dtype(dtype).kind not in "biuf":
        raise ProcessingError(f"{name}: cannot filter {np.dtype(dtype)} pixels")


class _ZarrImage(ChunkedImage):
    """A Zarr array (a ``.zarr`` directory) or a TIFF seen through tifffile's Zarr store."""

    def _open(self) -> None:
        import zarr

        self._tiff = None
        self._planar = False
        try:
            if _suffix(self.path) == ".zarr":
                array = zarr.open(self.path, mode="r")
                if not hasattr(array, "shape"):
                    names = ", ".join(sorted(array.array_keys()))
                    raise ProcessingError(
                        f"{self.name}: a Zarr group, not an array (its arrays: {names or 'none'}); "
                        f"give the array's directory")
            else:
                array = self._open_tiff()
        except ProcessingError:
            raise
        except Exception as exc:  # noqa: BLE001 - the libraries raise many kinds for bad files
            raise ProcessingError(f"{self.name}: not a readable image ({exc})") from None
        self._array = array
        shape = tuple(int(n) for n in array.shape)
        chunks = tuple(int(n) for n in array.chunks)
        if self._planar:  # stored C×H×W: present it as H×W×C
            shape, chunks = shape[1:] + shape[:1], chunks[1:] + chunks[:1]
        self.shape = shape
        self.dtype = np.dtype(array.dtype)
        self.chunks = chunks[:2]
        _check_layout(self.name, self.shape, self.dtype)

    def _open_tiff(self):
        import tifffile
        import zarr

        try:
            tiff = tifffile.TiffFile(self.path)
        except FileNotFoundError:
            raise ProcessingError(f"{self.name}: no such file") from None
        self._tiff = tiff
        series = tiff.series[0]
        page = series.levels[0].pages[0] if series.levels else series.pages[0]
        self._planar = (page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
                        and len(series.shape) == 3 and page.samplesperpixel > 1)
        rows = page.tilelength if page.is_tiled else page.rowsperstrip
        cols = page.tilewidth if page.is_tiled else page.imagewidth
        segment = min(rows, page.imagelength) * cols * page.samplesperpixel
        if segment * page.dtype.itemsize > MAX_SEGMENT_BYTES:
            raise ProcessingError(
                f"{self.name}: stored as strips of {rows} rows, which must be decoded whole; "
                + _CONVERT_HINT.format(name=os.path.basename(self.name)))
        return zarr.open(tiff.aszarr(series=0, level=0), mode="r")

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        try:
            if self._planar:
                return np.moveaxis(np.asarray(self._array[:, r0:r1, c0:c1]), 0, -1).copy()
            return np.asarray(self._array[r0:r1, c0:c1])
        except Exception as exc:  # noqa: BLE001 - a truncated tile, a codec error, ...
            raise ProcessingError(f"{self.name}: cannot read rows {r0}-{r1} ({exc})") from None

    def close(self) -> None:
        if self._tiff is not None:
            self._tiff.close()
            self._tiff = None


class _NpyImage(ChunkedImage):
    """A C-ordered ``.npy`` file, read row by row with ``os.pread`` (no map, no full read)."""

    def _open(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = reader(handle)
                self._offset = handle.tell()
        except FileNotFoundError:
            raise ProcessingError(f"{self.name}: no such file") from None
        except (OSError, ValueError) as exc:
            raise ProcessingError(f"{self.name}: not a readable .npy file ({exc})") from None
        if dtype.hasobject:
            raise ProcessingError(f"{self.name}: holds Python objects, not pixels")
        _check_layout(self.name, tuple(shape), dtype)
        if fortran and len(shape) > 1:
            raise ProcessingError(f"{self.name}: stored in Fortran order; save it with "
                                  f"numpy.save(path, numpy.ascontiguousarray(a)) first")
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        need = self._offset + int(np.prod(self.shape)) * self.dtype.itemsize
        if os.path.getsize(self.path) < need:
            raise ProcessingError(f"{self.name}: truncated .npy file")
        self.chunks = (1, self.shape[1])
        self._fd = os.open(self.path, os.O_RDONLY)

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        r1, c1 = min(r1, self.shape[0]), min(c1, self.shape[1])  # clipped, as slicing is
        tail = self.shape[2:]
        pixel = int(np.prod(tail, dtype=np.int64)) * self.dtype.itemsize
        out = np.empty((r1 - r0, c1 - c0) + tail, self.dtype)
        flat = out.reshape(r1 - r0, -1).view(np.uint8)
        row_bytes = self.shape[1] * pixel
        start = self._offset + r0 * row_bytes + c0 * pixel
        if c0 == 0 and c1 == self.shape[1]:  # whole rows are one contiguous run
            _pread_into(self._fd, memoryview(flat).cast("B"), start, self.name)
            return out
        for i in range(r1 - r0):
            _pread_into(self._fd, memoryview(flat[i]), start + i * row_bytes, self.name)
        return out

    def close(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None


def _pread_into(fd: int, view: memoryview, offset: int, name: str) -> None:
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got <= 0:
            raise ProcessingError(f"{name}: unexpected end of file")
        done += got


def open_input(path: str | os.PathLike) -> ChunkedImage:
    """Open an image for reading by region.

    Parameters
    ----------
    path : str or path-like
        A tiled or striped ``.tif``/``.tiff`` (BigTIFF too), a ``.zarr`` array directory or
        a ``.npy`` file.

    Returns
    -------
    ChunkedImage
        With ``shape``, ``dtype``, ``chunks`` and ``read(r0, r1, c0, c1)``.

    Raises
    ------
    UsageError
        For a format that can only be decoded whole (PNG, JPEG, ...), naming how to convert.
    ProcessingError
        For a missing or unreadable file, one stored as a single huge strip, or an array
        that is not H×W or H×W×C of real numbers.

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.arange(12, dtype=np.uint8).reshape(3, 4))
    >>> with open_input(path) as image:
    ...     image.shape, image.read(1, 3, 1, 3).tolist()
    ((3, 4), [[5, 6], [9, 10]])
    """
    check_input_path(path)
    suffix = _suffix(path)
    if not os.path.exists(path):
        raise ProcessingError(f"{path}: no such file")
    if suffix == ".npy":
        return _NpyImage(path)
    return _ZarrImage(path)


# ---------------------------------------------------------------------------------------------
# Writing


@dataclass
class OutputStore:
    """An output being written region by region under a temporary name.

    ``write(r0, c0, block)`` stores a block whose top-left pixel is (r0, c0); blocks must not
    overlap and, for ``.zarr``, must be whole chunks (the output tiles of chunked work are).
    :meth:`commit` renames the finished output over ``path``; :meth:`abort` removes it.
    Picklable: a cluster worker writes into the same temporary file or directory (which must
    then be on a filesystem the workers share).
    """

    path: str
    temp: str
    kind: str
    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: tuple[int, int]
    tiff_offsets: np.ndarray | None = None
    tiff_tile: tuple[int, int] | None = None
    npy_offset: int = 0
    _handle: object = field(default=None, repr=False, compare=False)
    _lock: object = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handle"] = None
        state["_lock"] = None
        return state

    def _opened(self):
        if self._lock is None:
            self._lock = threading.Lock()
        with self._lock:
            if self._handle is None:
                if self.kind == "zarr":
                    import zarr

                    self._handle = zarr.open_array(self.temp, mode="r+")
                else:
                    self._handle = os.open(self.temp, os.O_WRONLY)
            return self._handle

    def write(self, r0: int, c0: int, block: np.ndarray) -> None:
        """Store ``block`` (the output's dtype and channels) with its top-left at (r0, c0)."""
        block = np.ascontiguousarray(block, dtype=self.dtype)
        rows, cols = block.shape[:2]
        if block.shape[2:] != tuple(self.shape[2:]) or r0 + rows > self.shape[0] or \
                c0 + cols > self.shape[1]:
            raise ValueError(f"block {block.shape} at ({r0}, {c0}) does not fit {self.shape}")
        handle = self._opened()
        try:
            if self.kind == "zarr":
                handle[r0:r0 + rows, c0:c0 + cols] = block
            elif self.kind == "npy":
                self._write_npy(handle, r0, c0, block)
            else:
                self._write_tiff(handle, r0, c0, block)
        except OSError as exc:
            raise ProcessingError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def _write_npy(self, fd: int, r0: int, c0: int, block: np.ndarray) -> None:
        pixel = block.itemsize * int(np.prod(self.shape[2:], dtype=np.int64))
        row_bytes = self.shape[1] * pixel
        flat = block.reshape(block.shape[0], -1).view(np.uint8)
        start = self.npy_offset + r0 * row_bytes + c0 * pixel
        if c0 == 0 and block.shape[1] == self.shape[1]:
            _pwrite_all(fd, memoryview(flat).cast("B"), start)
            return
        for i in range(block.shape[0]):
            _pwrite_all(fd, memoryview(flat[i]), start + i * row_bytes)

    def _write_tiff(self, fd: int, r0: int, c0: int, block: np.ndarray) -> None:
        th, tw = self.tiff_tile
        height, width = self.shape[:2]
        tiles_across = -(-width // tw)
        pixel = block.itemsize * int(np.prod(self.shape[2:], dtype=np.int64))
        rows, cols = block.shape[:2]
        flat = block.reshape(rows, cols * pixel // block.itemsize)
        for ty in range(r0 // th, (r0 + rows - 1) // th + 1):
            y0, y1 = max(r0, ty * th), min(r0 + rows, (ty + 1) * th)
            for tx in range(c0 // tw, (c0 + cols - 1) // tw + 1):
                x0, x1 = max(c0, tx * tw), min(c0 + cols, (tx + 1) * tw)
                base = int(self.tiff_offsets[ty * tiles_across + tx])
                part = flat[y0 - r0:y1 - r0, (x0 - c0) * pixel // block.itemsize:
                            (x1 - c0) * pixel // block.itemsize]
                row_in_tile = y0 - ty * th
                if x0 == tx * tw and (x1 == (tx + 1) * tw or x1 == width):
                    # The block covers the tile's width (up to the image's right edge): the
                    # rows are one run of the tile's bytes, padding columns left as zeros.
                    if x1 - x0 == tw:
                        data = np.ascontiguousarray(part).view(np.uint8)
                        _pwrite_all(fd, memoryview(data).cast("B"),
                                    base + row_in_tile * tw * pixel)
                        continue
                for i in range(y1 - y0):
                    data = np.ascontiguousarray(part[i]).view(np.uint8)
                    _pwrite_all(fd, memoryview(data),
                                base + ((row_in_tile + i) * tw + (x0 - tx * tw)) * pixel)

    def commit(self) -> None:
        """Publish the output: rename the temporary file or directory over ``path``."""
        self.close()
        try:
            # mkstemp/mkdtemp create private (0600/0700) entries: give the output the
            # permissions any new file gets (the umask's).
            mode = (0o777 if os.path.isdir(self.temp) else 0o666) & ~_umask()
            os.chmod(self.temp, mode)
            if self.kind == "zarr" and os.path.isdir(self.path):
                # A directory cannot be renamed over a non-empty one: move the old one aside
                # first, then drop it once the new one is in place.
                aside = tempfile.mkdtemp(dir=os.path.dirname(self.path),
                                         prefix=f".{os.path.basename(self.path)}.", suffix=".old")
                os.replace(self.path, os.path.join(aside, "old"))
                os.replace(self.temp, self.path)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.replace(self.temp, self.path)
        except OSError as exc:
            self.abort()
            raise ProcessingError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def abort(self) -> None:
        """Remove the temporary output (after a failure or an interrupt)."""
        self.close()
        if os.path.isdir(self.temp):
            shutil.rmtree(self.temp, ignore_errors=True)
        else:
            try:
                os.unlink(self.temp)
            except OSError:
                pass

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if isinstance(handle, int):
            os.close(handle)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    done = 0
    while done < len(view):
        done += os.pwritev(fd, [view[done:]], offset + done)


def create_output(path: str | os.PathLike, shape: tuple[int, ...], dtype, *,
                  chunks: tuple[int, int]) -> OutputStore:
    """Create an output under a temporary name beside ``path``, ready for region writes.

    Parameters
    ----------
    path : str or path-like
        The final ``.zarr``, ``.tif``/``.tiff`` or ``.npy`` path (its folder must exist).
    shape : tuple of int
        (H, W) or (H, W, C).
    dtype : dtype
        uint8, uint16 or a float type (TIFF and Zarr), any real type for ``.npy``.
    chunks : (int, int)
        The tile size the writer uses (the Zarr chunks; TIFF tiles are always
        :data:`TIFF_TILE`).

    Returns
    -------
    OutputStore

    Raises
    ------
    UsageError
        For an unsupported suffix.
    ProcessingError
        When the folder does not exist or is not writable.

    Examples
    --------
    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out.npy")
    >>> out = create_output(target, (2, 3), np.uint8, chunks=(2, 3))
    >>> out.write(0, 1, np.array([[1, 2], [3, 4]], np.uint8)); out.commit()
    >>> np.load(target).tolist()
    [[0, 1, 2], [0, 3, 4]]
    """
    check_output_path(path)
    path = os.path.abspath(str(path).rstrip("/\\"))
    folder, base = os.path.split(path)
    suffix = _suffix(path)
    dtype = np.dtype(dtype)
    shape = tuple(int(n) for n in shape)
    if not os.path.isdir(folder):
        raise ProcessingError(f"{path}: cannot write (folder {folder} does not exist)")
    try:
        if suffix == ".zarr":
            return _create_zarr(path, folder, base, shape, dtype, chunks)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{base}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise ProcessingError(f"{path}: cannot write ({exc.strerror or exc})") from None
    store = OutputStore(path, temp, suffix.lstrip(".").replace("tiff", "tif"), shape, dtype,
                        tuple(chunks))
    try:
        if suffix == ".npy":
            np.lib.format.open_memmap(temp, mode="w+", dtype=dtype, shape=shape).flush()
            with open(temp, "rb") as handle:
                np.lib.format.read_array_header_1_0(handle) if np.lib.format.read_magic(
                    handle) == (1, 0) else np.lib.format.read_array_header_2_0(handle)
                store.npy_offset = handle.tell()
        else:
            _layout_tiff(store)
    except Exception:
        store.abort()
        raise
    return store


def _create_zarr(path, folder, base, shape, dtype, chunks) -> OutputStore:
    import zarr

    temp = tempfile.mkdtemp(dir=folder, prefix=f".{base}.", suffix=".tmp")
    chunk_shape = tuple(min(c, n) for c, n in zip(chunks, shape[:2], strict=True)) + shape[2:]
    try:
        zarr.create_array(store=temp, shape=shape, chunks=chunk_shape, dtype=dtype,
                          zarr_format=3, fill_value=0, overwrite=True)
    except Exception as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise ProcessingError(f"{path}: cannot create the Zarr array ({exc})") from None
    return OutputStore(path, temp, "zarr", shape, dtype, tuple(chunks))


def _layout_tiff(store: OutputStore) -> None:
    """Write an uncompressed tiled TIFF's tags and tile table; the pixels come later.

    tifffile writes the tags with one real tile (it takes its dtype from the first) and
    no data for the others; the tile table is then pointed at one contiguous run of tiles
    after the tags, and the file is extended to its full size without writing it (a sparse
    file: a 30000² layout takes milliseconds instead of writing 900 MB of zeros).
    """
    import itertools

    import tifffile

    shape, dtype = store.shape, store.dtype
    if dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ProcessingError(f"{store.path}: TIFF cannot hold {dtype} pixels; write .npy")
    channels = shape[2] if len(shape) == 3 else 1
    options: dict = {"photometric": "minisblack"}
    if channels in (3, 4):
        options["photometric"] = "rgb"
    if channels in (2, 4):
        options["extrasamples"] = ("unassalpha",)
    if channels > 1:
        options["planarconfig"] = "contig"
    tile = (TIFF_TILE, TIFF_TILE)
    tiles = -(-shape[0] // tile[0]) * -(-shape[1] // tile[1])
    tile_bytes = tile[0] * tile[1] * channels * dtype.itemsize
    bigtiff = tiles * tile_bytes > _CLASSIC_TIFF_LIMIT
    first = np.zeros(tile + shape[2:], dtype)
    with tifffile.TiffWriter(store.temp, bigtiff=bigtiff) as writer:
        writer.write(itertools.chain([first], itertools.repeat(None, tiles - 1)), shape=shape,
                     dtype=dtype, tile=tile, compression=None, **options)
    index_type = np.uint64 if bigtiff else np.uint32
    start = 0
    with tifffile.TiffFile(store.temp, mode="r+b") as tiff:
        page = tiff.pages[0]
        # Rewriting the table may move it to the end of the file: then start after it.
        while start < os.path.getsize(store.temp):
            start = -(-os.path.getsize(store.temp) // 4096) * 4096
            offsets = start + np.arange(tiles, dtype=np.int64) * tile_bytes
            page.tags["TileOffsets"].overwrite(offsets.astype(index_type))
            page.tags["TileByteCounts"].overwrite(np.full(tiles, tile_bytes, index_type))
            tiff.filehandle.flush()
    os.truncate(store.temp, start + tiles * tile_bytes)
    store.tiff_offsets = offsets
    store.tiff_tile = tile

"""FFT helpers: 2·3·5-smooth sizes and tiled (overlap-save) valid-mode cross-correlation.

pocketfft (behind ``numpy.fft``) is fast for sizes whose prime factors are small and
several times slower for sizes with a large prime factor (4098 = 2·3·683 took 4× as
long as 4116 = 2²·3·7³ on the development machine), so every transform here is taken at
a size with prime factors 2, 3 and 5 only.

Large images are cut into tiles (overlap-save): each tile of ``fh × fw`` input pixels
yields ``(fh - kh + 1) × (fw - kw + 1)`` exact outputs, the kernel's spectrum is computed
once per call (in float64, at the one tile size of the plan), and tiles run on a thread pool
(pocketfft releases the GIL), each thread with its own scratch spectra reused tile after tile.
Tiles are read where they lie (a view of the image, or whatever a caller's reader gives) and
their outputs written straight into the result: nothing image-sized is made but the result.

How each tile is transformed matters more than the FFT itself here (numpy 2.4, AMD EPYC):

- one axis at a time with ``out=``: ``rfft`` along the rows into a reused spectrum, ``fft``
  along the columns in place, then back (``ifft`` columns in place, ``irfft`` of only the
  rows that are kept), instead of ``rfft2`` / ``irfft2``, which allocate every intermediate:
  about half the CPU time per tile;
- ``norm="ortho"`` in both directions: numpy passes the scale factor to its transform as a
  number, and for an unscaled transform (``norm="backward"`` going forward, ``"forward"``
  coming back) that number is the Python int 1, which selects pocketfft's float64 loop:
  a float32 tile then took 5.4 ms instead of 0.8 ms (486² rows). "ortho" keeps the float32
  loop both ways and keeps the spectra at the scale of the data (no underflow of small
  values); the kernel's spectrum is then the plain, unscaled one.

float32 inputs are transformed in single precision (complex64, numpy >= 2 keeps float32);
float64 in double.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from cvtool.errors import UsageError
from cvtool.threads import map_threads, resolve_workers

__all__ = ["fft_correlate_tiles", "fft_correlate_valid", "fft_work", "smooth_size"]


@lru_cache(maxsize=4096)
def smooth_size(n: int) -> int:
    """Return the smallest integer ``m >= n`` whose only prime factors are 2, 3 and 5.

    Parameters
    ----------
    n : int
        The least acceptable size; values below 1 give 1.

    Returns
    -------
    int
        A "5-smooth" (Hamming) number, a size at which FFTs are fast.

    Examples
    --------
    >>> smooth_size(4098), smooth_size(97), smooth_size(1)
    (4320, 100, 1)
    """
    n = int(n)
    if n <= 1:
        return 1
    best = 1 << (n - 1).bit_length()  # a power of two always qualifies
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            # Smallest power of two lifting p35 to at least n.
            quotient = -(-n // p35)
            candidate = p35 * (1 << (quotient - 1).bit_length())
            if candidate < best:
                best = candidate
            p35 *= 3
        p5 *= 5
    return best


@lru_cache(maxsize=1024)
def _log_cost(n: int) -> float:
    """log2(n) with pocketfft's extra cost of radix-3 and radix-5 passes (about 15 % per
    unit of log2 over radix 2, fitted on 1-D transforms of 240..1125 points)."""
    cost = 0.0
    for p, weight in ((2, 1.0), (3, 1.15 * math.log2(3)), (5, 1.15 * math.log2(5))):
        while n % p == 0:
            n //= p
            cost += weight
    return cost + (math.log2(n) if n > 1 else 0.0)


#: A tile's complex64 spectrum above this many bytes spills out of a core's L2 cache
#: (512 KiB on Zen 3), and its column transforms then slow down.
_CACHE_BYTES = 640 * 1024


def _tile_cost(fh: int, fw: int) -> float:
    """Relative time of one tile (row and column transforms both ways, product, copy-out).

    n·log n with radix weights, times up to 1.4 as the spectrum outgrows the cache, plus a
    fixed cost per tile for the dispatch and the slicing (worth about a 64² transform).
    Measured on 4096² float32 with a 31x31 kernel (AMD EPYC, one thread): 384² tiles
    (2^7·3, 144 tiles) took 20-30 % less CPU time than 486² (2·3^5, 81 tiles).
    """
    area = fh * fw
    spectrum = fh * (fw // 2 + 1) * 8
    growth = 1.0 + 0.4 * min(1.0, max(0.0, (spectrum - _CACHE_BYTES) / _CACHE_BYTES))
    return area * (_log_cost(fh) + _log_cost(fw)) * growth + 60_000.0


def _plan_axis(n_out: int, k: int) -> list[tuple[int, int]]:
    """Candidate (tile count, FFT size) pairs for one axis of ``n_out`` outputs."""
    candidates = []
    seen = set()
    # More tiles than outputs / kernel size only adds overlap, so stop there.
    max_tiles = max(1, min(n_out, -(-n_out // max(k, 16))))
    for count in range(1, max_tiles + 1):
        step = -(-n_out // count)
        size = smooth_size(step + k - 1)
        # Slightly larger sizes with cheaper radices (more factors of 2) compete too.
        while size <= (smooth_size(step + k - 1) * 9) // 8:
            if size not in seen:
                seen.add(size)
                candidates.append((-(-n_out // (size - k + 1)), size))
            size = smooth_size(size + 1)
    # Drop a size that needs as many tiles as another and costs more per tile (for any
    # partner on the other axis: the cache term only grows with the size).
    kept, cheapest = [], math.inf
    for n, work, size in sorted((n, size * _log_cost(size), size) for n, size in candidates):
        if work < cheapest:
            kept.append((n, size))
            cheapest = work
    return kept


# The plan assumes this many threads whatever ``workers`` is, so that the tiling (and
# hence every rounding error) depends on the shapes only: results are bit-identical for
# any thread count and on any machine.
_PLAN_THREADS = 2


@lru_cache(maxsize=256)
def _plan(h_out: int, w_out: int, kh: int, kw: int) -> tuple[int, int]:
    """Pick the FFT tile size ``(fh, fw)`` minimising the modelled wall-clock time."""
    workers = _PLAN_THREADS
    best = None
    rows = [(ny, fh, _log_cost(fh)) for ny, fh in _plan_axis(h_out, kh)]
    cols = [(nx, fw, _log_cost(fw), fw // 2 + 1) for nx, fw in _plan_axis(w_out, kw)]
    for ny, fh, log_h in rows:
        for nx, fw, log_w, half in cols:
            tiles = ny * nx
            # _tile_cost, inlined: this loop runs thousands of times per new shape.
            excess = (fh * half * 8 - _CACHE_BYTES) / _CACHE_BYTES
            growth = 1.0 + 0.4 * (0.0 if excess <= 0.0 else min(1.0, excess))
            one = fh * fw * (log_h + log_w) * growth + 60_000.0
            # Makespan on the pool, plus a little of the total work so that, at equal
            # makespan, less work (and memory traffic) wins.
            cost = -(-tiles // workers) * one + 0.1 * tiles * one
            if best is None or cost < best[0]:
                best = (cost, fh, fw)
    assert best is not None
    return best[1], best[2]


def fft_work(h_out: int, w_out: int, kh: int, kw: int) -> tuple[int, float]:
    """The tiles of :func:`fft_correlate_valid` for one channel, and their Σ n·log2(n).

    Counts every tile of the plan (``n = fh·fw`` each), so a cost model can compare it with
    the multiply-adds of a direct correlation.

    Examples
    --------
    >>> fft_work(100, 100, 31, 31)[1] > fft_work(50, 100, 31, 31)[1]
    True
    """
    if h_out <= 0 or w_out <= 0:
        return 0, 0.0
    fh, fw = _plan(h_out, w_out, kh, kw)
    tiles = -(-h_out // (fh - kh + 1)) * -(-w_out // (fw - kw + 1))
    return tiles, float(tiles * fh * fw * math.log2(fh * fw))


def fft_correlate_valid(image: np.ndarray, kernel: np.ndarray, *,
                        workers: int | None = None) -> np.ndarray:
    """Valid-mode 2-D cross-correlation by tiled FFTs (overlap-save).

    ``out[i, j] = sum_{k, l} image[i + k, j + l] * kernel[k, l]`` for every position
    where the kernel lies wholly inside the image, as
    ``scipy.signal.correlate2d(image, kernel, mode='valid')``.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        The signal. With a trailing channel axis, each channel is correlated with the
        matching channel of ``kernel`` and the results are summed (one joint
        correlation, as the numerator of a colour template match).
    kernel : ndarray, shape (kh, kw) or (kh, kw, C)
        The weights; ``kh <= H`` and ``kw <= W``; same number of dimensions (and
        channels) as ``image``.
    workers : int, optional
        Threads used for the tiles; ``None`` means ``os.cpu_count()``.

    Returns
    -------
    ndarray, shape (H - kh + 1, W - kw + 1)
        float32 when both inputs are float32 (or smaller: 8/16-bit integers, float16);
        float64 otherwise. float32 work is done in single precision (complex64
        transforms): the absolute error is then about 1e-6 times
        ``sqrt(sum(window**2) * sum(kernel**2))``, so callers that correlate a signal
        with a large constant offset should subtract it first (or pass float64).

    Raises
    ------
    UsageError
        (a ``ValueError``, naming the argument) on mismatched dimensions or channels, an
        empty image or kernel, a kernel larger than the image, or ``workers`` not an
        integer >= 1.

    Examples
    --------
    >>> img = np.arange(12.0).reshape(3, 4)
    >>> fft_correlate_valid(img, np.array([[1.0, 0.0], [0.0, -1.0]]))
    array([[-5., -5., -5.],
           [-5., -5., -5.]])
    """
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    if image.ndim not in (2, 3):
        raise UsageError(f"image must be 2-D or 3-D, got shape {image.shape}",
                         parameter="image")
    if kernel.ndim != image.ndim:
        raise UsageError(f"kernel must have as many dimensions as the image, got shapes "
                         f"{kernel.shape} and {image.shape}", parameter="kernel")
    if image.ndim == 3 and image.shape[2] != kernel.shape[2]:
        raise UsageError(f"kernel has {kernel.shape[2]} channels but the image has "
                         f"{image.shape[2]}", parameter="kernel")
    if image.size == 0:
        raise UsageError(f"image is empty (shape {image.shape})", parameter="image")
    if kernel.size == 0:
        raise UsageError(f"kernel is empty (shape {kernel.shape})", parameter="kernel")
    h, w = image.shape[:2]
    kh, kw = kernel.shape[:2]
    if kh > h or kw > w:
        raise UsageError(f"kernel {kw}x{kh} is larger than the image {w}x{h} "
                         f"(width x height)", parameter="kernel")
    workers = resolve_workers(workers)

    dtype = np.result_type(image.dtype, kernel.dtype, np.float32)
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float64)
    kernel = kernel.astype(dtype, copy=False)
    if image.ndim == 2:
        image = image[:, :, None]
        kernel = kernel[:, :, None]
    out = np.empty((h - kh + 1, w - kw + 1), dtype=dtype)
    fft_correlate_tiles(lambda: _array_reader(image, dtype), (h, w), kernel, out,
                        workers=workers)
    return out


#: ``reader()`` gives one thread its ``read(r0, r1, c0, c1)``: rows r0:r1 and columns c0:c1
#: of the input as an ``(r1 - r0, c1 - c0, C)`` array of the working dtype (a view, or a
#: buffer of that thread's own that stays valid until its next call).
TileReader = Callable[[], Callable[[int, int, int, int], np.ndarray]]


def _array_reader(image: np.ndarray, dtype: np.dtype) -> Callable[[int, int, int, int],
                                                                   np.ndarray]:
    """Tiles of an ``H × W × C`` array: views, or converted into one reused buffer."""
    if image.dtype == dtype:
        return lambda r0, r1, c0, c1: image[r0:r1, c0:c1]
    buffer: list[np.ndarray] = []

    def read(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        shape = (r1 - r0, c1 - c0, image.shape[2])
        if not buffer or buffer[0].size < math.prod(shape):
            buffer[:] = [np.empty(math.prod(shape), dtype)]
        tile = buffer[0][:math.prod(shape)].reshape(shape)
        np.copyto(tile, image[r0:r1, c0:c1], casting="unsafe")
        return tile

    return read


# numpy >= 2 takes out= in its transforms (and keeps float32 in single precision); older
# versions compute in float64 and return new arrays, copied into the scratch spectra here.
_HAS_OUT = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _rfft_rows(plane: np.ndarray, n: int, out: np.ndarray) -> None:
    if _HAS_OUT:
        np.fft.rfft(plane, n=n, axis=1, norm="ortho", out=out)
    else:  # pragma: no cover - numpy 1.x
        out[...] = np.fft.rfft(plane, n=n, axis=1, norm="ortho")


def _fft_columns(spec: np.ndarray, inverse: bool) -> None:
    transform = np.fft.ifft if inverse else np.fft.fft
    if _HAS_OUT:
        transform(spec, axis=0, norm="ortho", out=spec)
    else:  # pragma: no cover - numpy 1.x
        spec[...] = transform(spec, axis=0, norm="ortho")


def _irfft_rows(spec: np.ndarray, n: int, out: np.ndarray) -> None:
    if _HAS_OUT:
        np.fft.irfft(spec, n=n, axis=1, norm="ortho", out=out)
    else:  # pragma: no cover - numpy 1.x
        out[...] = np.fft.irfft(spec, n=n, axis=1, norm="ortho")


def _kernel_spectrum(kernel: np.ndarray, fh: int, fw: int, dtype: type) -> np.ndarray:
    """conj(DFT) of ``kernel`` zero-padded to ``fh × fw``, taken in float64 and then rounded.

    Unscaled: the tiles' two "ortho" transforms already divide by ``fh·fw`` in all.
    """
    spec = np.fft.rfft(kernel.astype(np.float64), n=fw, axis=1)
    spec = np.fft.fft(spec, n=fh, axis=0)
    return np.conj(spec).astype(dtype)


def fft_correlate_tiles(reader: TileReader, size: tuple[int, int], kernel: np.ndarray,
                        out: np.ndarray, *, stride: tuple[int, int] = (1, 1),
                        workers: int = 1) -> None:
    """Valid-mode correlation of a tiled input by overlap-save FFTs, written into ``out``.

    The engine behind :func:`fft_correlate_valid`, for callers that read the input tile by
    tile (a padded image assembled on demand, say) and have the result's buffer already.
    Nothing is checked here: callers validate first.

    Parameters
    ----------
    reader : callable
        Called once per thread; returns ``read(r0, r1, c0, c1)`` giving input rows
        ``r0:r1`` and columns ``c0:c1`` as an ``(r1 - r0, c1 - c0, C)`` array of
        ``out.dtype`` (a view, or a buffer of that thread's that may be reused by its next
        call).
    size : (int, int)
        ``(H, W)`` of the input.
    kernel : ndarray, shape (kh, kw, C) or (kh, kw)
        With C channels, the per-channel correlations are summed into one map (``out`` is
        ``(rows, cols)``); a 2-D kernel correlates each channel on its own (``out`` is
        ``(rows, cols, C)``). Any real dtype: its spectrum is taken in float64.
    out : ndarray of float32 or float64
        ``(ceil((H - kh + 1) / sy), ceil((W - kw + 1) / sx)[, C])``: the outputs at rows
        0, sy, 2·sy, ... and columns 0, sx, ... of the valid correlation. Its dtype is the
        working precision.
    stride : (int, int)
        ``(sy, sx)``: only the kept rows are transformed back.
    workers : int
        Threads (>= 1). The tiling does not depend on it: results are bit-identical.

    Examples
    --------
    >>> img = np.arange(20.0).reshape(4, 5, 1)
    >>> out = np.empty((2, 2, 1))
    >>> fft_correlate_tiles(lambda: lambda r0, r1, c0, c1: img[r0:r1, c0:c1], (4, 5),
    ...                     np.ones((3, 3)), out, stride=(1, 2))
    >>> out[..., 0]
    array([[ 54.,  72.],
           [ 99., 117.]])
    """
    dtype = out.dtype
    cdtype = np.complex64 if dtype == np.float32 else np.complex128
    joint = kernel.ndim == 3
    kernels = [kernel[:, :, c] for c in range(kernel.shape[2])] if joint else [kernel]
    kh, kw = kernel.shape[:2]
    h, w = size
    sy, sx = stride
    h_out, w_out = h - kh + 1, w - kw + 1
    fh, fw = _plan(h_out, w_out, kh, kw)
    th, tw = fh - kh + 1, fw - kw + 1
    spectra = [_kernel_spectrum(k, fh, fw, cdtype) for k in kernels]
    # Tiles holding no kept row or column (a stride longer than a tile) are skipped.
    origins = [(i, j) for i in range(0, h_out, th) for j in range(0, w_out, tw)
               if (-i) % sy < min(th, h_out - i) and (-j) % sx < min(tw, w_out - j)]
    pending = iter(origins)
    lock = threading.Lock()

    def next_origin() -> tuple[int, int] | None:
        with lock:
            return next(pending, None)

    def work(_: int) -> None:
        read = reader()
        # One thread's scratch, reused by every tile it takes: spectra stay in cache and no
        # page is faulted in per tile.
        spec = np.empty((fh, fw // 2 + 1), cdtype)
        total = np.empty_like(spec) if joint and len(kernels) > 1 else spec
        res = np.empty((-(-th // sy), fw), dtype)
        while (origin := next_origin()) is not None:
            i0, j0 = origin
            rows, cols = min(th, h_out - i0), min(tw, w_out - j0)
            first_r, first_c = (-i0) % sy, (-j0) % sx
            o_r, o_c = (i0 + first_r) // sy, (j0 + first_c) // sx
            n_r, n_c = len(range(first_r, rows, sy)), len(range(first_c, cols, sx))
            tile = read(i0, min(h, i0 + fh), j0, min(w, j0 + fw))
            for c in range(tile.shape[2]):
                # Forward: the rows (zero-padded to fw by rfft), then the columns; rows
                # below the input's end are zeros.
                n_in = tile.shape[0]
                _rfft_rows(tile[:, :, c], fw, spec[:n_in])
                spec[n_in:] = 0
                _fft_columns(spec, inverse=False)
                if joint:
                    if c == 0:
                        np.multiply(spec, spectra[0], out=total)
                    else:
                        spec *= spectra[c]
                        total += spec
                    if c < len(kernels) - 1:
                        continue
                    back, target = total, out[o_r:o_r + n_r, o_c:o_c + n_c]
                else:
                    spec *= spectra[0]
                    back, target = spec, out[o_r:o_r + n_r, o_c:o_c + n_c, c]
                # Back: all columns, then only the rows kept (the valid ones, strided).
                _fft_columns(back, inverse=True)
                _irfft_rows(back[first_r:rows:sy], fw, res[:n_r])
                target[...] = res[:n_r, first_c:cols:sx]

    threads = max(1, min(workers, len(origins)))
    map_threads(work, range(threads), threads)

"""FFT helpers: 2·3·5-smooth sizes and tiled (overlap-save) valid-mode cross-correlation.

pocketfft (behind ``numpy.fft``) is fast for sizes whose prime factors are small and
several times slower for sizes with a large prime factor (4098 = 2·3·683 took 4× as
long as 4116 = 2²·3·7³ on the development machine), so every transform here is taken at
a size with prime factors 2, 3 and 5 only.

Large images are cut into tiles (overlap-save): each tile of ``fh × fw`` input pixels
yields ``(fh - kh + 1) × (fw - kw + 1)`` exact outputs, the kernel's spectrum is computed
once for the tile size, and tiles run on a thread pool (pocketfft releases the GIL).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from cvtool.errors import UsageError
from cvtool.threads import map_threads, resolve_workers

__all__ = ["smooth_size", "fft_correlate_valid", "fft_work"]


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


def _tile_cost(fh: int, fw: int) -> float:
    """Relative time of one tile (rfft2, product, irfft2, copy-out) of size ``fh × fw``."""
    area = fh * fw
    log_area = math.log2(area + 1.0)
    # n log n, times up to 1.3 as the transforms outgrow the cache (measured between
    # 512² and 1024² on the development machine), plus a fixed cost per tile for the
    # dispatch and the slicing (worth about a 64² transform).
    growth = 1.0 + 0.3 * min(1.0, max(0.0, (log_area - 18.0) / 2.0))
    return area * log_area * growth + 60_000.0


def _plan_axis(n_out: int, k: int) -> list[tuple[int, int]]:
    """Candidate (tile count, FFT size) pairs for one axis of ``n_out`` outputs."""
    candidates = []
    seen = set()
    # More tiles than outputs / kernel size only adds overlap, so stop there.
    max_tiles = max(1, min(n_out, -(-n_out // max(k, 16))))
    for count in range(1, max_tiles + 1):
        step = -(-n_out // count)
        size = smooth_size(step + k - 1)
        if size in seen:
            continue
        seen.add(size)
        candidates.append((-(-n_out // (size - k + 1)), size))
    return candidates


# The plan assumes this many threads whatever ``workers`` is, so that the tiling (and
# hence every rounding error) depends on the shapes only: results are bit-identical for
# any thread count and on any machine.
_PLAN_THREADS = 2


@lru_cache(maxsize=256)
def _plan(h_out: int, w_out: int, kh: int, kw: int) -> tuple[int, int]:
    """Pick the FFT tile size ``(fh, fw)`` minimising the modelled wall-clock time."""
    workers = _PLAN_THREADS
    best = None
    for ny, fh in _plan_axis(h_out, kh):
        for nx, fw in _plan_axis(w_out, kw):
            tiles = ny * nx
            one = _tile_cost(fh, fw)
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
    image = image.astype(dtype, copy=False)
    kernel = kernel.astype(dtype, copy=False)
    if image.ndim == 2:
        image = image[:, :, None]
        kernel = kernel[:, :, None]
    channels = image.shape[2]

    h_out, w_out = h - kh + 1, w - kw + 1
    kspec_dtype = np.complex64 if dtype == np.float32 else np.complex128
    fh, fw = _plan(h_out, w_out, kh, kw)
    th, tw = fh - kh + 1, fw - kw + 1
    shape = (fh, fw)
    # conj(F(kernel)) turns the circular convolution theorem into circular correlation:
    # outputs 0..fh-kh of each tile never wrap around, which is exactly the valid part.
    # numpy's pocketfft wrapper runs a 2-D transform several times faster when it has a
    # scale factor to apply (norm="forward" going forward, "backward" coming back: 10 ms
    # against 1.9 ms for a 729×400 rfft2 with numpy 2.4), so the tiles are transformed
    # that way and the 1/(fh·fw) it costs is given back once, in the kernel's spectrum.
    gain = np.asarray(float(fh * fw) ** 2, kspec_dtype)  # undoes both 1/(fh·fw) factors
    kspec = [np.conj(np.fft.rfft2(kernel[:, :, c], s=shape, norm="forward")) * gain
             for c in range(channels)]
    out = np.empty((h_out, w_out), dtype=dtype)

    def run(origin: tuple[int, int]) -> None:
        i0, j0 = origin
        acc = None
        for c in range(channels):
            # rfft2 zero-pads the (possibly smaller) edge tile to the plan's size; the
            # padding only reaches outputs that are cut away below.
            spec = np.fft.rfft2(image[i0:i0 + fh, j0:j0 + fw, c], s=shape, norm="forward")
            spec *= kspec[c]
            if acc is None:
                acc = spec
            else:
                acc += spec
        res = np.fft.irfft2(acc, s=shape, norm="backward")
        rows, cols = min(th, h_out - i0), min(tw, w_out - j0)
        out[i0:i0 + rows, j0:j0 + cols] = res[:rows, :cols]

    origins = [(i, j) for i in range(0, h_out, th) for j in range(0, w_out, tw)]
    map_threads(run, origins, workers)
    return out

"""Each strategy, forced in turn, against the same oracle, on the awkward cases.

The fast strategies (row bands on threads, separable passes, box window sums, tiled FFT)
must give the direct result within float32 rounding whatever the image, kernel, padding,
stride and tile size; here tiles are shrunk so that kernels are larger than a tile.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_filtering import oracle

import cvtool.imaging.fft
from cvtool.errors import UsageError
from cvtool.filtering import (
    bands,
    box,
    choose_strategy,
    convolve,
    correlate,
    make_plan,
    registry,
    separable,
    separable_factors,
)

MODES = ("zero", "constant", "clamp", "mirror", "symmetric", "wrap", "extend", "normalized")
RNG = np.random.default_rng(2024)
#: Every registered strategy: a new registry row is tested here without editing this file.
ALL = list(registry.STRATEGIES)


def kernel_for(strategy: str, shape: tuple[int, int], positive: bool) -> np.ndarray:
    """The most general kernel the strategy takes: arbitrary, else rank 1, else constant."""
    col, row = RNG.normal(size=shape[0]), RNG.normal(size=shape[1])
    k = RNG.normal(size=shape)
    if positive:
        col, row, k = np.abs(col) + 0.1, np.abs(row) + 0.1, np.abs(k) + 0.1
    for candidate in (k, np.outer(col, row), np.full(shape, 0.3)):
        if registry.STRATEGIES[strategy].applies(make_plan(np.ones((4, 4)), candidate)):
            return candidate
    raise AssertionError(f"strategy {strategy} takes none of the test kernels")


def check(got, image, kernel, *, float64: bool, fft: bool, **kwargs):
    expected = oracle(image, kernel, **kwargs)
    # FFT rounding scales with the energy under the kernel, not with each output.
    scale = np.abs(image).max() * np.abs(kernel).sum()
    rtol = 1e-9 if float64 and not fft else 1e-5
    atol = rtol * scale * (10 if fft else 1)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


TILINGS = {
    # BAND_BYTES, GEMM_ROWS (rows per band), GEMM_MACS (column chunks), ROW_BLOCK, and the
    # FFT tile plan: input tile (fh, fw) for a kernel (kh, kw) gives (fh-kh+1)×(fw-kw+1)
    # outputs per tile (None: the real planner, cvtool.imaging.fft._plan).
    "tiny-tiles": (64, 1, 1, 1, lambda h, w, kh, kw: (kh + 1, kw + 1)),  # 2×2 outputs
    "small-tiles": (2048, 3, 300, 5, lambda h, w, kh, kw: (kh + 3, kw + 4)),  # 4×5 outputs
    "default": (box.BAND_BYTES, bands.GEMM_ROWS, bands.GEMM_MACS, separable.ROW_BLOCK, None),
}
TUNABLES = ((box, "BAND_BYTES"), (bands, "GEMM_ROWS"), (bands, "GEMM_MACS"),
            (separable, "ROW_BLOCK"))


@pytest.fixture(params=list(TILINGS))
def band_bytes(request, monkeypatch):
    """Tilings from far below one kernel (1-row bands, 1-pixel chunks, FFT tiles of 2×2
    outputs) to the default; the small FFT tiles (2×2, 4×5 outputs) are smaller than most
    kernels here, so overlap-save stitches many partial tiles through correlate(strategy="fft")."""
    *values, plan = TILINGS[request.param]
    for (module, name), value in zip(TUNABLES, values, strict=True):
        monkeypatch.setattr(module, name, value)
    if plan is not None:
        monkeypatch.setattr(cvtool.imaging.fft, "_plan", plan)
    return values


@pytest.mark.parametrize("strategy", ALL)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("img_shape", "k_shape"), [
    ((1, 1), (1, 1)),
    ((1, 1), (3, 3)),
    ((1, 9), (2, 3)),
    ((13, 11), (3, 3)),
    ((13, 11), (4, 7)),
    ((7, 5), (9, 12)),  # kernel larger than the image
    ((21, 17, 3), (5, 5)),
])
def test_strategy_matches_oracle(strategy, mode, img_shape, k_shape, band_bytes):
    """Forced strategy == oracle for every padding, shape and a few strides."""
    image = RNG.normal(size=img_shape) * 50 + 20
    kernel = kernel_for(strategy, k_shape, positive=mode == "normalized")
    for shape, stride, flip in [("same", 1, False), ("full", (2, 3), True),
                                ("same", (3, 1), True), ("full", 1, False)]:
        fn = convolve if flip else correlate
        for dtype in (np.float32, np.float64):
            got = fn(image.astype(dtype), kernel, padding=mode, pad_value=(7.0,) * (
                img_shape[2] if len(img_shape) == 3 else 1), stride=stride, shape=shape,
                strategy=strategy, workers=2)
            assert got.dtype == dtype
            check(got, image.astype(dtype), kernel, float64=dtype == np.float64,
                  fft=strategy == "fft", flip=flip, padding=mode, shape=shape, stride=stride,
                  pad_value=7.0)


@pytest.mark.parametrize("strategy", ALL)
def test_strategy_valid_and_uint8(strategy, band_bytes):
    """valid shape, uint8 input (converted per tile, never wrapped), several threads."""
    image = RNG.integers(0, 256, size=(40, 33, 3)).astype(np.uint8)
    kernel = kernel_for(strategy, (6, 5), positive=False)
    for stride in (1, 2, (1, 3)):
        got = correlate(image, kernel, shape="valid", stride=stride, strategy=strategy,
                        workers=3)
        assert got.dtype == np.float32
        check(got, image.astype(np.float64), kernel, float64=False, fft=strategy == "fft",
              shape="valid", stride=stride)


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_threads_do_not_change_the_result(workers, monkeypatch):
    """The result is bit-identical for any thread count (tiles do not depend on it)."""
    monkeypatch.setattr(box, "BAND_BYTES", 4096)
    monkeypatch.setattr(bands, "GEMM_ROWS", 3)
    monkeypatch.setattr(cvtool.imaging.fft, "_plan", lambda h, w, kh, kw: (kh + 6, kw + 8))
    image = RNG.normal(size=(64, 50)).astype(np.float32)
    for strategy in ALL:
        k = kernel_for(strategy, (5, 5), positive=False)
        ref = correlate(image, k, strategy=strategy, workers=1)
        np.testing.assert_array_equal(correlate(image, k, strategy=strategy, workers=workers),
                                      ref)


def test_box_precision_on_a_large_bright_image():
    """Box sums stay accurate in float32 on a large bright image (no cumsum drift)."""
    image = (RNG.uniform(200, 255, size=(600, 2100))).astype(np.float32)
    k = np.full((31, 31), 1 / 961)
    got = correlate(image, k, strategy="box", padding="clamp")
    ref = correlate(image.astype(np.float64), k, strategy="separable", padding="clamp")
    np.testing.assert_allclose(got, ref, rtol=2e-6)


@pytest.mark.parametrize(("strategy", "kernel"), [
    ("separable", np.array([[1.0, 2.0], [3.0, 1.0]])),
    ("box", np.array([[1.0, 1.0], [1.0, 2.0]])),
])
def test_forcing_an_inapplicable_strategy_is_an_error(strategy, kernel):
    """Forcing a strategy that does not apply is a UsageError naming ``strategy`` and what
    it needs, not a wrong answer."""
    with pytest.raises(UsageError, match=f"^strategy '{strategy}' does not apply here: it "
                                         f"needs a kernel") as caught:
        correlate(np.ones((5, 5)), kernel, strategy=strategy)
    assert caught.value.parameter == "strategy"


def test_separable_factors():
    """Rank-1 kernels factor exactly (box, Sobel, Gaussian); others do not."""
    from cvtool.filtering.kernels import SOBEL_X, box_kernel, gaussian_kernel
    for k in (SOBEL_X, box_kernel(4), gaussian_kernel(7), np.array([[2.0, -1.0, 3.0]])):
        col, row = separable_factors(k)
        np.testing.assert_allclose(np.outer(col, row), k, rtol=1e-14, atol=1e-17)
    assert separable_factors(RNG.normal(size=(3, 3))) is None
    assert separable_factors(np.zeros((3, 3))) is None


BENCH_IMAGE = np.empty((4096, 4096), np.float32)  # never written: plans do not compute
FIRST_FOUR = ("direct", "separable", "box", "fft")


@pytest.fixture
def first_four(monkeypatch):
    """The registry as it was with the first four strategies: their rows of the cost table
    must keep the old chooser's choices whatever strategies are added later (a new one is
    chosen only where its own row says it is cheaper, and is tested on its own)."""
    monkeypatch.setattr(registry, "STRATEGIES",
                        {name: registry.STRATEGIES[name] for name in FIRST_FOUR})


@pytest.mark.parametrize(("kernel", "options", "expected"), [
    (np.full((101, 101), 1.0), {}, "box"),
    (np.full((31, 31), 1 / 961), {}, "box"),                 # benchmark: 31x31 box (*)
    (np.outer(np.arange(1.0, 8), np.arange(7.0, 0, -1)), {}, "separable"),  # 7x7 rank 1
    (np.ones((9, 1)) + np.arange(9.0)[:, None], {}, "direct"),  # one column: no pass to save
    (RNG.normal(size=(3, 3)), {}, "direct"),                 # benchmark: 3x3 arbitrary
    (RNG.normal(size=(5, 5)), {"padding": "mirror"}, "direct"),  # benchmark: 5x5 mirror
    (RNG.normal(size=(3, 3)), {"stride": 4}, "direct"),      # benchmark: 3x3 stride 4
    (RNG.normal(size=(31, 31)), {}, "fft"),                  # benchmark: 31x31 arbitrary
    (RNG.normal(size=(31, 31)), {"stride": (4, 4)}, "direct"),  # FFT computes every output
])
def test_auto_choices(kernel, options, expected, first_four):
    """auto on a 4096² float32 image (the benchmark's): box sums for large constant
    kernels, separable passes for rank 1, FFT for large arbitrary kernels (not with a large
    stride), direct GEMMs otherwise: the choices the old hand-written chooser made, except
    (*) the 31x31 box, which the old chooser sent to separable: box took 7-17 % less CPU
    time there when measured against it on 4096² (1 and 2 threads)."""
    assert choose_strategy(BENCH_IMAGE, kernel, **options) == expected


def test_auto_choices_benchmark_gaussian(first_four):
    """The benchmark's 7x7 Gaussian runs as two separable passes."""
    from cvtool.filtering.kernels import gaussian_kernel
    assert choose_strategy(BENCH_IMAGE, gaussian_kernel(7)) == "separable"


@pytest.mark.parametrize("size", [1, 8, 16, 64, 128, 512])
def test_auto_keeps_small_kernels_off_the_fft(size):
    """A 3x3 arbitrary kernel runs an exact strategy (direct sums) at every image size:
    where the FFT's estimate comes close (small images, all set-up), it is not worth its
    rounding."""
    choice = choose_strategy(np.empty((size, size), np.float32), RNG.normal(size=(3, 3)))
    assert registry.STRATEGIES[choice].exact


def test_auto_crossover_direct_to_fft(first_four):
    """On 4096² float32, arbitrary kernels go from direct to FFT between 9x9 and 11x11."""
    assert choose_strategy(BENCH_IMAGE, RNG.normal(size=(9, 9))) == "direct"
    assert choose_strategy(BENCH_IMAGE, RNG.normal(size=(11, 11))) == "fft"


def test_auto_runs_the_cheapest_applicable_strategy(monkeypatch):
    """auto takes the minimum of the cost table over the strategies that apply, whatever
    the table says (here direct is made the dearest)."""
    plan = make_plan(BENCH_IMAGE, np.full((31, 31), 1.0))
    assert set(registry.costs(plan)) == {n for n, s in registry.STRATEGIES.items()
                                         if s.applies(plan)} >= {"direct", "fft"}
    monkeypatch.setitem(registry.STRATEGIES, "direct",
                        dataclasses.replace(registry.STRATEGIES["direct"], fixed=1e9))
    estimates = registry.costs(plan)
    assert registry.choose(plan).name == min(estimates, key=estimates.get) != "direct"


@pytest.mark.parametrize("k_shape", [(3, 3), (7, 7), (31, 31), (15, 3)])
def test_auto_equals_direct(k_shape):
    """Whatever auto picks gives the direct result within float32 rounding."""
    image = RNG.uniform(0, 255, size=(90, 120)).astype(np.float32)
    for kernel in (RNG.normal(size=k_shape), np.full(k_shape, 1.0 / np.prod(k_shape)),
                   np.outer(RNG.normal(size=k_shape[0]), RNG.normal(size=k_shape[1]))):
        auto = correlate(image, kernel, padding="mirror")
        direct = correlate(image.astype(np.float64), kernel, padding="mirror",
                           strategy="direct")
        scale = 255 * np.abs(kernel).sum()
        np.testing.assert_allclose(auto, direct, rtol=1e-5, atol=1e-5 * scale)

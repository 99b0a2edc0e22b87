"""The matrix-vector strategies of issue 11 (shifted, separable_gemv, box_sums), each forced in
turn against the same plain-definition oracle as every other strategy, and BLAS's threads.

Their bands, scratch pitches (padded against 4K aliasing), border columns, pair sums,
window doublings and strided gathers all have edges; hypothesis draws images, kernels,
padding modes, shapes, strides, channels and dtypes, and the scratch is shrunk to one row
per band as well as left at its default.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_filtering import oracle

from cvtool.errors import UsageError
from cvtool.filtering import (
    box_sums,
    choose_strategy,
    convolve,
    correlate,
    separable_gemv,
    shifted,
)
from cvtool.filtering.blas import blas_info, one_thread

NEW = ("shifted", "separable_gemv", "box_sums")
MODES = ("zero", "constant", "clamp", "mirror", "symmetric", "wrap", "extend", "normalized")
SCRATCH = {"shifted": shifted, "separable_gemv": separable_gemv, "box_sums": box_sums}


def make_kernel(strategy: str, rng: np.random.Generator, shape, *, positive: bool,
                symmetric: bool) -> np.ndarray:
    """The most general kernel the strategy takes (arbitrary / rank 1 / constant)."""
    if strategy == "box_sums":
        return np.full(shape, rng.uniform(0.1, 2.0))
    col, row = rng.normal(size=shape[0]), rng.normal(size=shape[1])
    if positive:
        col, row = np.abs(col) + 0.1, np.abs(row) + 0.1
    if symmetric:  # the pair-sum path of separable_gemv
        col, row = col + col[::-1], row + row[::-1]
    if strategy == "separable_gemv":
        return np.outer(col, row)
    k = rng.normal(size=shape)
    return np.abs(k) + 0.1 if positive else k


def assert_matches_oracle(got, image, kernel, *, float64: bool, **options) -> None:
    expected = oracle(image, kernel, **options)
    assert got.shape == expected.shape
    rtol = 1e-9 if float64 else 1e-5
    scale = np.abs(np.asarray(image, np.float64)).max() * np.abs(kernel).sum()
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


@st.composite
def cases(draw):
    channels = draw(st.sampled_from([None, 1, 3]))
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    kh, kw = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    shape = draw(st.sampled_from(["same", "valid", "full"]))
    if shape == "valid":
        kh, kw = min(kh, h), min(kw, w)
    stride = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    return dict(img_shape=(h, w) if channels is None else (h, w, channels),
                k_shape=(kh, kw), shape=shape, stride=stride,
                mode=draw(st.sampled_from(MODES)), flip=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float32, np.float64, np.uint8, np.int16])),
                symmetric=draw(st.booleans()), tiny=draw(st.booleans()),
                seed=draw(st.integers(0, 2**32 - 1)))


@pytest.mark.parametrize("strategy", NEW)
@settings(max_examples=60, deadline=None)
@given(case=cases())
def test_forced_strategy_matches_the_oracle(strategy, case):
    """Any image, kernel, padding, shape, stride, channel count and dtype: the forced
    strategy gives the plain definition (float64 sums) within the working dtype's rounding,
    with one-row bands (tiny scratch) as well as default bands."""
    rng = np.random.default_rng(case["seed"])
    image = (rng.normal(size=case["img_shape"]) * 60 + 100).clip(-300, 300)
    image = image.astype(case["dtype"]) if case["dtype"] != np.uint8 else \
        image.clip(0, 255).astype(np.uint8)
    kernel = make_kernel(strategy, rng, case["k_shape"], positive=case["mode"] == "normalized",
                         symmetric=case["symmetric"])
    module = SCRATCH[strategy]
    saved = module.SCRATCH_BYTES
    if case["tiny"]:
        module.SCRATCH_BYTES = 1  # one output row per band, many bands per thread
    try:
        fn = convolve if case["flip"] else correlate
        channels = case["img_shape"][2] if len(case["img_shape"]) == 3 else 1
        got = fn(image, kernel, padding=case["mode"], pad_value=(7.0,) * channels,
                 stride=case["stride"], shape=case["shape"], strategy=strategy, workers=2)
    finally:
        module.SCRATCH_BYTES = saved
    float64 = image.dtype == np.float64
    assert got.dtype == (np.float64 if float64 else np.float32)
    assert_matches_oracle(got, image, kernel, float64=float64, flip=case["flip"],
                          padding=case["mode"], shape=case["shape"], stride=case["stride"],
                          pad_value=7.0)


@pytest.mark.parametrize("strategy", NEW)
@pytest.mark.parametrize("mode", MODES)
def test_large_image_reads_interior_bands_in_place(strategy, mode):
    """An image large enough for interior bands read in place (several bands per thread,
    power-of-two rows as in the benchmark) next to padded border bands: same oracle."""
    rng = np.random.default_rng(11)
    image = rng.uniform(0, 255, size=(96, 128)).astype(np.float32)
    kernel = make_kernel(strategy, rng, (7, 7) if strategy != "shifted" else (3, 3),
                         positive=mode == "normalized", symmetric=True)
    for stride in (1, (1, 2), (4, 4), (2, 1)):
        got = correlate(image, kernel, padding=mode, pad_value=9.0, stride=stride,
                        strategy=strategy, workers=2)
        assert_matches_oracle(got, image, kernel, float64=False, padding=mode,
                              pad_value=9.0, stride=stride)


@pytest.mark.parametrize("strategy", NEW)
def test_thread_count_does_not_change_the_result(strategy, monkeypatch):
    """Bands do not depend on the thread count, so the result is bit-identical."""
    monkeypatch.setattr(SCRATCH[strategy], "SCRATCH_BYTES", 2048)
    rng = np.random.default_rng(5)
    image = rng.normal(size=(70, 45, 3)).astype(np.float32)
    kernel = make_kernel(strategy, rng, (5, 5), positive=False, symmetric=False)
    ref = correlate(image, kernel, strategy=strategy, workers=1)
    for workers in (2, 3):
        np.testing.assert_array_equal(correlate(image, kernel, strategy=strategy,
                                                workers=workers), ref)


def test_box_sums_is_exact_on_integers():
    """Running differences and doublings of whole numbers stay whole: uint8 data with a
    weight-1 box gives exactly the integer window sums (what EXACT = True promises)."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(300, 77)).astype(np.uint8)
    got = correlate(image, np.ones((31, 15)), padding="mirror", strategy="box_sums")
    expected = oracle(image, np.ones((31, 15)), padding="mirror")
    np.testing.assert_array_equal(got, expected)


def test_box_sums_precision_on_a_large_bright_image():
    """Float32 running sums restart from an exact sum at every band: no drift over
    thousands of rows of bright pixels (the test the box strategy passes, same bound)."""
    rng = np.random.default_rng(4)
    image = rng.uniform(200, 255, size=(600, 2100)).astype(np.float32)
    k = np.full((31, 31), 1 / 961)
    got = correlate(image, k, strategy="box_sums", padding="clamp")
    ref = correlate(image.astype(np.float64), k, strategy="separable", padding="clamp")
    np.testing.assert_allclose(got, ref, rtol=2e-6)


@pytest.mark.parametrize("k", range(1, 70))
def test_window_plan_builds_k_samples(k):
    """The doubling plan covers exactly k samples, and never takes more passes than the
    binary digits of k would."""
    doublings, minus_one = box_sums.window_plan(k)
    binary = (k.bit_length() - 1) + bin(k).count("1") - 1
    if minus_one:
        assert (1 << doublings) - 1 == k
        assert doublings + 1 < binary
    else:
        assert doublings == k.bit_length() - 1


@pytest.mark.parametrize(("strategy", "kernel"), [
    ("separable_gemv", np.array([[1.0, 2.0], [3.0, 1.0]])),
    ("box_sums", np.array([[1.0, 1.0], [1.0, 2.0]])),
])
def test_forcing_where_it_does_not_apply_is_a_usage_error(strategy, kernel):
    """A rank-2 kernel for separable_gemv, unequal weights for box_sums: refused by name."""
    with pytest.raises(UsageError, match=f"strategy '{strategy}' does not apply"):
        correlate(np.ones((5, 5)), kernel, strategy=strategy)


def test_scratch_pitch_avoids_4k_aliasing():
    """The scratch pitch of the 4096-wide benchmark keeps both copies out of the 4K
    aliasing window: image row → scratch drifts, shift copies sit behind their source."""
    pitch = shifted.scratch_pitch(4098, 3, 1, 4096, 4)
    drift = (3 * pitch - 4096) * 4 % 4096
    assert min(drift, 4096 - drift) >= 128
    for j in (1, 2):
        assert not 0 < j * (pitch - 1) * 4 % 4096 <= 768


# ----------------------------------------------------------------------------- auto

BENCH_IMAGE = np.empty((4096, 4096), np.float32)  # never written: plans do not compute


@pytest.mark.parametrize(("kernel", "options", "expected"), [
    (np.random.default_rng(0).normal(size=(3, 3)), {}, "shifted"),
    (np.random.default_rng(1).normal(size=(5, 5)), {"padding": "mirror"}, "shifted"),
    (np.random.default_rng(2).normal(size=(3, 3)), {"stride": 4}, "shifted"),
    (np.full((31, 31), 1 / 961), {}, "box_sums"),
    (np.random.default_rng(3).normal(size=(31, 31)), {}, "fft"),
])
def test_auto_picks_the_new_rows_on_the_benchmark(kernel, options, expected):
    """On the benchmark's 4096² float32 image the cost table sends the 3x3 (also strided)
    and 5x5 arbitrary kernels to shifted, the 31x31 box to box_sums (measured 1.3-2× less
    CPU time than direct / box on this machine), and keeps the 31x31 arbitrary on the FFT."""
    assert choose_strategy(BENCH_IMAGE, kernel, **options) == expected


def test_auto_runs_the_benchmark_gaussian_as_gemv_passes():
    """The benchmark's 7x7 Gaussian goes to separable_gemv (no small GEMMs)."""
    from cvtool.filtering.kernels import gaussian_kernel
    assert choose_strategy(BENCH_IMAGE, gaussian_kernel(7)) == "separable_gemv"


@pytest.mark.parametrize("size", [1, 8, 16, 64])
def test_small_images_stay_on_the_old_strategies(size):
    """Their set-up (scratch, views, BLAS limit) does not pay on small images: below 64²
    a 3x3 or a box runs as before (direct / box / separable)."""
    image = np.empty((size, size), np.float32)
    for kernel in (np.random.default_rng(size).normal(size=(3, 3)), np.full((5, 5), 0.04)):
        assert choose_strategy(image, kernel) not in NEW


# ----------------------------------------------------------------------------- BLAS threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas"]


def test_one_thread_limits_blas_and_restores_it():
    """Inside one_thread BLAS runs on one thread (our bands are the parallelism); the
    caller's setting comes back afterwards, even after an error."""
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        with pytest.raises(RuntimeError), one_thread():
            assert set(blas_threads()) <= {1}
            raise RuntimeError("boom")
        assert blas_threads() == before


def test_one_thread_is_counted_across_threads():
    """Two filters running at once: the first to leave must not restore BLAS's threads
    while the other still runs (the setting is process-wide); the last one restores it."""
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        seen = []

        def other() -> None:
            with one_thread():
                seen.append(blas_threads())

        with one_thread():
            worker = threading.Thread(target=other)
            worker.start()
            worker.join(10)  # it entered and left while this thread is still inside
            seen.append(blas_threads())
        assert set(seen[0]) <= {1} and set(seen[1]) <= {1}
        assert blas_threads() == before


def test_blas_info_names_the_kernel_family():
    """The benchmark prints what threadpoolctl reports: the API and kernel family."""
    for lib in blas_info():
        assert lib["user_api"] == "blas" and "internal_api" in lib


def test_cli_start_does_not_import_threadpoolctl():
    """--version and --help stay fast: threadpoolctl is imported by the first filter only."""
    code = ("import sys\nfrom cvtool.cli.app import app\n"
            "try:\n    app(['--version'], prog_name='cvtool')\nexcept SystemExit:\n    pass\n"
            "import cvtool.filtering\n"
            "print('threadpoolctl' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr

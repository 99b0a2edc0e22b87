"""correlate / convolve against an independent oracle (numpy.pad + a naive sliding sum).

The oracle is itself cross-checked against scipy.ndimage, scipy.signal and cv2.filter2D, so
the engine is tied to the libraries users compare it with.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as sps
from helpers import NUMPY_PAD
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cvtool.errors import ProcessingError, UsageError
from cvtool.filtering import convolve, correlate

MODES = ("zero", "constant", "clamp", "mirror", "symmetric", "wrap", "extend", "normalized")


def oracle(image, kernel, *, flip=False, padding="zero", pad_value=0.0, stride=1,
           shape="same"):
    """The definition, written as plainly as possible in float64."""
    img = np.asarray(image, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    kh, kw = k.shape
    if flip:
        k = k[::-1, ::-1]
        ay, ax = (kh - 1) // 2, (kw - 1) // 2
    else:
        ay, ax = kh // 2, kw // 2
    widths = {"same": [(ay, kh - 1 - ay), (ax, kw - 1 - ax)],
              "full": [(kh - 1, kh - 1), (kw - 1, kw - 1)],
              "valid": [(0, 0), (0, 0)]}[shape]
    chans = [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[2])]
    values = np.broadcast_to(np.asarray(pad_value, float), (len(chans),))
    results = []
    for c, ch in enumerate(chans):
        if padding == "constant":
            padded = np.pad(ch, widths, mode="constant", constant_values=values[c])
        else:
            padded = np.pad(ch, widths, **NUMPY_PAD[padding])
        oh, ow = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
        out = np.zeros((oh, ow))
        for i in range(kh):
            for j in range(kw):
                out += k[i, j] * padded[i:i + oh, j:j + ow]
        if padding == "normalized":
            inside = np.pad(np.ones_like(ch), widths, mode="constant")
            den = np.zeros((oh, ow))
            for i in range(kh):
                for j in range(kw):
                    den += k[i, j] * inside[i:i + oh, j:j + ow]
            out = np.where(den > 0, out / np.where(den > 0, den, 1) * k.sum(), 0.0)
        results.append(out)
    out = results[0] if img.ndim == 2 else np.stack(results, axis=-1)
    sy, sx = (stride, stride) if np.ndim(stride) == 0 else stride
    return out[::sy, ::sx]


def assert_close(actual, expected, data_scale=1.0, rtol=1e-5):
    """float32 tolerance: relative, plus an absolute floor at the data's scale."""
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * 10 * data_scale)


RNG = np.random.default_rng(12345)
IMAGE = RNG.normal(size=(6, 7))
KERNELS = {
    "1x1": RNG.normal(size=(1, 1)),
    "2x2": RNG.normal(size=(2, 2)),
    "3x3": RNG.normal(size=(3, 3)),
    "2x5": RNG.normal(size=(2, 5)),
    "4x3": RNG.normal(size=(4, 3)),
    "9x8": RNG.normal(size=(9, 8)),  # larger than the 6×7 image
}
POSITIVE = {name: np.abs(k) + 0.1 for name, k in KERNELS.items()}


# ---------------------------------------------------------------- the oracle is right

SCIPY_MODE = {"zero": "constant", "clamp": "nearest", "mirror": "mirror",
              "symmetric": "reflect", "wrap": "grid-wrap"}


@pytest.mark.parametrize("mode", sorted(SCIPY_MODE))
@pytest.mark.parametrize("kname", ["1x1", "2x2", "3x3", "2x5", "4x3"])
def test_oracle_matches_scipy_ndimage(mode, kname):
    """Oracle `same` == scipy.ndimage.correlate / convolve (even kernels included)."""
    k = KERNELS[kname]
    np.testing.assert_allclose(oracle(IMAGE, k, padding=mode),
                               ndi.correlate(IMAGE, k, mode=SCIPY_MODE[mode]), atol=1e-12)
    np.testing.assert_allclose(oracle(IMAGE, k, flip=True, padding=mode),
                               ndi.convolve(IMAGE, k, mode=SCIPY_MODE[mode]), atol=1e-12)


@pytest.mark.parametrize("shape", ["valid", "full"])
@pytest.mark.parametrize("kname", ["1x1", "2x2", "3x3", "2x5", "4x3"])
def test_oracle_matches_scipy_signal(shape, kname):
    """Oracle valid/full with zero padding == scipy.signal.correlate2d / convolve2d."""
    k = KERNELS[kname]
    np.testing.assert_allclose(oracle(IMAGE, k, shape=shape),
                               sps.correlate2d(IMAGE, k, mode=shape), atol=1e-12)
    np.testing.assert_allclose(oracle(IMAGE, k, flip=True, shape=shape),
                               sps.convolve2d(IMAGE, k, mode=shape), atol=1e-12)


CV2_BORDER = {"zero": cv2.BORDER_CONSTANT, "clamp": cv2.BORDER_REPLICATE,
              "mirror": cv2.BORDER_REFLECT_101, "symmetric": cv2.BORDER_REFLECT}


@pytest.mark.parametrize("mode", sorted(CV2_BORDER))
@pytest.mark.parametrize("kname", ["1x1", "2x2", "3x3", "2x5", "4x3"])
def test_oracle_matches_cv2_filter2d(mode, kname):
    """Oracle `same` correlation == cv2.filter2D with the default anchor."""
    k = KERNELS[kname]
    expected = cv2.filter2D(IMAGE, cv2.CV_64F, k, borderType=CV2_BORDER[mode])
    np.testing.assert_allclose(oracle(IMAGE, k, padding=mode), expected, atol=1e-10)


def test_oracle_wrap_matches_cv2_copy_make_border():
    """cv2.filter2D has no wrap border: check the oracle's wrap against copyMakeBorder."""
    k = KERNELS["4x3"]
    padded = cv2.copyMakeBorder(IMAGE, 2, 1, 1, 1, cv2.BORDER_WRAP)
    expected = sps.correlate2d(padded, k, mode="valid")
    np.testing.assert_allclose(oracle(IMAGE, k, padding="wrap"), expected, atol=1e-12)


# ---------------------------------------------------------------- the engine == oracle

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", ["same", "valid", "full"])
@pytest.mark.parametrize("kname", list(KERNELS))
@pytest.mark.parametrize("stride", [1, 2, (3, 2)])
@pytest.mark.parametrize("flip", [False, True], ids=["correlate", "convolve"])
def test_engine_matches_oracle(mode, shape, kname, stride, flip):
    """Every padding × shape × kernel shape × stride, correlate and convolve."""
    k = (POSITIVE if mode == "normalized" else KERNELS)[kname]
    fn = convolve if flip else correlate
    kwargs = {"padding": mode, "pad_value": 0.7, "stride": stride, "shape": shape}
    if shape == "valid" and kname == "9x8":
        with pytest.raises(ProcessingError, match="kernel 8x9 is larger than the image 7x6"):
            fn(IMAGE, k, **kwargs)
        return
    got = fn(IMAGE, k, **kwargs)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, oracle(IMAGE, k, flip=flip, **kwargs), rtol=1e-10,
                               atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_colour_per_channel_and_pad_value(mode):
    """H×W×C is filtered per channel; `constant` takes a per-channel border."""
    img = RNG.uniform(0, 255, size=(5, 6, 3)).astype(np.uint8)
    k = POSITIVE["3x3"] if mode == "normalized" else KERNELS["3x3"]
    got = correlate(img, k, padding=mode, pad_value=(10, 200, 30))
    assert got.dtype == np.float32 and got.shape == (5, 6, 3)
    assert_close(got, oracle(img, k, padding=mode, pad_value=(10, 200, 30)), 255 * 3)


# ---------------------------------------------------------------- impulses

KERNEL_1_TO_9 = np.arange(1.0, 10.0).reshape(3, 3)


def test_kernel_1_to_9_on_impulse_same():
    """The 3×3 kernel 1..9 on a centred 5×5 impulse: convolve gives the kernel,
    correlate gives it rotated by 180°."""
    impulse = np.zeros((5, 5))
    impulse[2, 2] = 1
    conv = convolve(impulse, KERNEL_1_TO_9)
    corr = correlate(impulse, KERNEL_1_TO_9)
    np.testing.assert_array_equal(conv[1:4, 1:4], KERNEL_1_TO_9)
    np.testing.assert_array_equal(corr[1:4, 1:4], KERNEL_1_TO_9[::-1, ::-1])
    assert conv.sum() == corr.sum() == 45


def test_kernel_1_to_9_on_impulse_full():
    """With `full`, a 5×5 impulse becomes 7×7 and the kernel sits in the middle."""
    impulse = np.zeros((5, 5))
    impulse[2, 2] = 1
    conv = convolve(impulse, KERNEL_1_TO_9, shape="full")
    assert conv.shape == (7, 7)
    np.testing.assert_array_equal(conv[2:5, 2:5], KERNEL_1_TO_9)
    np.testing.assert_array_equal(correlate(impulse, KERNEL_1_TO_9, shape="full")[2:5, 2:5],
                                  KERNEL_1_TO_9[::-1, ::-1])


@pytest.mark.parametrize("kshape", [(2, 2), (4, 3), (1, 4)])
def test_impulse_even_kernels(kshape):
    """Even kernels: convolve of an impulse reproduces the kernel, correlate its rotation."""
    k = RNG.normal(size=kshape)
    impulse = np.zeros((9, 9))
    impulse[4, 4] = 1
    conv = convolve(impulse, k, shape="full")
    np.testing.assert_allclose(conv[4:4 + kshape[0], 4:4 + kshape[1]], k)
    corr = correlate(impulse, k, shape="full")
    np.testing.assert_allclose(corr[4:4 + kshape[0], 4:4 + kshape[1]], k[::-1, ::-1])


# ---------------------------------------------------------------- dtypes

@pytest.mark.parametrize(("dtype", "working"), [
    (np.uint8, np.float32), (np.int8, np.float32), (np.uint16, np.float32),
    (np.int16, np.float32), (bool, np.float32), (np.float16, np.float32),
    (np.float32, np.float32), (np.int32, np.float64), (np.uint32, np.float64),
    (np.int64, np.float64), (np.uint64, np.float64), (np.float64, np.float64),
])
def test_working_precision_follows_the_input(dtype, working):
    """float32 only for inputs it holds exactly (8/16-bit, bool, float16/32); float64 for
    32/64-bit integers and float64; uint8 is not wrapped."""
    img = (RNG.uniform(0, 100, size=(6, 5))).astype(dtype)
    got = correlate(img, KERNELS["3x3"], padding="extend")
    assert got.dtype == working
    assert_close(got, oracle(img.astype(np.float64), KERNELS["3x3"], padding="extend"), 200)


def test_float64_stays_float64():
    """float64 input is computed and returned in float64."""
    got = correlate(IMAGE, KERNELS["3x3"])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, oracle(IMAGE, KERNELS["3x3"]), rtol=1e-13, atol=1e-13)


def test_input_is_not_modified():
    """The input image and kernel are left untouched."""
    img = IMAGE.copy()
    k = KERNELS["3x3"].copy()
    correlate(img, k, padding="mirror")
    convolve(img, k, padding="extend", shape="full")
    np.testing.assert_array_equal(img, IMAGE)
    np.testing.assert_array_equal(k, KERNELS["3x3"])


# ---------------------------------------------------------------- normalized padding

def test_normalized_mean_of_inside_pixels():
    """With a box kernel, `normalized` is the mean of the pixels that lie inside."""
    img = RNG.uniform(size=(6, 6))
    got = correlate(img, np.ones((3, 3)), padding="normalized")
    assert got[0, 0] == pytest.approx(img[:2, :2].sum() / 4 * 9)
    np.testing.assert_allclose(correlate(np.full((5, 7), 3.0), np.ones((3, 3)) / 9,
                                         padding="normalized"), 3.0)


def test_normalized_zero_where_nothing_inside():
    """Positions where no weight falls inside the image are 0, never NaN."""
    k = np.zeros((5, 5))
    k[0, 0] = 1.0
    got = correlate(np.ones((4, 4)), k, padding="normalized", shape="full")
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, oracle(np.ones((4, 4)), k, padding="normalized",
                                           shape="full"))


@pytest.mark.parametrize("kernel", [[[1.0, -0.5]], [[0.0, 0.0]]])
def test_normalized_refuses_negative_or_zero_kernels(kernel):
    """normalized needs non-negative weights with a positive sum."""
    with pytest.raises(UsageError, match="normalized"):
        correlate(IMAGE, np.array(kernel), padding="normalized")


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize(("kwargs", "parameter", "message"), [
    ({"stride": 0}, "stride", "stride must be >= 1, got 0"),
    ({"stride": (1, -2)}, "stride", "stride must be >= 1, got -2"),
    ({"stride": (1, 2, 3)}, "stride", "stride must be S or"),
    ({"stride": 1.5}, "stride", "stride must be an integer"),
    ({"shape": "circle"}, "shape", "shape must be one of same, valid, full"),
    ({"padding": "reflect"}, "padding", "padding 'reflect' is ambiguous.*mirror"),
    ({"padding": "foo"}, "padding", "padding 'foo' is unknown"),
    ({"padding": 3}, "padding", "padding must be a string"),
    ({"padding": "constant", "pad_value": (1, 2)}, "pad_value", "pad_value has 2 values"),
    ({"padding": "constant", "pad_value": np.nan}, "pad_value", "pad_value must be finite"),
    ({"padding": "normalized", "kernel": -np.ones((3, 3))}, "padding",
     "padding 'normalized' needs a kernel with no negative weight"),
    ({"kernel": np.ones(3)}, "kernel", "kernel must be 2-D"),
    ({"kernel": np.ones((0, 3))}, "kernel", "kernel is empty"),
    ({"kernel": np.array([[np.inf]])}, "kernel", "kernel contains NaN"),
    ({"image": np.ones(5)}, "image", "image must be H×W"),
    ({"image": np.array([["a"]])}, "image", "image must hold real numbers"),
    ({"strategy": "magic"}, "strategy", "strategy must be one of auto, direct"),
    ({"workers": 0}, "workers", "workers must be an integer >= 1"),
])
def test_validation_messages(kwargs, parameter, message):
    """Bad arguments fail before any work, as a UsageError whose message starts with the
    parameter's name and whose ``parameter`` names it (the CLI swaps it for the flag)."""
    args = {"image": IMAGE, "kernel": KERNELS["3x3"], **kwargs}
    with pytest.raises(UsageError, match="^" + message) as caught:
        correlate(args.pop("image"), args.pop("kernel"), **args)
    assert caught.value.parameter == parameter


def test_valid_too_large_message():
    """valid with a kernel larger than the image is a data error naming ``shape``, with the
    sizes width x height and what to do instead."""
    with pytest.raises(ProcessingError, match=r"^shape 'valid' needs a kernel no larger than "
                       r"the image, but kernel 7x6 is larger than the image 5x9 \(width x "
                       r"height\); use 'same' or 'full'") as caught:
        correlate(np.ones((9, 5)), np.ones((6, 7)), shape="valid")
    assert caught.value.parameter == "shape"


def test_stride_counts():
    """A stride keeps ceil(n/S) samples of each axis."""
    got = correlate(np.ones((10, 7)), np.ones((3, 3)), stride=(3, 4))
    assert got.shape == (4, 2)
    assert correlate(np.ones((10, 7)), np.ones((3, 3)), stride=(3, 4), shape="full").shape \
        == (4, 3)


# ---------------------------------------------------------------- hypothesis properties

def images(max_side=9, channels=False):
    shape = st.tuples(st.integers(1, max_side), st.integers(1, max_side))
    if channels:
        shape = st.tuples(st.integers(1, max_side), st.integers(1, max_side), st.just(2))
    return hnp.arrays(np.float64, shape, elements=st.floats(-100, 100, width=32))


def kernels(max_side=5):
    return hnp.arrays(np.float64, st.tuples(st.integers(1, max_side), st.integers(1, max_side)),
                      elements=st.floats(-4, 4, width=32))


SETTINGS = settings(max_examples=40, deadline=None)
ALL_MODES = st.sampled_from(MODES[:-1])  # normalized is not linear in the kernel sense
SHAPE = st.sampled_from(["same", "full"])


@SETTINGS
@given(images(), kernels(), kernels(), st.floats(-3, 3), ALL_MODES, SHAPE)
def test_linearity(img, k1, k2, a, mode, shape):
    """Filtering is linear in the kernel and in the image (zero-preserving modes)."""
    k2 = np.resize(k2, k1.shape)
    lhs = correlate(img, a * k1 + k2, padding=mode, shape=shape)
    rhs = a * correlate(img, k1, padding=mode, shape=shape) + correlate(img, k2, padding=mode,
                                                                         shape=shape)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9 * (1 + np.abs(img).max()) * 20)
    lhs = correlate(a * img + 1.5 * img[::-1, ::-1], k1, padding=mode, shape=shape)
    rhs = a * correlate(img, k1, padding=mode, shape=shape) + 1.5 * correlate(
        img[::-1, ::-1], k1, padding=mode, shape=shape)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9 * (1 + np.abs(img).max()) * 20)


@SETTINGS
@given(images(channels=True), kernels(), ALL_MODES, st.sampled_from(["same", "valid", "full"]))
def test_convolve_is_correlate_with_flipped_kernel(img, k, mode, shape):
    """convolve(f, h) == correlate(f, h rotated 180°) for odd kernels (same anchor)."""
    k = k[: k.shape[0] - 1 + k.shape[0] % 2, : k.shape[1] - 1 + k.shape[1] % 2]  # odd sizes
    # A kernel larger than the image has no valid output (an error, tested elsewhere).
    assume(shape != "valid" or (k.shape[0] <= img.shape[0] and k.shape[1] <= img.shape[1]))
    np.testing.assert_allclose(convolve(img, k, padding=mode, shape=shape),
                               correlate(img, k[::-1, ::-1], padding=mode, shape=shape),
                               rtol=1e-12, atol=1e-9)


@SETTINGS
@given(images(12), kernels(), st.sampled_from(MODES), SHAPE, st.integers(1, 4),
       st.integers(1, 4))
def test_stride_is_subsampling(img, k, mode, shape, sy, sx):
    """stride (sy, sx) == stride 1 then [::sy, ::sx]."""
    if mode == "normalized":
        k = np.abs(k) + 0.5
    full = correlate(img, k, padding=mode, shape=shape)
    np.testing.assert_allclose(correlate(img, k, padding=mode, shape=shape, stride=(sy, sx)),
                               full[::sy, ::sx], rtol=1e-12, atol=1e-9)


@SETTINGS
@given(images(), kernels(), st.integers(-10, 10), st.integers(-10, 10))
def test_translation_equivariance_with_wrap(img, k, dy, dx):
    """With wrap padding, shifting the image circularly shifts the result the same way."""
    shifted = np.roll(img, (dy, dx), axis=(0, 1))
    np.testing.assert_allclose(correlate(shifted, k, padding="wrap"),
                               np.roll(correlate(img, k, padding="wrap"), (dy, dx), axis=(0, 1)),
                               rtol=1e-9, atol=1e-7)


@SETTINGS
@given(kernels(6), kernels(6), kernels(4))
def test_full_convolution_is_commutative_and_associative(a, b, c):
    """With zero padding and full, f*g == g*f and (f*g)*h == f*(g*h)."""
    np.testing.assert_allclose(convolve(a, b, shape="full"), convolve(b, a, shape="full"),
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(convolve(convolve(a, b, shape="full"), c, shape="full"),
                               convolve(a, convolve(b, c, shape="full"), shape="full"),
                               rtol=1e-9, atol=1e-7)


def test_many_shapes_are_exhaustively_consistent():
    """Odd/even kernel sizes against images of 1..4 pixels, every mode, same shape."""
    for h, w, kh, kw in itertools.product((1, 2, 4), (1, 3), (1, 2, 5), (1, 4)):
        img = RNG.normal(size=(h, w))
        k = np.abs(RNG.normal(size=(kh, kw))) + 0.1
        for mode in MODES:
            np.testing.assert_allclose(correlate(img, k, padding=mode),
                                       oracle(img, k, padding=mode), rtol=1e-10, atol=1e-10)

"""The command line's one text grammar: numbers, number lists, kernels, scales, strides, choices.

Moved here with :mod:`cvtool.cli.grammar` from the core (the kernel grammar of
``filtering/kernels.py`` and the ``--scales`` grammar of the matching core): the core takes
arrays and numbers, only the CLI reads text.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import PicklePayload

from cvtool.cli.grammar import (
    MAX_SCALES,
    parse_choice,
    parse_kernel,
    parse_number,
    parse_number_list,
    parse_scales,
    parse_stride,
    suggest,
)
from cvtool.errors import UsageError

# --- kernels -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("1 2 1; 2 4 2; 1 2 1", [[1, 2, 1], [2, 4, 2], [1, 2, 1]]),
    ("1,2;3,4", [[1, 2], [3, 4]]),
    ("1, 2\n3, 4\n", [[1, 2], [3, 4]]),
    ("  5  ", [[5]]),
    ("1/9 1/9", [[1 / 9, 1 / 9]]),
    ("-1/8 +2 .5 1e-1", [[-0.125, 2, 0.5, 0.1]]),
    ("1 2 3;", [[1, 2, 3]]),
])
def test_inline_grammar(text, expected):
    """Rows by ';' or newline, values by spaces or commas, decimals and fractions."""
    k = parse_kernel(text)
    assert k.dtype == np.float64 and k.ndim == 2
    np.testing.assert_allclose(k, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("text", "message"), [
    ("1 2; 3", "kernel row 2 has 1 value, expected 2"),
    ("1; 2 3 4", "kernel row 2 has 3 values, expected 1"),
    ("1 abc", "kernel value 'abc' is not a number"),
    ("", "kernel is empty"),
    (" ; ;", "kernel is empty"),
    ("1 nan", "kernel contains NaN or infinity"),
    ("inf 1", "kernel contains NaN or infinity"),
    ("1e999", "kernel contains NaN or infinity"),
    ("1/0", "divides by zero"),
    ("1/2/3", "kernel value '1/2/3' is not a number"),
])
def test_inline_errors(text, message):
    """Malformed kernels are usage errors with a precise message."""
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        parse_kernel(text)


def test_text_and_csv_files(tmp_path):
    """.txt and .csv files use the inline grammar; a path object works too."""
    (tmp_path / "k.txt").write_text("1 2\n3 4\n")
    (tmp_path / "k.csv").write_text("1/2,1/2\n")
    assert parse_kernel(str(tmp_path / "k.txt")).tolist() == [[1, 2], [3, 4]]
    assert parse_kernel(tmp_path / "k.csv").tolist() == [[0.5, 0.5]]


def test_existing_file_without_suffix(tmp_path):
    """An existing file is read even without a known suffix."""
    (tmp_path / "kernel").write_text("1 0 -1")
    assert parse_kernel(str(tmp_path / "kernel")).tolist() == [[1, 0, -1]]


def test_file_errors_name_the_file(tmp_path):
    """A missing file and a malformed file say which file."""
    with pytest.raises(UsageError, match="kernel file 'k.txt' does not exist"):
        parse_kernel("k.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2\n3\n")
    with pytest.raises(UsageError, match=r"bad.txt.*kernel row 2 has 1 value, expected 2"):
        parse_kernel(str(bad))


def test_npy_files(tmp_path):
    """.npy: 1-D is one row, 2-D as is, anything else or non-real is refused."""
    np.save(tmp_path / "a.npy", np.array([1, 2, 3], np.int16))
    np.save(tmp_path / "b.npy", np.eye(2, dtype=np.float32))
    np.save(tmp_path / "c.npy", np.zeros((2, 2, 2)))
    np.save(tmp_path / "d.npy", np.array([1 + 1j]))
    np.save(tmp_path / "e.npy", np.array([[np.nan]]))
    np.save(tmp_path / "f.npy", np.zeros((0, 3)))
    a = parse_kernel(str(tmp_path / "a.npy"))
    assert a.dtype == np.float64 and a.tolist() == [[1, 2, 3]]
    assert parse_kernel(str(tmp_path / "b.npy")).tolist() == [[1, 0], [0, 1]]
    with pytest.raises(UsageError, match="1-D or 2-D"):
        parse_kernel(str(tmp_path / "c.npy"))
    with pytest.raises(UsageError, match="real numbers"):
        parse_kernel(str(tmp_path / "d.npy"))
    with pytest.raises(UsageError, match="NaN or infinity"):
        parse_kernel(str(tmp_path / "e.npy"))
    with pytest.raises(UsageError, match="kernel is empty"):
        parse_kernel(str(tmp_path / "f.npy"))


def test_npy_object_arrays_are_not_unpickled(tmp_path):
    """Kernels are loaded with allow_pickle=False: a pickled array is refused, not run.

    The payload creates a marker file when unpickled, so "not run" is checked, not assumed.
    """
    marker = tmp_path / "pwned"
    evil = tmp_path / "o.npy"
    np.save(evil, np.array([PicklePayload(marker)], dtype=object), allow_pickle=True)
    assert b"touch" in evil.read_bytes()  # the payload really is in the file
    with pytest.raises(UsageError, match="Object arrays cannot be loaded"):
        parse_kernel(str(evil))
    assert not marker.exists()


def test_kernel_files_may_carry_comment_lines(tmp_path):
    """numpy.savetxt(..., header=...) writes '# ...' lines: they are comments, not values."""
    path = tmp_path / "k.txt"
    np.savetxt(path, np.array([[1.0, 2.0], [3.0, 4.0]]), header="my kernel\nsecond line")
    assert path.read_text().startswith("# my kernel")
    assert parse_kernel(str(path)).tolist() == [[1, 2], [3, 4]]


def test_a_comment_line_inside_a_csv_is_skipped(tmp_path):
    """A '#' line between rows is skipped too; a '#' elsewhere is still not a number."""
    (tmp_path / "k.csv").write_text("1,2\n  # note\n3,4\n")
    assert parse_kernel(str(tmp_path / "k.csv")).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(UsageError, match="'#' is not a number"):
        parse_kernel("1 # 2")


# --- numbers, lists, strides, choices -------------------------------------------------


def test_number_lists_take_spaces_commas_and_fractions():
    """--probs, --pad-value, --gamma...: one grammar, spaces or commas, fractions allowed."""
    assert parse_number_list(" 0.5, 1/4  0.25 ", "--probs") == [0.5, 0.25, 0.25]
    with pytest.raises(UsageError, match="--probs needs at least one number"):
        parse_number_list(" , ", "--probs")
    with pytest.raises(UsageError, match="--gamma value 'x' is not a number"):
        parse_number_list("1 x", "--gamma")


@pytest.mark.parametrize("token", ["\u0661", "1_0", "nan", "-inf", "0x10", "1/0"])
def test_parse_number_refuses_what_python_would_take(token):
    """float() takes Arabic-Indic digits, underscores, NaN and infinities; the grammar does not."""
    with pytest.raises(UsageError):
        parse_number(token, "--probs value")


def test_stride_text_becomes_two_whole_numbers_without_judging_them():
    """S or SY,SX become (rows, columns); whether they are >= 1 is the core's rule, not the
    grammar's, so 0 passes here (and is refused by the core through the CLI)."""
    assert parse_stride("2") == (2, 2) and parse_stride("3, 1") == (3, 1)
    assert parse_stride("0") == (0, 0)
    for text in ("1.5", "a", "1,2,3", ""):
        with pytest.raises(UsageError, match="--stride takes S or SY,SX"):
            parse_stride(text)


def test_choices_suggest_the_closest_word():
    """A typo gets a "did you mean"; a word far from every choice gets the list only."""
    assert suggest("mirorr", ["zero", "mirror", "symmetric"]) == "mirror"
    assert suggest("qqq", ["zero", "mirror"]) is None
    with pytest.raises(UsageError, match="did you mean 'valid'"):
        parse_choice("vlaid", ("same", "valid", "full"), "--shape")


# --- scales ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["\u0661", "1_0", "1_0,1", "0.5:1_0:3", "1:2:\u0663", "1:2:1_0",
                                  "\uff11", "nan", "1,inf", "0.5:2:3.0", "1/0"])
def test_what_float_or_int_would_take_is_refused(text):
    """Non-ASCII digits, underscores, NaN/inf, a fractional N: usage errors naming --scales.

    float() and int() accept "١" (Arabic-Indic one), "１" (full-width one) and "1_0" (ten);
    the shared grammar does not, so --scales agrees with -k and every other number list.
    """
    with pytest.raises(UsageError, match="--scales"):
        parse_scales(text)


@pytest.mark.parametrize("text, expected", [
    ("1/2,1", [0.5, 1.0]),
    ("3/4 1 5/4", [0.75, 1.0, 1.25]),
    ("+1.5e0", [1.5]),
])
def test_fractions_and_decimals_are_accepted(text, expected):
    """Fractions are allowed here as they are in kernels and --probs."""
    assert parse_scales(text) == expected


def test_range_ends_may_be_fractions():
    """MIN and MAX use the same grammar; N stays a whole number."""
    assert parse_scales(" 1/2 : 2 : 3 ") == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("text", ["0,1", "-1/2", "0:1:3"])
def test_non_positive_factors_are_still_refused(text, invoke, gray_png):
    """A factor <= 0 is a usage error naming --scales: the grammar reads the numbers, the
    matching core refuses them (checked before any image is read)."""
    result = invoke("find-waldo", gray_png, "-t", "missing-template.png", "--scales", text)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --scales") and "positive" in result.stderr


def test_scale_count_is_bounded():
    """A mistyped N (1:2:99999999) must not queue 10^8 searches: a usage error instead."""
    with pytest.raises(UsageError, match="between 1 and"):
        parse_scales("1:2:99999999")
    assert len(parse_scales(f"1:2:{MAX_SCALES}")) == MAX_SCALES

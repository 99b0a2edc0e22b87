"""cvtool.pipelines.batch without Typer: order, failures, summary, interruption, exit status."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from cvtool.errors import ExitStatus, ProcessingError
from cvtool.pipelines.batch import Outcome, Terminated, run_batch, summary_line


def _streams():
    return io.StringIO(), io.StringIO()


def test_results_come_in_input_order_whatever_finishes_first():
    """With 3 threads the first input finishes last; its line is still printed first."""
    out, err = _streams()

    def work(index, item):
        time.sleep(0.05 * (3 - index))
        return Outcome(item)

    status = run_batch(["a", "b", "c"], work, results=out, errors=err, jobs=3)
    assert status is ExitStatus.OK
    assert out.getvalue() == "a\nb\nc\n" and err.getvalue() == ""


def test_one_failure_is_reported_and_the_rest_still_run():
    """A failing input gets its error: line; the others run; the summary ends stderr; exit 1."""
    out, err = _streams()

    def work(index, item):
        if item == "bad":
            raise ProcessingError("cannot read")
        return Outcome()

    status = run_batch(["x", "bad", "y"], work, results=out, errors=err, jobs=2,
                       describe=lambda exc: str(exc).upper())
    assert status is ExitStatus.FAILURE
    assert err.getvalue().splitlines() == ["error: bad: CANNOT READ", "2 written, 1 failed"]


def test_json_mode_pairs_a_failure_record_with_its_input():
    """--json: the failing input also gets a record, so records pair with inputs."""
    out, err = _streams()

    def work(index, item):
        raise ProcessingError("no such file")

    status = run_batch(["s.png"], work, results=out, errors=err, json_mode=True,
                       json_key="scene")
    assert status is ExitStatus.FAILURE
    assert json.loads(out.getvalue()) == {"scene": "s.png", "error": "s.png: no such file"}
    assert err.getvalue() == "error: s.png: no such file\n"  # one input: no summary line


def test_negative_outcomes_are_counted_with_their_own_word():
    """find-waldo's 'not found' is not a failure, but it is exit 1 and counted as such."""
    out, err = _streams()
    status = run_batch(["a", "b"], lambda i, item: Outcome(item, ok=item == "a"),
                       results=out, errors=err, done_word="found", negative_word="not found")
    assert status is ExitStatus.FAILURE
    assert err.getvalue() == "1 found, 1 not found\n"


def test_a_bug_is_an_internal_error_line_not_a_lost_batch():
    """An unexpected exception in one input is reported; the others still count."""
    out, err = _streams()

    def work(index, item):
        if index == 0:
            raise ZeroDivisionError("oops")
        return Outcome()

    assert run_batch(["a", "b"], work, results=out, errors=err) is ExitStatus.FAILURE
    assert err.getvalue().splitlines() == ["error: a: internal error (ZeroDivisionError: oops)",
                                           "1 written, 1 failed"]


@pytest.mark.parametrize("signal_exc, status", [(KeyboardInterrupt, ExitStatus.SIGINT),
                                                (Terminated, ExitStatus.SIGTERM)])
def test_interruption_stops_writes_and_returns_the_signal_status(signal_exc, status):
    """Ctrl-C or SIGTERM: the write gate is closed, the finished inputs are counted, 130/143."""
    out, err = _streams()
    closed = threading.Event()

    def work(index, item):
        if index == 1:
            raise signal_exc()
        if index == 2:
            threading.Event().wait(2)  # still computing when the interrupt is handled
        return Outcome()

    def stop_writes():
        closed.set()
        return set()

    result = run_batch(["a", "b", "c"], work, results=out, errors=err, stop_writes=stop_writes)
    assert result is status and closed.is_set()
    assert err.getvalue().startswith("interrupted: 1 written, 2 not finished")


def test_summary_line_words():
    """The summary's words: failures always counted for commands without a 'not ok' word."""
    assert summary_line(12, 1) == "12 written, 1 failed"
    assert summary_line(3, 0, 2) == "3 written, 2 failed"
    assert summary_line(1, 1, 2, done_word="found", negative_word="not found") == \
        "1 found, 2 not found, 1 failed"

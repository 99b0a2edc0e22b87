"""box_sums' running sums carried from band to band and restarted every RESTART_ROWS rows.

A band continues the column sums of the band above it (one difference and one add, the
same arithmetic as any row inside a band) and only a restart group's first band starts
from an exact sum. These tests pin what that must keep: the result does not depend on how a
group is cut into bands or on the thread count, whole numbers stay whole, the float32 drift
over a restart group stays within the bound the strategies are held to, and a banded run's
pieces start where the restarts are.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_filtering import oracle

from cvtool.filtering import box_sums, correlate, make_plan


def _row_bytes(width: int) -> int:
    return width * 4  # one float32 output row, one channel


@pytest.mark.parametrize("mode", ["zero", "mirror", "wrap"])
def test_band_cuts_inside_a_restart_group_do_not_change_a_bit(mode, monkeypatch):
    """Bands of 1, 3 and 12 rows inside 12-row restart groups give the same bits: the
    carried first row of a band is computed exactly as the next row inside one band."""
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, size=(61, 40)).astype(np.float32)
    kernel = np.full((9, 5), 1 / 45)
    monkeypatch.setattr(box_sums, "RESTART_ROWS", 12)
    results = []
    for rows in (1, 3, 12):
        monkeypatch.setattr(box_sums, "SCRATCH_BYTES", 3 * _row_bytes(40) * rows)
        results.append(correlate(image, kernel, padding=mode, strategy="box_sums", workers=1))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_thread_count_does_not_change_the_result_across_groups(monkeypatch):
    """Several restart groups of several carried bands, on 1, 2 and 3 threads: identical."""
    rng = np.random.default_rng(2)
    image = rng.normal(size=(90, 33, 3)).astype(np.float32)
    monkeypatch.setattr(box_sums, "RESTART_ROWS", 10)
    monkeypatch.setattr(box_sums, "SCRATCH_BYTES", 3 * 33 * 3 * 4 * 2)
    ref = correlate(image, np.full((7, 7), 0.3), strategy="box_sums", workers=1)
    for workers in (2, 3):
        got = correlate(image, np.full((7, 7), 0.3), strategy="box_sums", workers=workers)
        np.testing.assert_array_equal(got, ref)


def test_whole_numbers_stay_exact_through_carried_bands(monkeypatch):
    """uint8 data, a weight-1 box, one-row bands carrying the sums over long groups: the
    exact integer window sums (what EXACT = True promises), with no scaling pass."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(400, 50)).astype(np.uint8)
    monkeypatch.setattr(box_sums, "SCRATCH_BYTES", 1)
    monkeypatch.setattr(box_sums, "RESTART_ROWS", 400)
    got = correlate(image, np.ones((31, 31)), padding="symmetric", strategy="box_sums")
    np.testing.assert_array_equal(got, oracle(image, np.ones((31, 31)), padding="symmetric"))


def test_drift_over_a_restart_group_of_a_4096_wide_image(monkeypatch):
    """Default bands on a 4096-wide bright float32 image, several bands per restart group:
    within the bound the box strategies are held to."""
    monkeypatch.setattr(box_sums, "RESTART_ROWS", 128)
    rng = np.random.default_rng(4)
    image = rng.uniform(200, 255, size=(3 * box_sums.RESTART_ROWS, 4096)).astype(np.float32)
    plan = make_plan(image, np.ones((31, 31)))
    assert box_sums.band_quantum(plan) > box_sums._band_rows(plan)  # carried bands exist
    k = np.full((31, 31), 1 / 961)
    got = correlate(image, k, strategy="box_sums", padding="clamp", workers=1)
    ref = correlate(image.astype(np.float64), k, strategy="separable", padding="clamp")
    np.testing.assert_allclose(got, ref, rtol=2e-6)


def test_band_quantum_does_not_depend_on_the_rows_asked_for():
    """A banded run's pieces (plans of fewer rows) restart where the whole plan does."""
    kernel = np.ones((31, 31))
    quanta = {box_sums.band_quantum(make_plan(np.zeros((rows, 4096), np.float32), kernel))
              for rows in (10, 126, 1000, 5000)}
    assert len(quanta) == 1


def test_a_spike_spoils_its_column_only_until_the_next_restart():
    """A huge value that has left the window still spoils the running column sums by
    cancellation until they restart: on a 4096-wide image (42-row bands) the rows more
    than a band below the spike's windows are exact again (a 128-row restart left errors of
    1e-2 there)."""
    rng = np.random.default_rng(8)
    image = rng.uniform(0, 1, size=(600, 4096)).astype(np.float32)
    image[35, 2000] = 1e9
    k = np.full((31, 31), 1 / 961)
    got = correlate(image, k, strategy="box_sums", padding="symmetric", workers=1)
    ref = correlate(image.astype(np.float64), k, strategy="separable", padding="symmetric")
    spoiled = np.flatnonzero(np.abs(got - ref).max(axis=1) > 1e-4)
    assert spoiled.max() < 35 + 15 + 50, spoiled.max()

"""The numpy gap-filling references: decloud.gapfilling.gapfill_series (DecloudGapFilling's rule, N dates with
masks) and decloud.scenarios.linear_gapfill (two dates, the benchmark's baseline) are one rule."""

from __future__ import annotations

import numpy as np
import pytest
from decloud.evaluate import gapfill
from decloud.gapfilling import gapfill_series
from decloud.scenarios import NODATA, linear_gapfill

DAY = 86400.0


def pixels(*values) -> np.ndarray:
    """One row of pixels, 2 bands each: a value v gives (v, v + 1); None gives nodata."""
    return np.array([[[NODATA, NODATA] if v is None else [v, v + 1] for v in values]], dtype=np.int16)


def test_two_dates_without_masks_is_linear_gapfill():
    rng = np.random.default_rng(0)
    tm1 = rng.integers(0, 10000, (40, 30, 4)).astype(np.int16)
    tp1 = rng.integers(0, 10000, (40, 30, 4)).astype(np.int16)
    tm1[rng.random((40, 30)) < 0.2] = NODATA
    tp1[rng.random((40, 30)) < 0.2] = NODATA
    stamps = {"tm1": 0, "t": 3 * 86400 + 3600, "tp1": 11 * 86400}
    expected = linear_gapfill(tm1, tp1, stamps)
    got = gapfill_series([tm1, tp1], [None, None], [stamps["tm1"], stamps["tp1"]], stamps["t"], rounded=False)
    assert np.array_equal(got == NODATA, expected == NODATA)
    assert np.allclose(got, expected, rtol=0, atol=2e-3)  # float64 against float32
    rounded = gapfill_series([tm1, tp1], [None, None], [stamps["tm1"], stamps["tp1"]], stamps["t"])
    assert rounded.dtype == np.int16 and np.abs(rounded - got).max() <= 0.5
    record = {"s2_tm1": tm1, "s2_tp1": tp1, **{f"s2_timestamp_{k}": np.float32(v) for k, v in stamps.items()}}
    assert np.array_equal(gapfill(record), expected)  # evaluate's gap-filling is the same function


def test_rule_on_single_pixels():
    # Pixels: both clear | before cloudy | both cloudy (holes rule: their gap-filling) | before without data,
    # after cloudy (its value) | no data at all.
    before, after = pixels(1000, 1000, 1000, None, None), pixels(2000, 2000, 2000, 2000, None)
    masks = [np.array([[0, 1, 1, 0, 0]]), np.array([[0, 0, 1, 1, 0]])]
    got = gapfill_series([before, after], masks, [0.0, 10 * DAY], 3 * DAY)
    # 3 days of 10: 1000 + 0.3 * 1000 and 1001 + 0.3 * 1000
    assert got[0, :, 0].tolist() == [1300, 2000, 1300, 2000, NODATA]
    assert got[0, :, 1].tolist() == [1301, 2001, 1301, 2001, NODATA]


def test_nearest_valid_dates_ties_and_order():
    images = [pixels(100), pixels(200), pixels(300), pixels(400)]
    dates = [0.0, 4 * DAY, 4 * DAY, 8 * DAY]
    clear = [np.zeros((1, 1), np.uint8)] * 4
    assert gapfill_series(images, clear, dates, 4 * DAY)[0, 0, 0] == 200  # the first date equal to t
    assert gapfill_series(images, clear, dates, 6 * DAY)[0, 0, 0] == 350  # the last of the tie, and 8
    cloudy_second = [clear[0], np.ones((1, 1), np.uint8), clear[2], clear[3]]
    assert gapfill_series(images, cloudy_second, dates, 4 * DAY)[0, 0, 0] == 300
    order = [3, 1, 0, 2]
    shuffled = gapfill_series([images[k] for k in order], [clear[k] for k in order], [dates[k] for k in order],
                              6 * DAY)
    assert shuffled[0, 0, 0] == 350
    # 0.5 rounds up: 100 + 0.5 * 1 = 100.5 -> 101
    assert gapfill_series([pixels(100), pixels(101)], [None, None], [0.0, 2 * DAY], DAY)[0, 0, 0] == 101


def test_inputs_of_different_counts():
    with pytest.raises(ValueError, match="2 images, 1 masks and 2 dates"):
        gapfill_series([pixels(1), pixels(2)], [None], [0.0, 1.0], 0.5)

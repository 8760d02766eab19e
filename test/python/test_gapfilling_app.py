"""DecloudGapFilling against a numpy reference, exactly."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from conftest import ORIGIN, fast_and_slow, run_app
from decloud.raster import read_array, write_geotiff
from decloud.synthetic import s2_like

NODATA = -10000
DATES = ["2022-06-02", "2022-06-07", "2022-06-12T10:30:00", "2022-06-22", "2022-06-30"]


def seconds(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def numpy_gapfilling(images, masks, dates, t):
    """Per pixel: latest valid date <= t (B), earliest valid date >= t (A); B + (t-tB)/(tA-tB) (A-B), half up.
    Valid: clear and with data; where no date with data is clear, the same over the dates with data (cloudy or
    not): nodata only where no date has data."""
    images = np.stack(images).astype(np.float64)  # [n, rows, cols, bands]
    data = np.stack([np.all(im != NODATA, -1) for im in images])
    clear = np.stack([(m == 0) & d for m, d in zip(masks, data)])
    strict = _gapfilling(images, clear, dates, t)
    return np.where((clear.any(0))[:, :, None], strict, _gapfilling(images, data, dates, t))


def _gapfilling(images, valid, dates, t):
    d = np.array(dates)[:, None, None]
    before_ok, after_ok = valid & (d <= t), valid & (d >= t)
    n = len(dates)
    b = np.where(before_ok.any(0), n - 1 - np.argmax(before_ok[::-1], 0), -1)
    a = np.where(after_ok.any(0), np.argmax(after_ok, 0), -1)
    b_idx, a_idx = np.where(b >= 0, b, a), np.where(a >= 0, a, b)
    rows, cols = np.indices(b.shape)
    vb, va = images[b_idx, rows, cols], images[a_idx, rows, cols]
    tb, ta = np.asarray(dates)[b_idx], np.asarray(dates)[a_idx]
    w = np.where(ta > tb, (t - tb) / np.where(ta > tb, ta - tb, 1), 0.0)[..., None]
    out = np.floor(vb + w * (va - vb) + 0.5)
    out[(b < 0) & (a < 0)] = NODATA
    return out.astype(np.int16)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    d = tmp_path_factory.mktemp("series")
    rng = np.random.default_rng(0)
    images, masks, paths, mask_paths = [], [], [], []
    for k, _ in enumerate(DATES):
        image = np.rint(s2_like(80, 112, seed=k, clouds=False)).astype(np.int16)
        image[rng.random((80, 112)) < 0.05] = NODATA  # scattered nodata
        image[:, : 10 * k] = NODATA if k == 3 else image[:, : 10 * k]  # a swath edge on one date
        mask = (rng.random((80, 112)) < 0.3).astype(np.uint8)
        images.append(image)
        masks.append(mask)
        paths.append(write_geotiff(d / f"s2_{k}.tif", image, origin=ORIGIN, spacing=(10, -10), nodata=NODATA))
        mask_paths.append(write_geotiff(d / f"cloud_{k}.tif", mask, origin=ORIGIN, spacing=(10, -10)))
    return images, masks, paths, mask_paths


# One reference: the fast lane runs a target between two dates with a time of day and one after the last date;
# ctest's tvDecloudGapFilling another between two dates. The full suite runs all four targets.
@pytest.mark.parametrize("target", fast_and_slow(["2022-06-10", "2022-06-12T10:30:00", "2022-06-01", "2022-07-15"],
                                                 ["2022-06-12T10:30:00", "2022-07-15"]))
def test_equals_numpy_reference_exactly(series, tmp_path, target):
    images, masks, paths, mask_paths = series
    out = tmp_path / "gf.tif"
    run = run_app("DecloudGapFilling", {"il": paths, "masks": mask_paths, "dates": DATES, "date": target, "out": out})
    assert run.returncode == 0, run.output
    expected = numpy_gapfilling(images, masks, [seconds(x) for x in DATES], seconds(target))
    got = read_array(out)
    assert got.dtype == np.int16 or np.array_equal(got, got.astype(np.int16))
    assert np.array_equal(got, expected)


def test_streaming_does_not_change_the_result(series, tmp_path):
    images, masks, paths, mask_paths = series
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    params = {"il": paths, "masks": mask_paths, "dates": DATES, "date": "2022-06-15"}
    assert run_app("DecloudGapFilling", {**params, "out": a}).returncode == 0
    assert run_app("DecloudGapFilling", {**params, "out": b, "ram": 1}).returncode == 0
    assert np.array_equal(read_array(a), read_array(b))


# One rule (one FATAL line naming the parameter, nothing written): the fast lane runs a list of the wrong length
# (dates_count) and an image of the wrong band count (bands); ctest's tuDecloudGapFillingImpossibleDate a bad date.
# The full suite runs all four cases.
@pytest.mark.parametrize("case", fast_and_slow(["dates_count", "bad_date", "masks_count", "bands"],
                                               ["dates_count", "bands"]))
def test_bad_input(series, tmp_path, case):
    images, masks, paths, mask_paths = series
    out = tmp_path / "gf.tif"
    params = {"il": paths, "masks": mask_paths, "dates": DATES, "date": "2022-06-15", "out": out}
    expect = {"dates_count": "dates", "bad_date": "date", "masks_count": "masks", "bands": "il"}[case]
    if case == "dates_count":
        params["dates"] = DATES[:-1]
    elif case == "bad_date":
        params["date"] = "2022-13-45"
    elif case == "masks_count":
        params["masks"] = mask_paths[:2]
    elif case == "bands":
        params["il"] = paths[:-1] + [write_geotiff(tmp_path / "x.tif", images[-1][:, :, :3], origin=ORIGIN,
                                                   spacing=(10, -10), nodata=NODATA)]
    run = run_app("DecloudGapFilling", params)
    assert run.returncode != 0 and not out.exists()
    fatal = run.fatal_lines()
    assert fatal and f"DecloudGapFilling: {expect}" in fatal[0], run.output

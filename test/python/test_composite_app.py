"""DecloudComposite (median and best-available-pixel composites) against a numpy reference, exactly."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from conftest import ORIGIN, fast_and_slow, run_app
from decloud.otbenv import pyotb
from decloud.raster import read_array, write_geotiff
from decloud.synthetic import s2_like

APP = "DecloudComposite"
NODATA = -10000
DATES = ["2022-06-02", "2022-06-09", "2022-06-15T10:30:00", "2022-06-21", "2022-06-28"]
MIDDLE = "2022-06-15"
ROWS, COLS = 80, 112
NAMES = ["B8", "B4", "B3", "B2"]


def describe(path, names):
    from osgeo import gdal  # noqa: PLC0415

    ds = gdal.Open(str(path), gdal.GA_Update)
    for b, name in enumerate(names):
        ds.GetRasterBand(b + 1).SetDescription(name)
    ds = None


def seconds(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def has_data(image: np.ndarray) -> np.ndarray:
    return np.all((image != NODATA) & ~np.isnan(image), -1)


def numpy_median(images, masks):
    """Per pixel and band, the median of the clear observations with data (even count: the mean of the two middle
    values), rounded half up; nodata where there is none."""
    stack = np.stack(images).astype(np.float64)  # [n, rows, cols, bands]
    valid = np.stack([has_data(im) & (m == 0) for im, m in zip(stack, masks)])
    stack[~valid] = np.nan
    out = np.full(stack.shape[1:], NODATA, np.float64)
    any_valid = valid.any(0)
    out[any_valid] = np.floor(np.nanmedian(stack[:, any_valid], axis=0) + 0.5)
    return out.astype(np.int16)


def numpy_shares(images, masks):
    """Cloud percent of the pixels with data."""
    return [100.0 * np.count_nonzero(has_data(im) & (m != 0)) / np.count_nonzero(has_data(im))
            for im, m in zip(images, masks)]


def numpy_bap(images, masks, shares, dates, reference):
    """Per pixel the clear observation with data of the first image by (cloud share, |date - reference|, order)."""
    order = sorted(range(len(images)), key=lambda k: (shares[k], abs(seconds(dates[k]) - seconds(reference)), k))
    out = np.full(images[0].shape, NODATA, np.float64)
    done = np.zeros(images[0].shape[:2], bool)
    for k in order:
        take = has_data(images[k]) & (masks[k] == 0) & ~done
        out[take] = images[k][take]
        done |= take
    return out.astype(np.int16)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Five int16 images (scattered nodata, a swath edge on one date) but one float32 with NaNs, with cloud masks
    (nonzero = cloudy, values 1 and 2) cloudy everywhere on a band of rows."""
    d = tmp_path_factory.mktemp("composite")
    rng = np.random.default_rng(0)
    images, masks, paths, mask_paths = [], [], [], []
    for k, _ in enumerate(DATES):
        image = np.rint(s2_like(ROWS, COLS, seed=k, clouds=False)).astype(np.int16)
        image[rng.random((ROWS, COLS)) < 0.05] = NODATA
        if k == 3:
            image[:, :30] = NODATA  # a swath edge
        if k == 2:  # a float image whose no-data is NaN (one band or all)
            image = image.astype(np.float32)
            image[rng.random((ROWS, COLS)) < 0.05, 1] = np.nan
            image[rng.random((ROWS, COLS)) < 0.05] = np.nan
        cloudy = rng.random((ROWS, COLS)) < 0.3 + 0.1 * k
        mask = (cloudy * rng.integers(1, 3, (ROWS, COLS))).astype(np.uint8)
        mask[10:14] = 1  # cloudy on every date: nodata
        images.append(image)
        masks.append(mask)
        paths.append(write_geotiff(d / f"s2_{k}.tif", image, origin=ORIGIN, spacing=(10, -10), nodata=NODATA))
        mask_paths.append(write_geotiff(d / f"cloud_{k}.tif", mask, origin=ORIGIN, spacing=(10, -10)))
    describe(paths[0], NAMES)  # the output's band names are the first image's
    return images, masks, paths, mask_paths


def params(series, mode, **extra):
    _, _, paths, mask_paths = series
    return {"il": paths, "masks": mask_paths, "dates": DATES, "mode": mode, "date": MIDDLE, **extra}


def run_ok(p):
    run = run_app(APP, p)
    assert run.returncode == 0, run.output
    return read_array(p["out"]), run


def test_median_equals_numpy_reference_exactly(series, tmp_path):
    images, masks, _, _ = series
    got, _ = run_ok(params(series, "median", out=tmp_path / "median.tif"))
    expected = numpy_median(images, masks)
    assert got.dtype == np.int16
    assert np.array_equal(got, expected)
    assert np.all(got[10:14] == NODATA)  # all cloudy
    # even counts: the mean of the two middle values, half up, occurs
    counts = np.stack([has_data(im) & (m == 0) for im, m in zip(images, masks)]).sum(0)
    assert (counts == 2).any() and (counts == 4).any()


def test_median_without_masks_and_float_encoding(series, tmp_path):
    images, masks, paths, _ = series
    got, _ = run_ok({"il": paths, "dates": DATES, "date": MIDDLE, "out": tmp_path / "m.tif", "encoding": "float"})
    stack = np.stack(images).astype(np.float64)
    stack[~np.stack([has_data(im) for im in images])] = np.nan
    expected = np.nanmedian(stack, axis=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.where(np.isnan(expected), NODATA, expected), rtol=0, atol=1e-3)
    assert np.any(got != np.floor(got))  # not rounded


def test_bap_with_computed_cloud_shares(series, tmp_path):
    images, masks, _, _ = series
    got, run = run_ok(params(series, "bap", out=tmp_path / "bap.tif"))
    shares = numpy_shares(images, masks)
    assert np.array_equal(got, numpy_bap(images, masks, shares, DATES, MIDDLE))
    assert "Cloud shares computed from the masks" in run.output
    assert np.all(got[10:14] == NODATA)
    # the same with the shares given
    given, _ = run_ok(params(series, "bap", out=tmp_path / "given.tif", cloudshares=[repr(s) for s in shares]))
    assert np.array_equal(given, got)


# One order (cloud share, then nearness, then input order; ctest's tuDecloudComposite checks it in memory): the fast
# lane runs the shares all equal (every tie, the input order deciding some pixels); the full suite all three lists.
@pytest.mark.parametrize("shares", fast_and_slow([[20, 10, 10, 20, 10], [5, 5, 5, 5, 5], [0, 30, 30, 30, 0]],
                                                 [[5, 5, 5, 5, 5]], ids=["shares0", "shares1", "shares2"]))
def test_bap_ties_nearness_then_input_order(series, tmp_path, shares):
    """Ties in cloud share go to the image nearest -date; ties in both (2022-06-09 and 2022-06-21 at 6 days of
    2022-06-15) to input order."""
    images, masks, _, _ = series
    got, _ = run_ok(params(series, "bap", out=tmp_path / "bap.tif", cloudshares=[str(s) for s in shares]))
    assert np.array_equal(got, numpy_bap(images, masks, shares, DATES, MIDDLE))
    # with -date 2022-06-15 (00:00), 2022-06-09 and 2022-06-21 are equally near: input order decides
    swapped = [0, 3, 2, 1, 4]
    _, _, paths, mask_paths = series
    p = {"il": [paths[k] for k in swapped], "masks": [mask_paths[k] for k in swapped],
         "dates": [DATES[k] for k in swapped], "mode": "bap", "date": MIDDLE, "out": tmp_path / "swapped.tif",
         "cloudshares": [str(shares[k]) for k in swapped]}
    got2, _ = run_ok(p)
    assert np.array_equal(got2, numpy_bap([images[k] for k in swapped], [masks[k] for k in swapped],
                                          [shares[k] for k in swapped], [DATES[k] for k in swapped], MIDDLE))
    if shares[1] == shares[3]:  # the input order decided some pixels
        assert not np.array_equal(got, got2)


def test_bap_without_masks_nearest_date(series, tmp_path):
    images, masks, paths, _ = series
    got, _ = run_ok({"il": paths, "dates": DATES, "mode": "bap", "date": "2022-06-20", "out": tmp_path / "b.tif"})
    clear = [np.zeros_like(m) for m in masks]
    assert np.array_equal(got, numpy_bap(images, clear, [0] * 5, DATES, "2022-06-20"))


def test_output_metadata(series, tmp_path):
    from osgeo import gdal  # noqa: PLC0415

    run_ok(params(series, "bap", out=tmp_path / "bap.tif"))
    ds = gdal.Open(str(tmp_path / "bap.tif"))
    assert [ds.GetRasterBand(b + 1).GetDescription() for b in range(ds.RasterCount)] == NAMES
    assert ds.GetMetadataItem("ACQUISITION_DATE") == MIDDLE
    assert ds.GetRasterBand(1).GetNoDataValue() == NODATA
    assert ds.GetRasterBand(1).DataType == gdal.GDT_Int16


# One streaming for both modes: the fast lane runs bap (its cloud shares are computed over the whole image first,
# the part that streaming could break); the full suite both modes.
@pytest.mark.parametrize("mode", fast_and_slow(["median", "bap"], ["bap"]))
def test_streaming_does_not_change_the_result(series, tmp_path, mode):
    a, _ = run_ok(params(series, mode, out=tmp_path / "a.tif"))
    b, _ = run_ok(params(series, mode, out=tmp_path / "b.tif", ram=1))
    assert np.array_equal(a, b)


def test_pyotb(series):
    images, masks, paths, mask_paths = series
    otb = pyotb()
    shares = [12.5, 3, 40, 3, 7]
    app = otb.DecloudComposite(il=[str(p) for p in paths], masks=[str(p) for p in mask_paths], dates=DATES,
                               mode="bap", date=MIDDLE, cloudshares=[str(s) for s in shares])
    assert np.array_equal(app.to_numpy(), numpy_bap(images, masks, shares, DATES, MIDDLE))
    median = otb.DecloudComposite(il=[str(p) for p in paths], masks=[str(p) for p in mask_paths], dates=DATES,
                                  date=MIDDLE)
    assert np.array_equal(median.to_numpy(), numpy_median(images, masks))


# One rule (one FATAL line naming the parameter, nothing written): the fast lane runs a list of the wrong length
# (masks_count) and a bad value (share_text); the full suite all six cases.
@pytest.mark.parametrize("case", fast_and_slow(["dates_count", "masks_count", "shares_count", "share_value",
                                                "share_text", "date"], ["masks_count", "share_text"]))
def test_bad_input(series, tmp_path, case):
    out = tmp_path / "c.tif"
    p = params(series, "bap", out=out, cloudshares=["1"] * 5)
    expect = {"dates_count": "dates", "masks_count": "masks", "shares_count": "cloudshares",
              "share_value": "cloudshares", "share_text": "cloudshares", "date": "date"}[case]
    if case == "dates_count":
        p["dates"] = DATES[:-1]
    elif case == "masks_count":
        p["masks"] = p["masks"][:2]
    elif case == "shares_count":
        p["cloudshares"] = ["1"] * 4
    elif case == "share_value":
        p["cloudshares"] = ["1", "1", "101", "1", "1"]
    elif case == "share_text":
        p["cloudshares"] = ["1", "1", "5%", "1", "1"]
    elif case == "date":
        p["date"] = "2022-06-31"
    run = run_app(APP, p)
    assert run.returncode != 0 and not out.exists()
    fatal = run.fatal_lines()
    assert fatal and f"{APP}: {expect}:" in fatal[0], run.output

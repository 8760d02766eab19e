"""DecloudTimeSeriesPreProcessor (the original Decloud's app, same keys) against a numpy reference, exactly: every
sorting mode, 1 and 3 output pairs, the maximum gap (inclusive), ties, nodata (all bands), streaming, bad inputs,
and pyotb as the original's production scripts call it."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from conftest import ORIGIN, covering_product, fast_and_slow, run_app
from decloud.otbenv import pyotb
from decloud.raster import read_array, write_geotiff

APP = "DecloudTimeSeriesPreProcessor"
NOUTPUTS = "DECLOUD_PREPROCESSING_NOUTPUTS"
DAY = 86400.0
BASE = 1654041600.0  # 2022-06-01T00:00:00Z
ROWS, COLS = 24, 32
# Days since BASE. Ties on purpose: two optical images on day 8 (asc / des); days 8, 8 and 15 at 3.5 days from
# the reference 11.5 (abs); SAR on days 2 and 4 around the optical day 3, 7 and 9 around 8, 14 and 16 around 15,
# listed out of order so that "input order" and "earlier first" differ. SAR 17.5 is exactly MAXGAP from 20.5.
OPT_DAYS = [8, 3, 20.5, 15, 8]
SAR_DAYS = [9, 4, 16, 2, 7, 30, 14, 17.5]
REF_DAY = 11.5
MAXGAP = 3 * DAY
SAR_BANDS, OPT_BANDS = 2, 4


def stamp(day: float) -> str:
    """A timestamp as the original's scripts give it: str(datetime.timestamp())."""
    return str(BASE + day * DAY)


def iso(day: float) -> str:
    return datetime.fromtimestamp(BASE + day * DAY, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def candidate_pairs(sar_t, opt_t, sorting, ref, maxgap):
    """The optical images in the sorting's order (Python's sort is stable: ties in input order); for each, the SAR
    images within maxgap, nearest first (ties in input order)."""
    key = {"asc": lambda o: opt_t[o], "des": lambda o: -opt_t[o], "abs": lambda o: abs(opt_t[o] - ref)}[sorting]
    pairs = []
    for o in sorted(range(len(opt_t)), key=key):
        near = [s for s in range(len(sar_t)) if abs(sar_t[s] - opt_t[o]) <= maxgap]
        pairs += [(s, o) for s in sorted(near, key=lambda s: abs(sar_t[s] - opt_t[o]))]
    return pairs


def numpy_preprocessor(sar, opt, pairs, n, nodata_sar=0.0, nodata_opt=-10000.0):
    """Per pixel, output k = the k-th pair (in order) whose SAR and optical pixels both have data (not every band
    nodata); nodata where fewer than k pairs have data."""
    out_sar = np.full((n, ROWS, COLS, SAR_BANDS), nodata_sar, np.float32)
    out_opt = np.full((n, ROWS, COLS, OPT_BANDS), nodata_opt, np.float32)
    filled = np.zeros((ROWS, COLS), int)
    for s, o in pairs:
        ok = ~np.all(sar[s] == nodata_sar, -1) & ~np.all(opt[o] == nodata_opt, -1)
        for k in range(n):
            here = ok & (filled == k)
            out_sar[k][here] = sar[s][here]
            out_opt[k][here] = opt[o][here]
        filled += ok
    return out_sar, out_opt


def with_holes(rng, image, nodata):
    image[rng.random((ROWS, COLS)) < 0.35] = nodata  # all bands: no data
    partial = rng.random((ROWS, COLS)) < 0.1
    image[partial, 0] = nodata  # one band only: still data
    return image


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    d = tmp_path_factory.mktemp("preproc")
    rng = np.random.default_rng(15)
    sar, opt, sar_paths, opt_paths = [], [], [], []
    for k, _ in enumerate(SAR_DAYS):
        image = with_holes(rng, rng.uniform(0.01, 1, (ROWS, COLS, SAR_BANDS)).astype(np.float32), 0.0)
        sar.append(image)
        sar_paths.append(write_geotiff(d / f"s1_{k}.tif", image, origin=ORIGIN, spacing=(10, -10)))
    for k, _ in enumerate(OPT_DAYS):
        image = with_holes(rng, rng.integers(1, 9000, (ROWS, COLS, OPT_BANDS)).astype(np.int16), -10000)
        opt.append(image.astype(np.float32))
        opt_paths.append(write_geotiff(d / f"s2_{k}.tif", image, origin=ORIGIN, spacing=(10, -10), nodata=-10000))
    return sar, opt, sar_paths, opt_paths


def params(series, sorting="asc", **extra):
    _, _, sar_paths, opt_paths = series
    p = {"ilsar": sar_paths, "ilopt": opt_paths, "timestampssar": [stamp(t) for t in SAR_DAYS],
         "timestampsopt": [stamp(t) for t in OPT_DAYS], "sorting": sorting, "maxgap": MAXGAP}
    if sorting == "abs":
        p["sorting.abs.reftimestamp"] = stamp(REF_DAY)
    return {**p, **extra}


def outputs(tmp_path, n):
    return {f"out{kind}{k}": tmp_path / f"{kind}{k}.tif" for k in range(1, n + 1) for kind in ("sar", "opt")}


def test_reference_pairs_have_the_ties_they_are_meant_to_test():
    sar_t, opt_t = SAR_DAYS, OPT_DAYS
    assert candidate_pairs(sar_t, opt_t, "asc", 0, 3)[:6] == [(1, 1), (3, 1), (0, 0), (4, 0), (0, 4), (4, 4)]
    assert candidate_pairs(sar_t, opt_t, "des", 0, 3)[:3] == [(7, 2), (2, 3), (6, 3)]  # 17.5 at exactly 3 days
    abs_order = [o for _, o in candidate_pairs(sar_t, opt_t, "abs", REF_DAY, 3)]
    assert list(dict.fromkeys(abs_order)) == [0, 3, 4, 1, 2]  # 8, 15, 8 at 3.5 days in input order


# The fast lane runs each sorting once and both output counts (asc-1, des-3, abs-1: conftest.covering_product);
# the full suite all six pairs.
@pytest.mark.parametrize(("sorting", "n"), covering_product(["asc", "des", "abs"], [1, 3]))
def test_equals_numpy_reference_exactly(series, tmp_path, sorting, n):
    sar, opt, _, _ = series
    outs = outputs(tmp_path, n)
    run = run_app(APP, {**params(series, sorting), **outs}, {NOUTPUTS: str(n)})
    assert run.returncode == 0, run.output
    pairs = candidate_pairs(SAR_DAYS, OPT_DAYS, sorting, REF_DAY, 3)
    expected_sar, expected_opt = numpy_preprocessor(sar, opt, pairs, n)
    for k in range(n):
        got_sar, got_opt = read_array(outs[f"outsar{k + 1}"]), read_array(outs[f"outopt{k + 1}"])
        assert got_sar.dtype == np.float32 and got_opt.dtype == np.float32
        assert np.array_equal(got_sar, expected_sar[k]), (sorting, k)
        assert np.array_equal(got_opt, expected_opt[k]), (sorting, k)
    # Every output slot has pixels filled and pixels left nodata here, so the test exercises both.
    assert 0 < np.all(expected_opt[-1] == -10000, -1).sum() < ROWS * COLS


def test_maxgap_is_inclusive_and_in_seconds(series, tmp_path):
    """With a 2.5-day gap, the SAR image exactly 3 days from the optical day 20.5 is no longer paired."""
    sar, opt, _, _ = series
    outs = outputs(tmp_path, 1)
    run = run_app(APP, {**params(series, "des", maxgap=2.5 * DAY), **outs})
    assert run.returncode == 0, run.output
    pairs = candidate_pairs(SAR_DAYS, OPT_DAYS, "des", 0, 2.5)
    assert all(o != 2 for _, o in pairs)
    expected_sar, expected_opt = numpy_preprocessor(sar, opt, pairs, 1)
    assert np.array_equal(read_array(outs["outsar1"]), expected_sar[0])
    assert np.array_equal(read_array(outs["outopt1"]), expected_opt[0])


def test_dates_streaming_and_nodata_values(series, tmp_path):
    """Dates instead of seconds give the same pairs; other nodata values; many stream blocks change nothing."""
    sar, opt, sar_paths, opt_paths = series
    sar_dates, opt_dates = ([iso(t) for t in days] for days in (SAR_DAYS, OPT_DAYS))
    split = "?&streaming:type=stripped&streaming:sizemode=nbsplits&streaming:sizevalue=5"
    outs = {"outsar1": f"{tmp_path / 's.tif'}{split}", "outopt1": f"{tmp_path / 'o.tif'}{split}"}
    p = {**params(series, "abs"), "timestampssar": sar_dates, "timestampsopt": opt_dates,
         "sorting.abs.reftimestamp": iso(REF_DAY), "nodatasar": 0.5, "nodataopt": 1.0, **outs}
    run = run_app(APP, p)
    assert run.returncode == 0, run.output
    assert run.output.count("will be written in 5 blocks") == 2, run.output
    pairs = candidate_pairs(SAR_DAYS, OPT_DAYS, "abs", REF_DAY, 3)
    # With other nodata values, the 0 / -10000 holes of the images are data, copied as they are.
    expected_sar, expected_opt = numpy_preprocessor(sar, opt, pairs, 1, nodata_sar=0.5, nodata_opt=1.0)
    assert np.array_equal(read_array(tmp_path / "s.tif"), expected_sar[0])
    assert np.array_equal(read_array(tmp_path / "o.tif"), expected_opt[0])


def test_fewer_pairs_than_outputs_are_nodata(series, tmp_path):
    sar, opt, sar_paths, opt_paths = series
    outs = outputs(tmp_path, 2)
    p = {**params(series), "ilsar": sar_paths[:1], "timestampssar": [stamp(SAR_DAYS[0])],
         "ilopt": opt_paths[:1], "timestampsopt": [stamp(OPT_DAYS[0])], **outs}
    run = run_app(APP, p, {NOUTPUTS: "2"})
    assert run.returncode == 0, run.output
    assert "outputs 2 to 2 are nodata everywhere" in run.output
    expected_sar, expected_opt = numpy_preprocessor(sar, opt, [(0, 0)], 2)
    assert np.array_equal(read_array(outs["outopt1"]), expected_opt[0])
    assert np.all(read_array(outs["outsar2"]) == 0) and np.all(read_array(outs["outopt2"]) == -10000)


# One rule (one FATAL line naming the parameter, nothing written): the fast lane runs a bad value in a list of
# timestamps (timestamp) and the output count from the environment (noutputs); the full suite all seven cases.
@pytest.mark.parametrize("case", fast_and_slow(["count", "timestamp", "reference", "nopair", "negative", "bands",
                                                "noutputs"], ["timestamp", "noutputs"]))
def test_bad_input_is_one_fatal_line_naming_the_parameter(series, tmp_path, case):
    sar, _, sar_paths, _ = series
    outs = outputs(tmp_path, 1)
    p, env = {**params(series, "abs" if case == "reference" else "asc"), **outs}, {}
    expect = {"count": "timestampssar", "timestamp": "timestampsopt", "reference": "sorting.abs.reftimestamp",
              "nopair": "maxgap", "negative": "maxgap", "bands": "ilsar", "noutputs": NOUTPUTS}[case]
    if case == "count":
        p["timestampssar"] = p["timestampssar"][:-1]
    elif case == "timestamp":
        p["timestampsopt"] = [*p["timestampsopt"][:-1], "1654041600abc"]
    elif case == "reference":
        p["sorting.abs.reftimestamp"] = "2022-02-30"
    elif case == "nopair":
        p["maxgap"] = 600  # 10 minutes: no pair (and a warning that maxgap is in seconds)
    elif case == "negative":
        p["maxgap"] = -1
    elif case == "bands":
        p["ilsar"] = [*sar_paths[:-1], write_geotiff(tmp_path / "x.tif", sar[-1][:, :, :1], origin=ORIGIN,
                                                      spacing=(10, -10))]
    elif case == "noutputs":
        env = {NOUTPUTS: "two"}
    run = run_app(APP, p, env)
    assert run.returncode != 0
    assert not any(v.exists() for v in outs.values())
    fatal = run.fatal_lines()
    assert len(fatal) == 1 and f"{APP}: {expect}:" in fatal[0], run.output


def test_pyotb_as_the_original_production_scripts(series, tmp_path, monkeypatch):
    """As decloud/production/crga_processor.py of the original calls it (maxgap in hours x 3600, str timestamps,
    sorting "des", outputs by key), with two output pairs, in memory."""
    sar, opt, sar_paths, opt_paths = series
    monkeypatch.setenv(NOUTPUTS, "2")
    otb = pyotb()
    app = otb.DecloudTimeSeriesPreProcessor(
        maxgap=72 * 3600, ilsar=[str(p) for p in sar_paths], ilopt=[str(p) for p in opt_paths],
        timestampssar=[stamp(t) for t in SAR_DAYS], timestampsopt=[stamp(t) for t in OPT_DAYS], sorting="des")
    expected_sar, expected_opt = numpy_preprocessor(sar, opt, candidate_pairs(SAR_DAYS, OPT_DAYS, "des", 0, 3), 2)
    for k in (1, 2):
        assert np.array_equal(app[f"outsar{k}"].to_numpy(), expected_sar[k - 1])
        assert np.array_equal(app[f"outopt{k}"].to_numpy(), expected_opt[k - 1])
    written = {f"out{kind}{k}": str(tmp_path / f"{kind}{k}.tif") for kind in ("sar", "opt") for k in (1, 2)}
    assert app.write(written)
    for k in (1, 2):
        assert np.array_equal(read_array(written[f"outsar{k}"]), expected_sar[k - 1])
        assert np.array_equal(read_array(written[f"outopt{k}"]), expected_opt[k - 1])

"""decloud synthesis (issue 16): the original Decloud's date rule, periods, the numpy composites, and the command
on generated prepared products (one output per period checked pixel by pixel against a plain per-pixel reference,
resumable); bench/synthesis.py --quick on the real data when ../shared/data is there."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from decloud.errors import DecloudInputError
from decloud.otbenv import app_environment
from decloud.prepare import prepare_s2
from decloud.synthesis import (
    NODATA,
    bap_composite,
    composite_app_available,
    median_composite,
    periods,
    pick_dates,
)
from decloud.testing import synthetic_products as sp
from osgeo import gdal

BENCH = Path(__file__).resolve().parents[2] / "bench"


@dataclass(frozen=True)
class D:
    name: str
    when: datetime
    cloud_percent: float
    nodata_percent: float = 0.0


def day(m: int, d: int) -> datetime:
    return datetime(2022, m, d, 10, 30, tzinfo=timezone.utc)


# ---- the date rule

def test_pick_dates_fewest_clouds_first_within_the_window():
    dates = [D("a", day(6, 1), 50), D("b", day(6, 10), 5), D("c", day(6, 20), 0), D("d", day(7, 6), 1),
             D("e", day(7, 8), 0),  # 23.4 days after the 15th: out
             D("f", day(5, 24), 2),  # 21.6 days before: in
             D("g", day(6, 14), 0, nodata_percent=30),  # too much nodata (original: < 5 %)
             D("h", day(6, 16), 80), D("i", day(6, 17), 90)]
    picked = pick_dates(dates, date(2022, 6, 15), window_days=22, images=6)
    assert [p.name for p in picked] == ["c", "d", "f", "b", "a", "h"]
    assert [p.name for p in pick_dates(dates, date(2022, 6, 15), images=3)] == ["c", "d", "f"]


def test_pick_dates_ties_go_to_the_nearest_and_fewer_dates_are_repeated_least_cloudy_first():
    dates = [D("far", day(6, 2), 10), D("near", day(6, 14), 10), D("clear", day(6, 25), 3)]
    picked = pick_dates(dates, date(2022, 6, 15), images=6)
    assert [p.name for p in picked] == ["clear", "clear", "clear", "clear", "near", "far"]
    assert pick_dates([D("x", day(9, 1), 0)], date(2022, 6, 15)) == []
    with pytest.raises(DecloudInputError):
        pick_dates(dates, date(2022, 6, 15), images=0)


def test_periods_month_and_days():
    months = periods(date(2022, 11, 20), date(2023, 2, 1), "month")
    assert [p.name for p in months] == ["2022-11", "2022-12", "2023-01", "2023-02"]
    assert months[1].start == date(2022, 12, 1) and months[1].end == date(2023, 1, 1)
    assert all(p.middle.day == 15 and p.window_days == 22 for p in months)
    tens = periods(date(2022, 6, 1), date(2022, 6, 25), "10")
    assert [(p.name, p.middle) for p in tens] == [("20220601-20220610", date(2022, 6, 6)),
                                                 ("20220611-20220620", date(2022, 6, 16)),
                                                 ("20220621-20220630", date(2022, 6, 26))]
    assert tens[0].window_days == 12
    for bad in ("0", "week", "-3"):
        with pytest.raises(DecloudInputError):
            periods(date(2022, 6, 1), date(2022, 6, 25), bad)


# ---- the composites on hand-made arrays

def test_median_and_bap_composites_use_clear_observations_only():
    images = np.array([[[[100, 200]]], [[[300, 400]]], [[[1000, 1000]]], [[[NODATA, NODATA]]]], np.int16)
    clouds = np.array([[[False]], [[False]], [[True]], [[False]]])
    assert median_composite(images, clouds).tolist() == [[[200, 300]]]  # the mean of the two middle values
    dates = [day(6, 1), day(6, 14), day(6, 15), day(6, 16)]
    # bap: the least cloudy image first (the 2nd), whatever the dates
    assert bap_composite(images, clouds, dates, date(2022, 6, 15), [20, 10, 0, 0]).tolist() == [[[300, 400]]]
    # same cloud shares: the nearest to the middle among the clear ones (06-14; 06-15 is cloudy, 06-16 empty)
    assert bap_composite(images, clouds, dates, date(2022, 6, 15), [0, 0, 0, 0]).tolist() == [[[300, 400]]]
    none_clear = np.ones((4, 1, 1), bool)
    assert median_composite(images, none_clear).tolist() == [[[NODATA, NODATA]]]
    assert bap_composite(images, none_clear, dates, date(2022, 6, 15)).tolist() == [[[NODATA, NODATA]]]


# ---- the command on generated prepared products

DATES = [(6, 3), (6, 10), (6, 20), (7, 5), (7, 25), (8, 28)]
CLOUD_CLASSES = (3, 8, 9, 10)


def make_products(folder: Path) -> None:
    """Six dates; each date's reflectance raised by 150 x its index (composites differ from any one date); 06-10
    clear, 07-05 with an extra cloud square over the upper half, the others with the generated cloud and shadow."""
    for k, (m, d) in enumerate(DATES):
        stack = sp.make_stack(folder, when=datetime(2022, m, d), size=128, seed=k)
        ds = gdal.Open(str(stack.path), gdal.GA_Update)
        for b in range(ds.RasterCount):
            band = ds.GetRasterBand(b + 1)
            a = band.ReadAsArray().astype(np.int32)
            band.WriteArray(np.where(a > 0, a + 150 * k, 0).astype(np.uint16))
        ds = None
        ds = gdal.Open(str(stack.path.with_name(f"S2_L2A_2022{m:02d}{d:02d}_SCL.tif")), gdal.GA_Update)
        scl = ds.ReadAsArray()
        if (m, d) == (6, 10):
            scl[np.isin(scl, CLOUD_CLASSES)] = 4
        if (m, d) == (7, 5):
            scl[10:60, 20:120][scl[10:60, 20:120] != 0] = 9
        ds.GetRasterBand(1).WriteArray(scl)
        ds = None


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthesis")
    make_products(root / "data")
    for stack in sorted((root / "data").glob("S2_L2A_*_B2B3B4B8.tif")):
        prepare_s2(stack, root / "prep", tile="synth")
    return root / "prep"


def decloud(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "decloud.cli", *map(str, args)], capture_output=True, text=True,
                          env=app_environment(), timeout=600, cwd=cwd)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    return proc.stdout


def read(path: Path) -> np.ndarray:
    a = gdal.Open(str(path)).ReadAsArray()
    return np.moveaxis(a, 0, -1) if a.ndim == 3 else a[..., None]


def reference(prep: Path, picked: list[str], middle: date, method: str, shares: dict[str, float]) -> np.ndarray:
    """A plain per-pixel loop over the clear observations of the distinct picked dates."""
    distinct = list(dict.fromkeys(picked))
    folders = [prep / f"S2_synth_{d.replace('-', '')[:8]}T000000" for d in distinct]
    images = [read(f / "s2_10m.tif") for f in folders]
    clouds = [read(f / "cloud.tif")[..., 0] != 0 for f in folders]
    whens = [datetime.fromisoformat(d).date() for d in distinct]
    order = sorted(range(len(folders)), key=lambda k: (shares[distinct[k]], abs((whens[k] - middle).days),
                                                      (whens[k] - middle).days))
    h, w, b = images[0].shape
    out = np.full((h, w, b), NODATA, np.int16)
    for r in range(0, h, 3):
        for c in range(0, w, 3):
            clear = [k for k in range(len(folders)) if not clouds[k][r, c] and (images[k][r, c] != NODATA).any()]
            if not clear:
                continue
            if method == "median":
                out[r, c] = np.floor(0.5 + np.median([images[k][r, c].astype(float) for k in clear], axis=0))
            else:
                out[r, c] = images[next(k for k in order if k in clear)][r, c]
    return out


@pytest.mark.parametrize("method", ["median", "bap"])
def test_synthesis_command_writes_one_checked_output_per_month_and_resumes(prepared, tmp_path, method):
    out = ok(decloud("synthesis", prepared, "--out-dir", "monthly", "--method", method, "--workers", 0, "-q",
                     "--engine", "numpy", cwd=tmp_path))
    assert "3 period(s) to produce" in out and "3 period(s) produced, 0 already done, 0 skipped" in out
    report = json.loads((tmp_path / "monthly" / "run_report.json").read_text())
    tasks = {e["period"]: e for e in report["tasks"]}
    assert sorted(tasks) == ["2022-06", "2022-07", "2022-08"]
    june = tasks["2022-06"]["inputs"]
    # within 22 days of 06-15: 06-03, 06-10, 06-20, 07-05; the clear 06-10 first, 07-05 (most cloud) last;
    # repeated to 6, the least cloudy in front
    assert [d[:10] for d in june["dates"]][:2] == ["2022-06-10", "2022-06-10"]
    assert sorted({d[:10] for d in june["dates"]}) == ["2022-06-03", "2022-06-10", "2022-06-20", "2022-07-05"]
    assert june["dates"][-1][:10] == "2022-07-05" and len(june["dates"]) == 6
    # 08-15: 07-25 (21 days) and 08-28 (13 days), the same cloud share: the nearer first, repeated
    assert [d[:10] for d in tasks["2022-08"]["inputs"]["dates"]] == ["2022-08-28"] * 5 + ["2022-07-25"]
    for name, entry in tasks.items():
        path = tmp_path / "monthly" / f"synthesis_synth_{name}.tif"
        ds = gdal.Open(str(path))
        assert ds.GetRasterBand(1).DataType == gdal.GDT_Int16
        assert [ds.GetRasterBand(b + 1).GetDescription() for b in range(4)] == ["B2", "B3", "B4", "B8"]
        assert ds.GetMetadataItem("ACQUISITION_DATE") == f"{name}-15T00:00:00"
        assert ds.GetMetadataItem("DECLOUD_SYNTHESIS") == method
        got = read(path)
        shares = dict(zip(entry["inputs"]["dates"], entry["inputs"]["cloud_percents"]))
        want = reference(prepared, entry["inputs"]["dates"], date.fromisoformat(f"{name}-15"), method, shares)
        sample = (slice(0, None, 3), slice(0, None, 3))
        assert np.abs(got[sample].astype(int) - want[sample].astype(int)).max() <= (1 if method == "median" else 0)
        assert (got[sample] != NODATA).mean() > 0.5
    # resumable: a second run does nothing; a removed output is made again, identical
    june_path = tmp_path / "monthly" / "synthesis_synth_2022-06.tif"
    before = read(june_path)
    out = ok(decloud("synthesis", prepared, "--out-dir", "monthly", "--method", method, "--workers", 0, "-q",
                     "--engine", "numpy", cwd=tmp_path))
    assert "0 period(s) produced, 3 already done" in out
    june_path.unlink()
    out = ok(decloud("synthesis", prepared, "--out-dir", "monthly", "--method", method, "--workers", 0, "-q",
                     "--engine", "numpy", cwd=tmp_path))
    assert "1 period(s) produced, 2 already done" in out
    assert np.array_equal(read(june_path), before)


def test_synthesis_command_days_periods_range_bbox_and_skips(prepared, tmp_path):
    # 10-day periods from 06-21 to 07-20: the middles 06-26 and 07-06 (window 12 days) and 07-16: 07-05 is
    # within 12 days of 07-16 too; with --images 2 the least cloudy two
    x0, y0 = sp.ORIGIN
    bbox = (x0 + 100, y0 - 700, x0 + 600, y0 - 200)  # 50 x 50 px
    out = ok(decloud("synthesis", prepared, "--out-dir", "tens", "--period", 10, "--start", "2022-06-21", "--end",
                     "2022-08-09", "--images", 2, "--bbox", *bbox, "--workers", 0, "-q", "--engine", "numpy",
                     cwd=tmp_path))
    report = json.loads((tmp_path / "tens" / "run_report.json").read_text())["tasks"]
    by = {e["period"]: e for e in report}
    assert sorted(by) == ["20220621-20220630", "20220701-20220710", "20220711-20220720", "20220721-20220730",
                          "20220731-20220809"]
    assert by["20220711-20220720"]["status"] == "done"
    assert all(len(e["inputs"]["dates"]) == 2 for e in report if e["status"] == "done")
    skipped = [e for e in report if e["status"] == "skipped"]
    for e in skipped:
        assert e["reason"].startswith("no prepared S2 date of tile synth within 12 days of")
    assert f"{len(skipped)} skipped" in out
    done = [e for e in report if e["status"] == "done"]
    ds = gdal.Open(str(tmp_path / done[0]["output"]))
    assert (ds.RasterXSize, ds.RasterYSize) == (50, 50)
    assert ds.GetGeoTransform()[0] == x0 + 100 and ds.GetGeoTransform()[3] == y0 - 200


@pytest.mark.skipif(not composite_app_available(), reason="the OTB app DecloudComposite is not built")
@pytest.mark.parametrize("method", ["median", "bap"])
def test_the_composite_app_and_numpy_give_the_same_outputs(prepared, tmp_path, method):
    x0, y0 = sp.ORIGIN
    common = ("--method", method, "--bbox", x0 + 100, y0 - 1000, x0 + 1200, y0 - 200, "--workers", 0, "-q")
    ok(decloud("synthesis", prepared, "--out-dir", "np", "--engine", "numpy", *common, cwd=tmp_path))
    ok(decloud("synthesis", prepared, "--out-dir", "otb", "--engine", "otb", *common, cwd=tmp_path))
    report = json.loads((tmp_path / "otb" / "run_report.json").read_text())["tasks"]
    assert [e["engine"] for e in report] == ["DecloudComposite"] * 3
    for e in report:
        name = Path(e["output"]).name
        a, b = gdal.Open(str(tmp_path / "np" / name)), gdal.Open(str(tmp_path / "otb" / name))
        assert (b.RasterXSize, b.RasterYSize) == (110, 80) and b.GetGeoTransform() == a.GetGeoTransform()
        assert np.array_equal(a.ReadAsArray(), b.ReadAsArray())
        assert b.GetMetadataItem("ACQUISITION_DATE") == a.GetMetadataItem("ACQUISITION_DATE")
        assert [b.GetRasterBand(k + 1).GetDescription() for k in range(4)] == ["B2", "B3", "B4", "B8"]


def test_synthesis_command_refuses_an_unknown_method_and_period(prepared, tmp_path):
    for args, words in ((("--method", "nope"), "--model DIR for a synthesis network"),
                        (("--period", "week"), "--period week")):
        proc = decloud("synthesis", prepared, "--out-dir", "x", *args, "--workers", 0, cwd=tmp_path)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_synthesis_benchmark_says_when_the_data_is_absent(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "synthesis.py"), "--quick", "--data", tmp_path / "none"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("synthesis: the real data is absent") and len(proc.stderr.splitlines()) == 1


def test_a_clear_date_that_is_a_cloud_the_mask_missed_is_picked_last(tmp_path, caplog):
    """06-10's SCL is clear but the date is a cloud (every band 0.5 brighter, as worldcereal-belgium-a 2018-09-23):
    June's picks put it last, counted as fully cloudy (so bap never takes it before a clear date), with a
    warning; the other dates keep their own shares."""
    from decloud.raster import read_array, write_geotiff  # noqa: PLC0415
    from decloud.synthesis import plan_synthesis  # noqa: PLC0415
    from decloud.timeseries import find_prepared  # noqa: PLC0415

    for k, d in enumerate((5, 10, 15, 20)):
        stack = sp.make_stack(tmp_path / "data", when=datetime(2022, 6, d), size=64, seed=k)
        data = np.maximum(read_array(stack.path).astype(np.int32), 1) + (5000 if d == 10 else 0)
        write_geotiff(stack.path, np.minimum(data, 10000).astype(np.uint16), origin=sp.ORIGIN, spacing=(10, -10),
                      epsg=sp.EPSG, nodata=0)
        scl = np.full((64, 64), 4, np.uint8)
        scl[:20] = 9 if d == 20 else 4  # 06-20: 31 % cloudy
        write_geotiff(stack.path.with_name(f"S2_L2A_202206{d:02d}_SCL.tif"), scl, origin=sp.ORIGIN,
                      spacing=(10, -10), epsg=sp.EPSG, nodata=0)
        prepare_s2(stack.path, tmp_path / "prep", tile="synth")
    with caplog.at_level("WARNING", logger="decloud.synthesis"):
        tasks, _ = plan_synthesis(find_prepared([tmp_path / "prep"]), tmp_path / "out", start="2022-06-01",
                                  end="2022-06-30", images=4)
    (june,) = tasks
    assert [d[5:10] for d in june.dates] == ["06-15", "06-05", "06-20", "06-10"]
    assert [round(c) for c in june.cloud_percents] == [0, 0, 31, 100]
    assert "a cloud the mask missed" in caplog.text and "20220610" in caplog.text

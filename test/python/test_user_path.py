"""Issue 18's whole user path, through the command line as a user runs it, on generated GeoTIFF stacks named as in
../shared/data (S2_L2A_<date>_B2B3B4B8.tif + SCL, no S1): prepare-s2 --tile -> index -> search (non-empty with an
S2-only layout, and an explained empty case) -> dataset (records with cloud_t) -> train gfnet 1 epoch (a finished
run left as it is; an option the records cannot satisfy is a one-line error) -> evaluate (cloudy pixels of t) ->
timeseries with the trained model (only dates without candidates skipped, each with its reason).

Five dates, 128 x 128 (4 cells of 64 px; the upper-left cell holds the generated swath edge, so it never fits):
06-01, 06-12 and 06-23 carry the generated cloud and shadow, 06-05 and 06-16 are clear. With os2-s2 (t-1 10-30 days
before t, t+1 10-30 days after, a clear target within 10 days) only t = 06-12 fits, with the clear 06-05 or 06-16 as
target; the ROIs put the right column of cells in train and the lower-left cell in test.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from decloud.otbenv import app_environment
from decloud.prepare import prepare_s2
from decloud.testing import synthetic_products as sp
from osgeo import gdal

DAYS = (1, 5, 12, 16, 23)
CLEAR = (5, 16)
CLOUD_CLASSES = (3, 8, 9, 10)
TRAIN_ROI = [600640, 5098720, 601280, 5100000]  # cells 1 and 3 (right column), see sp.ORIGIN
TEST_ROI = [600000, 5098720, 600640, 5099360]  # cell 2 (lower left): rows 64-127, columns 0-63


def decloud(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "decloud.cli", *map(str, args)], capture_output=True, text=True,
                          env=app_environment(), timeout=600, cwd=cwd)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    return proc.stdout


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def make_products(folder: Path) -> None:
    """The stacks; on the clear dates the SCL's cloud and shadow classes become vegetation (4)."""
    for k, day in enumerate(DAYS):
        stack = sp.make_stack(folder, when=datetime(2022, 6, day), size=128, seed=k)
        if day in CLEAR:
            ds = gdal.Open(str(stack.path.with_name(f"S2_L2A_202206{day:02d}_SCL.tif")), gdal.GA_Update)
            scl = ds.ReadAsArray()
            scl[np.isin(scl, CLOUD_CLASSES)] = 4
            ds.GetRasterBand(1).WriteArray(scl)
            ds = None


@pytest.mark.slow
def test_s2_only_stacks_to_a_trained_model_and_a_clean_series(tmp_path):
    make_products(tmp_path / "data")
    # prepare: the stacks under one tile name
    ok(decloud("prepare-s2", *sorted((tmp_path / "data").glob("S2_L2A_*_B2B3B4B8.tif")), "--tile", "synth",
               "--out-dir", "prep", "--workers", 0, "-q", cwd=tmp_path))
    folders = sorted((tmp_path / "prep").glob("S2_*"))
    assert [f.name for f in folders] == [f"S2_synth_202206{d:02d}T000000" for d in DAYS]

    # index: the tile named after the folders
    out = ok(decloud("index", "--out", "index/synth.npz", "--s2", *folders, "--cell-pixels", 64, cwd=tmp_path))
    assert "tile synth, 4 cells of 64 px, 5 S2 dates, 0 S1 dates" in out

    # search: an S1 layout on S2-only data says why it is empty and which layout to use instead ...
    out = ok(decloud("search", "--index", "index/synth.npz", "--layout", "os2", "-q", cwd=tmp_path))
    assert "emptied by \"S1 within 72 h\"" in out.splitlines()[0]
    assert "use an S2-only layout such as os2-s2" in out.splitlines()[0]
    assert out.splitlines()[-1].startswith("0 (cell, t) pairs fit layout os2;")
    # ... and the S2-only layout finds the three valid cells at 06-12, with a clear target
    out = ok(decloud("search", "--index", "index/synth.npz", "--layout", "os2-s2", "--out", "samples.json", "-q",
                     cwd=tmp_path))
    assert out.startswith("3 (cell, t) pairs fit layout os2-s2")
    samples = json.loads((tmp_path / "samples.json").read_text())["samples"]
    assert sorted(s["cell"] for s in samples) == [1, 2, 3]
    assert {s["s2"]["t"][:10] for s in samples} == {"2022-06-12"}
    assert {s["s2"]["target"][5:10] for s in samples} <= {"06-05", "06-16"}

    # dataset: train and test by ROI, records with the cloud mask of t
    (tmp_path / "rois.json").write_text(json.dumps({"train": [TRAIN_ROI], "test": [TEST_ROI]}))
    out = ok(decloud("dataset", "--index", "index/synth.npz", "--prepared", "prep", "--layout", "os2-s2", "--rois",
                     "rois.json", "--out-dir", "ds", "--workers", 0, "-q", cwd=tmp_path))
    assert "train: 2 samples" in out and "test: 1 samples" in out
    spec = json.loads((tmp_path / "ds" / "test" / "shapes_and_types.json").read_text())
    assert spec["cloud_t"] == {"shape": [64, 64, 1], "dtype": "uint8"}
    assert {"s2_t", "s2_tm1", "s2_tp1", "s2_target", "s2_timestamp_t", "s2_timestamp_tm1",
            "s2_timestamp_tp1"} <= set(spec)

    # train: gfnet on the S2-only records (with_dem / with_sar follow them), one epoch
    train = ("train", "gfnet", "--dataset", "ds/train", "--options", '{"width": 0.125}', "--epochs", 1,
             "--out-dir", "runs/gfnet", "-q")
    ok(decloud(*train, cwd=tmp_path))
    model = tmp_path / "runs" / "gfnet" / "model"
    assert (model / "saved_model.pb").is_file() and (model / "card.json").is_file()
    assert json.loads((model / "card.json").read_text())["name"] == "gfnet"  # the run's folder, not "model"
    stamp = (model / "saved_model.pb").stat().st_mtime_ns
    out = ok(decloud(*train, cwd=tmp_path))  # the same command again: finished, left as it is
    assert "finished run" in out and (model / "saved_model.pb").stat().st_mtime_ns == stamp
    error = one_line_error(decloud("train", "gfnet", "--dataset", "ds/train", "--options", '{"with_dem": true}',
                                   "--epochs", 1, "--out-dir", "runs/dem", "-q", cwd=tmp_path))
    assert "with_dem" in error and "no DEM" in error

    # evaluate: the cloudy pixels of t (06-12 in the test cell) first, then all pixels
    ok(decloud("evaluate", "--records", "ds/test", "--models", f"gfnet={model}", "--out-dir", "report", "-q",
               cwd=tmp_path))
    rows = {(r["model"], r["subset"]): r for r in csv.DictReader((tmp_path / "report" / "scores.csv").open())}
    assert set(rows) == {(m, s) for m in ("gfnet", "gapfilling") for s in ("cloudy", "all")}
    cloud_t = gdal.Open(str(tmp_path / "prep" / "S2_synth_20220612T000000" / "cloud.tif")).ReadAsArray()
    cloudy = int(cloud_t[64:, :64].sum())
    assert cloudy > 0
    assert int(rows["gfnet", "cloudy"]["pixels"]) == cloudy and int(rows["gfnet", "all"]["pixels"]) == 64 * 64
    assert all(np.isfinite(float(r["psnr"])) for r in rows.values())
    assert "cloudy pixels of t" in (tmp_path / "report" / "scores.md").read_text()

    # timeseries with the trained model: every date with candidates done, the two ends skipped with the reason
    out = ok(decloud("timeseries", "prep", "--out-dir", "series", "--model", model, "--workers", 0, "-q",
                     cwd=tmp_path))
    assert "3 date(s) processed, 0 already done, 2 skipped" in out
    skipped = [line.strip() for line in out.splitlines() if line.strip().startswith("skipped ")]
    assert skipped == ["skipped 2022-06-01: no tm1 candidate: 0 S2 date(s) in [-30 d, +0 d]",
                       "skipped 2022-06-23: no tp1 candidate: 0 S2 date(s) in [+0 d, +30 d]"]
    report = json.loads((tmp_path / "series" / "run_report.json").read_text())["tasks"]
    done = {e["date"][:10]: e for e in report if e["status"] == "done"}
    assert sorted(done) == ["2022-06-05", "2022-06-12", "2022-06-16"]
    assert [e["date"][:10] for e in report] == ["2022-06-01", "2022-06-23", "2022-06-05", "2022-06-12", "2022-06-16"]
    # the clear neighbours first: 06-12 takes 06-05 and 06-16, not the cloudy 06-01 / 06-23
    assert done["2022-06-12"]["inputs"]["s2_timestamp_tm1"] == "2022-06-05T00:00:00"
    assert done["2022-06-12"]["inputs"]["s2_timestamp_tp1"] == "2022-06-16T00:00:00"
    for day in ("05", "12", "16"):
        ds = gdal.Open(str(tmp_path / "series" / f"S2_synth_202206{day}T000000_decloud.tif"))
        assert [ds.GetRasterBand(b + 1).GetDescription() for b in range(4)] == ["B2", "B3", "B4", "B8"]
        assert ds.GetMetadataItem("ACQUISITION_DATE") == f"2022-06-{day}T00:00:00"
        assert ds.GetMetadataItem("DECLOUD_MODEL") == "gfnet"
        image = ds.ReadAsArray()
        assert image.shape == (4, 128, 128) and (image[:, 64:, 64:] > 0).all()


def test_index_of_images_smaller_than_a_cell_is_a_one_line_error(tmp_path):
    """worldcereal-belgium-a is 64 x 64 px: the default 256 px cell gave an index of 0 cells, silently, and a search
    that said "emptied by (cell, date) pairs"."""
    stack = sp.make_stack(tmp_path / "data", when=datetime(2022, 6, 1), size=128)
    folder = prepare_s2(stack.path, tmp_path / "prep", tile="small").folder
    error = one_line_error(decloud("index", "--out", "small.npz", "--s2", folder, cwd=tmp_path))
    assert error.endswith("its images (128 x 128 px) are smaller than one cell of 256 px: give a smaller "
                          "--cell-pixels (a multiple of 64, at most 128)")
    assert not (tmp_path / "small.npz").exists()
    out = ok(decloud("index", "--out", "small.npz", "--s2", folder, "--cell-pixels", 128, cwd=tmp_path))
    assert "tile small, 1 cells of 128 px, 1 S2 dates" in out

"""The decloud command end to end on generated products: prepare-s2, prepare-s1, index, search; errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest
from decloud.otbenv import app_environment
from decloud.testing import synthetic_products as sp


def decloud(*args):
    proc = subprocess.run([sys.executable, "-m", "decloud.cli", *map(str, args)], capture_output=True, text=True,
                          env=app_environment(), timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.slow
def test_prepare_index_search_chain(tmp_path):
    products = [sp.make_theia(tmp_path / "in", when=datetime(2022, 6, d, 10, 30), seed=d, size=128).path
                for d in (1, 11, 21)]
    code, out, err = decloud("prepare-s2", *products, "--out-dir", tmp_path / "prep", "-q")
    assert code == 0, err
    for d in (1, 12, 22):
        sp.make_s1tiling(tmp_path / "s1", when=datetime(2022, 6, d, 17, 5), seed=d)
    code, out, err = decloud("prepare-s1", *sorted((tmp_path / "s1").glob("*_vv_*.tif")), "--out-dir",
                             tmp_path / "prep", "-q")
    assert code == 0, err
    code, out, err = decloud("index", "--out", tmp_path / "32TPS.npz",
                             "--s2", *sorted((tmp_path / "prep").glob("S2_*")),
                             "--s1", *sorted((tmp_path / "prep").glob("S1_*")), "--cell-pixels", 64)
    assert code == 0, err
    assert "4 cells of 64 px, 3 S2 dates, 3 S1 dates" in out
    layout = tmp_path / "layout.json"
    layout.write_text(json.dumps({
        "t": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100},
                              "s1": {"type": "S1"}}, "timeframe_origin": True, "max_s1s2_gap_hours": 48},
        "target": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100}},
                   "timeframe_start_hours": -300, "timeframe_end_hours": 300}}))
    code, out, err = decloud("search", "--index", tmp_path / "32TPS.npz", "--layout", layout, "--per-cell", 10,
                             "--out", tmp_path / "samples.json", "-q")
    assert code == 0, err
    samples = json.loads((tmp_path / "samples.json").read_text())["samples"]
    assert samples and all(abs((datetime.fromisoformat(s["s1"]["t"]) - datetime.fromisoformat(s["s2"]["t"]))
                               .total_seconds()) <= 48 * 3600 for s in samples)
    # cells with nodata (the upper-left swath edge) are never sampled
    assert 0 not in {s["cell"] for s in samples}
    rois = tmp_path / "rois.json"
    x0, y0 = sp.ORIGIN
    rois.write_text(json.dumps({"train": [[x0, y0 - 640, x0 + 1280, y0]],
                                "test": [[x0, y0 - 1280, x0 + 1280, y0 - 640]]}))
    code, out, err = decloud("dataset", "--index", tmp_path / "32TPS.npz", "--prepared", tmp_path / "prep", "--layout",
                             layout, "--rois", rois, "--per-cell", 2, "--out-dir", tmp_path / "ds", "-q")
    assert code == 0, err
    train = json.loads((tmp_path / "ds" / "train" / "footprints.geojson").read_text())["features"]
    test = json.loads((tmp_path / "ds" / "test" / "footprints.geojson").read_text())["features"]
    assert {f["properties"]["cell"] for f in train} <= {0, 1} and {f["properties"]["cell"] for f in test} <= {2, 3}
    assert list((tmp_path / "ds" / "train").glob("train_*.tfrecord")) and test


def test_progress_bar_commands_hide_otb_info_lines(tmp_path):
    """prepare-s2 (as the other commands with a progress bar) runs OTB's apps with its log at WARNING, in this
    process and in its Dask workers: OTB's INFO lines (several per image) would bury the bar; `decloud -v` shows
    them; the user's OTB_LOGGER_LEVEL wins."""
    product = sp.make_theia(tmp_path / "in", when=datetime(2022, 6, 1, 10, 30), seed=1, size=64).path
    code, out, err = decloud("prepare-s2", product, "--out-dir", tmp_path / "quiet", "--workers", 1)
    assert code == 0, err
    assert "(INFO)" not in out + err, (out + err)[-2000:]
    assert (tmp_path / "quiet").is_dir() and "nodata" in out  # the command's own summary is still printed
    code, out, err = decloud("-v", "prepare-s2", product, "--out-dir", tmp_path / "verbose", "--workers", 0)
    assert code == 0, err
    assert "(INFO)" in out + err
    proc = subprocess.run([sys.executable, "-m", "decloud.cli", "prepare-s2", str(product), "--out-dir",
                           str(tmp_path / "user"), "--workers", "0"], capture_output=True, text=True,
                          env=app_environment({"OTB_LOGGER_LEVEL": "INFO"}), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "(INFO)" in proc.stdout + proc.stderr


def test_errors_are_one_line(tmp_path):
    code, out, err = decloud("prepare-s2", tmp_path / "nothing.zip", "--out-dir", tmp_path / "p", "-q")
    assert code == 2 and err.strip().count("\n") == 0 and "nothing.zip: no such file or folder" in err
    code, out, err = decloud("search", "--index", tmp_path / "none.npz", "--layout", "os9", "-q")
    assert code == 2
    assert "shipped layouts: os1, os1-s2, os2, os2-gf, os2-gf-s2, os2-s2, series, series-s2, ssop, ssop-s2" in err

"""decloud timeseries: planning, the whole chain on generated products, and a kill followed by a re-run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import MSOP_MODEL
from decloud.prepare import prepare_s2
from decloud.raster import geotransform, read_array
from decloud.testing.synthetic_products import make_stack
from decloud.timeseries import find_prepared, plan_timeseries, run_timeseries
from test_holes import complete, provenance_of

DAYS = (1, 4, 7, 10, 13, 16)
NODATA = -10000


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Six generated S2 products (GeoTIFF stacks + SCL), prepared as users do."""
    d = tmp_path_factory.mktemp("series")
    for k, day in enumerate(DAYS):
        product = make_stack(d / "products", when=datetime(2022, 6, day), size=96, seed=k)
        prepare_s2(product.path, d / "prepared")
    layout = json.loads((Path(__file__).resolve().parents[2] / "python/decloud/layouts/os2-s2.json").read_text())
    layout["tm1"].update(timeframe_start_hours=-100, timeframe_end_hours=-1)
    layout["tp1"].update(timeframe_start_hours=1, timeframe_end_hours=100)
    (d / "short.json").write_text(json.dumps(layout))
    return d


def test_plan_picks_neighbours_and_skips_the_ends(prepared):
    tasks, skipped = plan_timeseries(find_prepared([prepared / "prepared"]), prepared / "out",
                                     layout=prepared / "short.json", start="2022-06-01", end="2022-06-16")
    assert [t.date[:10] for t in tasks] == ["2022-06-04", "2022-06-07", "2022-06-10", "2022-06-13"]
    assert [s["date"][:10] for s in skipped] == ["2022-06-01", "2022-06-16"]
    assert "tm1" in skipped[0]["reason"] and "tp1" in skipped[1]["reason"]
    first = tasks[0]
    assert "20220601" in first.inputs["s2_tm1"][0] and "20220607" in first.inputs["s2_tp1"][0]
    assert first.output.endswith("_decloud.tif")
    # the date range bounds are inclusive and filter
    tasks, _ = plan_timeseries(find_prepared([prepared / "prepared"]), prepared / "out",
                               layout=prepared / "short.json", start="2022-06-07", end="2022-06-10")
    assert [t.date[:10] for t in tasks] == ["2022-06-07", "2022-06-10"]


def test_whole_chain_matches_the_savedmodel(prepared, tmp_path):
    """products -> prepare -> timeseries -> output equal to the SavedModel run in Python on the prepared data."""
    import tensorflow as tf  # noqa: PLC0415 (slow to import: only this test needs it)

    tasks, _ = plan_timeseries(find_prepared([prepared / "prepared"]), tmp_path, layout=prepared / "short.json",
                               start="2022-06-07", end="2022-06-07", model=MSOP_MODEL)
    entries = run_timeseries(tasks, tmp_path, progress=False,
                             options={"encoding": "float", "padding": 32, "model": str(MSOP_MODEL)})
    assert [e["status"] for e in entries] == ["done"]
    out = read_array(tasks[0].output)
    t = tasks[0]

    def first_valid(paths):  # candidates completed per pixel, in order
        images = [read_array(p) for p in paths]
        result = images[0].copy()
        for image in images[1:]:
            hole = (result == NODATA).any(-1)
            result[hole] = image[hole]
        return result

    raw = [first_valid(t.inputs[r]) for r in ("s2_t", "s2_tm1", "s2_tp1")]
    # Holes completed as the app does (issue 17: test_holes.py), the network fed the completed dates.
    completed = complete(*raw)
    fn = tf.saved_model.load(str(MSOP_MODEL)).signatures["serving_default"]
    feeds = {k: tf.constant(np.pad(v, ((32, 32), (32, 32), (0, 0)), mode="reflect")[None].astype(np.float32))
             for k, v in zip(("s2_t", "s2_tm1", "s2_tp1"), completed)}
    network = fn(**feeds)["s2_target_crop32"].numpy()[0]
    prov = provenance_of(*raw)
    assert (prov == 2).mean() > 0.3
    np.testing.assert_allclose(out[prov == 2], network[prov == 2], atol=0.05, rtol=1e-5)
    assert np.array_equal(out[(prov == 3) | (prov == 4)], completed[0][(prov == 3) | (prov == 4)])
    assert np.array_equal((out == NODATA).all(-1), prov == 0)  # nodata only where no date has data
    assert geotransform(tasks[0].output) == geotransform(t.inputs["s2_t"][0])
    report = json.loads((tmp_path / "run_report.json").read_text())
    assert report["tasks"][0]["worker"] and report["tasks"][0]["duration_s"] > 0
    # A re-run finds the date done and leaves its output as it is (the fast lane's check of resuming; the kill in
    # the middle of a run is test_kill_then_rerun_gives_every_date_identical_to_a_clean_run, slow).
    before = Path(tasks[0].output).read_bytes()
    again = run_timeseries(tasks, tmp_path, progress=False,
                           options={"encoding": "float", "padding": 32, "model": str(MSOP_MODEL)})
    assert [e["status"] for e in again] == ["exists"]
    assert Path(tasks[0].output).read_bytes() == before


@pytest.mark.slow
def test_provenance_beside_each_output(prepared, tmp_path):
    """--provenance (option "provenance"): <date folder>_provenance.tif beside each output, classes from the inputs,
    their shares in the report; a date whose provenance is missing is redone, one whose both files exist is not."""
    tasks, _ = plan_timeseries(find_prepared([prepared / "prepared"]), tmp_path, layout=prepared / "short.json",
                               start="2022-06-07", end="2022-06-07", model=MSOP_MODEL)
    options = {"model": str(MSOP_MODEL), "provenance": True}
    run_timeseries(tasks, tmp_path, progress=False, options={"model": str(MSOP_MODEL)})  # without first
    prov = Path(tasks[0].output.replace("_decloud.tif", "_provenance.tif"))
    assert not prov.exists()
    entries = run_timeseries(tasks, tmp_path, progress=False, options=options)
    assert [e["status"] for e in entries] == ["done"] and prov.exists()
    raw = []
    for role in ("s2_t", "s2_tm1", "s2_tp1"):
        images = [read_array(p) for p in tasks[0].inputs[role]]
        result = images[0].copy()
        for image in images[1:]:
            hole = (result == NODATA).any(-1)
            result[hole] = image[hole]
        raw.append(result)
    classes = read_array(prov)[:, :, 0]
    assert np.array_equal(classes, provenance_of(*raw))
    shares = entries[0]["provenance_shares"]
    assert entries[0]["provenance"] == str(prov)
    assert abs(shares["network"] - (classes == 2).mean()) < 1e-5 and abs(sum(shares.values()) - 1) < 1e-5
    again = run_timeseries(tasks, tmp_path, progress=False, options=options)
    assert [e["status"] for e in again] == ["exists"]


# Slow (kills a run; four dates computed twice, about 90 s): in the fast lane, resuming is checked by
# test_whole_chain_matches_the_savedmodel (a re-run finds the date done), what a killed process leaves is taken over
# in test_safety_python.py::test_a_dead_process_temporary_and_lock_are_taken_over, and complete outputs only by
# test_safety_python.py::test_atomic_output_keeps_the_previous_file_on_any_failure.
@pytest.mark.slow
def test_kill_then_rerun_gives_every_date_identical_to_a_clean_run(prepared, tmp_path):
    args = [sys.executable, "-m", "decloud.cli", "timeseries", str(prepared / "prepared"), "--layout",
            str(prepared / "short.json"), "-q", "--tile", "64", "--padding", "16"]
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run(args + ["--out-dir", str(clean)], check=True, capture_output=True, timeout=600)
    outputs = sorted(p.name for p in clean.glob("*_decloud.tif"))
    assert len(outputs) == 4

    proc = subprocess.Popen(args + ["--out-dir", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list(killed.glob("*_decloud.tif")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = list(killed.glob("*_decloud.tif"))
    assert 1 <= len(finished) < 4, "the kill should land in the middle of the run"
    for p in finished:  # what is at an output path is complete
        assert np.array_equal(read_array(p), read_array(clean / p.name))

    rerun = subprocess.run(args + ["--out-dir", str(killed)], check=True, capture_output=True, text=True, timeout=600)
    assert "already done" in rerun.stdout
    assert sorted(p.name for p in killed.glob("*_decloud.tif")) == outputs
    for name in outputs:
        assert np.array_equal(read_array(killed / name), read_array(clean / name)), name
    assert not [p for p in killed.iterdir() if ".part" in p.name]


def test_decloud_infer_command_bad_input_is_one_line_and_leaves_nothing(prepared, tmp_path):
    t = next((prepared / "prepared").glob("*20220607*")) / "s2_10m.tif"
    out = tmp_path / "x.tif"
    proc = subprocess.run([sys.executable, "-m", "decloud.cli", "infer", str(out), "--s2-t", str(t), "--s2-tm1",
                           str(t)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("decloud infer: error:")]
    assert len(errors) == 1 and "s2.tp1" in errors[0] and "ApplicationException" not in errors[0]
    assert not out.exists() and not list(tmp_path.iterdir())

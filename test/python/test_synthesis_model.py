"""The original Decloud's monthly syntheses (6 dates in, one image out) through decloud import-model, DecloudInfer and
decloud synthesis --model: the card (the original's s2_t0 ... s2_t5, s1_t0 ... s1_t5 as the roles s2_d0 ... s2_d5,
s1_d0 ... s1_d5, fed by -s2.dates / -s1.dates, date K the K-th image), the output against the SavedModel called in
Python on the dates completed as the app completes them (a hole of a date from the other dates in their order, 0
where none has data) at its padded output's scale (x 10000), nodata exactly where no date has data; the number of
dates checked; decloud synthesis --model on a small prepared series equal to DecloudInfer on the picked dates."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import ORIGIN, run_app
from decloud.cli import main as cli_main
from decloud.import_model import FAMILIES, SYNTHESIS, import_model, input_bands
from decloud.otbenv import app_environment
from decloud.raster import read_array, write_geotiff
from test_original_families import direct, small

ROWS, COLS = 128, 192
NODATA = -10000
HOLE_OF_0 = (slice(0, 20), slice(0, 24))  # date 0 only: completed from date 1
HOLE_OF_3 = (slice(40, 60), slice(100, 130))  # date 3 only: completed from date 0
NO_DATE = (slice(-16, None), slice(-20, None))  # every date: nodata


def scene(d: Path, family: str) -> tuple[dict[str, Path], dict[str, np.ndarray]]:
    """The family's inputs as prepared-like GeoTIFFs (S2 int16 nodata -10000, S1 uint16 nodata 0, DEM on the 20 m
    grid), with the holes above in the S2 dates."""
    rng = np.random.default_rng(11)
    arrays: dict[str, np.ndarray] = {}
    paths = {}
    for key in FAMILIES[family].inputs:
        rows, cols = (ROWS // 2, COLS // 2) if key == "dem" else (ROWS, COLS)
        if key.startswith("s1"):
            a, nodata = rng.integers(20000, 45000, (rows, cols, 2)).astype(np.uint16), 0
        elif key == "dem":
            a, nodata = rng.normal(800, 50, (rows, cols, 1)).astype(np.int16), -32768
        else:
            a, nodata = rng.integers(200, 5000, (rows, cols, input_bands(key))).astype(np.int16), NODATA
            a[NO_DATE] = NODATA
            if key == "s2_t0":
                a[HOLE_OF_0] = NODATA
            if key == "s2_t3":
                a[HOLE_OF_3] = NODATA
        arrays[key] = a
        spacing = 20.0 if key == "dem" else 10.0
        paths[key] = write_geotiff(d / f"{key}.tif", a, origin=ORIGIN, spacing=(spacing, -spacing), nodata=nodata)
    return paths, arrays


def completed(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the network is fed: each S2 date's holes from the other dates in their order, 0 where none has data."""
    dates = sorted(k for k in arrays if k.startswith("s2_t"))
    out = dict(arrays)
    for key in dates:
        a = arrays[key].copy()
        for other in [key] + [k for k in dates if k != key]:
            hole = (a == NODATA).all(-1) & ~(arrays[other] == NODATA).all(-1)
            a[hole] = arrays[other][hole]
        a[(a == NODATA).all(-1)] = 0
        out[key] = a
    return out


def app_inputs(card: dict, paths: dict[str, Path]) -> dict[str, object]:
    """DecloudInfer's parameters by the card's roles: the dates of a synthesis as lists in their order."""
    roles = {spec["role"]: paths[name] for name, spec in card["inputs"].items()}
    params: dict[str, object] = {}
    for sensor in ("s2", "s1"):
        listed = [roles[f"{sensor}_d{k}"] for k in range(6) if f"{sensor}_d{k}" in roles]
        if listed:
            params[f"{sensor}.dates"] = listed
    if "dem" in roles:
        params["dem"] = roles["dem"]
    return params


@pytest.fixture(scope="module")
def s2_model(tmp_path_factory) -> Path:
    """monthly_synthesis_6_s2_images at width 0.125, imported."""
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(3)
    root = tmp_path_factory.mktemp("synthesis-model")
    small("monthly_synthesis_6_s2_images").export(str(root / "original"), verbose=False)
    return import_model(root / "original", "monthly_synthesis_6_s2_images", root / "imported")


def test_the_card_of_an_imported_synthesis(s2_model):
    card = json.loads((s2_model / "card.json").read_text())
    assert card["network"] == "original:monthly_synthesis_6_s2_images"
    assert {k: v["role"] for k, v in card["inputs"].items()} == {f"s2_t{k}": f"s2_d{k}" for k in range(6)}
    assert card["outputs"]["s2_target_crop64"]["tensor"] == "s2_estim_pad64"
    assert SYNTHESIS["monthly_synthesis_6_s2_images"] == 6


def run_family(family: str, tmp_path: Path, model: Path | None = None) -> None:
    """The family, small and imported (or ``model``), run by DecloudInfer on a scene with holes: the SavedModel's
    s2_estim x 10000 on the completed dates, nodata exactly where no date has data."""
    import keras  # noqa: PLC0415

    original = tmp_path / "original"
    if model is None:
        keras.utils.set_random_seed(1)
        small(family).export(str(original), verbose=False)
        model = import_model(original, family, tmp_path / "imported")
    else:
        original = model
    card = json.loads((model / "card.json").read_text())
    expected_roles = {k: (f"{k[:2]}_d{k[4:]}" if k != "dem" else "dem") for k in FAMILIES[family].inputs}
    assert {k: v["role"] for k, v in card["inputs"].items()} == expected_roles
    paths, arrays = scene(tmp_path, family)
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", {"model": model, "out": out, "encoding": "float", "padding": 64,
                                   **app_inputs(card, paths)})
    assert run.returncode == 0, run.output
    assert "Synthesis of 6 dates" in run.output, run.output
    got = read_array(out)
    assert got.shape == (ROWS, COLS, 4)
    none = np.zeros((ROWS, COLS), bool)
    none[NO_DATE] = True
    np.testing.assert_array_equal((got == NODATA).all(-1), none)
    estim = 10000.0 * direct(original, completed(arrays), 64)["s2_estim"][64:-64, 64:-64]
    m = 16  # the borders, where the engine's boundary padding and the mirror of direct() differ
    valid = ~none
    valid[:m], valid[-m:], valid[:, :m], valid[:, -m:] = False, False, False, False
    np.testing.assert_allclose(got[valid], estim[valid], rtol=1e-4, atol=0.05)
    assert np.abs(got[valid]).max() > 1  # x 10000, not the 0-1 estimate


def test_s2_synthesis_through_decloud_infer(s2_model, tmp_path):
    run_family("monthly_synthesis_6_s2_images", tmp_path, s2_model)


# The other three families: the same rule with S1 dates (-s1.dates) and the DEM, and David's network; the fast lane
# runs the S2 U-Net above (-s2.dates, the holes, the scale) and test_an_s2s1_synthesis_takes_s1_dates (the S1 list).
@pytest.mark.slow
@pytest.mark.parametrize("family", ["monthly_synthesis_6_s2s1_images", "monthly_synthesis_6_s2_images_david",
                                    "monthly_synthesis_6_s2s1_images_david"])
def test_synthesis_families_through_decloud_infer(family, tmp_path):
    run_family(family, tmp_path)


def test_the_number_of_dates_is_checked(s2_model, tmp_path):
    paths, _ = scene(tmp_path, "monthly_synthesis_6_s2_images")
    dates = [paths[f"s2_t{k}"] for k in range(6)]
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", {"model": s2_model, "out": out, "s2.dates": dates[:5]})
    assert run.returncode != 0 and not out.exists()
    line = run.fatal_lines()[0]
    assert "s2.dates: 5 images given" in line and "takes 6 images, one per date" in line, run.output
    run = run_app("DecloudInfer", {"model": s2_model, "out": out, "s2.t": dates[0]})
    assert run.returncode != 0 and not out.exists()
    assert "missing inputs" in run.fatal_lines()[0] and "s2.dates (6 images" in run.fatal_lines()[0], run.output


def test_an_s2s1_synthesis_takes_s1_dates(tmp_path, capsys):
    """import-model gives the S1 dates and the DEM their roles; DecloudInfer asks for -s1.dates when they lack."""
    family = "monthly_synthesis_6_s2s1_images_david"
    small(family).export(str(tmp_path / "m"), verbose=False)
    assert cli_main(["import-model", str(tmp_path / "m"), "--family", family]) == 0
    capsys.readouterr()
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert {k: v["role"] for k, v in card["inputs"].items()} == {
        **{f"s2_t{k}": f"s2_d{k}" for k in range(6)}, **{f"s1_t{k}": f"s1_d{k}" for k in range(6)}, "dem": "dem"}
    paths, _ = scene(tmp_path, family)
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", {"model": tmp_path / "m", "out": out, "dem": paths["dem"],
                                   "s2.dates": [paths[f"s2_t{k}"] for k in range(6)]})
    assert run.returncode != 0 and not out.exists()
    assert "s1.dates (6 images, one per date (S1: VV VH; roles s1_d0 ... s1_d5))" in run.fatal_lines()[0], run.output


# ------------------------------------------------------------------------------------------- decloud synthesis

def decloud(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "decloud.cli", *map(str, args)], capture_output=True, text=True,
                          env=app_environment(), timeout=600, cwd=cwd)


# Slow (11 s: a prepared series, the command, two reference runs); the fast lane runs the command with a network in
# test_decloud_synthesis_runs_an_s2s1_synthesis_network (the same picking, bit for bit against DecloudInfer) and
# test_synthnet.py::test_decloud_synthesis_feeds_synthnet_clear_pixels_only.
@pytest.mark.slow
def test_decloud_synthesis_runs_a_synthesis_network(s2_model, tmp_path):
    """On a small prepared series (test_synthesis's six dates): one output per month, each DecloudInfer fed the
    month's dates picked by the original's rule, in its order (repeats included), bit for bit; the report and the
    metadata name them; a model that is not a synthesis is refused in one line."""
    from decloud.prepare import prepare_s2  # noqa: PLC0415
    from test_synthesis import make_products  # noqa: PLC0415

    make_products(tmp_path / "data")
    for stack in sorted((tmp_path / "data").glob("S2_L2A_*_B2B3B4B8.tif")):
        prepare_s2(stack, tmp_path / "prep", tile="synth")
    proc = decloud("synthesis", tmp_path / "prep", "--out-dir", "monthly", "--model", s2_model, "--start",
                   "2022-06-01", "--end", "2022-07-31", "--workers", 0, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    report = json.loads((tmp_path / "monthly" / "run_report.json").read_text())
    entries = [e for e in report["tasks"] if e["status"] == "done"]
    assert [e["period"] for e in entries] == ["2022-06", "2022-07"]
    from osgeo import gdal  # noqa: PLC0415

    for e in entries:
        assert e["engine"] == "DecloudInfer" and len(e["inputs"]["images"]) == 6
        shares = e["inputs"]["cloud_percents"]
        distinct = list(dict.fromkeys(e["inputs"]["images"]))
        assert len(distinct) < 6 and e["inputs"]["images"][0] == e["inputs"]["images"][1]  # fewer: the first repeated
        assert shares[1:] == sorted(shares[1:])  # fewest clouds first
        ref = tmp_path / f"ref_{e['period']}.tif"
        proc = decloud("infer", ref, "--model", s2_model, "--s2-dates", *e["inputs"]["images"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        np.testing.assert_array_equal(read_array(tmp_path / e["output"]), read_array(ref))
        ds = gdal.Open(str(tmp_path / e["output"]))
        meta = ds.GetMetadata()
        assert meta["DECLOUD_SYNTHESIS"] == "network" and meta["ACQUISITION_DATE"].startswith(e["middle"])
        assert len(meta["DECLOUD_SYNTHESIS_DATES"].split()) == 6
        assert [ds.GetRasterBand(b).GetDescription() for b in range(1, 5)] == ["B2", "B3", "B4", "B8"]
    proc = decloud("synthesis", tmp_path / "prep", "--out-dir", "x", "--model", tmp_path / "prep", "--workers", 0,
                   cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr


# ----------------------------------------------------------------- decloud synthesis with S1 dates and the DEM

S2S1 = "monthly_synthesis_6_s2s1_images_david"
# Prepared S1 (tile synth) a day after each S2 date up to 07-05 (41 h after: within 72 h), none near 07-25 (the
# nearest, 07-29 17:05, is 113 h after) nor 08-28.
S1_DAYS = [(6, 4), (6, 11), (6, 21), (7, 6), (7, 29)]


@pytest.fixture(scope="module")
def s2s1(tmp_path_factory) -> tuple[Path, Path]:
    """(the prepared S2 and S1 series of test_synthesis with S1 as above, a DEM on its 20 m grid); S2S1 imported."""
    import keras  # noqa: PLC0415
    from decloud.prepare import prepare_s1, prepare_s2  # noqa: PLC0415
    from decloud.testing import synthetic_products as sp  # noqa: PLC0415
    from test_synthesis import make_products  # noqa: PLC0415

    root = tmp_path_factory.mktemp("s2s1")
    make_products(root / "data")
    for stack in sorted((root / "data").glob("S2_L2A_*_B2B3B4B8.tif")):
        prepare_s2(stack, root / "prep", tile="synth")
    for k, (m, d) in enumerate(S1_DAYS):
        vv, _ = sp.make_s1tiling(root / "s1", tile="synth", when=datetime(2022, m, d, 17, 5, 12), size=128, seed=k)
        prepare_s1(vv, root / "prep", tile="synth")
    dem = write_geotiff(root / "dem.tif", np.random.default_rng(1).normal(800, 50, (64, 64, 1)).astype(np.float32),
                        origin=sp.ORIGIN, spacing=(20.0, -20.0), epsg=sp.EPSG, nodata=-32768)
    keras.utils.set_random_seed(4)
    small(S2S1).export(str(root / "original"), verbose=False)
    import_model(root / "original", S2S1, root / "model")
    return root, dem


def test_synthesis_plans_the_nearest_s1_of_each_date(s2s1):
    """Each picked S2 date (repeats included) gets the nearest S1 of its tile within the gap, in the same order; a
    period where one has none is skipped, naming the date and the nearest S1; the DEM is required."""
    from decloud.errors import DecloudInputError  # noqa: PLC0415
    from decloud.synthesis import plan_synthesis  # noqa: PLC0415
    from decloud.timeseries import find_prepared  # noqa: PLC0415

    root, dem = s2s1
    prepared = find_prepared([root / "prep"])
    tasks, skipped = plan_synthesis(prepared, root / "out", model=root / "model", dem=dem, start="2022-06-01",
                                    end="2022-07-31")
    assert [t.period for t in tasks] == ["2022-06"] and [s["period"] for s in skipped] == ["2022-07"]
    (task,) = tasks
    assert len(task.s1_images) == len(task.images) == 6 and task.dem == str(dem)
    for s2_date, s1_date in zip(task.dates, task.s1_dates):
        s2_day = datetime.fromisoformat(s2_date)
        assert datetime.fromisoformat(s1_date).replace(tzinfo=None) - s2_day.replace(tzinfo=None) == \
            timedelta(days=1, hours=17, minutes=5, seconds=12)
    reason = skipped[0]["reason"]
    assert ("S2 date 2022-07-25 has no prepared S1 of tile synth within 72 h (the nearest, 2022-07-29 17:05, is 113 h "
            "away") in reason, reason
    # a wider gap takes 07-29 for 07-25
    tasks, skipped = plan_synthesis(prepared, root / "out", model=root / "model", dem=dem, start="2022-07-01",
                                    end="2022-07-31", max_s1_gap_hours=120)
    assert [t.period for t in tasks] == ["2022-07"] and not skipped
    with pytest.raises(DecloudInputError, match="takes a DEM"):
        plan_synthesis(prepared, root / "out", model=root / "model")


def test_decloud_synthesis_runs_an_s2s1_synthesis_network(s2s1, tmp_path):
    """The command line end to end: the period's output is DecloudInfer's on the picked S2 dates, their S1 dates and
    the DEM, bit for bit; the report lists them; the period without S1 is listed as skipped."""
    root, dem = s2s1
    proc = decloud("synthesis", root / "prep", "--out-dir", "monthly", "--model", root / "model", "--dem", dem,
                   "--start", "2022-06-01", "--end", "2022-07-31", "--workers", 0, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    assert "skipped synth 2022-07: S2 date 2022-07-25 has no prepared S1" in proc.stdout, proc.stdout
    report = json.loads((tmp_path / "monthly" / "run_report.json").read_text())
    (done,) = [e for e in report["tasks"] if e["status"] == "done"]
    assert done["period"] == "2022-06" and len(done["inputs"]["s1_images"]) == 6 and done["inputs"]["dem"] == str(dem)
    ref = tmp_path / "ref.tif"
    proc = decloud("infer", ref, "--model", root / "model", "--s2-dates", *done["inputs"]["images"], "--s1-dates",
                   *done["inputs"]["s1_images"], "--dem", dem, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = read_array(tmp_path / done["output"])
    assert (got != NODATA).any()
    np.testing.assert_array_equal(got, read_array(ref))
    proc = decloud("synthesis", root / "prep", "--out-dir", "x", "--model", root / "model", "--workers", 0,
                   cwd=tmp_path)
    assert proc.returncode == 2 and "takes a DEM" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr

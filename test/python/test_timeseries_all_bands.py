"""decloud timeseries with the original Decloud's _all_bands families (imported): the 20 m roles s2_20m_t / _tm1 /
_tp1 fed the 20 m bands of the same dates as the 10 m roles, in the order the card names, never reordered (the
original's prepared tree: its own *_FRE_20m.tif, in its writer's order B11 B12 B5 B6 B7 B8A), and the DEM (--dem);
a chosen date without 20 m bands in that order (decloud prepare-s2's s2_20m.tif, B5 ... B12; a 10 m stack without
20 m bands) is skipped with the reason."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from decloud.errors import DecloudInputError
from decloud.import_model import BANDS_20M_ORIGINAL, import_model
from decloud.infer import infer
from decloud.otbenv import app_environment
from decloud.products import BANDS_10M
from decloud.raster import read_array
from decloud.timeseries import dem_for, find_prepared, parse_dem, plan_timeseries
from test_original_data import _tif
from test_original_families import small

FAMILY = "crga_os2_david_all_bands"  # S1, 10 m and 20 m bands at t-1, t and t+1, and the DEM
DATES = ["20200101", "20200111", "20200121"]
SIZE = 128


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """The original's prepared tree: three S2 products (20 m stacks in its writer's order, no band descriptions),
    an S1 file on each S2 day, DEM_PREPARE/T31TEJ.tif."""
    from osgeo import gdal  # noqa: PLC0415

    rng = np.random.default_rng(5)
    root = tmp_path_factory.mktemp("original")
    s1 = root / "S1_PREPARE" / "T31TEJ"
    s1.mkdir(parents=True)
    for k, date in enumerate(DATES):
        name = f"SENTINEL2A_{date}-103000-123_L2A_T31TEJ_C_V2-2"
        product = root / "S2_PREPARE" / "T31TEJ" / name
        product.mkdir(parents=True)
        for res, n in (("10m", SIZE), ("20m", SIZE // 2)):
            bands = BANDS_10M if res == "10m" else BANDS_20M_ORIGINAL
            data = [rng.integers(200, 4000, (n, n)).astype(np.int16) for _ in bands]
            _tif(product / f"{name}_FRE_{res}.tif", data, 10.0 if res == "10m" else 20.0, gdal.GDT_Int16)
        clm = np.zeros((SIZE, SIZE), np.uint8)
        if k == 1:
            clm[:48, :48] = 2
        _tif(product / f"{name}_CLM_R1.tif", [clm], 10.0, gdal.GDT_Byte)
        _tif(product / f"{name}_EDG_R1.tif", [np.zeros((SIZE, SIZE), np.uint8)], 10.0, gdal.GDT_Byte)
        vv, vh = (rng.integers(20000, 45000, (SIZE, SIZE)).astype(np.uint16) for _ in range(2))
        _tif(s1 / f"s1a_31TEJ_vvvh_DES_139_{date}txxxxxx_from-10to3dB.tif", [vv, vh], 10.0, gdal.GDT_UInt16)
    (root / "DEM_PREPARE").mkdir()
    _tif(root / "DEM_PREPARE" / "T31TEJ.tif", [rng.normal(800, 50, (SIZE // 2, SIZE // 2)).astype(np.int16)], 20.0,
         gdal.GDT_Int16)
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(2)
    root = tmp_path_factory.mktemp("all-bands")
    small(FAMILY).export(str(root / "original"), verbose=False)
    return import_model(root / "original", FAMILY, root / "imported")


@pytest.fixture(autouse=True)
def _views(tmp_path, monkeypatch):
    monkeypatch.setenv("DECLOUD_ORIGINAL_VIEWS", str(tmp_path / "views"))


def product_of(path: str) -> str:
    """The date of an input: the original product's name (its *_FRE_20m.tif) or the view's folder name."""
    return next(d for d in DATES if d in Path(path).parent.name or d in Path(path).name)


def test_the_20m_roles_take_the_originals_stacks_of_the_same_dates(tree, model, tmp_path):
    card = json.loads((model / "card.json").read_text())
    assert all(card["inputs"][r]["bands"] == list(BANDS_20M_ORIGINAL) for r in ("s2_20m_t", "s2_20m_tm1",
                                                                                   "s2_20m_tp1"))
    tasks, skipped = plan_timeseries(find_prepared([tree]), tmp_path / "out", model=model, dem=tree / "DEM_PREPARE")
    assert [t.date[:10] for t in tasks] == ["2020-01-11"]
    assert [s["date"][:10] for s in skipped] == ["2020-01-01", "2020-01-21"]
    inputs = tasks[0].inputs
    for name in ("t", "tm1", "tp1"):
        twenty, ten = inputs[f"s2_20m_{name}"], inputs[f"s2_{name}"]
        assert all(p.endswith("_FRE_20m.tif") and "S2_PREPARE" in p for p in twenty), twenty
        assert [product_of(p) for p in twenty] == [product_of(p) for p in ten]  # the same dates, in the same order
        assert inputs[f"s1_{name}"]
    assert product_of(inputs["s2_20m_t"][0]) == "20200111"
    assert inputs["dem"] == [str(tree / "DEM_PREPARE" / "T31TEJ.tif")]


def test_a_model_that_takes_a_dem_needs_one(tree, model, tmp_path):
    found = find_prepared([tree])
    with pytest.raises(DecloudInputError, match="takes a DEM.*--dem"):
        plan_timeseries(found, tmp_path / "out", model=model)
    tasks, skipped = plan_timeseries(found, tmp_path / "out", model=model, dem={"32TPS": tree / "x.tif"})
    assert not tasks and all("no DEM for tile 31TEJ (--dem gives 32TPS)" in s["reason"] for s in skipped)
    assert parse_dem(["T31TEJ=a.tif", "32TPS=b.tif"]) == {"31TEJ": "a.tif", "32TPS": "b.tif"}
    assert dem_for("31TEJ", str(tree / "DEM_PREPARE" / "T31TEJ.tif"))[0] == tree / "DEM_PREPARE" / "T31TEJ.tif"
    with pytest.raises(DecloudInputError, match="TILE=PATH"):
        parse_dem(["a.tif", "b.tif"])


def test_decloud_timeseries_runs_an_all_bands_model_on_the_original_tree(tree, model, tmp_path):
    """The command line end to end: the output is DecloudInfer's on the planned inputs (the original's 20 m stacks
    accepted in the card's order), bit for bit."""
    env = {**app_environment(), "DECLOUD_ORIGINAL_VIEWS": str(tmp_path / "views")}
    proc = subprocess.run([sys.executable, "-m", "decloud.cli", "timeseries", str(tree), "--out-dir", "out",
                           "--model", str(model), "--dem", str(tree / "DEM_PREPARE"), "--padding", "32",
                           "--workers", "0", "-q"], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    report = json.loads((tmp_path / "out" / "run_report.json").read_text())
    done = [e for e in report["tasks"] if e["status"] == "done"]
    assert [e["date"][:10] for e in done] == ["2020-01-11"]
    assert done[0]["inputs"]["s2_20m_t"][0].endswith("_FRE_20m.tif")
    out = tmp_path / "out" / Path(done[0]["output"]).name
    ref = tmp_path / "ref.tif"
    inputs = {role: (paths if len(paths) > 1 else paths[0]) for role, paths in done[0]["inputs"].items()}
    infer(ref, inputs, model=model, padding=32)
    got = read_array(out)
    assert got.shape == (SIZE, SIZE, 4) and (got != -10000).all()
    np.testing.assert_array_equal(got, read_array(ref))


def test_our_prepared_20m_bands_are_not_fed_to_an_original_model(model, tmp_path):
    """decloud prepare-s2's s2_20m.tif is in our order (B5 B6 B7 B8A B11 B12, no band descriptions: DecloudInfer could
    not tell): a date whose chosen t, t-1 or t+1 has it, or has no 20 m bands at all, is skipped, saying so."""
    from decloud.prepare import prepare_s1, prepare_s2  # noqa: PLC0415
    from decloud.testing.synthetic_products import make_s1tiling, make_stack, make_theia  # noqa: PLC0415

    for k, day in enumerate((2, 12, 22)):
        when = datetime(2022, 6, day, 10, 30, 41)
        if day == 22:  # a 10 m stack: no 20 m bands
            prepare_s2(make_stack(tmp_path / "products", when=when, size=64, seed=k).path, tmp_path / "prep",
                       tile="32TPS")
        else:
            prepare_s2(make_theia(tmp_path / "products", when=when, size=64, seed=k).path, tmp_path / "prep")
        vv, _ = make_s1tiling(tmp_path / "s1", when=datetime(2022, 6, day, 17, 5, 12), size=64, seed=k)
        prepare_s1(vv, tmp_path / "prep")
    dem = tmp_path / "dem.tif"
    dem.touch()
    tasks, skipped = plan_timeseries(find_prepared([tmp_path / "prep"]), tmp_path / "out", model=model, dem=dem)
    assert not tasks and len(skipped) == 3
    reason = skipped[1]["reason"]
    assert ("t: the 20 m bands of 2022-06-12 are B5 B6 B7 B8A B11 B12 (decloud prepare-s2's order), the model takes "
            "B11 B12 B5 B6 B7 B8A (the original Decloud's order") in reason, reason
    assert "does not reorder bands" in reason
    assert "tp1 2022-06-22 chosen: 2022-06-22 has no 20 m bands" in reason, reason
    assert "tm1 2022-06-02 chosen: the 20 m bands of 2022-06-02 are B5 B6 B7 B8A B11 B12" in reason, reason

"""S2 preparation on generated THEIA, ESA and GeoTIFF-stack products: band order, nodata, scaling, masks.

Nodata only where the product says so (all bands at the stored nodata value, SCL 0, THEIA EDG): a pixel with
one band at 0 is dark and valid (see decloud.synthetic_products for the pixels each product holds)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from decloud.errors import DecloudInputError
from decloud.otbenv import app_environment
from decloud.prepare import prepare_s2
from decloud.raster import read_array, write_geotiff
from decloud.testing import synthetic_products as sp
from osgeo import gdal


def band_names(path) -> list[str]:
    from osgeo import gdal  # noqa: PLC0415

    ds = gdal.Open(str(path))
    return [ds.GetRasterBand(b + 1).GetDescription() for b in range(ds.RasterCount)]


def check(prepared, truth, *, has_20m=True, dark_value=0):
    s10 = read_array(prepared.s2_10m)
    assert s10.dtype == np.int16
    # band names (GDAL descriptions): DecloudInfer refuses bands named in another order than a model's
    assert band_names(prepared.s2_10m) == ["B2", "B3", "B4", "B8"]
    nodata = read_array(prepared.nodata)[:, :, 0] != 0
    # the truth holds both rules: all bands at nodata under a valid SCL / no EDG, and SCL 0 / EDG over valid bands
    size = truth.nodata.shape[0]
    assert truth.nodata[sp.all_nodata_patch(size)].all() and truth.nodata[sp.mask_nodata_patch(size)].all()
    np.testing.assert_array_equal(nodata, truth.nodata)
    np.testing.assert_array_equal(s10, truth.truth_10m)
    # a dark pixel (one band at 0) is valid and keeps 0 + offset in that band; no valid pixel reads -10000
    assert truth.dark.sum() > 10 and not nodata[truth.dark].any()
    rows, cols = np.nonzero(truth.dark)
    np.testing.assert_array_equal(s10[rows, cols, (rows + cols) % 4], max(dark_value, -9999))
    assert not np.any(s10[~nodata] == -10000) and np.all(s10[nodata] == -10000)
    np.testing.assert_array_equal((read_array(prepared.cloud)[:, :, 0] != 0) & ~truth.nodata, truth.cloud)
    if has_20m:
        s20 = read_array(prepared.s2_20m)
        np.testing.assert_array_equal(s20, truth.truth_20m)
        assert band_names(prepared.s2_20m) == ["B5", "B6", "B7", "B8A", "B11", "B12"]
        np.testing.assert_array_equal(np.all(s20 == -10000, axis=-1), truth.nodata_20m)
        assert not np.any(s20[~truth.nodata_20m] == -10000)
    blocks = prepared.blocks()
    assert blocks["cloud"].sum() == truth.cloud.sum()
    assert blocks["nodata"].sum() == truth.nodata.sum()
    summary = prepared.summary()
    assert summary["nodata_percent"] == pytest.approx(100 * truth.nodata.mean(), abs=0.005)
    assert summary["cloud_percent"] == pytest.approx(100 * truth.cloud.sum() / (~truth.nodata).sum(), abs=0.005)


@pytest.mark.parametrize("as_zip", [False, True])
def test_theia(tmp_path, as_zip):
    truth = sp.make_theia(tmp_path / "in", as_zip=as_zip)
    prepared = prepare_s2(truth.path, tmp_path / "out")
    assert prepared.folder.name == "S2_32TPS_20220602T103041"
    check(prepared, truth)


def test_esa_removes_the_offset_and_reads_scl(tmp_path):
    truth = sp.make_esa(tmp_path / "in")
    check(prepare_s2(truth.path, tmp_path / "out"), truth, dark_value=-1000)


def test_esa_dark_pixel_is_clamped_above_the_output_nodata(tmp_path):
    """DN 0 + offset -10000 would read as nodata: a valid pixel is clamped to -9999."""
    truth = sp.make_esa(tmp_path / "in", offset=-10000)
    check(prepare_s2(truth.path, tmp_path / "out"), truth, dark_value=-10000)


def test_stack_bands_matched_by_description_not_order(tmp_path):
    truth = sp.make_stack(tmp_path / "in", band_order=("B08", "B02", "B04", "B03"))
    check(prepare_s2(truth.path, tmp_path / "out"), truth, has_20m=False)


def test_cli_prints_each_dates_nodata_and_cloud_share(tmp_path):
    truths = [sp.make_stack(tmp_path / "in", when=datetime(2022, 6, d), size=64, seed=d) for d in (2, 5)]
    proc = subprocess.run([sys.executable, "-m", "decloud.cli", "prepare-s2", *(str(t.path) for t in truths),
                           "--out-dir", str(tmp_path / "out"), "--workers", "0"], capture_output=True, text=True,
                          env=app_environment(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "run_report_prepare-s2.json").read_text())["tasks"]
    assert [e["status"] for e in report] == ["done", "done"]
    lines = [line for line in proc.stdout.splitlines() if ": nodata " in line]
    for truth, line, entry in zip(truths, lines, report, strict=True):
        nodata, cloud = 100 * truth.nodata.mean(), 100 * truth.cloud.sum() / (~truth.nodata).sum()
        assert line == f"{entry['output']}: nodata {nodata:.1f} %, cloud {cloud:.1f} %"
        assert entry["nodata_percent"] == pytest.approx(nodata, abs=0.005)
        assert entry["cloud_percent"] == pytest.approx(cloud, abs=0.005)


def test_prepare_is_idempotent(tmp_path):
    truth = sp.make_theia(tmp_path / "in")
    first = prepare_s2(truth.path, tmp_path / "out")
    stamp = first.s2_10m.stat().st_mtime_ns
    second = prepare_s2(truth.path, tmp_path / "out")
    assert second.s2_10m.stat().st_mtime_ns == stamp


def test_bad_products_fail_clearly_and_leave_nothing(tmp_path):
    truth = sp.make_theia(tmp_path / "in")
    next(truth.path.glob("*_FRE_B4.tif")).unlink()
    with pytest.raises(DecloudInputError, match="missing band file.*B4"):
        prepare_s2(truth.path, tmp_path / "out")
    bad = tmp_path / "in" / "not_a_product"
    bad.mkdir()
    with pytest.raises(DecloudInputError, match="unparsable product name"):
        prepare_s2(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_band_on_a_wrong_grid_fails_clearly(tmp_path):
    truth = sp.make_theia(tmp_path / "in")
    b8 = next(truth.path.glob("*_FRE_B8.tif"))
    write_geotiff(b8, truth.truth_10m[:100, :, 3], origin=sp.ORIGIN, spacing=(10, -10), nodata=-10000)
    with pytest.raises(DecloudInputError, match=r"FRE_B8.tif: band B8 is on another grid than B2 \(128x100 pixels"):
        prepare_s2(truth.path, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_tile_from_the_user_or_the_product_and_masks_without_nodata(tmp_path):
    """The tile rule: a stack is NOTILE unless --tile names it; a THEIA product keeps its own tile (the same name,
    with or without its T, is accepted; another is refused). Masks have no NoData: 0 is clear, not empty."""
    stack = sp.make_stack(tmp_path / "in", size=64)
    plain = prepare_s2(stack.path, tmp_path / "out")
    assert plain.folder.name == "S2_NOTILE_20220602T000000" and plain.tile == "NOTILE"
    named = prepare_s2(stack.path, tmp_path / "out", tile="bolzano")
    assert named.folder.name == "S2_bolzano_20220602T000000"
    assert json.loads((named.folder / "done.json").read_text())["tile"] == "bolzano"
    for mask in ("cloud.tif", "nodata.tif"):
        assert gdal.Open(str(named.folder / mask)).GetRasterBand(1).GetNoDataValue() is None, mask
    assert gdal.Open(str(named.s2_10m)).GetRasterBand(1).GetNoDataValue() == -10000
    assert (read_array(named.cloud) == 0).any()  # clear pixels are there, as values
    with pytest.raises(DecloudInputError, match=r"--tile 'bolzano_west': not a tile name"):
        prepare_s2(stack.path, tmp_path / "out", tile="bolzano_west")
    theia = sp.make_theia(tmp_path / "in", size=64)
    assert prepare_s2(theia.path, tmp_path / "out", tile="T32TPS").folder.name.startswith("S2_32TPS_")
    with pytest.raises(DecloudInputError, match=r"--tile bolzano: .* is of tile 32TPS \(its name says so\); leave "
                       "--tile out or give 32TPS"):
        prepare_s2(theia.path, tmp_path / "out", tile="bolzano")


def test_cli_tile_option(tmp_path):
    truth = sp.make_stack(tmp_path / "in", size=64)
    args = [sys.executable, "-m", "decloud.cli", "prepare-s2", str(truth.path), "--out-dir", str(tmp_path / "out"),
            "--workers", "0", "-q"]
    proc = subprocess.run([*args, "--tile", "bolzano"], capture_output=True, text=True, env=app_environment(),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in (tmp_path / "out").glob("S2_*")] == ["S2_bolzano_20220602T000000"]
    proc = subprocess.run([*args, "--tile", "a/b"], capture_output=True, text=True, env=app_environment(), timeout=300)
    assert proc.returncode == 2 and "--tile 'a/b': not a tile name" in proc.stderr


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "bolzano-west"


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data not available ({SHARED} is absent)")
def test_real_bolzano_stack(tmp_path):
    src = SHARED / "S2_L2A_20220602_B2B3B4B8.tif"
    prepared = prepare_s2(src, tmp_path)
    s10 = read_array(prepared.s2_10m)
    raw = read_array(src).astype(np.int32)
    assert not (read_array(prepared.nodata) != 0).any()  # no pixel of bolzano-west is empty (data README)
    np.testing.assert_array_equal(s10, raw)  # offset 0, dark pixels (a band at 0) kept
    cloudy = (read_array(prepared.cloud)[:, :, 0] != 0).mean()
    assert 0.3 < cloudy < 0.7  # the README says about 51 % cloudy


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data not available ({SHARED} is absent)")
def test_real_bolzano_dark_vegetation_is_data(tmp_path):
    """2022-06-17: B02 is 0 on 21 % of the pixels (dark vegetation), no pixel is empty: 0 nodata pixels."""
    src = SHARED / "S2_L2A_20220617_B2B3B4B8.tif"
    prepared = prepare_s2(src, tmp_path)
    raw = read_array(src)
    assert (raw == 0).any(axis=-1).mean() > 0.15  # the dark pixels are there
    assert (read_array(prepared.nodata) != 0).sum() == 0
    s10 = read_array(prepared.s2_10m)
    assert not (s10 == -10000).any()
    np.testing.assert_array_equal(s10, raw.astype(np.int32))
    assert prepared.summary()["nodata_percent"] == 0.0

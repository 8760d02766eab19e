"""S2 preparation on generated THEIA, ESA and GeoTIFF-stack products: band order, nodata, scaling, masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from decloud import synthetic_products as sp
from decloud.errors import DecloudInputError
from decloud.prepare import prepare_s2
from decloud.raster import read_array, write_geotiff


def check(prepared, truth, *, has_20m=True):
    s10 = read_array(prepared.s2_10m)
    assert s10.dtype == np.int16
    np.testing.assert_array_equal(s10, truth.truth_10m)
    np.testing.assert_array_equal(read_array(prepared.nodata)[:, :, 0] != 0, truth.nodata)
    np.testing.assert_array_equal((read_array(prepared.cloud)[:, :, 0] != 0) & ~truth.nodata, truth.cloud)
    if has_20m:
        np.testing.assert_array_equal(read_array(prepared.s2_20m), truth.truth_20m)
    blocks = prepared.blocks()
    assert blocks["cloud"].sum() == truth.cloud.sum()
    assert blocks["nodata"].sum() == truth.nodata.sum()


@pytest.mark.parametrize("as_zip", [False, True])
def test_theia(tmp_path, as_zip):
    truth = sp.make_theia(tmp_path / "in", as_zip=as_zip)
    prepared = prepare_s2(truth.path, tmp_path / "out")
    assert prepared.folder.name == "S2_32TPS_20220602T103041"
    check(prepared, truth)


def test_esa_removes_the_offset_and_reads_scl(tmp_path):
    truth = sp.make_esa(tmp_path / "in")
    check(prepare_s2(truth.path, tmp_path / "out"), truth)


def test_stack_bands_matched_by_description_not_order(tmp_path):
    truth = sp.make_stack(tmp_path / "in", band_order=("B08", "B02", "B04", "B03"))
    check(prepare_s2(truth.path, tmp_path / "out"), truth, has_20m=False)


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


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "bolzano-west"


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data not available ({SHARED} is absent)")
def test_real_bolzano_stack(tmp_path):
    src = SHARED / "S2_L2A_20220602_B2B3B4B8.tif"
    prepared = prepare_s2(src, tmp_path)
    s10 = read_array(prepared.s2_10m)
    raw = read_array(src).astype(np.int32)
    valid = np.all(raw != 0, axis=-1)  # a pixel with any band at 0 is nodata
    np.testing.assert_array_equal(s10[valid], raw[valid])
    assert np.all(s10[~valid] == -10000)
    cloudy = (read_array(prepared.cloud)[:, :, 0] != 0).mean()
    assert 0.3 < cloudy < 0.7  # the README says about 51 % cloudy

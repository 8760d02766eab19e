"""S1 stretch against its formula; DEM (SRTM .hgt and GeoTIFF in another CRS) onto an S2 20 m grid."""

from __future__ import annotations

import numpy as np
import pytest
from decloud.errors import DecloudInputError
from decloud.prepare import prepare_dem, prepare_s1
from decloud.prepare.s1 import stretch, unstretch
from decloud.raster import read_array, write_geotiff
from osgeo import gdal, osr


def write_s1(folder, pol, array):
    return write_geotiff(folder / f"s1a_32TPS_{pol}_ASC_117_20220603t170512.tif", array, origin=(600000, 5100000),
                         spacing=(10, -10), nodata=0)


def test_stretch_formula_round_trips():
    sigma0 = np.array([1e-6, 4.54e-5, 0.01, 0.1, 1.0, 20.08, 100.0, 0.0, -1.0])
    stored = stretch(sigma0)
    assert stored[0] == 1 and stored[-3] == 65535 and stored[-2] == 0 and stored[-1] == 0
    ln = unstretch(stored[1:6])
    np.testing.assert_allclose(ln, np.log(sigma0[1:6]), atol=13 / 65534)


def test_prepare_s1_matches_the_formula(tmp_path):
    rng = np.random.default_rng(0)
    vv = rng.lognormal(-2.5, 1.0, (100, 130)).astype("float32")
    vh = rng.lognormal(-4.0, 1.0, (100, 130)).astype("float32")
    vv[:, :17] = 0  # swath edge
    vh[:, :17] = 0
    src = write_s1(tmp_path, "vv", vv)
    write_s1(tmp_path, "vh", vh)
    prepared = prepare_s1(src, tmp_path / "out")
    assert prepared.folder.name == "S1_32TPS_ASC_117_20220603T170512" and prepared.orbit_direction == "ascending"
    stored = read_array(prepared.s1)
    assert stored.dtype == np.uint16
    expected = np.stack([stretch(vv), stretch(vh)], -1).astype(np.int64)
    diff = np.abs(stored.astype(np.int64) - expected)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99  # OTB evaluates in float32: a step off at rounding edges
    blocks = prepared.blocks()["nodata"]
    assert blocks.shape == (2, 3) and blocks.sum() == 17 * 100 + (192 - 130) * 128 + (128 - 100) * 130


def test_prepare_s1_bad_inputs(tmp_path):
    src = write_s1(tmp_path, "vv", np.ones((10, 10), "float32"))
    with pytest.raises(DecloudInputError, match="VH file .* is missing"):
        prepare_s1(src, tmp_path / "out")
    write_s1(tmp_path, "vh", np.ones((10, 12), "float32"))
    with pytest.raises(DecloudInputError, match="not on the grid of"):
        prepare_s1(src, tmp_path / "out")
    bad = write_geotiff(tmp_path / "sentinel1.tif", np.ones((4, 4), "float32"), origin=(0, 0), spacing=(10, -10))
    with pytest.raises(DecloudInputError, match="no VV or VH in its name and 1 band"):
        prepare_s1(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_s1tiling_name_with_an_unknown_time_is_the_date_only(tmp_path):
    """S1Tiling names a product made of several slices ..._20201013txxxxxx: the date is known, the time is not."""
    rng = np.random.default_rng(1)
    names = {}
    for pol in ("vv", "vh"):
        names[pol] = write_geotiff(tmp_path / "in" / f"s1b_31TCJ_{pol}_DES_008_20201013txxxxxx.tif",
                                   rng.lognormal(-3, 1, (64, 64)).astype("float32"), origin=(600000, 5100000),
                                   spacing=(10, -10), nodata=0)
    prepared = prepare_s1(names["vh"], tmp_path / "out")
    assert prepared.folder.name == "S1_31TCJ_DES_008_20201013T000000" and prepared.orbit_direction == "descending"
    assert prepared.acquired == "2020-10-13T00:00:00+00:00"
    assert "date from the S1Tiling name (date only: time unknown, 00:00:00 UTC taken)" in prepared.describe()

    # a time of day in a tag is used; a tag of another day is an error naming the file
    for pol in ("vv", "vh"):
        ds = gdal.Open(str(names[pol]), gdal.GA_Update)
        ds.SetMetadataItem("ACQUISITION_TIME", "05:51:07")
        ds = None
    prepared = prepare_s1(names["vv"], tmp_path / "out2")
    assert prepared.folder.name == "S1_31TCJ_DES_008_20201013T055107"
    assert "date from the S1Tiling name (date only) and the ACQUISITION_TIME tag" in prepared.describe()
    ds = gdal.Open(str(names["vv"]), gdal.GA_Update)
    ds.SetMetadataItem("ACQUISITION_DATE", "2020-10-14")
    ds = None
    with pytest.raises(DecloudInputError, match=r"s1b_31TCJ_vv_DES_008_20201013txxxxxx.tif: its name says 2020-10-13 "
                                                r"but its ACQUISITION_DATE tag says 2020-10-14"):
        prepare_s1(names["vv"], tmp_path / "out3")
    # anything else in place of the time is still not an S1Tiling name (no orbit direction known: refused)
    odd = write_geotiff(tmp_path / "in" / "s1b_31TCJ_vv_XXX_008_20201013tyyyyyy.tif", np.ones((8, 8), "float32"),
                        origin=(600000, 5100000), spacing=(10, -10))
    write_geotiff(tmp_path / "in" / "s1b_31TCJ_vh_XXX_008_20201013tyyyyyy.tif", np.ones((8, 8), "float32"),
                  origin=(600000, 5100000), spacing=(10, -10))
    with pytest.raises(DecloudInputError, match="--orbit"):
        prepare_s1(odd, tmp_path / "out4")


def plane(lon, lat):
    return 1000 + 500 * (lon - 11) + 300 * (lat - 46)


def test_dem_from_srtm_hgt_onto_the_20m_grid(tmp_path):
    n = 1201
    lon = 11 + np.arange(n) / 1200
    lat = 47 - np.arange(n) / 1200
    z = plane(lon[None, :], lat[:, None]).astype("int16")
    mem = gdal.GetDriverByName("MEM").Create("", n, n, 1, gdal.GDT_Int16)
    mem.SetGeoTransform((11 - 0.5 / 1200, 1 / 1200, 0, 47 + 0.5 / 1200, 0, -1 / 1200))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    mem.SetProjection(srs.ExportToWkt())
    mem.GetRasterBand(1).WriteArray(z)
    hgt = tmp_path / "N46E011.hgt"
    gdal.GetDriverByName("SRTMHGT").CreateCopy(str(hgt), mem)
    ref = write_geotiff(tmp_path / "s2_20m.tif", np.zeros((64, 64, 6), "int16"), origin=(675000, 5155000),
                        spacing=(20, -20), epsg=32632)
    dem = read_array(prepare_dem([hgt], ref, tmp_path / "out"))[:, :, 0]
    assert dem.shape == (64, 64)
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32632)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_geo = osr.CoordinateTransformation(utm, srs)
    for r, c in [(0, 0), (10, 50), (63, 63), (32, 7)]:
        x, y = 675000 + 20 * (c + 0.5), 5155000 - 20 * (r + 0.5)
        lo, la, _ = to_geo.TransformPoint(x, y)
        assert dem[r, c] == pytest.approx(plane(lo, la), abs=1.0)  # int16 source: within a metre


def test_dem_missing_file(tmp_path):
    with pytest.raises(DecloudInputError, match="no such DEM file"):
        prepare_dem([tmp_path / "N00E000.hgt"], tmp_path / "ref.tif", tmp_path / "out")

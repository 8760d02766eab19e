"""prepare-s1 on plain S1 GeoTIFFs (named as in ../shared/data/worldcereal-belgium-a: S1_YYYYMMDD_VV.tif and _VH.tif,
20 m, linear sigma0, tags ORBIT and ACQUISITION_TIME) onto a generated S2 10 m reference; dB and two-band files;
prepare-dem onto any prepared S2 grid; each bad input as one line; the real belgium files when present."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from decloud.dataset import catalog_from_prepared
from decloud.errors import DecloudInputError
from decloud.otbenv import app_environment
from decloud.patch_index import index_prepared
from decloud.prepare import prepare_dem, prepare_s1, prepare_s2
from decloud.prepare.common import prepared_tile
from decloud.prepare.s1 import stretch
from decloud.raster import read_array, write_geotiff
from decloud.testing import synthetic_products as sp
from osgeo import gdal, osr

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BELGIUM = DATA / "worldcereal-belgium-a"
PORTUGAL = DATA / "greenearthnet-portugal"
X0, Y0 = sp.ORIGIN


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith("decloud ")]


def decloud(*args):
    proc = subprocess.run([sys.executable, "-m", "decloud.cli", *map(str, args)], capture_output=True, text=True,
                          env=app_environment(), timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A prepared S2 stack date: 64 x 64 pixels of 10 m at sp.ORIGIN, EPSG 32632 (no 20 m stack)."""
    tmp = tmp_path_factory.mktemp("s2")
    stack = sp.make_stack(tmp / "in", when=datetime(2022, 6, 3), size=64)
    return prepare_s2(stack.path, tmp / "prep").folder


def grid(path):
    ds = gdal.Open(str(path))
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    return ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform(), srs


def write_plain(folder, name, array, *, spacing=20.0, origin=(X0, Y0), tags=None, nodata=0.0, descriptions=None,
                epsg=sp.EPSG):
    """A plain S1 GeoTIFF with GDAL tags and band descriptions, as in worldcereal-belgium-a."""
    path = write_geotiff(Path(folder) / name, array, origin=origin, spacing=(spacing, -spacing), nodata=nodata,
                         epsg=epsg)
    ds = gdal.Open(str(path), gdal.GA_Update)
    for k, v in (tags or {}).items():
        ds.SetMetadataItem(k, v)
    for b, d in enumerate(descriptions or []):
        ds.GetRasterBand(b + 1).SetDescription(d)
    ds = None
    return path


BELGIUM_TAGS = {"ACQUISITION_DATE": "2022-06-03", "ACQUISITION_TIME": "17:32:36Z", "ORBIT": "ascending",
                "UNITS": "sigma0, linear power ratio (converted from dB)"}


def belgium_pair(folder, sigma0, *, date="20220603", tags=BELGIUM_TAGS, spacing=20.0, origin=(X0, Y0)):
    """S1_<date>_VV.tif and S1_<date>_VH.tif from a [rows, cols, 2] sigma0 array; returns the VV path."""
    paths = [write_plain(folder, f"S1_{date}_{pol}.tif", sigma0[:, :, k], spacing=spacing, origin=origin,
                         tags={**tags, "POLARISATION": pol}, descriptions=[pol])
             for k, pol in enumerate(("VV", "VH"))]
    return paths[0]


def sigma0_field(rows, cols, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.lognormal(-2.0, 0.8, (rows, cols)), rng.lognormal(-3.5, 0.8, (rows, cols))], -1).astype(
        "float32")


def bilinear(src, out_shape, src_origin, src_pixel, out_origin, out_pixel):
    """Bilinear interpolation at the output pixel centres, the source's edge pixels repeated (as OTB's
    Superimpose does within half a pixel of the border); nan outside."""
    rows, cols = out_shape
    x = out_origin[0] + (np.arange(cols) + 0.5) * out_pixel
    y = out_origin[1] - (np.arange(rows) + 0.5) * out_pixel
    u = (x - src_origin[0]) / src_pixel - 0.5  # continuous source column index
    v = (src_origin[1] - y) / src_pixel - 0.5
    c0 = np.floor(u).astype(int)
    r0 = np.floor(v).astype(int)
    wu, wv = u - c0, v - r0
    h, w = src.shape[:2]
    ca, cb = np.clip(c0, 0, w - 1), np.clip(c0 + 1, 0, w - 1)
    ra, rb = np.clip(r0, 0, h - 1), np.clip(r0 + 1, 0, h - 1)
    s = src.astype(np.float64)
    top = s[ra][:, ca] * (1 - wu) + s[ra][:, cb] * wu
    bottom = s[rb][:, ca] * (1 - wu) + s[rb][:, cb] * wu
    out = top * (1 - wv[:, None]) + bottom * wv[:, None]
    inside = (u[None, :] >= -0.5) & (u[None, :] <= w - 0.5) & (v[:, None] >= -0.5) & (v[:, None] <= h - 0.5)
    return np.where(inside, out, np.nan)


def assert_stretched(stored, sigma0):
    """Stored values equal the stretch of ``sigma0`` (nan: nodata, stored 0), to within OTB's float32 step."""
    expected = np.where(np.isnan(sigma0), 0, stretch(np.nan_to_num(sigma0))).astype(np.int64)
    diff = np.abs(stored.astype(np.int64) - expected)
    assert (stored[np.isnan(sigma0)] == 0).all() and (stored[~np.isnan(sigma0)] > 0).all()
    assert diff.max() <= 2 and (diff == 0).mean() > 0.98, (diff.max(), (diff == 0).mean())


# ------------------------------------------------------------------------------------------------ plain S1


def test_belgium_named_20m_linear_pair_onto_the_10m_reference(tmp_path, reference):
    sigma0 = sigma0_field(32, 32)
    sigma0[5, 7, 0] = 0  # one VV nodata pixel
    vv = belgium_pair(tmp_path / "s1", sigma0)
    prepared = prepare_s1(vv, tmp_path / "out", reference=reference)
    assert prepared.folder.name == "S1_NOTILE_ASC_NA_20220603T173236"  # the reference stack's tile
    assert prepared.orbit_direction == "ascending" and prepared.acquired == "2022-06-03T17:32:36+00:00"
    # georeferencing: the reference's grid, CRS included
    w, h, gt, srs = grid(prepared.s1)
    rw, rh, rgt, rsrs = grid(reference / "s2_10m.tif")
    assert (w, h) == (rw, rh) == (64, 64) and gt == pytest.approx(rgt) and srs.IsSame(rsrs)
    stored = read_array(prepared.s1)
    assert stored.dtype == np.uint16 and stored.shape == (64, 64, 2)
    for k in range(2):
        expected = bilinear(sigma0[:, :, k], (64, 64), (X0, Y0), 20, (X0, Y0), 10)
        if k == 0:  # the 10 m pixels whose bilinear support holds the nodata pixel are nodata, no others
            expected[9:13, 13:17] = np.nan
        assert_stretched(stored[:, :, k], expected)
    assert (stored[9:13, 13:17, 0] == 0).all() and (stored[:, :, 1] > 0).all()
    assert prepared.blocks()["nodata"].tolist() == [[16]]
    marker = json.loads((prepared.folder / "done.json").read_text())
    assert marker["input_scale"] == "linear" and marker["input_scale_from"] == "UNITS tag"
    assert marker["relative_orbit"] is None and marker["orbit_direction_from"] == "the ORBIT tag"
    assert marker["grid"]["resampled"] and marker["grid"]["from_pixel"] == 20 and marker["grid"]["to_pixel"] == 10
    assert marker["date_from"] == "the name and the ACQUISITION_TIME tag"


def test_db_two_band_file_off_grid_detected_from_its_values(tmp_path, reference):
    sigma0 = sigma0_field(34, 34, seed=1)
    db = (10 * np.log10(sigma0)).astype("float32")
    # a half-pixel shift and one row and column more: a general (not 2 x 2) bilinear resampling
    origin = (X0 - 10, Y0 + 10)
    src = write_plain(tmp_path, "s1b_2022-06-05T055012_DES_stack.tif", db, origin=origin, nodata=-9999.0,
                      descriptions=["VV", "VH"])
    prepared = prepare_s1(src, tmp_path / "out", reference=reference)
    assert prepared.folder.name.endswith("_DES_NA_20220605T055012") and prepared.orbit_direction == "descending"
    marker = json.loads((prepared.folder / "done.json").read_text())
    assert marker["input_scale"] == "db" and marker["input_scale_from"].startswith("detected: VV median -")
    assert marker["date_from"] == "the name" and marker["bands"] == {"VV": 1, "VH": 2}
    stored = read_array(prepared.s1)
    for k in range(2):
        assert_stretched(stored[:, :, k], bilinear(sigma0[:, :, k], (64, 64), origin, 20, (X0, Y0), 10))
    with pytest.raises(DecloudInputError, match=r"--scale says linear but its VV values look dB \(median -"):
        prepare_s1(src, tmp_path / "out2", reference=reference, scale="linear")
    # bands in the other order, found by their descriptions
    swapped = write_plain(tmp_path, "S1_20220607_ASC.tif", db[:, :, ::-1].copy(), origin=origin, nodata=-9999.0,
                          descriptions=["VH", "VV"])
    again = prepare_s1(swapped, tmp_path / "out3", reference=reference)
    assert np.array_equal(read_array(again.s1), stored)


def test_10m_plain_needs_no_reference_and_keeps_its_pixels(tmp_path, reference):
    sigma0 = sigma0_field(40, 50, seed=2)
    vh = belgium_pair(tmp_path, sigma0, spacing=10.0).with_name("S1_20220603_VH.tif")
    named = prepare_s1(vh, tmp_path / "named", tile="mytile")  # the VH file names the pair too
    assert named.folder.name == "S1_mytile_ASC_NA_20220603T173236"
    prepared = prepare_s1(vh, tmp_path / "out")  # no tile named, none in the name: NOTILE, as stacks
    assert prepared.folder.name == "S1_NOTILE_ASC_NA_20220603T173236"
    stored = read_array(prepared.s1)
    for k in range(2):
        assert_stretched(stored[:, :, k], sigma0[:, :, k])
    assert not json.loads((prepared.folder / "done.json").read_text())["grid"]["resampled"]
    # the same file again onto another grid (a reference larger than the S1): redone there, not skipped
    again = prepare_s1(vh, tmp_path / "out", reference=reference)
    assert again.folder == prepared.folder and read_array(again.s1).shape == (64, 64, 2)
    assert json.loads((again.folder / "done.json").read_text())["grid"]["resampled"]
    assert again.blocks()["nodata"].tolist() == [[64 * 64 - 40 * 50]]


def test_bad_plain_inputs_are_one_line(tmp_path, reference):
    sigma0 = sigma0_field(32, 32)
    no_tags: dict[str, str] = {}
    cases = []
    d = tmp_path / "nodate"
    cases.append((belgium_pair(d, sigma0, date="x", tags=no_tags), {"reference": reference},
                  r"no acquisition date in its name \(YYYYMMDD or YYYY-MM-DD\) nor in a tag"))
    d = tmp_path / "baddate"
    cases.append((belgium_pair(d, sigma0, date="20221345", tags={"ORBIT": "ascending"}), {"reference": reference},
                  "no acquisition date in its name"))
    d = tmp_path / "disagree"
    cases.append((belgium_pair(d, sigma0, date="20220604"), {"reference": reference},
                  "its name says 2022-06-04 but its ACQUISITION_DATE tag says 2022-06-03"))
    d = tmp_path / "noref"
    cases.append((belgium_pair(d, sigma0), {},
                  "20 m pixels, not 10 m: give --reference \\(a prepared S2 folder\\) to resample it onto the S2 10 m"))
    d = tmp_path / "noorbit"
    cases.append((belgium_pair(d, sigma0, tags={"ACQUISITION_TIME": "17:32:36Z"}), {"reference": reference},
                  "orbit direction unknown .*give --orbit ascending or --orbit descending"))
    d = tmp_path / "outside"
    cases.append((belgium_pair(d, sigma0, origin=(X0 + 5000, Y0)), {"reference": reference},
                  "no valid S1 pixel on the grid of"))
    d = tmp_path / "int"
    d.mkdir()
    cases.append((write_plain(d, "S1_20220603_VVVH.tif", np.ones((8, 8, 2), "uint16"), tags=BELGIUM_TAGS),
                  {"reference": reference}, "UInt16 pixels; expected float sigma0"))
    d = tmp_path / "novh"
    d.mkdir()
    cases.append((write_plain(d, "S1_20220603_VV.tif", sigma0[:, :, 0], tags=BELGIUM_TAGS), {"reference": reference},
                  "its VH file S1_20220603_VH.tif is missing"))
    d = tmp_path / "othertile"
    cases.append((belgium_pair(d, sigma0), {"reference": reference, "tile": "mytile"},
                  r"--tile mytile but the reference .* \(tile NOTILE\): S1 and S2 of one place must be prepared "
                  "under one tile name"))
    d = tmp_path / "notprepared"
    cases.append((belgium_pair(d, sigma0), {"reference": tmp_path},
                  "not a prepared S2 folder .*run decloud prepare-s2 first"))
    for path, options, message in cases:
        with pytest.raises(DecloudInputError, match=message) as e:
            prepare_s1(path, tmp_path / "out", **options)
        assert "\n" not in str(e.value) and (path.name in str(e.value) or "not a prepared" in message)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("S1_*"))


def test_cli_plain_s1_onto_the_reference_and_its_errors(tmp_path, reference):
    for d in (3, 8):
        belgium_pair(tmp_path / "s1", sigma0_field(32, 32, seed=d), date=f"202206{d:02d}",
                     tags={**BELGIUM_TAGS, "ACQUISITION_DATE": f"2022-06-{d:02d}"})
    files = sorted((tmp_path / "s1").glob("S1_*.tif"))  # VV and VH: each pair once
    code, out, err = decloud("prepare-s1", *files, "--out-dir", tmp_path / "prep", "--workers", 0, "-q")
    assert code == 2 and len(error_lines(err)) == 1
    assert "20 m pixels, not 10 m: give --reference" in error_lines(err)[0]
    code, out, err = decloud("prepare-s1", *files, "--reference", reference, "--out-dir", tmp_path / "prep",
                             "--workers", 0)
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith(str(tmp_path / "prep" / "S1_"))]  # not OTB's logs
    assert len(lines) == 2 and all("linear sigma0 (UNITS tag)" in line and "20 m -> 10 m bilinear onto" in line
                                   and "nodata 0.0 %" in line for line in lines), out
    assert sorted(p.name.split("_")[-1] for p in (tmp_path / "prep").glob("S1_*")) == ["20220603T173236",
                                                                                      "20220608T173236"]
    code, out, err = decloud("prepare-s1", files[0], "--reference", reference, "--scale", "db", "--out-dir",
                             tmp_path / "prep2", "--workers", 0, "-q")
    assert code == 2 and len(error_lines(err)) == 1
    assert "--scale says dB but its VV values look linear" in error_lines(err)[0]


# ------------------------------------------------------------------------------------------------ DEM


def plane(lon, lat):
    return 200 + 3000 * (lon - 9) + 2000 * (lat - 46)


def write_dem(path, lon0, lat0, size=400, step=1 / 3600):
    """A float32 EPSG:4326 DEM (a plane in lon/lat), upper-left corner (lon0, lat0), 1 arc-second pixels."""
    lon = lon0 + (np.arange(size) + 0.5) * step
    lat = lat0 - (np.arange(size) + 0.5) * step
    z = plane(lon[None, :], lat[:, None]).astype("float32")
    return write_geotiff(path, z, origin=(lon0, lat0), spacing=(step, -step), epsg=4326, nodata=-32768)


def lonlat(x, y):
    utm, geo = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(sp.EPSG)
    geo.ImportFromEPSG(4326)
    for s in (utm, geo):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    lo, la, _ = osr.CoordinateTransformation(utm, geo).TransformPoint(x, y)
    return lo, la


def test_dem_onto_a_prepared_stack_grid(tmp_path, reference):
    assert not (reference / "s2_20m.tif").exists()  # a stack: no 20 m bands
    lon, lat = lonlat(X0, Y0)
    dem = write_dem(tmp_path / "dem.tif", lon - 0.02, lat + 0.02)
    out = prepare_dem([dem], reference, tmp_path / "out")
    w, h, gt, srs = grid(out)
    assert (w, h) == (32, 32) and gt == pytest.approx((X0, 20, 0, Y0, 0, -20))
    rsrs = grid(reference / "s2_10m.tif")[3]
    assert srs.IsSame(rsrs)
    z = read_array(out)[:, :, 0]
    for r, c in [(0, 0), (31, 31), (10, 20), (25, 3)]:
        assert z[r, c] == pytest.approx(plane(*lonlat(X0 + 20 * (c + 0.5), Y0 - 20 * (r + 0.5))), abs=0.05)
    # any file of the prepared folder names it too; the same call again is skipped (the marker matches)
    assert prepare_dem([dem], reference / "cloud.tif", tmp_path / "out2") and \
        np.array_equal(read_array(tmp_path / "out2" / "dem.tif"), read_array(out))


def test_dem_not_covering_is_refused(tmp_path, reference):
    lon, lat = lonlat(X0, Y0)
    far = write_dem(tmp_path / "far.tif", lon + 1, lat)
    with pytest.raises(DecloudInputError,
                       match=r"far.tif: the DEM does not cover the reference .*: no height on any pixel of its 20 m"):
        prepare_dem([far], reference, tmp_path / "out")
    # half of the reference: the DEM ends in its middle (x of column 16 of the 20 m grid)
    east, _ = lonlat(X0 + 320, Y0 - 320)
    half = write_dem(tmp_path / "half.tif", east - 400 / 3600, lat + 0.02)
    with pytest.raises(DecloudInputError, match=r"half.tif: the DEM covers only (4\d|5\d)\.\d % of the reference") as e:
        prepare_dem([half], reference, tmp_path / "out")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out" / "dem.tif").exists() and not list((tmp_path / "out").glob("*.vrt"))
    code, out, err = decloud("prepare-dem", far, "--reference", reference, "--out-dir", tmp_path / "out")
    assert code == 2 and len(error_lines(err)) == 1 and "does not cover the reference" in error_lines(err)[0]


# ------------------------------------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def belgium(tmp_path_factory):
    if not (BELGIUM / "S1_20170801_VV.tif").exists():
        pytest.skip(f"real data absent: {BELGIUM} (see ../shared/data/README.md)")
    tmp = tmp_path_factory.mktemp("belgium")
    s2 = prepare_s2(BELGIUM / "S2_L2A_20170804_B2B3B4B8.tif", tmp / "prep", tile="belgium").folder
    return tmp, s2


def test_real_belgium_s1_onto_its_s2_grid_and_into_the_index(belgium):
    tmp, s2 = belgium
    dates = ("20170801", "20170806", "20170807")
    folders = [prepare_s1(BELGIUM / f"S1_{d}_VV.tif", tmp / "prep", reference=s2).folder for d in dates]
    assert [f.name.split("_")[-1] for f in folders] == ["20170801T173236", "20170806T174043", "20170807T173210"]
    assert prepared_tile(s2) == "belgium" and all(f.name.startswith("S1_belgium_ASC_NA_") for f in folders)
    stored = read_array(folders[0] / "s1.tif")
    assert stored.shape == (64, 64, 2) and grid(folders[0] / "s1.tif")[2] == grid(s2 / "s2_10m.tif")[2]
    for k, pol in enumerate(("VV", "VH")):
        src = gdal.Open(str(BELGIUM / f"S1_20170801_{pol}.tif")).ReadAsArray()
        assert_stretched(stored[:, :, k], bilinear(src, (64, 64), (501360, 5629680), 20, (501360, 5629680), 10))
    index = index_prepared(tmp / "index.npz", [s2], folders, cell_pixels=64)  # the tile of the folders
    assert index.tile == "belgium" and index.s1_hours["ascending"].size == 3 and index.s1_valid["ascending"].all()
    catalog = catalog_from_prepared(index, tmp / "prep")
    assert len(catalog.s1) == 3
    assert not list(BELGIUM.glob("*.aux.xml"))  # nothing written beside the real files


def test_real_dem_onto_its_own_grid_and_refused_elsewhere(tmp_path, belgium):
    """greenearthnet-portugal's Copernicus DEM: onto its own 20 m stack grid (a plain raster reference) it comes
    back unchanged; onto the prepared belgium grid it is refused (it does not cover it)."""
    if not (PORTUGAL / "DEM.tif").exists():
        pytest.skip(f"real data absent: {PORTUGAL} (see ../shared/data/README.md)")
    stack = PORTUGAL / "S2_L2A_20210514_B2B3B4B8.tif"
    out = prepare_dem([PORTUGAL / "DEM.tif"], stack, tmp_path / "pt")
    assert grid(out)[:3] == grid(stack)[:3]
    np.testing.assert_allclose(read_array(out)[:, :, 0], gdal.Open(str(PORTUGAL / "DEM.tif")).ReadAsArray(), atol=1e-3)
    with pytest.raises(DecloudInputError, match="DEM.tif: the DEM does not cover the reference"):
        prepare_dem([PORTUGAL / "DEM.tif"], belgium[1], tmp_path / "be")
    assert not list(PORTUGAL.glob("*.aux.xml"))

"""DecloudPatchesExtraction and TFRecord datasets: generated products -> prepared -> index -> search -> shards."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime

import numpy as np
import pytest
from decloud.dataset import TileCatalog, extract_patches, generate_dataset, read_dataset
from decloud.errors import DecloudInputError
from decloud.layouts import parse_layout
from decloud.otbenv import app_environment, otbcli
from decloud.patch_index import index_prepared, to_hours
from decloud.prepare import prepare_s1, prepare_s2
from decloud.raster import read_array, write_geotiff
from decloud.search import search
from decloud.testing import synthetic_products as sp

X0, Y0 = sp.ORIGIN


def test_patches_at_two_resolutions(tmp_path):
    a10 = np.arange(128 * 128 * 2, dtype="float32").reshape(128, 128, 2)
    a20 = np.arange(64 * 64 * 3, dtype="float32").reshape(64, 64, 3)
    p10 = write_geotiff(tmp_path / "a10.tif", a10, origin=sp.ORIGIN, spacing=(10, -10))
    p20 = write_geotiff(tmp_path / "a20.tif", a20, origin=sp.ORIGIN, spacing=(20, -20))
    corners = [(X0 + 320, Y0 - 640), (X0, Y0), (X0 + 960, Y0 - 960)]  # cells (col 32, row 64), (0, 0), (96, 96)
    s10, s20 = extract_patches([p10, p20], corners, 32, tmp_path / "out" / "p")
    r10, r20 = read_array(s10), read_array(s20)
    assert r10.shape == (96, 32, 2) and r20.shape == (48, 16, 3)
    for k, (col, row) in enumerate([(32, 64), (0, 0), (96, 96)]):
        np.testing.assert_array_equal(r10[32 * k:32 * (k + 1)], a10[row:row + 32, col:col + 32])
        np.testing.assert_array_equal(r20[16 * k:16 * (k + 1)], a20[row // 2:row // 2 + 16, col // 2:col // 2 + 16])


def test_patches_from_a_vector_file_and_bad_places(tmp_path):
    a10 = np.arange(64 * 64, dtype="float32").reshape(64, 64)
    p10 = write_geotiff(tmp_path / "a10.tif", a10, origin=sp.ORIGIN, spacing=(10, -10))
    square = [[X0 + 100, Y0 - 50], [X0 + 260, Y0 - 50], [X0 + 260, Y0 - 210], [X0 + 100, Y0 - 210], [X0 + 100, Y0 - 50]]
    feature = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [square]}}
    (tmp_path / "p.geojson").write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": "urn:ogc:def:crs:EPSG::32632"}}, "features": [feature]}))
    run = subprocess.run(otbcli("DecloudPatchesExtraction") + ["-il", str(p10), "-patchsize", "16", "-vec",
                         str(tmp_path / "p.geojson"), "-outprefix", str(tmp_path / "v")], capture_output=True,
                         text=True, env=app_environment())
    assert run.returncode == 0, run.stdout + run.stderr
    np.testing.assert_array_equal(read_array(tmp_path / "v_1.tif")[:, :, 0], a10[5:21, 10:26])
    run = subprocess.run(otbcli("DecloudPatchesExtraction") + ["-il", str(p10), "-patchsize", "16", "-pos",
                         f"{X0 + 600},{Y0}", "-outprefix", str(tmp_path / "bad")], capture_output=True, text=True,
                         env=app_environment())
    fatal = [line for line in (run.stdout + run.stderr).splitlines() if "(FATAL)" in line]
    assert run.returncode != 0 and len(fatal) == 1 and "il (source 1): Patch #1" in fatal[0] and "outside" in fatal[0]
    assert not list(tmp_path.glob("bad*"))


LAYOUT = {
    "t": {"acquisition": {"s2_t": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100},
                          "s1_t": {"type": "S1"}}, "timeframe_origin": True, "max_s1s2_gap_hours": 48},
    "target": {"acquisition": {"s2_target": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100}},
               "timeframe_start_hours": -300, "timeframe_end_hours": 300},
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("archive")
    s2 = [prepare_s2(sp.make_theia(tmp / "in", when=datetime(2022, 6, d, 10, 30), seed=d).path, tmp / "prep").folder
          for d in (1, 11, 21)]
    s1 = [prepare_s1(sp.make_s1tiling(tmp / "s1", when=datetime(2022, 6, d, 17, 5), seed=d)[0], tmp / "prep").folder
          for d in (1, 12, 22)]
    rng = np.random.default_rng(0)
    dem = write_geotiff(tmp / "dem.tif", rng.uniform(200, 900, (64, 64)).astype("float32"), origin=sp.ORIGIN,
                        spacing=(20, -20))
    index = index_prepared(tmp / "32TPS.npz", s2, s1, cell_pixels=64, tile="32TPS")

    def hours(folder):
        return to_hours(datetime.fromisoformat(json.loads((folder / "done.json").read_text())["acquired"]))

    catalog = TileCatalog(index.grid, {hours(f): f for f in s2}, {hours(f): f for f in s1}, dem)
    return tmp, index, catalog


def test_tfrecords_round_trip(archive, tmp_path):
    tmp, index, catalog = archive
    samples = search(index, parse_layout(LAYOUT, name="test", source="test")).draw(strategy="constant", per_cell=3)
    assert len(samples) >= 3
    shards = generate_dataset(samples, {"32TPS": catalog}, tmp_path / "ds", patch_size=64, shard_size=2, quiet=True)
    assert len(shards) == -(-len(samples) // 2)
    assert not list((tmp_path / "ds").glob(".*"))
    spec = json.loads((tmp_path / "ds" / "shapes_and_types.json").read_text())
    assert spec["s2_t"] == {"shape": [64, 64, 4], "dtype": "int16"}
    assert spec["s2_20m_target"] == {"shape": [32, 32, 6], "dtype": "int16"}
    assert spec["s1_t"] == {"shape": [64, 64, 2], "dtype": "uint16"} and spec["dem"]["shape"] == [32, 32, 1]
    assert spec["cloud_t"] == {"shape": [64, 64, 1], "dtype": "uint8"} and "cloud_target" not in spec
    records = list(read_dataset(tmp_path / "ds").as_numpy_iterator())
    assert len(records) == len(samples)
    dem = read_array(catalog.dem)
    for s, r in zip(samples, records):
        row, col = divmod(s.cell, index.grid.cols)
        window = np.s_[row * 64:(row + 1) * 64, col * 64:(col + 1) * 64]
        half = np.s_[row * 32:(row + 1) * 32, col * 32:(col + 1) * 32]
        for acq in ("t", "target"):
            folder = catalog.s2[s.s2_hours[acq]]
            np.testing.assert_array_equal(r[f"s2_{acq}"], read_array(folder / "s2_10m.tif")[window])
            np.testing.assert_array_equal(r[f"s2_20m_{acq}"], read_array(folder / "s2_20m.tif")[half])
            assert r[f"s2_timestamp_{acq}"] == s.s2_hours[acq] * 3600
        np.testing.assert_array_equal(r["s1_t"], read_array(catalog.s1[s.s1_hours["t"]] / "s1.tif")[window])
        np.testing.assert_array_equal(r["dem"], dem[half])
        cloud = read_array(catalog.s2[s.s2_hours["t"]] / "cloud.tif")[window]
        np.testing.assert_array_equal(r["cloud_t"], cloud)
    assert 0 < np.mean([r["cloud_t"].mean() for r in records]) < 1  # the generated products have some clouds
    footprints = json.loads((tmp_path / "ds" / "footprints.geojson").read_text())["features"]
    assert {f["properties"]["cell"] for f in footprints} == {s.cell for s in samples}


def test_records_of_preparations_without_a_cloud_mask(archive, tmp_path, caplog):
    """S2 folders without cloud.tif (older preparations): records without cloud_t, said once; some with and some
    without: an error naming the folder."""
    tmp, index, catalog = archive
    samples = search(index, parse_layout(LAYOUT, name="test", source="test")).draw(strategy="constant", per_cell=3)
    copies = {}
    for h, folder in catalog.s2.items():
        copies[h] = tmp_path / "prep" / folder.name
        shutil.copytree(folder, copies[h])
        (copies[h] / "cloud.tif").unlink()
    bare = TileCatalog(catalog.grid, copies, catalog.s1, None)
    with caplog.at_level("WARNING", logger="decloud.dataset"):
        generate_dataset(samples, {"32TPS": bare}, tmp_path / "ds", patch_size=64, quiet=True)
    assert "cloud_t" not in json.loads((tmp_path / "ds" / "shapes_and_types.json").read_text())
    assert len([r for r in caplog.records if "no cloud.tif" in r.getMessage()]) == 1
    t_hours = {s.s2_hours["t"] for s in samples}
    shutil.copyfile(catalog.s2[min(t_hours)] / "cloud.tif", copies[min(t_hours)] / "cloud.tif")
    assert len(t_hours) > 1
    with pytest.raises(DecloudInputError, match=r"no cloud.tif \(the cloud mask of t\), which other dates have"):
        generate_dataset(samples, {"32TPS": bare}, tmp_path / "ds2", patch_size=64, quiet=True)

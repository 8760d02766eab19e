"""The original Decloud's prepared tree and TFRecords, generated here as its sentinel2_prepare.py,
sentinel1_prepare.py and create_tfrecords.py write them, read by index, dataset, timeseries and convert-records."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from decloud.dataset import catalog_from_prepared, generate_dataset, read_dataset
from decloud.original import convert_records, s2_writer_order
from decloud.patch_index import index_prepared, to_hours
from decloud.products import BANDS_10M, BANDS_20M
from decloud.raster import read_array
from decloud.search import Sample
from decloud.timeseries import find_prepared, plan_timeseries

X0, Y0, SIZE = 500000.0, 4800000.0, 128
DATES = ["20200101", "20200111", "20200121"]


def _tif(path: Path, arrays: list[np.ndarray], pixel: float, gdal_type: int) -> None:
    from osgeo import gdal, osr  # noqa: PLC0415

    h, w = arrays[0].shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, len(arrays), gdal_type)
    ds.SetGeoTransform((X0, pixel, 0, Y0, 0, -pixel))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    ds.SetProjection(srs.ExportToWkt())
    for i, a in enumerate(arrays):
        ds.GetRasterBand(i + 1).WriteArray(a)  # no band description: the original's ConcatenateImages sets none
    ds = None


def s2_value(band: str, k: int) -> int:
    return 100 * ((BANDS_10M + BANDS_20M).index(band) + 1) + k


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    from osgeo import gdal  # noqa: PLC0415

    root = tmp_path_factory.mktemp("original")
    for k, date in enumerate(DATES):
        name = f"SENTINEL2A_{date}-103000-123_L2A_T31TEJ_C_V2-2"
        product = root / "S2_PREPARE" / "T31TEJ" / name
        product.mkdir(parents=True)
        # the writer's order: its band files' sorted names (20 m: B11 B12 B5 B6 B7 B8A)
        for res, bands, n in (("10m", BANDS_10M, SIZE), ("20m", BANDS_20M, SIZE // 2)):
            data = [np.full((n, n), s2_value(b, k), np.int16) for b in s2_writer_order(bands)]
            _tif(product / f"{name}_FRE_{res}.tif", data, 10.0 if res == "10m" else 20.0, gdal.GDT_Int16)
        clm = np.zeros((SIZE, SIZE), np.uint8)
        edg = np.zeros((SIZE, SIZE), np.uint8)
        if k == 1:
            clm[:64, :64] = 2  # a THEIA CLM bit: cloud
        if k == 2:
            edg[64:, :] = 1  # outside the swath
        _tif(product / f"{name}_CLM_R1.tif", [clm], 10.0, gdal.GDT_Byte)
        _tif(product / f"{name}_EDG_R1.tif", [edg], 10.0, gdal.GDT_Byte)
        for mask in ("CLM", "EDG"):  # present in its tree; not needed here
            _tif(product / f"{name}_{mask}_R1_stats.tif", [np.zeros((2, 2), np.uint16)], 640.0, gdal.GDT_UInt16)
    s1 = root / "S1_PREPARE" / "T31TEJ"
    s1.mkdir(parents=True)
    vv, vh = np.full((SIZE, SIZE), 30000, np.uint16), np.full((SIZE, SIZE), 20000, np.uint16)
    vv[:, 120:] = vh[:, 120:] = 0
    _tif(s1 / "s1a_31TEJ_vvvh_DES_139_20200111txxxxxx_from-10to3dB.tif", [vv, vh], 10.0, gdal.GDT_UInt16)
    return root


@pytest.fixture(autouse=True)
def _views(tmp_path, monkeypatch):
    monkeypatch.setenv("DECLOUD_ORIGINAL_VIEWS", str(tmp_path / "views"))


def test_index_reads_the_original_tree(tree, tmp_path):
    index = index_prepared(tmp_path / "i.npz", [tree / "S2_PREPARE" / "T31TEJ"], [tree / "S1_PREPARE" / "T31TEJ"],
                           cell_pixels=64)
    assert index.tile == "31TEJ"
    assert index.s2_hours.tolist() == [to_hours(datetime.strptime(d + "103000", "%Y%m%d%H%M%S")) for d in DATES]
    assert index.cloud_percent[:, 0].tolist() == [0, 0, 0, 0]
    assert index.cloud_percent[:, 1].tolist() == [100, 0, 0, 0]  # CLM bit 2 counts as cloud
    assert index.valid[:, 2].tolist() == [True, True, False, False]  # EDG
    assert index.s1_hours["descending"].tolist() == [to_hours(datetime(2020, 1, 11, tzinfo=timezone.utc))]
    assert index.s1_valid["descending"][:, 0].tolist() == [True, False, True, False]  # both bands 0 at x >= 120
    view = next((tmp_path / "views").glob("S2_31TEJ_20200111*"))
    marker = json.loads((view / "done.json").read_text())
    assert marker["bands_20m"] == ["B11", "B12", "B5", "B6", "B7", "B8A"]
    assert "writer" in marker["band_order_from"]
    twenty = read_array(view / "s2_20m.tif")
    assert twenty[0, 0].tolist() == [s2_value(b, 1) for b in BANDS_20M]  # in our order
    assert read_array(view / "s2_10m.tif")[0, 0].tolist() == [s2_value(b, 1) for b in BANDS_10M]
    assert read_array(view / "cloud.tif")[0, 0, 0] == 1


def test_dataset_from_the_original_tree(tree, tmp_path):
    index = index_prepared(tmp_path / "i.npz", [tree / "S2_PREPARE" / "T31TEJ"], [tree / "S1_PREPARE" / "T31TEJ"],
                           cell_pixels=64)
    catalog = catalog_from_prepared(index, tree)
    h = index.s2_hours.tolist()
    samples = [Sample("31TEJ", 2, {"tm1": h[0], "t": h[1]}, {"t": int(index.s1_hours["descending"][0])})]
    generate_dataset(samples, {"31TEJ": catalog}, tmp_path / "ds", patch_size=64, quiet=True)
    (example,) = [{k: v.numpy() for k, v in e.items()} for e in read_dataset(tmp_path / "ds")]
    assert (example["s2_20m_t"][0, 0] == [s2_value(b, 1) for b in BANDS_20M]).all()
    assert (example["s2_tm1"] == np.array([s2_value(b, 0) for b in BANDS_10M])).all()
    assert (example["s1_t"][0, 0] == [30000, 20000]).all()
    assert example["cloud_t"].sum() == 0  # cell 2 is the lower left one: clear


def test_timeseries_plans_on_the_original_tree(tree, tmp_path):
    found = find_prepared([tree])
    s2 = [a for a in found if a.sensor == "S2"]
    assert [a.cloud_percent for a in s2] == [0.0, 25.0, 0.0] and s2[2].nodata_percent == 50.0
    assert [(a.sensor, a.orbit) for a in found if a.sensor == "S1"] == [("S1", "descending")]
    tasks, skipped = plan_timeseries(found, tmp_path / "out")
    assert [t.date[:10] for t in tasks] == ["2020-01-11"] and len(skipped) == 2
    assert tasks[0].inputs["s2_tm1"][0].endswith("S2_31TEJ_20200101T103000/s2_10m.tif")


def _write_original_records(folder: Path, samples: list[dict]) -> None:
    """As the original's TFRecords.ds2tfrecord: serialize_tensor bytes per key, output_types / output_shape."""
    import tensorflow as tf  # noqa: PLC0415

    folder.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(folder / "0.records")) as writer:
        for s in samples:
            feature = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(v).numpy()]))
                       for k, v in s.items()}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    first = {k: v for k, v in samples[0].items() if k != "geoinfo"}
    (folder / "output_types.json").write_text(json.dumps({k: np.asarray(v).dtype.name for k, v in first.items()}))
    (folder / "output_shape.json").write_text(json.dumps({k: [None, *np.shape(v)] for k, v in first.items()}))


def test_convert_records(tmp_path):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(3):
        s = {"geoinfo": np.array([1.0, 43.0, 1.1, 42.9])}
        for acq in ("tm1", "t", "target"):
            s[f"s2_{acq}"] = rng.integers(-100, 8000, (16, 16, 4)).astype(np.int16)
            s[f"s2_20m_{acq}"] = rng.integers(-100, 8000, (8, 8, 6)).astype(np.int16)
            s[f"s2_cld10m_{acq}"] = rng.integers(0, 4, (16, 16, 1)).astype(np.uint8)
            s[f"s2_timestamp_{acq}"] = np.asarray(1.6e9 + 86400.0 * i)
        s["s1_t"] = rng.integers(0, 65535, (16, 16, 2)).astype(np.uint16)
        s["s1_timestamp_t"] = np.asarray(1.6e9 + 3600.0)
        s["s1_ascending_t"] = np.asarray(False)
        s["dem"] = rng.integers(0, 3000, (8, 8, 1)).astype(np.int16)
        samples.append(s)
    _write_original_records(tmp_path / "orig", samples)
    shards, info = convert_records(tmp_path / "orig", tmp_path / "ours", shard_size=2)
    assert len(shards) == 2 and info["examples"] == 3
    assert "s1_ascending_t" in info["dropped"] and "s2_cld10m_tm1" in info["dropped"]
    got = [{k: v.numpy() for k, v in e.items()} for e in read_dataset(tmp_path / "ours")]
    order = [s2_writer_order(BANDS_20M).index(b) for b in BANDS_20M]
    for s, g in zip(samples, got, strict=True):
        assert (g["s2_t"] == s["s2_t"]).all() and (g["s1_t"] == s["s1_t"]).all()
        assert (g["s2_20m_tm1"] == s["s2_20m_tm1"][..., order]).all()
        assert (g["cloud_t"] == (s["s2_cld10m_t"] > 0)).all() and g["cloud_t"].dtype == np.uint8
        assert g["s2_timestamp_target"] == int(s["s2_timestamp_target"]) and g["dem"].dtype == np.float32
        assert (g["dem"] == s["dem"]).all()
        assert not {"geoinfo", "s1_ascending_t", "s2_cld10m_t"} & set(g)


def test_decloud_index_takes_the_original_tree(tree, tmp_path):
    """The command line, as a user of the original runs it: decloud index on S2_PREPARE/<tile> and S1_PREPARE/<tile>."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from decloud.otbenv import app_environment  # noqa: PLC0415

    env = {**app_environment(), "DECLOUD_ORIGINAL_VIEWS": os.environ["DECLOUD_ORIGINAL_VIEWS"]}
    done = subprocess.run([sys.executable, "-m", "decloud.cli", "index", "--out", str(tmp_path / "i.npz"),
                           "--cell-pixels", "64", "--s2", str(tree / "S2_PREPARE" / "T31TEJ"),
                           "--s1", str(tree / "S1_PREPARE" / "T31TEJ")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tile 31TEJ" in done.stdout and "3 S2 dates, 1 S1 dates" in done.stdout

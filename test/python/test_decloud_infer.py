"""DecloudInfer, run as users run it (otbcli), on generated scenes with the shipped models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import MSOP_MODEL, ORIGIN, fast_and_slow, run_app
from decloud.raster import geotransform, read_array, write_geotiff
from decloud.synthetic import s2_like
from scipy import ndimage

NODATA = -10000
GAPFILLING = Path(__file__).resolve().parents[2] / "models" / "gapfilling"


def s2_image(rows, cols, seed, clouds=False):
    return np.rint(s2_like(rows, cols, seed=seed, clouds=clouds)).astype(np.int16)


def write_s2(path, array, *, origin=ORIGIN, epsg=32632, spacing=10.0):
    return write_geotiff(path, array, origin=origin, spacing=(spacing, -spacing), epsg=epsg, nodata=NODATA)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Three dates of 96 x 128 pixels (t cloudy, with a nodata corner), and the cloud mask of t."""
    d = tmp_path_factory.mktemp("scene")
    t = s2_image(96, 128, 1)
    y, x = np.mgrid[0:96, 0:128]
    cloud = (np.hypot(x - 70, y - 50) < 22).astype(np.uint8)
    t[cloud.astype(bool)] = 8000
    t[:10, :12] = NODATA
    paths = {"t": write_s2(d / "t.tif", t), "tm1": write_s2(d / "tm1.tif", s2_image(96, 128, 2)),
             "tp1": write_s2(d / "tp1.tif", s2_image(96, 128, 3)),
             "mask": write_geotiff(d / "cloud.tif", cloud, origin=ORIGIN, spacing=(10.0, -10.0))}
    return d, paths, {"t": t, "cloud": cloud.astype(bool)}


def base_params(paths, out, **extra):
    return {"model": str(MSOP_MODEL), "s2.t": paths["t"], "s2.tm1": paths["tm1"], "s2.tp1": paths["tp1"], "out": out,
            **extra}


@pytest.fixture(scope="module")
def default_output(scene, tmp_path_factory):
    """The scene through DecloudInfer with every default (no mask): one run, read only, for the tests below."""
    d, paths, _ = scene
    out = tmp_path_factory.mktemp("default") / "out.tif"
    run = run_app("DecloudInfer", base_params(paths, out))
    assert run.returncode == 0, run.output
    return out


def python_model_output(model_dir, arrays: dict[str, np.ndarray], padding: int, output: str) -> np.ndarray:
    """The SavedModel's serving signature in Python on inputs mirrored by `padding` pixels (one tile)."""
    import tensorflow as tf  # noqa: PLC0415

    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    feeds = {k: tf.constant(np.pad(v, ((padding, padding), (padding, padding), (0, 0)), mode="reflect")[None]
                            .astype(np.float32)) for k, v in arrays.items()}
    return fn(**feeds)[output].numpy()[0]


def completed_t(t: np.ndarray, tm1: np.ndarray | None = None, tp1: np.ndarray | None = None) -> np.ndarray:
    """t with its holes completed as DecloudInfer does for models without "holes": "model": the mean of t-1 and
    t+1 (no dates given), else 0 where no other date is given."""
    hole = (t == NODATA).any(-1)
    out = t.astype(np.float32)
    out[hole] = ((tm1[hole].astype(np.float64) + tp1[hole]) / 2).astype(np.float32) if tm1 is not None else 0.0
    return out


def test_output_equals_python_on_the_valid_area(scene, tmp_path):
    d, paths, truth = scene
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", base_params(paths, out, encoding="float", padding=32, closing=0))
    assert run.returncode == 0, run.output
    got = read_array(out)
    tm1, tp1 = read_array(paths["tm1"]), read_array(paths["tp1"])
    arrays = {"s2_t": completed_t(read_array(paths["t"]), tm1, tp1), "s2_tm1": tm1, "s2_tp1": tp1}
    expected = python_model_output(MSOP_MODEL, arrays, 32, "s2_target_crop32")
    assert got.shape == expected.shape == (96, 128, 4)
    # valid everywhere: the nodata corner of t (10 x 12) is completed from t-1 and t+1, no margin is lost
    assert not (got == NODATA).any()
    np.testing.assert_allclose(got, expected, atol=0.05, rtol=1e-5)


def test_georeferencing_nodata_and_tiled_geotiff(scene, default_output):
    from osgeo import gdal  # noqa: PLC0415

    d, paths, _ = scene
    ds = gdal.Open(str(default_output))
    assert ds.GetGeoTransform() == geotransform(paths["t"])
    assert ds.GetProjection() == gdal.Open(str(paths["t"])).GetProjection()
    band = ds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Int16 and band.GetNoDataValue() == NODATA
    assert band.GetBlockSize() == [256, 256]  # tiled
    assert ds.GetMetadata("IMAGE_STRUCTURE").get("COMPRESSION") == "DEFLATE"


def test_tiles_and_streaming_do_not_change_the_result(scene, tmp_path):
    """The output does not depend on how OTB streams it (RAM) nor on the tile grid once tiles are fixed."""
    d, paths, _ = scene
    one, many = tmp_path / "one.tif", tmp_path / "many.tif"
    runs = [run_app("DecloudInfer", base_params(paths, one, tile=64, padding=16)),
            run_app("DecloudInfer", base_params(paths, many, tile=64, padding=16, ram=1))]
    assert [r.returncode for r in runs] == [0, 0], runs
    assert np.array_equal(read_array(one), read_array(many))
    # the first-tile probe's tile is kept for the output, streamed in one piece or in many
    for r in runs:
        assert "(1 of them by the first-tile probe, kept for the output)" in r.output, r.output[-2000:]
    # Tiled (64 px tiles) vs untiled (one tile): equal up to the padding's effect, far from tile seams too
    untiled = tmp_path / "untiled.tif"
    assert run_app("DecloudInfer", base_params(paths, untiled, tile=512, padding=16)).returncode == 0
    a, b = read_array(one).astype(float), read_array(untiled).astype(float)
    both = (a[:, :, 0] != NODATA) & (b[:, :, 0] != NODATA)
    assert both.mean() > 0.5
    assert np.median(np.abs(a - b)[both]) <= 60  # reflectance x 10000


def test_the_tiles_the_image_ends_in_are_computed_on_what_is_left_of_it(scene, tmp_path):
    """96 x 128 pixels in tiles of 64 (the model's multiple 32, padding 16): the last row of tiles covers the 32 rows
    left, computed on 32 + 2 x 16 rows (mirrored beyond the image), not on a whole tile of 64 + 2 x 16; the log says
    so and counts it in the waste. Each tile of that row equals the model in Python on that window."""
    import tensorflow as tf  # noqa: PLC0415

    d, paths, _ = scene
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", base_params(paths, out, encoding="float", tile=64, padding=16, closing=0))
    assert run.returncode == 0, run.output
    assert "the last column's 64 wide, the last row's 32 high" in run.output, run.output[-2000:]
    waste = (2 * 96 / 128) * ((96 + 64) / 96)  # 2 tile columns of 64 + 32; rows: one of 64 + 32, one of 32 + 32
    assert f"{waste:.4g} pixels computed per output pixel" in run.output, run.output[-2000:]
    got = read_array(out)
    tm1, tp1 = read_array(paths["tm1"]), read_array(paths["tp1"])
    arrays = {"s2_t": completed_t(read_array(paths["t"]), tm1, tp1), "s2_tm1": tm1, "s2_tp1": tp1}
    fn = tf.saved_model.load(str(MSOP_MODEL)).signatures["serving_default"]
    padded = {k: np.pad(v, ((16, 16), (16, 16), (0, 0)), mode="reflect") for k, v in arrays.items()}
    for col in (0, 64):
        window = {k: tf.constant(v[64:64 + 32 + 32, col:col + 64 + 32][None].astype(np.float32))
                  for k, v in padded.items()}
        expected = fn(**window)["s2_target_crop16"].numpy()[0]
        assert expected.shape == (32, 64, 4)
        np.testing.assert_allclose(got[64:96, col:col + 64], expected, atol=0.05, rtol=1e-5)


def test_cloud_mask_keeps_clear_pixels_bit_for_bit(scene, default_output, tmp_path):
    d, paths, truth = scene
    out = tmp_path / "masked.tif"
    run = run_app("DecloudInfer", base_params(paths, out, mask=paths["mask"], transition=5))
    assert run.returncode == 0, run.output
    got, network = read_array(out), read_array(default_output)
    t, cloud = truth["t"], truth["cloud"]
    distance = ndimage.distance_transform_cdt(~cloud, metric="chessboard")
    far = (distance > 5) & (t[:, :, 0] != NODATA)
    assert far.sum() > 1000
    assert np.array_equal(got[far], t[far])  # kept exactly
    inside = cloud & (network[:, :, 0] != NODATA) & (t[:, :, 0] != NODATA)
    assert inside.sum() > 100
    assert np.array_equal(got[inside], network[inside])  # replaced by the network
    ring = (distance >= 1) & (distance <= 5) & (network[:, :, 0] != NODATA) & (t[:, :, 0] != NODATA)
    lo, hi = np.minimum(t[ring], network[ring]), np.maximum(t[ring], network[ring])
    assert np.all((got[ring] >= lo - 1) & (got[ring] <= hi + 1))  # a blend of both


def test_candidates_complete_each_other_per_pixel(scene, tmp_path):
    """A t-1 with a nodata half, completed by a second candidate, equals the composite made by hand."""
    d, paths, _ = scene
    first = read_array(paths["tm1"]).astype(np.int16)
    first[:, 64:] = NODATA
    second = s2_image(96, 128, 7)
    write_s2(tmp_path / "a.tif", first)
    write_s2(tmp_path / "b.tif", second)
    composite = np.where(first == NODATA, second, first).astype(np.int16)
    write_s2(tmp_path / "ab.tif", composite)
    by_app, by_hand = tmp_path / "by_app.tif", tmp_path / "by_hand.tif"
    params = base_params(paths, by_app)
    params["s2.tm1"] = [tmp_path / "a.tif", tmp_path / "b.tif"]
    run = run_app("DecloudInfer", params)
    assert run.returncode == 0, run.output
    assert "2 candidates" in run.output
    assert run_app("DecloudInfer", {**base_params(paths, by_hand), "s2.tm1": tmp_path / "ab.tif"}).returncode == 0
    assert np.array_equal(read_array(by_app), read_array(by_hand))


def test_common_extent(scene, tmp_path):
    """A t+1 shifted by whole pixels: the output covers the common extent, and says so."""
    d, paths, _ = scene
    shifted = write_s2(tmp_path / "tp1.tif", s2_image(96, 128, 3), origin=(ORIGIN[0] + 200.0, ORIGIN[1] - 100.0))
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", {**base_params(paths, out), "s2.tp1": shifted})
    assert run.returncode == 0, run.output
    assert "common extent" in run.output
    assert read_array(out).shape == (86, 108, 4)
    assert geotransform(out)[0] == ORIGIN[0] + 200.0 and geotransform(out)[3] == ORIGIN[1] - 100.0


def test_gapfilling_savedmodel_through_decloud_infer_matches_decloud_gapfilling(scene, tmp_path):
    """The gap-filling SavedModel (dates as inputs) in DecloudInfer and the DecloudGapFilling app agree."""
    d, paths, _ = scene
    by_model, by_app = tmp_path / "model.tif", tmp_path / "app.tif"
    run = run_app("DecloudInfer", {"model": GAPFILLING, "s2.tm1": paths["tm1"], "s2.tp1": paths["tp1"],
                                   "date.tm1": "2022-06-10", "date.t": "2022-06-17", "date.tp1": "2022-06-20",
                                   "out": by_model})
    assert run.returncode == 0, run.output
    run = run_app("DecloudGapFilling", {"il": [paths["tm1"], paths["tp1"]], "dates": ["2022-06-10", "2022-06-20"],
                                        "date": "2022-06-17", "out": by_app})
    assert run.returncode == 0, run.output
    a, b = read_array(by_model), read_array(by_app)
    assert np.abs(a - b).max() <= 1  # float32 in the SavedModel, float64 in the app


# --- bad input: one line naming the input, non-zero exit, no output ---------------------------------------

def _bad_model_copy(tmp_path, change):
    model = tmp_path / "model"
    shutil.copytree(MSOP_MODEL, model)
    change(model)
    return model


def _rename_card_input(model):
    card = json.loads((model / "card.json").read_text())
    card["inputs"]["s2_tmx"] = card["inputs"].pop("s2_tm1")
    (model / "card.json").write_text(json.dumps(card))


# One rule (one line naming the input, non-zero exit, no output): the fast lane runs an input off the model's grid
# (crs) and a model whose card is wrong (card_inconsistent); ctest's tuDecloudInferMissingRole a missing role. The
# full suite runs all ten cases.
@pytest.mark.parametrize("case", fast_and_slow(["missing_role", "crs", "grid_shift", "pixel_size", "bands", "corrupt",
                                                "no_card", "card_inconsistent", "bad_padding", "no_overlap"],
                                               ["crs", "card_inconsistent"]))
def test_bad_input(scene, tmp_path, case):
    d, paths, _ = scene
    out = tmp_path / "out.tif"
    params = base_params(paths, out)
    img = read_array(paths["tp1"]).astype(np.int16)
    expect = {"missing_role": "s2.tp1", "crs": "s2.tp1", "grid_shift": "s2.tp1", "pixel_size": "s2.tp1",
              "bands": "s2.tp1", "corrupt": "x.tif", "no_card": "card.json", "card_inconsistent": "inconsistent",
              "bad_padding": "padding", "no_overlap": "do not overlap"}[case]
    if case == "missing_role":
        del params["s2.tp1"]
    elif case == "crs":
        params["s2.tp1"] = write_s2(tmp_path / "x.tif", img, epsg=32631)
    elif case == "grid_shift":
        params["s2.tp1"] = write_s2(tmp_path / "x.tif", img, origin=(ORIGIN[0] + 5.0, ORIGIN[1]))
    elif case == "pixel_size":
        params["s2.tp1"] = write_s2(tmp_path / "x.tif", img, spacing=20.0)
    elif case == "bands":
        params["s2.tp1"] = write_s2(tmp_path / "x.tif", img[:, :, :3])
    elif case == "corrupt":
        (tmp_path / "x.tif").write_bytes(b"II*\x00" + b"\x00garbage" * 50)
        params["s2.tp1"] = tmp_path / "x.tif"
    elif case == "no_card":
        params["model"] = _bad_model_copy(tmp_path, lambda m: (m / "card.json").unlink())
    elif case == "card_inconsistent":
        params["model"] = _bad_model_copy(tmp_path, _rename_card_input)
    elif case == "bad_padding":
        params["padding"] = 20
    elif case == "no_overlap":
        params["s2.tp1"] = write_s2(tmp_path / "x.tif", img, origin=(ORIGIN[0] + 5000.0, ORIGIN[1]))
    run = run_app("DecloudInfer", params)
    assert run.returncode != 0
    assert not out.exists()
    errors = [line for line in run.output.splitlines() if "(FATAL)" in line or line.startswith("ERROR")]
    assert errors, run.output
    assert expect in errors[0], errors


def test_sar_and_dem_roles_at_their_own_scales(scene, tmp_path):
    """An SSOP U-Net with S1 at 10 m and a DEM at 20 m: the card drives the roles and scales; equals Python."""
    from decloud.card import export_model  # noqa: PLC0415
    from decloud.networks import ssop_unet  # noqa: PLC0415

    model_dir = export_model(ssop_unet(with_sar=True, with_dem=True, width=0.125), tmp_path / "ssop",
                             network="ssop_unet")
    d, paths, _ = scene
    rng = np.random.default_rng(5)
    s1 = rng.integers(20000, 40000, (96, 128, 2)).astype(np.uint16)
    dem = rng.normal(800, 50, (48, 64, 1)).astype(np.float32)
    s1_path = write_geotiff(tmp_path / "s1.tif", s1, origin=ORIGIN, spacing=(10.0, -10.0), nodata=0)
    dem_path = write_geotiff(tmp_path / "dem.tif", dem, origin=ORIGIN, spacing=(20.0, -20.0))
    out = tmp_path / "out.tif"
    missing = run_app("DecloudInfer", {"model": model_dir, "s2.t": paths["t"], "out": out})
    assert missing.returncode != 0 and "s1.t" in missing.fatal_lines()[0] and "dem" in missing.fatal_lines()[0]
    run = run_app("DecloudInfer", {"model": model_dir, "s2.t": paths["t"], "s1.t": s1_path, "dem": dem_path,
                                   "out": out, "encoding": "float", "padding": 32, "closing": 0})
    assert run.returncode == 0, run.output
    got = read_array(out)

    import tensorflow as tf  # noqa: PLC0415
    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    pad = lambda a, p: np.pad(a, ((p, p), (p, p), (0, 0)), mode="reflect")[None].astype(np.float32)  # noqa: E731
    # t's holes (the nodata corner) are fed as 0: no other S2 date to complete them from
    expected = fn(s2_t=tf.constant(pad(completed_t(read_array(paths["t"])), 32)), s1_t=tf.constant(pad(s1, 32)),
                  dem=tf.constant(pad(dem, 16)))["s2_target_crop32"].numpy()[0]
    valid = got[:, :, 0] != NODATA
    assert np.array_equal(~valid, (read_array(paths["t"]) == NODATA).all(-1))  # nodata only where t has none
    np.testing.assert_allclose(got[valid], expected[valid], atol=0.05, rtol=1e-5)


def test_20m_input_and_output(scene, tmp_path):
    """An SSOP with 20 m bands in and out: out20m (a second pass at 20 m) equals Python on the valid area."""
    from decloud.card import export_model  # noqa: PLC0415
    from decloud.networks import ssop_unet  # noqa: PLC0415

    model_dir = export_model(ssop_unet(with_sar=False, with_dem=False, with_20m=True, width=0.125), tmp_path / "m",
                             network="ssop_unet")
    d, paths, _ = scene
    s20 = np.random.default_rng(8).integers(500, 4000, (48, 64, 6)).astype(np.int16)
    s20_path = write_geotiff(tmp_path / "s20.tif", s20, origin=ORIGIN, spacing=(20.0, -20.0), nodata=NODATA)
    out, out20 = tmp_path / "out.tif", tmp_path / "out20.tif"
    run = run_app("DecloudInfer", {"model": model_dir, "s2.t": paths["t"], "s2r20.t": s20_path, "out": out,
                                   "out20m": out20, "encoding": "float", "padding": 32, "closing": 0})
    assert run.returncode == 0, run.output
    got10, got20 = read_array(out), read_array(out20)
    assert got20.shape == (48, 64, 6)
    assert geotransform(out20)[1] == 20.0 and geotransform(out20)[0] == ORIGIN[0]

    import tensorflow as tf  # noqa: PLC0415
    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    pad = lambda a, p: np.pad(a, ((p, p), (p, p), (0, 0)), mode="reflect")[None].astype(np.float32)  # noqa: E731
    result = fn(s2_t=tf.constant(pad(completed_t(read_array(paths["t"])), 32)), s2_20m_t=tf.constant(pad(s20, 16)))
    for got, key in ((got10, "s2_target_crop32"), (got20, "s2_20m_target_crop32")):
        expected = result[key].numpy()[0]
        valid = got[:, :, 0] != NODATA
        assert valid.mean() > 0.5
        np.testing.assert_allclose(got[valid], expected[valid], atol=0.05, rtol=1e-5)
    shipped = run_app("DecloudInfer", base_params(paths, tmp_path / "o.tif", out20m=tmp_path / "o20.tif"))
    assert shipped.returncode != 0 and "out20m" in shipped.fatal_lines()[0]
    assert not (tmp_path / "o.tif").exists() and not (tmp_path / "o20.tif").exists()


def test_serving_graph_optimisation_gives_tensorflows_outputs(scene, tmp_path):
    """The apps' sessions optimise the graph for serving (one round of Grappler, src/otbTensorflowCAPI.cxx), about
    40 % of a gfnet-v5 run's start-up; the shipped default model gives the same pixels as with TensorFlow's own
    optimisation (DECLOUD_GRAPH_OPTIMISATION=tensorflow)."""
    _, paths, _ = scene
    params = {"s2.t": paths["t"], "s2.tm1": paths["tm1"], "s2.tp1": paths["tp1"], "mask": paths["mask"],
              "date.t": "2022-06-17", "date.tm1": "2022-06-12", "date.tp1": "2022-06-20"}
    outputs = {}
    for mode in ("serving", "tensorflow"):
        out = tmp_path / f"{mode}.tif"
        run = run_app("DecloudInfer", {**params, "out": out}, {"DECLOUD_GRAPH_OPTIMISATION": mode})
        assert run.returncode == 0, run.output[-3000:]
        assert "gfnet-v5" in run.output
        outputs[mode] = read_array(out)
    np.testing.assert_array_equal(outputs["serving"], outputs["tensorflow"])


def test_a_bad_graph_optimisation_is_one_clear_line(scene, tmp_path):
    _, paths, _ = scene
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", base_params(paths, out), {"DECLOUD_GRAPH_OPTIMISATION": "fast"})
    assert run.returncode != 0
    assert [line.split("(FATAL)", 1)[1].strip() for line in run.fatal_lines()] == [
        "DecloudInfer: model: DECLOUD_GRAPH_OPTIMISATION='fast' is not a graph optimisation (serving: the default, "
        "tensorflow: TensorFlow's own)"], run.output[-3000:]
    assert not out.exists() and list(tmp_path.iterdir()) == []

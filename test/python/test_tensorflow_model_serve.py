"""TensorflowModelServe against the SavedModel's own Python output, OTBTF's geometry and error handling."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ORIGIN, fast_and_slow, fast_cases, run_serve, write_image
from decloud import raster
from decloud.testing import toymodels
from numpy.lib.stride_tricks import sliding_window_view

KERNEL, EF = 5, 16
RF = EF + KERNEL - 1


def conv_params(model, image, out, **extra):
    params = {
        "source1.il": image, "source1.rfieldx": RF, "source1.rfieldy": RF, "source1.placeholder": "x",
        "model.dir": model, "model.fullyconv": 1, "output.efieldx": EF, "output.efieldy": EF, "out": out,
    }
    params.update(extra)
    return params


def python_conv(models, array):
    return toymodels.run_saved_model(models["conv"], x=array[None])


def test_fully_convolutional_equals_python_and_keeps_georeferencing(models, image4, tmp_path):
    path, array = image4
    out = tmp_path / "out.tif"
    run = run_serve(conv_params(models["conv"], path, out, **{"output.names": "y"}))
    assert run.returncode == 0, run.output
    result = raster.read_array(out)
    expected = python_conv(models, array)["y"][0]
    # OTBTF's size: (W - RF + 1) + EF - 1, truncated to a multiple of the expression field.
    h, w = (90 - KERNEL + 1) // EF * EF, (100 - KERNEL + 1) // EF * EF
    assert result.shape == (h, w, 2)
    np.testing.assert_allclose(result, expected[:h, :w], rtol=1e-5, atol=1e-3)
    # The first output pixel is the centre of the first valid window: (KERNEL - 1) / 2 pixels in.
    gt = raster.geotransform(out)
    assert gt == pytest.approx((ORIGIN[0] + 20.0, 10.0, 0.0, ORIGIN[1] - 20.0, 0.0, -10.0))
    from osgeo import gdal, osr  # noqa: PLC0415

    srs = osr.SpatialReference(wkt=gdal.Open(str(out)).GetProjection())
    assert srs.GetAuthorityCode(None) == "32632"


@pytest.fixture(scope="module")
def untiled(models, image4, tmp_path_factory):
    """The conv model's untiled output (read only: one app run shared by the tile sizes below)."""
    path, _ = image4
    out = tmp_path_factory.mktemp("untiled") / "untiled.tif"
    run = run_serve(conv_params(models["conv"], path, out, **{"optim.disabletiling": 1}))
    assert run.returncode == 0, run.output
    return out


# The fast lane runs a tile smaller than the expression field's multiple of the image and one that does not divide
# it (16, 48); 32 is also ctest's tvTensorflowModelServeFullyConv; the full suite runs all four.
@pytest.mark.parametrize("tile", fast_and_slow([16, 32, 48, 80], [16, 48]))
def test_tiled_output_equals_untiled(models, image4, untiled, tmp_path, tile):
    path, _ = image4
    tiled = tmp_path / "tiled.tif"
    run = run_serve(conv_params(models["conv"], path, tiled, **{"optim.tilesizex": tile, "optim.tilesizey": tile}))
    assert run.returncode == 0, run.output
    a, b = raster.read_array(untiled), raster.read_array(tiled)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)
    # The network runs once per tile: the tile the first-tile probe computed is kept for the output, not run again.
    tiles = -(-a.shape[0] // tile) * -(-a.shape[1] // tile)
    assert f"The network ran on {tiles} tiles (1 of them by the first-tile probe, kept for the output)" in run.output


@pytest.fixture(scope="module")
def all_outputs(models, image4, tmp_path_factory):
    """The conv model with the default settings and no -output.names (every output, by key): one app run, read only,
    shared by the two tests below."""
    path, _ = image4
    out = tmp_path_factory.mktemp("all_outputs") / "default.tif"
    run = run_serve(conv_params(models["conv"], path, out))
    assert run.returncode == 0, run.output
    return out


def test_several_outputs_are_stacked_in_order(models, image4, all_outputs, tmp_path):
    path, array = image4
    expected = python_conv(models, array)
    for names, order in ((["z", "y"], ["z", "y"]), (None, ["y", "z"])):  # default: all outputs by key
        if names:
            out = tmp_path / f"out_{len(order)}_{order[0]}.tif"
            run = run_serve(conv_params(models["conv"], path, out, **{"output.names": names}))
            assert run.returncode == 0, run.output
        else:
            out = all_outputs
        result = raster.read_array(out)
        h, w = result.shape[:2]
        stacked = np.concatenate([expected[k][0][:h, :w] for k in order], axis=-1)
        np.testing.assert_allclose(result, stacked, rtol=1e-5, atol=1e-3)


def test_patch_based_equals_python(models, tmp_path):
    rng = np.random.default_rng(3)
    array = rng.uniform(0, 1000, (30, 40, 4)).astype("float32")
    path = write_image(tmp_path / "in.tif", array)
    out = tmp_path / "out.tif"
    run = run_serve({"source1.il": path, "source1.rfieldx": 5, "source1.rfieldy": 5, "model.dir": models["patch"],
                     "output.names": ["prob", "label"], "out": out})
    assert run.returncode == 0, run.output
    result = raster.read_array(out)
    patches = sliding_window_view(array, (5, 5), axis=(0, 1)).transpose(0, 1, 3, 4, 2)  # [26, 36, 5, 5, 4]
    ref = toymodels.run_saved_model(models["patch"], x=patches.reshape(-1, 5, 5, 4))
    expected = np.concatenate([ref["prob"], ref["label"][:, None].astype("float32")], axis=-1).reshape(26, 36, 4)
    assert result.shape == (26, 36, 4)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    assert raster.geotransform(out)[0] == pytest.approx(ORIGIN[0] + 20.0)


def test_two_sources_mixed_resolution_with_spacing_scale(models, tmp_path):
    rng = np.random.default_rng(4)
    a10 = rng.uniform(0, 100, (64, 64, 4)).astype("float32")
    a20 = rng.uniform(0, 100, (32, 32, 2)).astype("float32")
    p10 = write_image(tmp_path / "s10.tif", a10, spacing=10.0)
    p20 = write_image(tmp_path / "s20.tif", a20, spacing=20.0)
    out = tmp_path / "out.tif"
    run = run_serve({"source1.il": p10, "source1.rfieldx": 8, "source1.rfieldy": 8, "source1.placeholder": "x1",
                     "source2.il": p20, "source2.rfieldx": 4, "source2.rfieldy": 4, "source2.placeholder": "x2",
                     "model.dir": models["two_sources"], "output.spcscale": 2, "out": out}, n_sources=2)
    assert run.returncode == 0, run.output
    result = raster.read_array(out)
    x0, dx, _, y0, _, dy = raster.geotransform(out)
    assert (dx, dy) == (20.0, -20.0)
    rows, cols = result.shape[:2]
    assert rows > 0 and cols > 0
    # Patches centred on each output pixel centre, in each source's own grid (OTBTF's sampling rule).
    cx = x0 + dx * (np.arange(cols) + 0.5)
    cy = y0 + dy * (np.arange(rows) + 0.5)

    def patches(array, spacing, size):
        ix = np.floor((cx - ORIGIN[0]) / spacing).astype(int) - size // 2
        iy = np.floor((ORIGIN[1] - cy) / spacing).astype(int) - size // 2
        return np.stack([array[r:r + size, c:c + size] for r in iy for c in ix])

    ref = toymodels.run_saved_model(models["two_sources"], x1=patches(a10, 10.0, 8), x2=patches(a20, 20.0, 4))
    np.testing.assert_allclose(result, ref["out"].reshape(rows, cols, 3), rtol=1e-5, atol=1e-4)


def test_nodata_tiles_are_skipped_and_filled_with_background(models, tmp_path):
    rng = np.random.default_rng(5)
    array = rng.uniform(1, 100, (80, 80, 4)).astype("float32")
    array[:36] = 0  # output rows 0..31 only see these rows
    path = write_image(tmp_path / "in.tif", array)
    out = tmp_path / "out.tif"
    run = run_serve(conv_params(models["conv"], path, out, **{"source1.nodata": 0, "output.bv": -1,
                                                               "output.names": "y", "optim.tilesizex": 16,
                                                               "optim.tilesizey": 16}))
    assert run.returncode == 0, run.output
    result = raster.read_array(out)
    assert np.all(result[:32] == -1)
    expected = python_conv(models, array)["y"][0]
    np.testing.assert_allclose(result[32:], expected[32:result.shape[0], :result.shape[1]], rtol=1e-5, atol=1e-3)


# Slow (a Keras U-Net built and exported, about 10 s): the fast lane runs a Keras 3 export through the app in
# test_networks.py::test_export_reload_and_tensorflow_model_serve (and the Keras toy models of test_holes.py).
@pytest.mark.slow
def test_keras3_export_unet_equals_python(tmp_path):
    model = toymodels.keras_unet(tmp_path / "unet", widths=(8, 16, 32), out_bands=3)
    rng = np.random.default_rng(6)
    array = rng.uniform(0, 3000, (64, 64, 4)).astype("float32")
    path = write_image(tmp_path / "in.tif", array)
    out = tmp_path / "out.tif"
    run = run_serve({"source1.il": path, "source1.rfieldx": 64, "source1.rfieldy": 64, "model.dir": model,
                     "model.fullyconv": 1, "output.efieldx": 64, "output.efieldy": 64, "optim.disabletiling": 1,
                     "out": out})
    assert run.returncode == 0, run.output
    assert "input  x: float32 [-1, -1, -1, 4]" in run.output  # Keras 3 signature read from the MetaGraphDef
    expected = toymodels.run_saved_model(model, x=array[None])["output_0"][0]
    np.testing.assert_allclose(raster.read_array(out), expected, rtol=1e-4, atol=0.5)


def _no_signature_model(path):
    import tensorflow as tf  # noqa: PLC0415

    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(path), signatures={})
    return path


# One rule (one FATAL line naming the key, no output): the fast lane runs a bad model key (missing model dir) and a
# bad source (wrong channel count); ctest's tuTensorflowModelServeFieldTooSmall a receptive field too small. The full
# suite runs all six cases.
@pytest.mark.parametrize(
    "case, key",
    fast_cases(
        [
            ("missing model dir", "model.dir"),
            ("no serving signature", "model.dir"),
            ("unknown output name", "output.names"),
            ("wrong channel count", "source1.il"),
            ("receptive field too small", "source1.rfieldx"),
            ("unknown placeholder", "source1.placeholder"),
        ],
        [("missing model dir", "model.dir"), ("wrong channel count", "source1.il")],
    ),
)
def test_bad_input_fails_clearly_and_leaves_no_output(models, image4, tmp_path, case, key):
    path, array = image4
    out = tmp_path / "out.tif"
    params = conv_params(models["conv"], path, out)
    if case == "missing model dir":
        params["model.dir"] = tmp_path / "nowhere"
    elif case == "no serving signature":
        params["model.dir"] = _no_signature_model(tmp_path / "nosig")
    elif case == "unknown output name":
        params["output.names"] = "nope"
    elif case == "wrong channel count":
        params["source1.il"] = write_image(tmp_path / "rgb.tif", array[:, :, :3])
    elif case == "receptive field too small":
        params["source1.rfieldx"] = EF - 1
    elif case == "unknown placeholder":
        params["source1.placeholder"] = "nope"
    run = run_serve(params)
    assert run.returncode != 0
    fatal = run.fatal_lines()
    assert len(fatal) == 1 and key in fatal[0], run.output
    assert not out.exists()
    assert list(tmp_path.glob("out*")) == []


def test_session_thread_options_do_not_change_the_output(models, image4, all_outputs, tmp_path):
    path, _ = image4
    default, single = all_outputs, tmp_path / "single.tif"
    run = run_serve(conv_params(models["conv"], path, single, **{"optim.intraop": 1, "optim.interop": 1}))
    assert run.returncode == 0, run.output
    np.testing.assert_allclose(raster.read_array(default), raster.read_array(single), rtol=0, atol=1e-3)

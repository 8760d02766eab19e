"""DecloudInfer with models that take the cloud mask of t (role cloud_t, fed from -mask) and complete the
holes of their S2 inputs themselves (card: "holes": "model"), run as users run it (otbcli), against numpy.

The toy models are per pixel, so the app's output is known in closed form whatever the tiles and padding:
  t where t has data and is clear (cloud_t == 0);
  else the mean of t-1 and t+1 where both have data, the one that has data where only one has;
  else (``fill_from_t``) t where it has data, even cloudy (as gfnet does) or (not ``fill_from_t``) nodata;
  nodata (-10000 in every band) where no date has data.
cloud_t must arrive as exactly 0.0 or 1.0: any other value gives 12345 (so the app's 0/1 conversion shows).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import ORIGIN, fast_and_slow, run_app
from decloud.raster import read_array, write_geotiff
from decloud.synthetic import s2_like

NODATA = -10000
ROWS, COLS = 72, 96
DATES = {"date.tm1": "2022-06-10", "date.t": "2022-06-17", "date.tp1": "2022-06-20"}
CLOUD_T_CARD = {"role": "cloud_t", "sensor": "S2", "kind": "mask", "bands": ["cloud"], "scale": 1}


# --- the toy models ----------------------------------------------------------------------------------------

def numpy_model(t, tm1, tp1, cloud, *, fill_from_t: bool) -> np.ndarray:
    """The toy model in numpy (float32 as in the graph); ``cloud`` as the model receives it (0.0 / 1.0)."""
    t, tm1, tp1 = (a.astype(np.float32) for a in (t, tm1, tp1))
    has = lambda a: (a != NODATA).any(axis=-1, keepdims=True)  # noqa: E731
    ht, hb, ha = has(t), has(tm1), has(tp1)
    c = cloud.astype(np.float32)[:, :, None]
    last = np.where(ht, t, np.float32(NODATA)) if fill_from_t else np.float32(NODATA)
    fill = np.where(hb & ha, (tm1 + tp1) / np.float32(2), np.where(hb, tm1, np.where(ha, tp1, last)))
    out = np.where(ht & (c == 0), t, fill)
    return np.where((c == 0) | (c == 1), out, np.float32(12345)).astype(np.float32)


def toy_model(fill_from_t: bool):
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    inputs = {k: keras.Input((None, None, 4), name=k) for k in ("s2_t", "s2_tm1", "s2_tp1")}
    inputs["cloud_t"] = keras.Input((None, None, 1), name="cloud_t")
    for d in ("t", "tm1", "tp1"):
        inputs[f"s2_timestamp_{d}"] = keras.Input((), name=f"s2_timestamp_{d}")

    class Fill(keras.layers.Layer):
        def call(self, t, tm1, tp1, cloud, ts_t, ts_tm1, ts_tp1):
            def has(x):
                return tf.reduce_any(tf.not_equal(x, float(NODATA)), axis=-1, keepdims=True)

            ht, hb, ha = has(t), has(tm1), has(tp1)
            nodata = tf.fill(tf.shape(t), float(NODATA))
            last = tf.where(ht, t, nodata) if fill_from_t else nodata
            fill = tf.where(hb & ha, (tm1 + tp1) / 2.0, tf.where(hb, tm1, tf.where(ha, tp1, last)))
            out = tf.where(ht & tf.equal(cloud, 0.0), t, fill)
            out = tf.where(tf.equal(cloud, 0.0) | tf.equal(cloud, 1.0), out, tf.fill(tf.shape(t), 12345.0))
            # The dates are inputs of the signature (as for gfnet) but do not change the result.
            return out + tf.reshape(0.0 * (ts_t + ts_tm1 + ts_tp1), [-1, 1, 1, 1])

    order = ("s2_t", "s2_tm1", "s2_tp1", "cloud_t", "s2_timestamp_t", "s2_timestamp_tm1", "s2_timestamp_tp1")
    out = Fill(name="s2_target")(*(inputs[k] for k in order))
    outputs = {"s2_target": out}
    for c in (8, 16):
        outputs[f"s2_target_crop{c}"] = keras.layers.Cropping2D(c, name=f"s2_target_crop{c}")(out)
    return keras.Model(inputs, outputs, name="toy_fill")


def export_with_card(model, out_dir):
    """export_model, then the card keys of models that take the mask and fill holes (if not written yet)."""
    from decloud import card  # noqa: PLC0415

    try:
        card.describe_input("cloud_t", 1)
        path = card.export_model(model, out_dir, network="toy_fill", spatial_multiple=8)
    except Exception as e:  # card.py does not know cloud_t yet: describe it here
        if "cloud_t" not in str(e):
            raise
        original = card.describe_input
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(card, "describe_input",
                       lambda key, bands: dict(CLOUD_T_CARD) if key == "cloud_t" else original(key, bands))
            path = card.export_model(model, out_dir, network="toy_fill", spatial_multiple=8)
    data = json.loads((path / "card.json").read_text())
    data["inputs"].setdefault("cloud_t", dict(CLOUD_T_CARD))
    assert data["inputs"]["cloud_t"]["kind"] == "mask" and "nodata" not in data["inputs"]["cloud_t"]
    data["holes"] = "model"
    (path / "card.json").write_text(json.dumps(data, indent=2))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory, toy_fill_model):
    root = tmp_path_factory.mktemp("mask_models")
    return {"gf": toy_fill_model,  # conftest.py: built once, shared with test_holes.py
            "strict": export_with_card(toy_model(False), root / "toy_strict")}


# --- the scene ---------------------------------------------------------------------------------------------

def s2_image(seed):
    return np.rint(s2_like(ROWS, COLS, seed=seed, clouds=False)).astype(np.int16)


def write_s2(path, array, **kw):
    return write_geotiff(path, array, origin=ORIGIN, spacing=(10.0, -10.0), nodata=NODATA, **kw)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """t cloudy (a disc, mask values 7 and 255) with a nodata corner; t-1 with scattered holes; t+1 with
    fewer, some on the same pixels; a stripe (columns 60-63) where all three dates are nodata."""
    d = tmp_path_factory.mktemp("mask_scene")
    rng = np.random.default_rng(3)
    t, tm1, tp1 = s2_image(1), s2_image(2), s2_image(3)
    y, x = np.mgrid[0:ROWS, 0:COLS]
    cloudy = np.hypot(x - 40, y - 36) < 18
    t[cloudy] = 8000
    t[:10, :12] = NODATA
    tm1[rng.random((ROWS, COLS)) < 0.08] = NODATA
    both = (rng.random((ROWS, COLS)) < 0.3) & (tm1[:, :, 0] == NODATA)
    tp1[(rng.random((ROWS, COLS)) < 0.02) | both] = NODATA
    for a in (t, tm1, tp1):
        a[:, 60:64] = NODATA
    mask = np.where(cloudy, np.where(x % 2 == 0, 7, 255), 0).astype(np.uint8)
    paths = {"s2.t": write_s2(d / "t.tif", t), "s2.tm1": write_s2(d / "tm1.tif", tm1),
             "s2.tp1": write_s2(d / "tp1.tif", tp1),
             "mask": write_geotiff(d / "mask.tif", mask, origin=ORIGIN, spacing=(10.0, -10.0))}
    return paths, {"t": t, "tm1": tm1, "tp1": tp1, "cloud": cloudy.astype(np.float32)}


def params(model, paths, out, **extra):
    return {"model": model, **paths, **DATES, "out": out, **extra}


def no_date_has_data(arrays):
    return np.all([(arrays[k] == NODATA).all(axis=-1) for k in ("t", "tm1", "tp1")], axis=0)


# --- tests -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["gf", "strict"])
def test_output_equals_numpy_pixel_for_pixel(models, scene, tmp_path, kind):
    """Small tiles, a padding, transition 0: the app's output is the model's output where it offers one, with
    the clear pixels of t kept; nodata where the model gives nodata or no date has data."""
    paths, arrays = scene
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", params(models[kind], paths, out, encoding="float", padding=16, tile=32,
                                         transition=0))
    assert run.returncode == 0, run.output
    assert "completes the holes" in run.output
    got = read_array(out)
    estimate = numpy_model(arrays["t"], arrays["tm1"], arrays["tp1"], arrays["cloud"],
                           fill_from_t=kind == "gf")
    assert not (estimate == 12345).any()
    hole = (estimate == NODATA).all(axis=-1) | no_date_has_data(arrays)
    expected = np.where(hole[:, :, None], np.float32(NODATA), estimate)
    assert got.shape == expected.shape == (ROWS, COLS, 4)
    assert np.array_equal(got, expected)
    clear = (arrays["cloud"] == 0) & (arrays["t"] != NODATA).all(axis=-1)
    assert np.array_equal(got[clear], arrays["t"][clear].astype(np.float32))  # clear pixels of t kept
    if kind == "strict":  # cloudy pixels where neither t-1 nor t+1 has data: nodata although t has data
        lost = (arrays["cloud"] == 1) & (arrays["tm1"] == NODATA).all(-1) & (arrays["tp1"] == NODATA).all(-1)
        lost &= ~no_date_has_data(arrays)
        assert lost.sum() > 5 and (got[lost] == NODATA).all()


def test_holes_nodata_exactly_where_no_date_has_data(models, scene, tmp_path):
    """Defaults (int16, padding 16, closing 2, transition 10): nodata exactly on the all-nodata stripe, no
    erosion by the padding nor closing around it or around the scattered holes."""
    paths, arrays = scene
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", params(models["gf"], paths, out))
    assert run.returncode == 0, run.output
    got = read_array(out)
    nodata = (got == NODATA).all(axis=-1)
    assert not ((got == NODATA).any(axis=-1) & ~nodata).any()
    assert np.array_equal(nodata, no_date_has_data(arrays))
    assert nodata[:, 60:64].all() and nodata.sum() < ROWS * 4 + 10  # the stripe, and a few lone pixels
    estimate = numpy_model(arrays["t"], arrays["tm1"], arrays["tp1"], arrays["cloud"], fill_from_t=True)
    rounded = np.clip(np.floor(estimate.astype(np.float64) + 0.5), NODATA + 1, 32767)
    # Far from clouds the transition does not blend: the output is the model's, rounded half up.
    assert np.array_equal(got[~nodata & (arrays["cloud"] == 0)], rounded[~nodata & (arrays["cloud"] == 0)])
    assert np.array_equal(got[~nodata & (arrays["cloud"] == 1)], rounded[~nodata & (arrays["cloud"] == 1)])


# The same toy without "holes": "model" (fed completed inputs, fallbacks per pixel): test_holes.py.


# One rule (one FATAL line naming the parameter at fault, nothing written): the fast lane runs a missing mask (its
# own extra checks) and a bad card (bad_holes); the full suite all five cases.
@pytest.mark.parametrize("case", fast_and_slow(["missing", "bands", "crs", "pixel_size", "bad_holes"],
                                               ["missing", "bad_holes"]))
def test_bad_mask_or_card(models, scene, tmp_path, case):
    """One FATAL line naming the parameter at fault, non-zero exit, nothing written."""
    paths, _ = scene
    out = tmp_path / "out.tif"
    p = params(models["gf"], paths, out)
    cloud = read_array(paths["mask"])
    expect = "mask"
    if case == "missing":
        del p["mask"]
    elif case == "bands":
        p["mask"] = write_geotiff(tmp_path / "m.tif", np.dstack([cloud, cloud]), origin=ORIGIN,
                                  spacing=(10.0, -10.0))
    elif case == "crs":
        p["mask"] = write_geotiff(tmp_path / "m.tif", cloud, origin=ORIGIN, spacing=(10.0, -10.0), epsg=32631)
    elif case == "pixel_size":
        p["mask"] = write_geotiff(tmp_path / "m.tif", cloud, origin=ORIGIN, spacing=(20.0, -20.0))
    elif case == "bad_holes":
        model = tmp_path / "bad"
        shutil.copytree(models["gf"], model)
        card = json.loads((model / "card.json").read_text())
        card["holes"] = "inputs"
        (model / "card.json").write_text(json.dumps(card))
        p["model"] = model
        expect = "holes"
    run = run_app("DecloudInfer", p)
    assert run.returncode != 0
    assert not out.exists()
    fatal = run.fatal_lines()
    assert len(fatal) == 1, run.output
    assert expect in fatal[0], fatal
    if case == "missing":
        assert "missing inputs" in fatal[0] and "): mask (the cloud mask of s2.t" in fatal[0]
        assert not any(k in fatal[0] for k in ("s2.tm1", "s2.tp1", "date."))  # only what is missing

"""The network registry: every variant builds, parameter counts at Decloud's widths, export and the app."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_serve, write_image
from decloud import raster
from decloud.errors import DecloudInputError, DecloudKeyError
from decloud.networks import MODELS, get_model


@pytest.mark.parametrize("name, options, expected", [
    ("ssop_unet", {}, 16_652_164),          # 16.65 M with DEM (paper)
    ("msop_unet", {}, 29_272_452),          # 29.27 M with DEM (paper)
    ("ssop_mer", {}, 18_905_860),           # 18.9 M (Meraner et al. 2020)
])
def test_parameter_counts_at_decloud_widths(name, options, expected):
    assert get_model(name, **options).count_params() == expected


@pytest.mark.parametrize("name, options", [
    ("gapfilling", {}),
    ("ssop_mer", {"blocks": 2, "width": 16}),
    ("ssop_mer", {"with_sar": False, "blocks": 1, "width": 8}),
    ("ssop_unet", {"width": 0.125}),
    ("ssop_unet", {"width": 0.125, "with_sar": False, "with_dem": False}),
    ("ssop_unet", {"width": 0.125, "with_20m": True}),
    ("msop_unet", {"width": 0.125}),
    ("msop_unet", {"width": 0.125, "with_sar": False, "with_dem": False}),
])
def test_every_variant_runs(name, options):
    model = get_model(name, **options)
    rng = np.random.default_rng(0)
    feed = {}
    for tensor in model.inputs:
        key = tensor.name.split(":")[0]
        if "timestamp" in key:
            feed[key] = np.array([0.0 if "tm1" in key else 5.0 if key.endswith("_t") else 10.0])
        else:
            size = 128 if key in ("dem",) or "20m" in key else 256
            feed[key] = rng.uniform(0, 3000, (1, size, size, tensor.shape[-1])).astype("float32")
    out = model(feed)
    assert tuple(out["s2_target"].shape) == (1, 256, 256, 4)
    if name != "gapfilling":
        assert tuple(out["s2_target_crop16"].shape) == (1, 224, 224, 4)
    if options.get("with_20m"):
        assert tuple(out["s2_20m_target"].shape) == (1, 128, 128, 6)
        assert tuple(out["s2_20m_target_crop64"].shape) == (1, 64, 64, 6)


def test_unknown_model_lists_the_valid_names():
    from decloud.original_families import ORIGINAL_FAMILIES  # noqa: PLC0415

    ours = {"gapfilling", "ssop_mer", "ssop_unet", "msop_unet", "gfnet", "synthnet"}
    assert set(MODELS) == ours | set(ORIGINAL_FAMILIES)
    with pytest.raises(DecloudKeyError) as raised:
        get_model("resnet")
    # one line, unquoted (KeyError's own str() would quote it), an input error of Decloud's and still a KeyError
    assert str(raised.value) == f"unknown model 'resnet'; valid names: {', '.join(sorted(MODELS))}"
    assert "gapfilling, gfnet, meraner_original" in str(raised.value)
    assert isinstance(raised.value, DecloudInputError) and isinstance(raised.value, KeyError)


def test_gapfilling_is_linear_in_time_and_skips_nodata():
    model = get_model("gapfilling")
    before = np.full((1, 2, 2, 4), 1000.0, "float32")
    after = np.full((1, 2, 2, 4), 3000.0, "float32")
    before[0, 0, 0] = -10000  # nodata before: the after value
    after[0, 1, 1] = -10000   # nodata after: the before value
    out = model({"s2_tm1": before, "s2_tp1": after, "s2_timestamp_tm1": np.array([0.0]),
                 "s2_timestamp_t": np.array([2.0 * 86400]), "s2_timestamp_tp1": np.array([8.0 * 86400])})
    y = np.asarray(out["s2_target"])
    assert y[0, 0, 1, 0] == pytest.approx(1500.0) and y[0, 0, 0, 0] == 3000 and y[0, 1, 1, 0] == 1000


def test_export_reload_and_tensorflow_model_serve(tmp_path):
    """A small SSOP U-Net (S2 at 10 m + DEM at 20 m) exported, reloaded, and run by the app: same outputs."""
    import tensorflow as tf  # noqa: PLC0415

    model = get_model("ssop_unet", width=0.125, with_sar=False, with_dem=True)
    model.export(str(tmp_path / "m"), verbose=False)
    rng = np.random.default_rng(1)
    s2 = rng.uniform(0, 3000, (256, 256, 4)).astype("float32")
    dem = rng.uniform(0, 2000, (128, 128, 1)).astype("float32")
    reference = np.asarray(model({"s2_t": s2[None], "dem": dem[None]})["s2_target"])[0]
    reloaded = tf.saved_model.load(str(tmp_path / "m")).signatures["serving_default"]
    np.testing.assert_allclose(reloaded(s2_t=tf.constant(s2[None]), dem=tf.constant(dem[None]))["s2_target"][0],
                               reference, rtol=1e-5, atol=1e-2)
    out = tmp_path / "out.tif"
    run = run_serve({"source1.il": write_image(tmp_path / "s2.tif", s2), "source1.rfieldx": 256,
                     "source1.rfieldy": 256, "source1.placeholder": "s2_t",
                     "source2.il": write_image(tmp_path / "dem.tif", dem, spacing=20.0), "source2.rfieldx": 128,
                     "source2.rfieldy": 128, "source2.placeholder": "dem", "model.dir": tmp_path / "m",
                     "model.fullyconv": 1, "output.names": "s2_target", "output.efieldx": 256,
                     "output.efieldy": 256, "out": out}, n_sources=2)
    assert run.returncode == 0, run.output
    np.testing.assert_allclose(raster.read_array(out), reference, rtol=1e-4, atol=0.5)


def test_exported_card_matches_the_signature(tmp_path):
    import tensorflow as tf  # noqa: PLC0415
    from decloud.card import export_model, read_card  # noqa: PLC0415

    model = get_model("msop_unet", width=0.125, with_sar=True, with_dem=True)
    export_model(model, tmp_path / "msop", network="msop_unet", training={"dataset": "test"})
    card = read_card(tmp_path / "msop")
    signature = tf.saved_model.load(str(tmp_path / "msop")).signatures["serving_default"]
    assert set(card["inputs"]) == set(signature.structured_input_signature[1])
    assert set(card["outputs"]) == set(signature.structured_outputs)
    assert card["inputs"]["s1_tm1"]["bands"] == ["VV", "VH"] and card["inputs"]["dem"]["scale"] == 2
    assert {"output": "s2_target_crop32", "crop": 32} in card["padding"]
    assert card["spatial_multiple"] == 32
    (tmp_path / "msop" / "card.json").write_text("{")
    with pytest.raises(Exception, match="not valid JSON"):
        read_card(tmp_path / "msop")


def test_shipped_cards_give_their_networks_own_spatial_multiple():
    """A card's ``spatial_multiple`` is the size its network computes on without padding inside its graph
    (``decloud.networks.spatial_multiple``): gfnet pads to 32 x scale, so at scale 2 (every shipped gfnet) tiles
    of 64; a card with 32 had the app cut 480-px tiles that the graph computed as 576 (a quarter more pixels)."""
    import json  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from decloud.networks import spatial_multiple  # noqa: PLC0415

    assert spatial_multiple("gfnet") == spatial_multiple("gfnet", {"scale": 2}) == 64
    assert spatial_multiple("gfnet", {"scale": 1}) == 32 and spatial_multiple("msop_unet", {}) == 32
    cards = [json.loads(p.read_text()) for p in (Path(__file__).resolve().parents[2] / "models").glob("*/card.json")]
    gfnets = [c for c in cards if c.get("network") == "gfnet"]
    assert gfnets, "no shipped gfnet card under models/"
    for card in gfnets:
        options = card["training"]["options"]
        assert card["spatial_multiple"] == spatial_multiple("gfnet", options), card["name"]


# One rule (an exported family through the app equals Keras): the fast lane runs several sources with a SAR one
# (ssop_mer) and the dates as user placeholders (gapfilling); msop_unet's three S2 sources are slow (about 7 s):
# msop-bolzano-west, an msop_unet, runs through DecloudInfer's engine in the fast lane (test_decloud_infer.py).
@pytest.mark.parametrize("name, options, sources, extra", [
    pytest.param("msop_unet", {"width": 0.125, "with_sar": False, "with_dem": False}, ["s2_tm1", "s2_t", "s2_tp1"],
                 {}, marks=pytest.mark.slow),
    ("ssop_mer", {"blocks": 1, "width": 8}, ["s2_t", "s1_t"], {}),
    ("gapfilling", {}, ["s2_tm1", "s2_tp1"],
     {"s2_timestamp_tm1": 1654041600.0, "s2_timestamp_t": 1654214400.0, "s2_timestamp_tp1": 1654905600.0}),
])
def test_every_family_through_tensorflow_model_serve(tmp_path, name, options, sources, extra):
    """Exported families (several sources; the gap-filling's dates as OTBTF user placeholders) through the app."""
    model = get_model(name, **options)
    model.export(str(tmp_path / "m"), verbose=False)
    rng = np.random.default_rng(2)
    arrays = {k: rng.uniform(0, 3000, (256, 256, 2 if k.startswith("s1") else 4)).astype("float32") for k in sources}
    feed = {k: v[None] for k, v in arrays.items()}
    feed.update({k: np.array([v], "float32") for k, v in extra.items()})
    reference = np.asarray(model(feed)["s2_target"])[0]
    params = {"model.dir": tmp_path / "m", "model.fullyconv": 1, "output.names": "s2_target", "output.efieldx": 256,
              "output.efieldy": 256, "out": tmp_path / "out.tif"}
    for i, key in enumerate(sources, start=1):
        params.update({f"source{i}.il": write_image(tmp_path / f"{key}.tif", arrays[key]), f"source{i}.rfieldx": 256,
                       f"source{i}.rfieldy": 256, f"source{i}.placeholder": key})
    if extra:
        params["model.userplaceholders"] = [f"{k}={v!r}" for k, v in extra.items()]
    run = run_serve(params, n_sources=len(sources))
    assert run.returncode == 0, run.output
    np.testing.assert_allclose(raster.read_array(tmp_path / "out.tif"), reference, rtol=1e-4, atol=0.5)

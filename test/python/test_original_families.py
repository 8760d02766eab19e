"""The original Decloud's families rebuilt in decloud.original_families: their parameter counts against the original's
definitions (worked out by hand below), their signatures against decloud.import_model.FAMILIES, and each family
that DecloudInfer can run through decloud import-model and DecloudInfer (output shape, scale x 10000, 20 m
output, nodata); the others refused by import-model in one line naming what DecloudInfer lacks; decloud train
refusing them all (no s2_target output)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ORIGIN, fast_and_slow, run_app
from decloud.cli import main as cli_main
from decloud.errors import DecloudError
from decloud.import_model import (
    BANDS_20M_ORIGINAL,
    FAMILIES,
    PADS,
    REFUSED,
    SYNTHESIS,
    estimates,
    import_model,
    input_bands,
    padded,
)
from decloud.infer import ROLE_KEYS
from decloud.original_families import ORIGINAL_FAMILIES
from decloud.raster import read_array, write_geotiff

# Parameter counts of the original's definitions (its decloud/models/*.py at their widths), by hand. A k x k
# convolution from c to n channels has k*k*c*n + n parameters (a transposed one too). Inputs: S1 2 bands, S2 4,
# 20 m 6, DEM 1; S1 + S2 of a date: 6.
#
# Shared U-Net encoder (per date, shared weights): conv1 5x5 6->64: 9,664; conv1_dem 3x3 1->64: 640; conv2 3x3
# 64->128 s2: 73,856; conv4 3x3 256->512: 1,180,160; conv5, conv6 3x3 512->512: 2,359,808 each.
#
# crga_os2_unet (3 dates): conv3 3x3 (128 + 64 DEM = 192)->256: 442,624. Decoder on the 3 dates' features:
#   deconv1 3*512=1536->512: 7,078,400; deconv2 (3*512 + 512 = 2048)->512: 9,437,696; deconv3 2048->256: 4,718,848;
#   deconv4 (3*256 + 256 = 1024)->128: 1,179,776; deconv5 (3*192 + 128 = 704)->64: 405,568;
#   s2_estim 5x5 (3*64 + 64 = 256)->4: 25,604.
#   9,664 + 640 + 73,856 + 442,624 + 1,180,160 + 2 * 2,359,808 + 7,078,400 + 9,437,696 + 4,718,848 + 1,179,776
#   + 405,568 + 25,604 = 29,272,452 (our msop_unet has the same count)
# crga_os1_unet: crga_os2_unet + conv1_s1 5x5 2->64 (S1 alone at t: 3,264) = 29,275,716;
#   crga_os1_unet_impostor is the same network (input s1_target for s1_t): 29,275,716
# meraner_unet (1 date): encoder as above, conv3 442,624; deconv1 512->512: 2,359,808; deconv2 1024->512:
#   4,719,104; deconv3 1024->256: 2,359,552; deconv4 512->128: 589,952; deconv5 (192 + 128 = 320)->64: 184,384;
#   s2_estim 5x5 128->4: 12,804. Total 16,652,164 (our ssop_unet has the same count)
# meraner_original: conv1 3x3 6->256: 14,080; 16 blocks of two 3x3 256->256: 16 * 2 * 590,080 = 18,882,560; conv2
#   3x3 256->4: 9,220. Total 18,905,860 (our ssop_mer has the same count)
# crga_os2_david: conv1 9,664; conv1_dem 640; conv2 73,856; conv3 192->256: 442,624; deconv1 3*256=768->128:
#   884,864; deconv2 128->64: 73,792; s2_estim 5x5 64->4: 6,404. Total 1,491,844
# All bands: conv1_20m 3x3 6->64: 3,520; s2_20m_estim 3x3 64->6: 3,462.
# crga_os2_unet_all_bands: conv1 9,664; conv1_20m 3,520; conv1_dem 640; conv2 73,856; conv2_20m 3x3 64->128 (at
#   20 m, stride 1): 73,856; conv3 (128 + 128 + 64 = 320)->256: 737,536; conv4 1,180,160; conv5, conv6 2,359,808
#   each; deconv1 7,078,400; deconv2 9,437,696; deconv3 4,718,848; deconv4 1,179,776; deconv5_20m (stride 1) and
#   deconv5, each (3*320 + 128 = 1088)->64: 626,752; s2_20m_estim 3,462; s2_estim 256->4: 25,604.
#   Total 30,496,138
# crga_os1_unet_all_bands: conv1_s1 3,264; conv1_s1s2 9,664; conv1_dem 640; conv1_20m 3,520; conv2 73,856;
#   conv2_20m after the join, (128 + 64 + 64 = 256)->128: 295,040; conv3 128->256: 295,168 (S1 at t joins
#   nothing: 128 channels for every date); conv4 1,180,160; conv5, conv6 2,359,808 each; deconv1 7,078,400;
#   deconv2 9,437,696; deconv3 4,718,848; deconv4 1,179,776; deconv5_20m and deconv5 (3*128 + 128 = 512)->64:
#   294,976 each; s2_20m_estim 3,462; s2_estim 25,604. Total 29,614,666
# crga_os2_david_all_bands: conv1 9,664; conv1_20m 3,520; conv1_dem 640; conv2 73,856; conv2_20m 73,856; conv3
#   320->256: 737,536; deconv1 768->128: 884,864; deconv2 128->64: 73,792; deconv2_20m (stride 1) 128->64: 73,792;
#   s2_estim 6,404; s2_20m_estim 3,462. Total 1,941,386
# meraner_unet_all_bands: conv1 9,664; conv1_20m 3,520; conv1_dem 640; conv2 73,856; conv2_20m 73,856; conv3
#   320->256: 737,536; conv4 1,180,160; conv5, conv6 2,359,808 each; deconv1 2,359,808; deconv2 4,719,104; deconv3
#   2,359,552; deconv4 589,952; deconv5_20m and deconv5 (320 + 128 = 448)->64: 258,112 each; s2_20m_estim 3,462;
#   s2_estim 128->4: 12,804. Total 17,359,754
# crga_os1_gapfilling, crga_os2_gapfilling: no weights, 0.
# Monthly syntheses (6 dates; the decoder takes every stream's features at each level, plus the upsampled ones):
# monthly_synthesis_6_s2_images (6 S2 streams, no DEM): conv1 5x5 4->64: 6,464; conv2 73,856; conv3 128->256:
#   295,168; conv4 1,180,160; conv5, conv6 2,359,808 each; deconv1 6*512=3072->512: 14,156,288; deconv2
#   (6*512 + 512 = 3584)->512: 16,515,584; deconv3 3584->256: 8,257,792; deconv4 (6*256 + 256 = 1792)->128:
#   2,064,512; deconv5 (6*128 + 128 = 896)->64: 516,160; s2_estim 5x5 (6*64 + 64 = 448)->4: 44,804.
#   Total 47,830,404
# monthly_synthesis_6_s2s1_images (6 S2 + 6 S1 streams, the DEM itself (1 channel) joined after conv2):
#   conv1_s2 6,464; conv1_s1 5x5 2->64: 3,264; conv2_s2, conv2_s1 73,856 each; conv3 (128 + 1 = 129)->256:
#   297,472; conv4 1,180,160; conv5, conv6 2,359,808 each; deconv1 12*512=6144->512: 28,312,064; deconv2
#   (6144 + 512 = 6656)->512: 30,671,360; deconv3 6656->256: 15,335,680; deconv4 (12*256 + 256 = 3328)->128:
#   3,833,984; deconv5 (12*129 + 128 = 1676)->64: 965,440; s2_estim 5x5 (12*64 + 64 = 832)->4: 83,204.
#   Total 85,556,420
# monthly_synthesis_6_s2_images_david: conv1_s2 6,464; conv2 73,856; conv3 128->256: 295,168; deconv1
#   6*256=1536->128: 1,769,600; deconv2 73,792; s2_estim 6,404. Total 2,225,284
# monthly_synthesis_6_s2s1_images_david: conv1_s2 6,464; conv1_s1 3,264; conv1_dem 640; conv2 73,856; conv3
#   (128 + 64 = 192)->256: 442,624; deconv1 12*256=3072->128: 3,539,072; deconv2 73,792; s2_estim 6,404.
#   Total 4,146,116
ORIGINAL_COUNTS = {
    "crga_os2_unet": 29_272_452,
    "crga_os1_unet": 29_275_716,
    "crga_os1_unet_impostor": 29_275_716,
    "meraner_unet": 16_652_164,
    "meraner_original": 18_905_860,
    "crga_os2_david": 1_491_844,
    "crga_os2_unet_all_bands": 30_496_138,
    "crga_os1_unet_all_bands": 29_614_666,
    "crga_os2_david_all_bands": 1_941_386,
    "meraner_unet_all_bands": 17_359_754,
    "crga_os1_gapfilling": 0,
    "crga_os2_gapfilling": 0,
    "monthly_synthesis_6_s2_images": 47_830_404,
    "monthly_synthesis_6_s2s1_images": 85_556_420,
    "monthly_synthesis_6_s2_images_david": 2_225_284,
    "monthly_synthesis_6_s2s1_images_david": 4_146_116,
}


def _c(k: int, c: int, n: int) -> int:
    """Parameters of a k x k convolution (or transposed convolution) from c to n channels."""
    return k * k * c * n + n


# The syntheses' counts above, term by term.
ARITHMETIC = {
    "monthly_synthesis_6_s2_images": _c(5, 4, 64) + _c(3, 64, 128) + _c(3, 128, 256) + _c(3, 256, 512)
    + 2 * _c(3, 512, 512) + _c(3, 6 * 512, 512) + _c(3, 7 * 512, 512) + _c(3, 7 * 512, 256) + _c(3, 7 * 256, 128)
    + _c(3, 7 * 128, 64) + _c(5, 7 * 64, 4),
    "monthly_synthesis_6_s2s1_images": _c(5, 4, 64) + _c(5, 2, 64) + 2 * _c(3, 64, 128) + _c(3, 129, 256)
    + _c(3, 256, 512) + 2 * _c(3, 512, 512) + _c(3, 12 * 512, 512) + _c(3, 13 * 512, 512) + _c(3, 13 * 512, 256)
    + _c(3, 13 * 256, 128) + _c(3, 12 * 129 + 128, 64) + _c(5, 13 * 64, 4),
    "monthly_synthesis_6_s2_images_david": _c(5, 4, 64) + _c(3, 64, 128) + _c(3, 128, 256) + _c(3, 6 * 256, 128)
    + _c(3, 128, 64) + _c(5, 64, 4),
    "monthly_synthesis_6_s2s1_images_david": _c(5, 4, 64) + _c(5, 2, 64) + _c(3, 1, 64) + _c(3, 64, 128)
    + _c(3, 192, 256) + _c(3, 12 * 256, 128) + _c(3, 128, 64) + _c(5, 64, 4),
}
SMALL = {"meraner_original": {"blocks": 2, "width": 8}, "crga_os1_gapfilling": {}, "crga_os2_gapfilling": {}}
ROWS, COLS = 128, 192
NODATA = -10000
# Run end to end here: the families of one date t (the syntheses: test_synthesis_model.py).
IMPORTABLE = sorted(set(ORIGINAL_FAMILIES) - set(REFUSED) - set(SYNTHESIS))


def small(family: str):
    """The family at reduced widths (the original's signature, few parameters)."""
    return ORIGINAL_FAMILIES[family](**SMALL.get(family, {"width": 0.125}))


def test_every_family_is_built():
    assert set(ORIGINAL_COUNTS) == set(ORIGINAL_FAMILIES) == set(FAMILIES)
    assert sorted(SYNTHESIS) == sorted(f for f in FAMILIES if f.startswith("monthly_synthesis_"))
    assert set(SYNTHESIS.values()) == {6} and not set(SYNTHESIS) & set(REFUSED)


def test_the_hand_counts_of_the_syntheses_are_their_arithmetic():
    assert {k: ORIGINAL_COUNTS[k] for k in ARITHMETIC} == ARITHMETIC
    assert IMPORTABLE == ["crga_os1_unet", "crga_os1_unet_all_bands", "crga_os1_unet_impostor", "crga_os2_david",
                          "crga_os2_david_all_bands", "crga_os2_unet", "crga_os2_unet_all_bands", "meraner_original",
                          "meraner_unet", "meraner_unet_all_bands"]


def test_registered_in_the_network_registry():
    from decloud.networks import MODELS, get_model  # noqa: PLC0415

    assert all(MODELS[name] is builder for name, builder in ORIGINAL_FAMILIES.items())
    assert get_model("crga_os1_unet", width=0.125).name == "crga_os1_unet"


# Full-width builds (up to 30 M parameters), one check: the fast lane runs the most composite U-Net (S1, 20 m bands
# before the fusion: crga_os1_unet_all_bands) and the residual Meraner network (meraner_original); every family is
# built in the fast lane at a reduced width (test_signature_outputs_and_scales_are_the_originals). The full suite
# runs all twelve counts.
@pytest.mark.parametrize("family", fast_and_slow(sorted(ORIGINAL_COUNTS), ["crga_os1_unet_all_bands",
                                                                           "meraner_original"]))
def test_parameter_counts_are_the_originals(family):
    assert ORIGINAL_FAMILIES[family]().count_params() == ORIGINAL_COUNTS[family]


def feeds(family: str, rows: int = 64, cols: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs in the stored encodings: S2 x 10000, S1 uint16 stretch, DEM metres (20 m: half the rows and cols),
    timestamps in seconds (t-1 10 days before t, t+1 5 days after)."""
    rng = np.random.default_rng(seed)
    out = {}
    for key in FAMILIES[family].inputs:
        bands = input_bands(key)
        if bands == 0:
            day = -10 if key.endswith("tm1") else 5 if key.endswith("tp1") else 0
            out[key] = np.array([1.6e9 + day * 86400.0], np.float32)
            continue
        twenty = key == "dem" or key.startswith("s2_20m")
        shape = (1, rows // 2 if twenty else rows, cols // 2 if twenty else cols, bands)
        high = 65535 if key.startswith("s1") else 3000 if key == "dem" else 6000
        out[key] = rng.uniform(1, high, shape).astype(np.float32)
    return out


@pytest.mark.parametrize("family", sorted(ORIGINAL_FAMILIES))
def test_signature_outputs_and_scales_are_the_originals(family):
    """Input names and bands as the family's in import_model; outputs: each estimate at 0-1 and its padded versions,
    the estimate x 10000 cropped by N pixels of its own grid (20 m pixels for s2_20m_estim)."""
    model = small(family)
    spec = FAMILIES[family]
    assert {t.name.split(":")[0]: (t.shape[-1] if len(t.shape) == 4 else 0) for t in model.inputs} == {
        k: input_bands(k) for k in spec.inputs}
    names = estimates(family)
    assert set(model.output) == {padded(n, p) for n in names for p in PADS} | set(names)
    scales = {"s2_20m_estim": (6, 2), "s2_all_bands_estim": (10, 1)}
    size = 320
    fits = list(names) + [padded(n, p) for n in names for p in PADS if 2 * p < size // scales.get(n, (4, 1))[1]]
    for name in names:  # the pads that do not fit a small input: checked on the layer
        for p in PADS:
            assert model.get_layer(padded(name, p)).cropping == ((p, p), (p, p))
    import keras  # noqa: PLC0415

    x = feeds(family, size, size)
    out = {k: np.asarray(v) for k, v in keras.Model(model.inputs, {k: model.output[k] for k in fits})(x).items()}
    for name in names:
        bands, scale = scales.get(name, (4, 1))
        estim = out[name]
        assert estim.shape == (1, size // scale, size // scale, bands)
        for p in PADS:  # N pixels of the estimate's own grid
            if padded(name, p) in out:
                np.testing.assert_allclose(out[padded(name, p)], 10000.0 * estim[:, p:-p, p:-p], rtol=1e-5, atol=1e-3)
    if spec.with_20m:  # the 10-band stack: the 10 m bands, then the 20 m ones repeated x 2
        stack = out["s2_all_bands_estim"]
        np.testing.assert_array_equal(stack[..., :4], out[names[0]])
        np.testing.assert_array_equal(stack[..., 4:], out["s2_20m_estim"].repeat(2, 1).repeat(2, 2))
    if family.endswith("gapfilling"):  # t is 10/15 of the way from t-1 to t+1
        expected = (x["s2_tm1"] + (x["s2_tp1"] - x["s2_tm1"]) * 10 / 15) * 1e-4
        np.testing.assert_allclose(out[names[0]], expected, rtol=1e-3, atol=1e-3)


def scene(d: Path, family: str, holes: bool) -> tuple[dict[str, Path], dict[str, np.ndarray]]:
    """The family's inputs as prepared-like GeoTIFFs (S2 int16 nodata -10000, S1 uint16 nodata 0, DEM and 20 m
    bands on the 20 m grid; 20 m bands described in the original's order). ``holes``: S2 at t has no data in a
    top-left block, no S2 date has data in a bottom-right block."""
    from osgeo import gdal  # noqa: PLC0415

    rng = np.random.default_rng(7)
    arrays: dict[str, np.ndarray] = {}
    paths = {}
    for key in FAMILIES[family].inputs:
        twenty = key == "dem" or key.startswith("s2_20m")
        rows, cols = (ROWS // 2, COLS // 2) if twenty else (ROWS, COLS)
        if key.startswith("s1"):
            a = rng.integers(20000, 45000, (rows, cols, 2)).astype(np.uint16)
            nodata = 0
        elif key == "dem":
            a = rng.normal(800, 50, (rows, cols, 1)).astype(np.int16)
            nodata = -32768
        else:
            a = rng.integers(200, 5000, (rows, cols, input_bands(key))).astype(np.int16)
            nodata = NODATA
            f = 2 if twenty else 1
            if holes and key.startswith("s2"):
                if key in ("s2_t", "s2_20m_t"):
                    a[: 20 // f, : 24 // f] = NODATA
                a[-16 // f:, -20 // f:] = NODATA
        arrays[key] = a
        spacing = 20.0 if twenty else 10.0
        paths[key] = write_geotiff(d / f"{key}.tif", a, origin=ORIGIN, spacing=(spacing, -spacing), nodata=nodata)
        if key.startswith("s2_20m"):
            ds = gdal.Open(str(paths[key]), gdal.GA_Update)
            for b, name in enumerate(BANDS_20M_ORIGINAL, start=1):
                ds.GetRasterBand(b).SetDescription(name)
            ds = None
    return paths, arrays


def app_inputs(card: dict, paths: dict[str, Path]) -> dict[str, Path]:
    """DecloudInfer's parameters for the scene's inputs (by the model's input names): each input's card role, its
    parameter (decloud.infer's table, the app's)."""
    return {ROLE_KEYS[card["inputs"][name].get("role", name)]: path for name, path in paths.items()}


def direct(model_dir: Path, arrays: dict[str, np.ndarray], pad: int) -> dict[str, np.ndarray]:
    """The SavedModel called in Python on the whole scene, its inputs mirrored by ``pad`` pixels (pad / 2 at 20 m)."""
    import tensorflow as tf  # noqa: PLC0415

    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    x = {}
    for k, a in arrays.items():
        p = pad // 2 if k == "dem" or k.startswith("s2_20m") else pad
        x[k] = tf.constant(np.pad(a, ((p, p), (p, p), (0, 0)), mode="reflect")[None].astype(np.float32))
    return {k: v.numpy()[0] for k, v in fn(**x).items()}


@pytest.mark.slow
@pytest.mark.parametrize("family", IMPORTABLE)
def test_through_import_model_and_decloud_infer(family, tmp_path):
    """Each family DecloudInfer can run: a small SavedModel with the original's signature, imported, run on a scene:
    its output is the original's estimate x 10000 (the padded output's scale) on the scene's grid, and nodata
    exactly where no S2 date has data (holes of t alone are completed from t-1 and t+1 when the family has them)."""
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(1)
    original = tmp_path / "original"
    small(family).export(str(original), verbose=False)
    imported = import_model(original, family, tmp_path / "imported")
    card = json.loads((imported / "card.json").read_text())
    assert card["network"] == f"original:{family}" and set(card["inputs"]) == set(FAMILIES[family].inputs)
    base = estimates(family)[0]
    assert card["outputs"]["s2_target_crop64"]["tensor"] == padded(base, 64)
    assert {k: v["role"] for k, v in card["inputs"].items()} == {
        k: "s1_t" if k == "s1_target" else k for k in FAMILIES[family].inputs}
    with_20m = FAMILIES[family].with_20m
    if with_20m:
        assert card["outputs"]["s2_20m_target_crop64"]["tensor"] == "s2_20m_estim_pad32"
        assert card["outputs"]["s2_20m_target_crop64"]["bands"] == list(BANDS_20M_ORIGINAL)
        twenty = [k for k in card["inputs"] if k.startswith("s2_20m")]
        assert twenty and all(card["inputs"][k]["bands"] == list(BANDS_20M_ORIGINAL) for k in twenty)

    for holes in (False, True):
        d = tmp_path / ("holes" if holes else "clear")
        d.mkdir()
        paths, arrays = scene(d, family, holes)
        out, out20 = d / "out.tif", d / "out20.tif"
        params = {"model": imported, "out": out, "encoding": "float", "padding": 64, "closing": 0,
                  **app_inputs(card, paths)}
        run = run_app("DecloudInfer", {**params, **({"out20m": out20} if with_20m else {})})
        assert run.returncode == 0, run.output
        got = read_array(out)
        assert got.shape == (ROWS, COLS, 4)
        if not holes:
            # the 0-1 estimate, computed here, x 10000: DecloudInfer ran s2_estim_pad64 at its scale
            expected = direct(original, arrays, 64)
            m = 16  # the borders, where the engine's boundary padding and the mirror above differ
            estim = 10000.0 * expected[base][64:-64, 64:-64]
            np.testing.assert_allclose(got[m:-m, m:-m], estim[m:-m, m:-m], rtol=1e-4, atol=0.05)
            assert np.abs(got).max() > 1  # x 10000, not the 0-1 estimate
            if with_20m:
                got20 = read_array(out20)
                assert got20.shape == (ROWS // 2, COLS // 2, 6)
                estim20 = 10000.0 * expected["s2_20m_estim"][32:-32, 32:-32]
                np.testing.assert_allclose(got20[8:-8, 8:-8], estim20[8:-8, 8:-8], rtol=1e-4, atol=0.05)
                from osgeo import gdal  # noqa: PLC0415

                ds = gdal.Open(str(out20))
                assert [ds.GetRasterBand(b).GetDescription() for b in range(1, 7)] == list(BANDS_20M_ORIGINAL)
        else:
            s2 = [a for k, a in arrays.items() if k in ("s2_t", "s2_tm1", "s2_tp1")]
            none = np.logical_and.reduce([(a == NODATA).all(-1) for a in s2])
            assert none.sum() >= 16 * 20  # and the block of t where t is the only S2 date
            np.testing.assert_array_equal((got == NODATA).all(-1), none)
            assert not np.isnan(got).any()
            if with_20m:
                got20 = read_array(out20)
                np.testing.assert_array_equal((got20 == NODATA).all(-1), none[::2, ::2])


@pytest.mark.slow
def test_20m_bands_in_our_order_are_refused(tmp_path):
    """meraner_unet_all_bands takes its 20 m bands in the original's order (B11 B12 B5 B6 B7 B8A): a 20 m stack
    described in ours (decloud prepare-s2's s2_20m.tif) is refused, naming both orders, before anything is written."""
    from osgeo import gdal  # noqa: PLC0415

    family = "meraner_unet_all_bands"
    small(family).export(str(tmp_path / "m"), verbose=False)
    model = import_model(tmp_path / "m", family)
    paths, _ = scene(tmp_path, family, False)
    ds = gdal.Open(str(paths["s2_20m_t"]), gdal.GA_Update)
    for b, name in enumerate(("B5", "B6", "B7", "B8A", "B11", "B12"), start=1):
        ds.GetRasterBand(b).SetDescription(name)
    ds = None
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", {"model": model, "out": out, **{ROLE_KEYS[r]: paths[r] for r in paths}})
    assert run.returncode != 0 and not out.exists()
    assert "s2r20.t" in run.fatal_lines()[0] and "B11 B12 B5 B6 B7 B8A" in run.fatal_lines()[0], run.output


@pytest.mark.parametrize("family", sorted(set(ORIGINAL_FAMILIES) & set(REFUSED)))
def test_families_decloud_infer_cannot_run_are_refused_in_one_line(family, tmp_path, capsys):
    """Their SavedModels (the original's signature) are refused by import-model, naming the roles DecloudInfer lacks."""
    model = tmp_path / "m"
    small(family).export(str(model), verbose=False)
    assert cli_main(["import-model", str(model), "--family", family]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"family {family} cannot run here yet" in err, err
    lacking = {"crga_os2_gapfilling": "s2_timestamp_target", "crga_os1_gapfilling": "DecloudGapFilling"}[family]
    assert lacking in err, err
    assert not (model / "card.json").exists()


def test_signature_check_of_the_20m_output(tmp_path, capsys):
    """An all-bands SavedModel without the padded versions of its 20 m estimate is refused in one line naming them."""
    import keras  # noqa: PLC0415

    full = small("meraner_unet_all_bands")
    partial = keras.Model(full.inputs, {k: v for k, v in full.output.items() if not k.startswith("s2_20m_estim_")})
    partial.export(str(tmp_path / "m"), verbose=False)
    assert cli_main(["import-model", str(tmp_path / "m"), "--family", "meraner_unet_all_bands"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no output s2_20m_estim_pad32, s2_20m_estim_pad64" in err, err


@pytest.mark.parametrize("family", sorted(ORIGINAL_FAMILIES))
def test_train_refuses_the_original_families(family, tmp_path):
    """decloud.train.train: a DecloudError naming the family and why, before anything is read or written."""
    from decloud.train import train  # noqa: PLC0415

    with pytest.raises(DecloudError, match=f"^{family} is one of the original Decloud's families.*no s2_target"):
        train(family, tmp_path / "no-dataset", tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_decloud_train_refuses_an_original_family_in_one_line(tmp_path, capsys):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "shapes_and_types.json").write_text("{}")
    assert cli_main(["train", "crga_os2_unet_all_bands", "--dataset", str(tmp_path / "ds"), "--out-dir",
                     str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert "crga_os2_unet_all_bands is one of the original Decloud's families" in err and "no s2_target" in err, err
    assert "msop_unet" in err and not (tmp_path / "run").exists(), err

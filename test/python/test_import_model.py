"""decloud import-model: SavedModels with the original Decloud's signatures (input and output names, bands, dtypes as
its Keras families give them; small random weights), imported, then run through DecloudInfer and compared with the
SavedModel called directly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ORIGIN, fast_and_slow, run_app
from decloud.cli import main as cli_main
from decloud.import_model import FAMILIES, import_model
from decloud.raster import read_array, write_geotiff

ROWS, COLS = 128, 192
BANDS = {"s2": 4, "s1": 2, "dem": 1}


def bands(role: str) -> int:
    return BANDS["dem" if role == "dem" else role[:2]]


def original_like_model(path: Path, inputs: tuple[str, ...], *, base: str = "s2_estim", seed: int = 0,
                        s2_bands: int = 4, pads=(32, 64, 128, 256), dtype: str = "float32") -> Path:
    """A SavedModel whose serving signature is the original's: float32 inputs named by dataset key (S2 4 bands,
    S1 2, DEM 1 on the 20 m grid), normalised inside (S2 / 10000, S1 / 65535, DEM x 0.0001), outputs `base` (0-1)
    and `base`_padN (x 10000, cropped by N pixels on each side). A 3 x 3 convolution at 10 m, one at 20 m (with
    the DEM when given) brought back to 10 m, a sigmoid."""
    import tensorflow as tf  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    ten = [k for k in inputs if k != "dem"]
    channels = sum(s2_bands if k.startswith("s2") else bands(k) for k in ten)
    k10 = tf.Variable(rng.normal(0, 0.5, (3, 3, channels, 8)).astype("float32"))
    k20 = tf.Variable(rng.normal(0, 0.5, (3, 3, 8 + ("dem" in inputs), 4)).astype("float32"))
    specs = [tf.TensorSpec([None, None, None, s2_bands if k.startswith("s2") else bands(k)], dtype, name=k)
             for k in inputs]

    def serve(*args):
        feed = dict(zip(inputs, args))
        norm = [tf.cast(feed[k], tf.float32) * (1e-4 if k.startswith("s2") else 1 / 65535) for k in ten]
        net = tf.nn.relu(tf.nn.conv2d(tf.concat(norm, -1), k10, 1, "SAME"))
        low = tf.nn.avg_pool2d(net, 2, 2, "VALID")
        if "dem" in inputs:
            low = tf.concat([low, 1e-4 * tf.cast(feed["dem"], tf.float32)], -1)
        low = tf.nn.conv2d(low, k20, 1, "SAME")
        estim = tf.sigmoid(tf.repeat(tf.repeat(low, 2, axis=1), 2, axis=2))
        out = {base: estim}
        for p in pads:
            out[f"{base}_pad{p}"] = 10000.0 * estim[:, p:-p, p:-p, :]
        return out

    module = tf.Module()
    module.k10, module.k20 = k10, k20
    module.serve = tf.function(serve, input_signature=specs)
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def scene(d: Path) -> tuple[dict[str, Path], dict[str, np.ndarray]]:
    """Prepared-like inputs: S2 int16 x 10000 (three dates), S1 uint16 (three dates), DEM int16 on the 20 m grid."""
    rng = np.random.default_rng(3)
    arrays: dict[str, np.ndarray] = {}
    for k in ("s2_t", "s2_tm1", "s2_tp1"):
        arrays[k] = rng.integers(100, 6000, (ROWS, COLS, 4)).astype(np.int16)
    for k in ("s1_t", "s1_tm1", "s1_tp1"):
        arrays[k] = rng.integers(1, 65535, (ROWS, COLS, 2)).astype(np.uint16)
    arrays["dem"] = rng.integers(0, 3000, (ROWS // 2, COLS // 2, 1)).astype(np.int16)
    paths = {}
    for k, a in arrays.items():
        nodata = -10000 if k.startswith("s2") else 0 if k.startswith("s1") else -32768
        spacing = 20.0 if k == "dem" else 10.0
        paths[k] = write_geotiff(d / f"{k}.tif", a, origin=ORIGIN, spacing=(spacing, -spacing), nodata=nodata)
    return paths, arrays


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return scene(tmp_path_factory.mktemp("scene"))


def direct(model_dir: Path, arrays: dict[str, np.ndarray], roles, pad: int, output: str) -> np.ndarray:
    """The SavedModel called in Python on the whole scene, its inputs mirrored by `pad` pixels (pad / 2 at 20 m)."""
    import tensorflow as tf  # noqa: PLC0415

    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    feeds = {}
    for k in roles:
        p = pad // 2 if k == "dem" else pad
        feeds[k] = tf.constant(np.pad(arrays[k], ((p, p), (p, p), (0, 0)), mode="reflect")[None].astype(np.float32))
    return fn(**feeds)[output].numpy()[0]


APP_KEYS = {"s2_t": "s2.t", "s2_tm1": "s2.tm1", "s2_tp1": "s2.tp1", "s1_t": "s1.t", "s1_tm1": "s1.tm1",
            "s1_tp1": "s1.tp1", "dem": "dem"}


# One rule (an original-like SavedModel imported and run by DecloudInfer equals it in Python): the fast lane runs a
# family with S1 roles (crga_os1_unet) and one whose estimate Keras names itself (meraner_original); meraner_unet
# runs in test_default_padding_and_card_in_place. The full suite runs all four.
@pytest.mark.parametrize("family", fast_and_slow(["crga_os2_unet", "crga_os1_unet", "meraner_unet", "meraner_original"],
                                                 ["crga_os1_unet", "meraner_original"]))
def test_import_and_run_through_decloud_infer(family, inputs, tmp_path):
    paths, arrays = inputs
    roles = FAMILIES[family].inputs
    base = "add_3" if family == "meraner_original" else "s2_estim"  # meraner_original: Keras names its last Add
    model = original_like_model(tmp_path / "original", roles, base=base)
    out_dir = import_model(model, family, tmp_path / "imported")
    card = json.loads((out_dir / "card.json").read_text())
    assert set(card["inputs"]) == set(roles)
    assert card["outputs"]["s2_target_crop64"]["tensor"] == f"{base}_pad64"
    assert sorted(p["crop"] for p in card["padding"]) == [32, 64, 128, 256]
    assert "s2_target" not in card["outputs"]  # the 0-1 estimate is not offered
    assert not (model / "card.json").exists()  # --out: the original folder is left as it was

    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", {"model": out_dir, "out": out, "encoding": "float", "padding": 64,
                                   **{APP_KEYS[r]: paths[r] for r in roles}})
    assert run.returncode == 0, run.output
    got = read_array(out)
    expected = direct(model, arrays, roles, 64, f"{base}_pad64")
    assert got.shape == expected.shape == (ROWS, COLS, 4)
    m = 16  # the borders, where the engine's boundary padding and the mirror above differ
    np.testing.assert_allclose(got[m:-m, m:-m], expected[m:-m, m:-m], rtol=1e-4, atol=0.05)
    assert 0 < expected.mean() < 10000  # x 10000 scale: an S2 reflectance, not 0-1


def test_default_padding_and_card_in_place(inputs, tmp_path):
    """Without --out the card goes next to saved_model.pb; without -padding DecloudInfer takes 32."""
    paths, arrays = inputs
    roles = FAMILIES["meraner_unet"].inputs
    model = original_like_model(tmp_path / "merunet", roles, seed=1)
    assert cli_main(["import-model", str(model), "--family", "meraner_unet"]) == 0
    assert (model / "card.json").is_file()
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", {"model": model, "out": out, **{APP_KEYS[r]: paths[r] for r in roles}})
    assert run.returncode == 0, run.output
    got = read_array(out)
    expected = direct(model, arrays, roles, 32, "s2_estim_pad32")
    np.testing.assert_allclose(got[16:-16, 16:-16], np.rint(expected[16:-16, 16:-16]), atol=1.01)
    bad = run_app("DecloudInfer", {"model": model, "out": tmp_path / "o0.tif", "padding": 0,
                                   **{APP_KEYS[r]: paths[r] for r in roles}})
    assert bad.returncode != 0 and "offers 32, 64, 128, 256" in bad.output, bad.output


def one_line_error(argv, capsys) -> str:
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


def test_signature_mismatch_is_one_line(tmp_path, capsys):
    crga = original_like_model(tmp_path / "crga", FAMILIES["crga_os2_unet"].inputs)
    err = one_line_error(["import-model", str(crga), "--family", "meraner_unet"], capsys)
    assert "not those of meraner_unet" in err and "s1_tm1" in err and "s2_tp1" in err, err
    err = one_line_error(["import-model", str(crga), "--family", "crga_os1_unet"], capsys)
    assert "not in crga_os1_unet: s2_t " in err, err
    three = original_like_model(tmp_path / "three", FAMILIES["meraner_unet"].inputs, s2_bands=3)
    err = one_line_error(["import-model", str(three), "--family", "meraner_unet"], capsys)
    assert "input s2_t has shape [-1, -1, -1, 3]" in err or "input s2_t has shape [None, None, None, 3]" in err, err
    nopad = original_like_model(tmp_path / "nopad", FAMILIES["meraner_unet"].inputs, pads=(32, 64))
    err = one_line_error(["import-model", str(nopad), "--family", "meraner_unet"], capsys)
    assert "no output s2_estim_pad128, s2_estim_pad256" in err, err
    ints = original_like_model(tmp_path / "ints", FAMILIES["meraner_unet"].inputs, dtype="int16")
    err = one_line_error(["import-model", str(ints), "--family", "meraner_unet"], capsys)
    assert "is int16" in err, err
    assert not any((p / "card.json").exists() for p in (crga, three, nopad, ints))


def test_refused_and_unknown_families(tmp_path, capsys):
    model = original_like_model(tmp_path / "m", FAMILIES["meraner_unet"].inputs)
    # importable now (DecloudInfer has -s2.dates / -s1.dates): a model of another family is a signature mismatch
    err = one_line_error(["import-model", str(model), "--family", "monthly_synthesis_6_s2s1_images"], capsys)
    assert "missing s1_t0, s1_t1, s1_t2, s1_t3, s1_t4, s1_t5, s2_t0" in err, err
    err = one_line_error(["import-model", str(model), "--family", "crga_os1_gapfilling"], capsys)
    assert "use DecloudGapFilling" in err, err
    # importable now (DecloudInfer has s2r20.tm1 / s2r20.tp1): a model of another family is a signature mismatch
    err = one_line_error(["import-model", str(model), "--family", "crga_os2_unet_all_bands"], capsys)
    assert "missing s1_tm1, s1_tp1, s2_20m_t, s2_20m_tm1, s2_20m_tp1" in err, err
    err = one_line_error(["import-model", str(model), "--family", "nope"], capsys)
    assert "unknown family 'nope'" in err and "crga_os2_unet" in err, err
    err = one_line_error(["import-model", str(tmp_path), "--family", "meraner_unet"], capsys)
    assert "no saved_model.pb" in err, err

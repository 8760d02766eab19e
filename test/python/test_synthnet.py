"""Decloud's synthesis network (``synthnet``, issue 16): untrained it IS the median composite of the clear
observations (a date repeated by the rule counts once; nodata exactly where no date is clear); its training examples
withhold the reference and give the inputs' clouds as nodata; ``decloud synthesis --model`` feeds it each picked
date with its cloudy pixels as nodata through DecloudInfer, so that the untrained network's outputs equal the median
composite's on a prepared series."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from decloud.card import export_model
from decloud.networks import get_model
from decloud.scenarios import NODATA, SPLITS, Series, Split, synthesis_cases, synthesis_examples
from decloud.synthesis import median_composite
from test_synthesis import decloud, ok, prepared, read  # noqa: F401  (prepared: the fixture)


def _random_dates(rng, n: int, shape=(1, 140, 150)) -> tuple[np.ndarray, np.ndarray]:
    images = rng.integers(0, 4000, (n, *shape, 4)).astype(np.int16)
    clouds = rng.random((n, *shape)) < 0.45
    images[clouds] = NODATA
    return images, clouds


def test_untrained_synthnet_is_the_median_of_the_clear_observations():
    rng = np.random.default_rng(3)
    images, _ = _random_dates(rng, 4)
    images[0, 0, :10, :10] = NODATA  # no date clear in this corner
    images[1:, 0, :10, :10] = NODATA
    fed = np.concatenate([images[:1], images[:1], images])  # the rule's repeats: the least cloudy in front
    model = get_model("synthnet")
    out = model({f"s2_d{k}": fed[k].astype(np.float32) for k in range(6)})["s2_target"].numpy()[0]
    want = median_composite(images[:, 0], np.zeros(images.shape[:1] + images.shape[2:4], bool))
    none = want[..., 0] == NODATA
    assert none[:10, :10].all() and (out[none] == NODATA).all() and (out[~none] != NODATA).all()
    assert np.abs(np.floor(out[~none] + 0.5) - want[~none]).max() <= 1  # float32 x 10000: at most 1 off


@pytest.mark.slow  # a short training (about a minute)
def test_synthnet_learns_to_prefer_the_clean_observations():
    """A gate and scores that start at zero still train: on dates where one observation per pixel is a bright
    undetected cloud, 150 steps of Adam bring the output below the median's error."""
    import keras  # noqa: PLC0415

    rng = np.random.default_rng(5)
    truth = rng.integers(500, 1500, (8, 32, 32, 4)).astype(np.float32)  # the training model: no crops
    dates = []
    for k in range(6):
        d = truth + rng.normal(0, 30, truth.shape).astype(np.float32)
        if k < 3:  # three of six dates carry haze the mask missed: the median of six is pulled up
            d += 2500 * (rng.random(truth.shape[:3]) < 0.5)[..., None]
        dates.append(d)
    net = get_model("synthnet")
    model = keras.Model(net.inputs, net.output["s2_target"])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mae")
    x = {f"s2_d{k}": d for k, d in enumerate(dates)}
    before = float(np.abs(model.predict(x, verbose=0) - truth).mean())
    model.fit(x, truth, epochs=150, batch_size=8, verbose=0)
    after = float(np.abs(model.predict(x, verbose=0) - truth).mean())
    assert after < 0.5 * before, (before, after)


def _series(rng, days: list[date], shape=(64, 64)) -> Series:
    reflectance = rng.integers(100, 3000, (len(days), *shape, 4)).astype(np.int16)
    cloud = np.zeros((len(days), *shape), bool)
    for k in range(len(days)):
        if k % 3 == 1:  # a third of the dates partly cloudy
            cloud[k, : shape[0] // 3] = True
    return Series("toy", tuple(days), reflectance, cloud, "scl", (0.0, 10.0, 0.0, 0.0, 0.0, -10.0), "")


def test_synthesis_examples_withhold_the_reference_and_give_clouds_as_nodata():
    rng = np.random.default_rng(0)
    days = [date(2022, 6, d) for d in (2, 5, 8, 11, 14, 17, 20, 23, 26, 29)]
    series = _series(rng, days)
    split = Split("temporal", "scl", test_from=date(2022, 7, 1))
    cases = synthesis_cases(series, lambda d: True, clear_max=0.05, min_clearish=2)
    assert cases and all(c.reference not in c.inputs and len(c.inputs) == 6 for c in cases)
    examples = list(synthesis_examples(series, split, patch=32, count=40, seed=1, hidden_clouds=0.0, holes=0.0))
    refs = {series.reflectance[i].tobytes() for i in range(len(days))}
    for ex in examples:
        assert sorted(ex) == [f"s2_d{k}" for k in range(6)] + ["s2_target"]
        target = ex["s2_target"]
        assert (target != NODATA).any()
        for k in range(6):
            d = ex[f"s2_d{k}"]
            # the cloudy rows of a date come as nodata (in some orientation), and never the target's own values
            on = (d != NODATA).all(-1) & (target != NODATA).all(-1)
            assert not (on.any() and np.array_equal(d[on], target[on]))
    assert refs  # the series is not empty
    with pytest.raises(Exception, match="no synthesis case"):
        list(synthesis_examples(series.crop(slice(0, 40)), Split("temporal", "scl", test_from=date(2022, 6, 1)),
                                patch=32, count=1))


@pytest.fixture(scope="module")
def untrained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthnet")
    return export_model(get_model("synthnet"), root / "model", network="synthnet", name="synthnet-untrained")


def test_the_card_says_the_model_completes_holes(untrained):
    card = json.loads((untrained / "card.json").read_text())
    assert card["network"] == "synthnet" and card["holes"] == "model"
    assert sorted(k for k in card["inputs"]) == [f"s2_d{k}" for k in range(6)]


def test_decloud_synthesis_feeds_synthnet_clear_pixels_only(prepared, untrained, tmp_path):  # noqa: F811
    """Through decloud synthesis --model (DecloudInfer, each date masked by its cloud.tif): the untrained network
    gives the median composite of the clear observations, nodata where the composite has none."""
    ok(decloud("synthesis", prepared, "--out-dir", "net", "--model", untrained, "--workers", 0, "-q",
               "--start", "2022-06-01", "--end", "2022-06-30", cwd=tmp_path))
    ok(decloud("synthesis", prepared, "--out-dir", "median", "--method", "median", "--engine", "numpy",
               "--workers", 0, "-q", "--start", "2022-06-01", "--end", "2022-06-30", cwd=tmp_path))
    net = read(tmp_path / "net" / "synthesis_synth_2022-06.tif").astype(int)
    med = read(tmp_path / "median" / "synthesis_synth_2022-06.tif").astype(int)
    assert ((net == NODATA) == (med == NODATA)).all()
    assert (med != NODATA).mean() > 0.5 and np.abs(net - med).max() <= 1


def test_the_real_splits_have_synthesis_cases_for_training():
    """Every real set's training part gives cases (the shipped synthnet was trained on all four), when the data is
    there."""
    from decloud.scenarios import load_series  # noqa: PLC0415

    data = Path(__file__).resolve().parents[3] / "shared" / "data"
    if not data.is_dir():
        pytest.skip(f"{data} is absent (the real sets of ../shared/data)")
    for name, split in SPLITS.items():
        part, in_train = split.train(load_series(data / name, mask=split.mask))
        assert synthesis_cases(part, in_train, clear_max=0.05, min_clearish=2), name


def test_a_shipped_model_is_found_by_its_name(tmp_path):
    from decloud.errors import DecloudInputError  # noqa: PLC0415
    from decloud.infer import DEFAULT_MODEL_NAME, shipped_model  # noqa: PLC0415

    assert (shipped_model(DEFAULT_MODEL_NAME) / "card.json").is_file()
    assert shipped_model(tmp_path) == tmp_path  # a folder is used as given
    with pytest.raises(DecloudInputError, match="--model no-such-model: no such folder, and no shipped model"):
        shipped_model("no-such-model")


@pytest.mark.slow  # writes records and trains one epoch (about a minute)
def test_decloud_synthesis_examples_then_decloud_train_synthnet(prepared, tmp_path):  # noqa: F811
    """A user's own synthnet: records from a prepared series (decloud synthesis-examples), then decloud train."""
    from decloud.train import record_keys  # noqa: PLC0415

    out = ok(decloud("synthesis-examples", prepared, "--out-dir", "ex", "--patch", 32, "--count", 12, "-q",
                     cwd=tmp_path))
    assert "12 examples of 32 x 32 pixels" in out and "decloud train synthnet" in out
    assert record_keys(tmp_path / "ex") == {f"s2_d{k}" for k in range(6)} | {"s2_target"}
    info = json.loads((tmp_path / "ex" / "synthesis_examples.json").read_text())
    assert info["tile"] == "synth" and len(info["dates"]) >= 3
    ok(decloud("train", "synthnet", "--dataset", "ex", "--epochs", 1, "--batch-size", 4, "--out-dir", "run", "-q",
               cwd=tmp_path))
    card = json.loads((tmp_path / "run" / "model" / "card.json").read_text())
    assert card["network"] == "synthnet" and card["holes"] == "model"


def test_decloud_synthesis_examples_refuses_bad_input_in_one_line(prepared, tmp_path):  # noqa: F811
    proc = decloud("synthesis-examples", prepared, "--out-dir", "ex", "--until", "2022-13-01", cwd=tmp_path)
    assert proc.returncode == 2 and "--until 2022-13-01: not a day" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = decloud("synthesis-examples", prepared, "--out-dir", "ex", "--until", "2022-06-01", cwd=tmp_path)
    assert proc.returncode == 2 and "no synthesis case" in proc.stderr and "Traceback" not in proc.stderr

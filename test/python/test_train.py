"""Training on generated records: a short run for each U-Net family, export with card, resume after a kill, a
finished run left as it is (force restarts it), fine-tuning from another run's weights, options that follow the
records, then evaluation on the cloudy pixels."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from datetime import datetime

import keras
import numpy as np
import pytest
from decloud.card import read_card
from decloud.dataset import catalog_from_prepared, generate_dataset, read_dataset, write_examples
from decloud.errors import DecloudInputError
from decloud.evaluate import evaluate
from decloud.layouts import parse_layout
from decloud.otbenv import app_environment
from decloud.patch_index import index_prepared
from decloud.prepare import prepare_s1, prepare_s2
from decloud.search import search
from decloud.testing import synthetic_products as sp
from decloud.train import resolve_options, run_state, train

S2 = {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100}
MSOP = {"tm1": {"acquisition": {"s2": S2, "s1": {"type": "S1"}}, "timeframe_start_hours": -300,
                "timeframe_end_hours": -100, "max_s1s2_gap_hours": 48},
        "t": {"acquisition": {"s2": S2, "s1": {"type": "S1"}}, "timeframe_origin": True, "max_s1s2_gap_hours": 48},
        "tp1": {"acquisition": {"s2": S2, "s1": {"type": "S1"}}, "timeframe_start_hours": 100,
                "timeframe_end_hours": 300, "max_s1s2_gap_hours": 48},
        "target": {"acquisition": {"s2": S2}, "timeframe_start_hours": -800, "timeframe_end_hours": 800}}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("records")
    s2 = [prepare_s2(sp.make_theia(tmp / "in", when=datetime(2022, 6, d, 10, 30), seed=d).path, tmp / "prep").folder
          for d in (1, 11, 21, 31 - 1)]
    for d in (1, 11, 21, 30):
        prepare_s1(sp.make_s1tiling(tmp / "s1", when=datetime(2022, 6, d, 17, 5), seed=d)[0], tmp / "prep")
    index = index_prepared(tmp / "t.npz", s2, sorted((tmp / "prep").glob("S1_*")), cell_pixels=64, tile="32TPS")
    samples = search(index, parse_layout(MSOP, name="msop", source="test")).draw(strategy="constant", per_cell=4)
    assert len(samples) >= 2
    generate_dataset(samples, {"32TPS": catalog_from_prepared(index, tmp / "prep")}, tmp / "ds", patch_size=64,
                     shard_size=4, quiet=True)
    return tmp / "ds"


@pytest.mark.parametrize("network, options", [
    ("msop_unet", {"width": 0.125, "with_dem": False}),
    ("ssop_unet", {"width": 0.125, "with_dem": False}),
    ("ssop_mer", {"blocks": 1, "width": 8}),
])
@pytest.mark.slow
def test_short_training_exports_a_model_with_its_card(records, tmp_path, network, options):
    model_dir = train(network, records, tmp_path / "run", options=options, epochs=2, batch_size=2, verbose=0)
    card = read_card(model_dir)
    history = card["training"]["history"]["loss"]
    assert card["network"] == network and len(history) == 2 and all(np.isfinite(history))
    assert (tmp_path / "run" / "checkpoints" / "best.weights.h5").exists()
    assert list((tmp_path / "run" / "logs" / "previews").glob("events.*"))


class Epochs:
    """A callback (built on demand: keras is imported lazily) recording the epochs a fit runs and the weights it
    starts and ends with."""

    def __new__(cls):
        class Recorder(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.epochs, self.first, self.last = [], None, None

            def on_train_begin(self, logs=None):
                self.first = [w.copy() for w in self.model.get_weights()]

            def on_epoch_end(self, epoch, logs=None):
                self.epochs.append(epoch)

            def on_train_end(self, logs=None):
                self.last = [w.copy() for w in self.model.get_weights()]

        return Recorder()


TINY = {"width": 0.125, "with_dem": False, "with_sar": False}


@pytest.mark.slow
def test_training_resumes_after_a_kill(records, tmp_path):
    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt  # the process dies after epoch 2 was backed up

    with pytest.raises(KeyboardInterrupt):
        train("msop_unet", records, tmp_path / "run", options=TINY, epochs=4, batch_size=2, verbose=0,
              callbacks=[Kill()])
    state = run_state(tmp_path / "run")
    assert (state.status, state.epochs_done, state.network) == ("unfinished", 2, "msop_unet")
    resumed = Epochs()
    card = read_card(train("msop_unet", records, tmp_path / "run", options=TINY, epochs=4, batch_size=2, verbose=0,
                           callbacks=[resumed]))
    assert resumed.epochs == [2, 3]  # epochs 3 and 4 only
    assert card["training"]["epochs_run"] == 4 and len(card["training"]["history"]["loss"]) == 4  # the whole run
    assert not (tmp_path / "run" / "backup").exists() and run_state(tmp_path / "run").status == "finished"


@pytest.mark.slow
def test_a_finished_run_stays_finished_and_force_restarts_it(records, tmp_path):
    run = tmp_path / "run"
    model = train("msop_unet", records, run, options=TINY, epochs=1, batch_size=2, verbose=0)
    card = (model / "card.json").read_text()
    again = Epochs()
    assert train("msop_unet", records, run, options=TINY, epochs=3, batch_size=2, verbose=0, callbacks=[again]) == model
    assert again.epochs == [] and (model / "card.json").read_text() == card  # not trained, not overwritten
    shutil.rmtree(model)  # as if killed after fit, before the export: the final weights are exported, no training
    assert run_state(run).status == "trained"
    export = Epochs()
    assert train("msop_unet", records, run, options=TINY, epochs=1, verbose=0, callbacks=[export]) == model
    assert export.epochs == [] and read_card(model)["training"]["epochs_run"] == 1
    assert not list(run.glob(".model*"))  # the export went through a temporary folder, renamed
    with pytest.raises(DecloudInputError, match=r"holds a finished run of msop_unet .*--force to replace it"):
        train("msop_unet", records, run, options={**TINY, "width": 0.25}, epochs=1, verbose=0)
    forced = Epochs()
    train("msop_unet", records, run, options={**TINY, "width": 0.25}, epochs=2, batch_size=2, verbose=0, force=True,
          callbacks=[forced])
    new_card = read_card(model)
    assert forced.epochs == [0, 1] and new_card["training"]["epochs_run"] == 2
    assert new_card["training"]["options"]["width"] == 0.25


@pytest.mark.slow
def test_fine_tuning_starts_from_the_weights_of_another_run(records, tmp_path):
    first = Epochs()
    train("msop_unet", records, tmp_path / "a", options=TINY, epochs=1, batch_size=2, verbose=0, callbacks=[first])
    weights = tmp_path / "a" / "checkpoints" / "best.weights.h5"
    tuned = Epochs()
    model = train("msop_unet", records, tmp_path / "b", options=TINY, epochs=1, batch_size=2, verbose=0,
                  init_weights=weights, callbacks=[tuned])
    assert len(tuned.first) == len(first.last) > 0
    for a, b in zip(first.last, tuned.first):
        np.testing.assert_array_equal(a, b)
    assert read_card(model)["training"]["init_weights"] == str(weights.resolve())
    fresh = Epochs()
    train("msop_unet", records, tmp_path / "c", options=TINY, epochs=1, batch_size=2, verbose=0, callbacks=[fresh])
    assert any(not np.array_equal(a, b) for a, b in zip(first.last, fresh.first))  # the check above can fail
    with pytest.raises(DecloudInputError, match=r"--init-weights .*best.weights.h5: not weights of msop_unet"):
        train("msop_unet", records, tmp_path / "d", options={**TINY, "width": 0.25}, epochs=1, verbose=0,
              init_weights=weights)
    with pytest.raises(DecloudInputError, match=r"--init-weights .*: no such file"):
        train("msop_unet", records, tmp_path / "d", options=TINY, epochs=1, init_weights=tmp_path / "none.weights.h5")


@pytest.mark.slow
def test_one_epoch_then_evaluate_on_the_cloudy_pixels(records, tmp_path):
    """dataset -> train 1 epoch -> evaluate: the records carry the cloud mask of t, so the cloudy pixels are
    scored (and all pixels)."""
    model = train("msop_unet", records, tmp_path / "run", options=TINY, epochs=1, batch_size=2, verbose=0)
    rows = {(r.model, r.subset): r for r in evaluate({"msop": model}, records, with_gapfilling=False)}
    assert set(rows) == {("msop", "cloudy"), ("msop", "all")}
    examples = list(read_dataset(records).as_numpy_iterator())
    clouds = sum(int(r["cloud_t"].sum()) for r in examples)
    valid = sum(int(np.all(r["s2_target"] != -10000, -1).sum()) for r in examples)
    assert 0 < rows[("msop", "cloudy")].pixels <= clouds < rows[("msop", "all")].pixels <= valid
    assert np.isfinite(rows[("msop", "cloudy")].psnr)


def s2_only_records(folder):
    zeros = np.zeros((32, 32, 4), np.int16)
    write_examples(folder, iter([{"s2_t": zeros, "s2_target": zeros, "s2_timestamp_t": 0}]))
    return folder


def test_options_follow_the_records(records, tmp_path):
    """No DEM and no S1 in the records: with_dem / with_sar not given are false (with a note), given true they are
    one-line errors naming the option and the fix; an option the network does not take lists those it takes."""
    options, notes = resolve_options("ssop_unet", {"width": 0.125}, [records])
    assert options == {"width": 0.125, "with_dem": False}
    assert notes == [f"with_dem: false (the records of {records} have no DEM (dem))"]
    assert resolve_options("gfnet", {}, [records]) == ({}, [])  # gfnet's defaults are false already
    with pytest.raises(DecloudInputError, match=r"^--options with_dem=true: the records of .* have no DEM \(dem\); "
                       r"set with_dem false, or write records that have it \(decloud dataset --dem TILE=PATH\)$"):
        train("ssop_unet", records, tmp_path / "run", options={"width": 0.125, "with_dem": True}, epochs=1, verbose=0)
    with pytest.raises(DecloudInputError, match=r"^--options depth: not an option of ssop_mer \(its options: with_sar"):
        train("ssop_mer", records, tmp_path / "run", options={"depth": 3}, epochs=1, verbose=0)
    assert not (tmp_path / "run").exists()  # refused before anything was written
    s2_only = s2_only_records(tmp_path / "s2only")
    options, notes = resolve_options("ssop_unet", {}, [s2_only])
    assert options == {"with_dem": False, "with_sar": False} and len(notes) == 2
    with pytest.raises(DecloudInputError, match=r"^--options with_sar=true: the records of .* have no S1"):
        resolve_options("msop_unet", {"with_sar": True}, [records, s2_only])  # the validation set counts too


def test_records_missing_a_key_the_model_needs(tmp_path):
    """Keys that no option turns off: the error names them and what to do."""
    s2_only = s2_only_records(tmp_path / "s2only")
    with pytest.raises(DecloudInputError, match=r"the records have no s2_tm1, s2_tp1.*; write the records with a "
                       r"layout that has these acquisitions"):
        train("msop_unet", s2_only, tmp_path / "run", options={"width": 0.125}, epochs=1, verbose=0)
    with_t = tmp_path / "gf"
    zeros = np.zeros((32, 32, 4), np.int16)
    write_examples(with_t, iter([{f"s2_{d}": zeros for d in ("t", "tm1", "tp1", "target")} | {
        f"s2_timestamp_{d}": 0 for d in ("t", "tm1", "tp1")}]))  # as written before records had cloud_t
    with pytest.raises(DecloudInputError, match=r"the records have no cloud_t .*; write the records again with "
                       r"decloud dataset"):
        train("gfnet", with_t, tmp_path / "run2", epochs=1, verbose=0)


@pytest.mark.slow
def test_cli_readme_example_on_records_without_a_dem(records, tmp_path):
    """`decloud train` with the README's options on records without a DEM (with S1): it trains (saying which option
    followed the records); the same command again says the run is finished; with_dem true is a one-line error."""
    command = [sys.executable, "-m", "decloud.cli", "train", "msop_unet", "--dataset", str(records), "--options",
               '{"width": 0.125}', "--epochs", "1", "--batch-size", "2", "--out-dir", str(tmp_path / "run"), "-q"]
    first = subprocess.run(command, capture_output=True, text=True, env=app_environment())
    assert first.returncode == 0, first.stderr[-3000:]
    assert "option with_dem: false" in first.stdout and "with_sar" not in first.stdout
    again = subprocess.run(command, capture_output=True, text=True, env=app_environment())
    assert again.returncode == 0, again.stderr[-3000:]
    assert "finished run (msop_unet" in again.stdout and "1 epoch(s) done" in again.stdout
    i = command.index("--options") + 1
    bad = subprocess.run(command[:i] + ['{"width": 0.125, "with_dem": true}'] + command[i + 1:], capture_output=True,
                         text=True, env=app_environment())
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "--options with_dem=true" in bad.stderr


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multiworker_training_on_two_cpu_processes(records, tmp_path):
    """MultiWorkerMirroredStrategy over two worker processes on loopback (TF_CONFIG): both finish, the chief
    exports the model with its card, and both end with the same weights."""
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "decloud.cli", "train", "msop_unet", "--dataset", str(records), "--options",
             '{"width": 0.125, "with_sar": false, "with_dem": false}', "--epochs", "2", "--batch-size", "2",
             "--strategy", "multiworker", "--out-dir", str(tmp_path / f"w{index}"), "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=app_environment({"TF_CONFIG": tf_config, "CUDA_VISIBLE_DEVICES": ""})))
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    card = read_card(tmp_path / "w0" / "model")
    assert card["training"]["workers"] == 2 and len(card["training"]["history"]["loss"]) == 2
    import tensorflow as tf  # noqa: PLC0415

    chief = tf.saved_model.load(str(tmp_path / "w0" / "model"))
    other = tf.saved_model.load(str(tmp_path / "w1" / ".worker1_model"))
    assert len(chief.variables) == len(other.variables) > 0
    for a, b in zip(chief.variables, other.variables):  # same network, same variable order
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---- the loss that compares with the gap-filling (gfnet's "do no harm" objective)

def _gfnet_examples(n: int, size: int = 64, seed: int = 0):
    """gfnet training examples (the keys and types of decloud.scenarios.training_examples): a smooth scene at t-1
    and t+1, the target between them, t cloudy over a square; t-1 with a nodata hole."""
    rng = np.random.default_rng(seed)
    day = 86400
    for _ in range(n):
        base = rng.uniform(300, 3000, (1, 1, 4)) + rng.normal(0, 50, (size, size, 4))
        tm1 = base + rng.normal(0, 30, base.shape)
        tp1 = base + 200 + rng.normal(0, 30, base.shape)
        target = 0.5 * (tm1 + tp1) + 80 + rng.normal(0, 10, base.shape)
        cloud = np.zeros((size, size, 1), np.uint8)
        cloud[16:48, 16:48] = 1
        t = np.where(cloud.astype(bool), 9000, target)
        tm1[:8, :8] = -10000
        yield {"s2_t": t.astype(np.int16), "s2_tm1": tm1.astype(np.int16), "s2_tp1": tp1.astype(np.int16),
               "cloud_t": cloud, "s2_target": target.astype(np.int16), "s2_timestamp_t": 1_650_000_000 + 5 * day,
               "s2_timestamp_tm1": 1_650_000_000, "s2_timestamp_tp1": 1_650_000_000 + 10 * day}


def test_the_safe_loss_counts_twice_what_is_worse_than_the_gap_filling():
    from decloud.train import masked_log_mse, masked_log_mse_safe  # noqa: PLC0415

    rng = np.random.default_rng(1)
    target = rng.uniform(0, 3000, (2, 8, 8, 4)).astype(np.float32)
    target[0, 0, 0] = -10000  # a target pixel without data counts nowhere
    gapfilled = target + rng.normal(0, 100, target.shape).astype(np.float32)
    better = target + rng.normal(0, 20, target.shape).astype(np.float32)
    worse = target + rng.normal(0, 400, target.shape).astype(np.float32)
    estimate = np.stack([better[0], worse[1]])  # example 0 beats the gap-filling, example 1 does not

    def db(a, b, valid):
        return 10 * np.log10(np.mean(np.square(a - b)[valid]) + 100.0)

    valid = target > -10000
    net = [db(target[i], estimate[i], valid[i]) for i in range(2)]
    gf = [db(target[i], gapfilled[i], valid[i]) for i in range(2)]
    expected = np.mean([net[0], net[1] + (net[1] - gf[1])])
    y_true = np.concatenate([target, gapfilled], axis=-1)
    assert float(masked_log_mse_safe(y_true, estimate)) == pytest.approx(expected, rel=1e-5)
    assert float(masked_log_mse(target, estimate)) == pytest.approx(np.mean(net), rel=1e-5)
    # as good as the gap-filling or better everywhere: the plain per-example dB
    assert float(masked_log_mse_safe(np.concatenate([target, worse], -1), estimate)) == pytest.approx(
        float(masked_log_mse(target, estimate)), rel=1e-6)


def test_the_gap_filling_appended_to_the_target_is_the_numpy_reference():
    import tensorflow as tf  # noqa: PLC0415
    from decloud.scenarios import linear_gapfill  # noqa: PLC0415
    from decloud.train import _with_gapfilling  # noqa: PLC0415

    ex = next(_gfnet_examples(1))
    ex["s2_tp1"][40:, 40:] = -10000  # holes in both neighbours (t-1's in the corner), one pixel in both
    ex["s2_tm1"][40, 40] = -10000
    x = {k: tf.constant(np.asarray(v, np.float32)[None]) for k, v in ex.items() if k != "s2_target"}
    _, y = _with_gapfilling(x, {"s2_target": tf.constant(ex["s2_target"][None].astype(np.float32))})
    stamps = {"t": ex["s2_timestamp_t"], "tm1": ex["s2_timestamp_tm1"], "tp1": ex["s2_timestamp_tp1"]}
    expected = linear_gapfill(ex["s2_tm1"], ex["s2_tp1"], stamps)
    got = y["s2_target"].numpy()[0]
    np.testing.assert_array_equal(got[..., :4], ex["s2_target"])
    np.testing.assert_allclose(got[..., 4:], expected, atol=1e-3)
    assert (got[40, 40, 4:] == -10000).all()


@pytest.mark.slow
def test_gfnet_trains_with_the_safe_loss(tmp_path):
    write_examples(tmp_path / "records", _gfnet_examples(4), shard_size=4)
    model_dir = train("gfnet", tmp_path / "records", tmp_path / "run", options={"width": 0.125}, epochs=1,
                      batch_size=2, verbose=0, loss="log_mse_safe")
    card = read_card(model_dir)
    assert card["training"]["loss"] == "masked per-example MSE in dB, plus its excess over the linear gap-filling's"
    assert all(np.isfinite(card["training"]["history"]["loss"]))


def test_the_safe_loss_needs_a_network_that_takes_the_neighbours(tmp_path):
    write_examples(tmp_path / "records", _gfnet_examples(2), shard_size=2)
    with pytest.raises(DecloudInputError, match="loss log_mse_safe: compares with the linear gap-filling of t-1 "
                                                "and t\\+1, which ssop_unet does not take"):
        train("ssop_unet", tmp_path / "records", tmp_path / "run", options={**TINY}, epochs=1, batch_size=2,
              verbose=0, loss="log_mse_safe")
    assert not (tmp_path / "run" / "run.json").exists()  # refused before the run started

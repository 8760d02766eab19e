"""Training on generated records: a short run for each U-Net family, export with card, resume after a kill."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest

from decloud import synthetic_products as sp
from decloud.card import read_card
from decloud.dataset import catalog_from_prepared, generate_dataset
from decloud.errors import DecloudInputError
from decloud.layouts import parse_layout
from decloud.patch_index import index_prepared
from decloud.prepare import prepare_s1, prepare_s2
from decloud.search import search
from decloud.train import train

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


@pytest.mark.slow
def test_training_resumes_after_a_kill(records, tmp_path):
    import keras

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt  # the process dies after epoch 2 was backed up

    options = {"width": 0.125, "with_dem": False, "with_sar": False}
    with pytest.raises(KeyboardInterrupt):
        train("msop_unet", records, tmp_path / "run", options=options, epochs=4, batch_size=2, verbose=0,
              callbacks=[Kill()])
    card = read_card(train("msop_unet", records, tmp_path / "run", options=options, epochs=4, batch_size=2, verbose=0))
    assert len(card["training"]["history"]["loss"]) == 2  # epochs 3 and 4 only


def test_records_missing_a_key_the_model_needs(records, tmp_path):
    with pytest.raises(DecloudInputError, match="the records have no dem"):
        train("ssop_unet", records, tmp_path / "run", options={"width": 0.125}, epochs=1, verbose=0)


def _free_ports(n):
    import socket

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
    import subprocess
    import sys

    from decloud.otbenv import app_environment

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
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    card = read_card(tmp_path / "w0" / "model")
    assert card["training"]["workers"] == 2 and len(card["training"]["history"]["loss"]) == 2
    import tensorflow as tf

    chief = tf.saved_model.load(str(tmp_path / "w0" / "model"))
    other = tf.saved_model.load(str(tmp_path / "w1" / ".worker1_model"))
    assert len(chief.variables) == len(other.variables) > 0
    for a, b in zip(chief.variables, other.variables):  # same network, same variable order
        np.testing.assert_array_equal(a.numpy(), b.numpy())

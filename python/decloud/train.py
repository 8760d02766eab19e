"""Training: TFRecord shards -> a network of the registry -> an exported SavedModel with its card.

``train(network, dataset_dir, out_dir, ...)``: tf.data (parallel reads, shuffle, batch, prefetch) from the
shards written by ``decloud dataset``; inputs are the records' keys that the network takes, the target is
``s2_target`` (and ``s2_20m_target`` for networks with a 20 m output); masked L1 loss (target nodata pixels
do not count); Adam; early stopping on the validation loss when a validation set is given.
Options follow the records (``resolve_options``): ``with_dem`` / ``with_sar`` that the user did not set are
false for records without a DEM / S1; set true for such records, they are an error naming the option and the fix.
A run is one ``out_dir`` (``run_state``): ``run.json`` says what it trains; ``BackupAndRestore`` keeps the state
of the last finished epoch in ``out_dir/backup``, so that re-running a killed run goes on where it stopped;
``logs/history.jsonl`` the logs of every epoch (across resumes, for the card); at the end of ``fit`` the weights
go to ``checkpoints/final.weights.h5`` and the model is exported (atomically) to ``out_dir/model`` with its card:
the run is finished, and re-running it returns that model without training (``force`` starts from scratch;
``init_weights`` starts a new run from the weights of another, e.g. its ``checkpoints/best.weights.h5``).
``out_dir/checkpoints/best.weights.h5`` keeps the best epoch; TensorBoard logs in ``out_dir/logs`` with
preview images (input t, estimate, target) at each epoch; strategies: default, mirrored (all local GPUs),
multiworker (several machines: ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``, or from Slurm's
environment in a multi-task Slurm job; Keras 3 ``fit`` does not run under it, so a custom loop does the
same training there, with a per-epoch checkpoint to resume from). The model is exported to
``out_dir/model`` with its card (by the chief; other workers export to a scratch folder, as TensorFlow
requires every worker to take part in saving).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .atomic import atomic_output, folder_lock, write_json
from .card import export_model, read_card
from .dataset import read_dataset
from .errors import DecloudInputError, DecloudKeyError
from .networks import get_model

log = logging.getLogger(__name__)
Strategy = Literal["default", "mirrored", "multiworker"]
TARGETS = ("s2_target", "s2_20m_target")


Loss = Literal["l1", "log_mse", "log_mse_safe"]


def masked_l1(y_true, y_pred):
    import tensorflow as tf  # noqa: PLC0415

    valid = tf.cast(y_true > -10000, y_pred.dtype)
    return tf.reduce_sum(tf.abs(y_true - y_pred) * valid) / tf.maximum(tf.reduce_sum(valid), 1.0)


def _example_db(target, estimate, valid):
    """10 log10 of each example's MSE over ``valid`` (+ 10^2, as masked_log_mse) and whether it has pixels."""
    import tensorflow as tf  # noqa: PLC0415

    count = tf.reduce_sum(valid, axis=[1, 2, 3])
    mse = tf.reduce_sum(tf.square(target - estimate) * valid, axis=[1, 2, 3]) / tf.maximum(count, 1.0)
    return 10.0 * tf.math.log(mse + 100.0) / tf.math.log(10.0), tf.cast(count > 0, estimate.dtype)


def masked_log_mse(y_true, y_pred):
    """10 log10 of each example's MSE over its target pixels (reflectance x 10000; a floor of 10^2, i.e. 40 dB),
    averaged over the examples that have target pixels: minus the mean per-example PSNR, up to a constant. Each
    example counts in decibels, as in the benchmark (a mean of per-scenario PSNR gains), so that sets with small
    errors (smooth 20 m data) weigh as much as sets with large ones."""
    import tensorflow as tf  # noqa: PLC0415

    db, has = _example_db(y_true, y_pred, tf.cast(y_true > -10000, y_pred.dtype))
    return tf.reduce_sum(db * has) / tf.maximum(tf.reduce_sum(has), 1.0)


def masked_log_mse_safe(y_true, y_pred):
    """``masked_log_mse`` plus, on each example where the network's error (in dB) is above that of the linear
    gap-filling of the same inputs, the excess: an example the network makes worse than the gap-filling counts
    twice. The objective of a correction that should do no harm (the benchmark's worst scenario), not only gain on
    average. ``y_true`` holds the target and, after it, the gap-filling ([..., :C] and [..., C:], C the output's
    bands): the training pipeline appends it (``_with_gapfilling``)."""
    import tensorflow as tf  # noqa: PLC0415

    bands = tf.shape(y_pred)[-1]
    target, gapfilled = y_true[..., :bands], y_true[..., bands:]
    valid = tf.cast(target > -10000, y_pred.dtype)
    db, has = _example_db(target, y_pred, valid)
    db_gf, _ = _example_db(target, gapfilled, valid)
    per_example = db + tf.nn.relu(db - tf.stop_gradient(db_gf))
    return tf.reduce_sum(per_example * has) / tf.maximum(tf.reduce_sum(has), 1.0)


LOSSES = {"l1": masked_l1, "log_mse": masked_log_mse, "log_mse_safe": masked_log_mse_safe}
LOSS_NAMES = {"l1": "masked L1", "log_mse": "masked per-example MSE in dB",
              "log_mse_safe": "masked per-example MSE in dB, plus its excess over the linear gap-filling's"}
# losses that compare with the linear gap-filling: the pipeline appends it to the target
GAPFILLING_LOSSES = frozenset({"log_mse_safe"})
GAPFILLING_KEYS = ("s2_tm1", "s2_tp1", "s2_timestamp_t", "s2_timestamp_tm1", "s2_timestamp_tp1")


def _with_gapfilling(x: dict, y: dict, target: str = "s2_target") -> tuple[dict, dict]:
    """(x, y) with the linear gap-filling of x (t-1 and t+1 in time; where one has no data, the other; nodata where
    neither has: the in-graph gap-filling of gfnet) appended to the target's channels, for GAPFILLING_LOSSES."""
    import tensorflow as tf  # noqa: PLC0415

    before, after = x["s2_tm1"], x["s2_tp1"]
    t, t_before, t_after = x["s2_timestamp_t"], x["s2_timestamp_tm1"], x["s2_timestamp_tp1"]
    w = tf.clip_by_value((t - t_before) / tf.maximum(t_after - t_before, 1.0), 0.0, 1.0)[:, None, None, None]
    vb = tf.reduce_all(before > -9999.5, axis=-1, keepdims=True)
    va = tf.reduce_all(after > -9999.5, axis=-1, keepdims=True)
    mix = (1.0 - w) * before + w * after
    gapfilled = tf.where(vb & va, mix, tf.where(vb, before, tf.where(va, after, -10000.0)))
    return x, {**y, target: tf.concat([y[target], gapfilled], axis=-1)}


def _folders(dataset_dir) -> list[Path]:
    items = [dataset_dir] if isinstance(dataset_dir, (str, Path)) else list(dataset_dir)
    if not items:
        raise DecloudInputError("no dataset folder given")
    return [Path(p) for p in items]


def record_keys(folder: str | Path) -> set[str]:
    """The keys of the records of a dataset folder (its ``shapes_and_types.json``)."""
    folder = Path(folder)
    try:
        return set(json.loads((folder / "shapes_and_types.json").read_text()))
    except OSError as e:
        raise DecloudInputError(f"{folder}: not a dataset folder (no shapes_and_types.json)") from e
    except ValueError as e:
        raise DecloudInputError(f"{folder}/shapes_and_types.json: not valid JSON: {e}") from e


def _has_sar(keys: set[str]) -> bool:
    return any(k.startswith("s1_") and not k.startswith("s1_timestamp_") for k in keys)


# Network options that add inputs the records may lack: option -> (whether records have them, what they lack,
# how to write records that have them).
OPTION_INPUTS: dict[str, tuple[Callable[[set[str]], bool], str, str]] = {
    "with_dem": (lambda keys: "dem" in keys, "no DEM (dem)", "decloud dataset --dem TILE=PATH"),
    "with_sar": (_has_sar, "no S1 (s1_*)", "a layout with S1 and S1 preparations (decloud prepare-s1)"),
}


def _hint(missing: Sequence[str]) -> str:
    """How to get past records that lack the ``missing`` keys, which the network takes (the acquisitions first:
    without them no option helps)."""
    if any(k.startswith("s2_") and not k.startswith("s2_20m_") for k in missing):
        return "write the records with a layout that has these acquisitions, or choose a network that takes what " \
               "they hold"
    if "dem" in missing:
        return "set with_dem false in --options, or write the records with decloud dataset --dem TILE=PATH"
    if any(k.startswith("s1_") for k in missing):
        return "set with_sar false in --options, or write the records with a layout that has S1 at these dates"
    if any(k.startswith("s2_20m_") for k in missing):
        return "set with_20m false in --options (the prepared S2 have no 20 m bands)"
    return "write the records again with decloud dataset (records written before it stored the cloud mask of t " \
           "have no cloud_t)"


class UntrainableNetworkError(DecloudInputError):
    """A network of the registry that ``decloud train`` cannot train (one of the original Decloud's families)."""


def refuse_untrainable(network: str) -> None:
    """The original Decloud's families (:mod:`decloud.original_families`) are in the registry to build and import
    its SavedModels; they give ``s2_estim`` and its padded versions, not the ``s2_target`` that training fits, so
    they are refused in one line naming the family and why (:class:`UntrainableNetworkError`)."""
    from .networks import MODELS  # noqa: PLC0415
    from .original_families import ORIGINAL_FAMILIES  # noqa: PLC0415

    if network in ORIGINAL_FAMILIES:
        ours = sorted(set(MODELS) - set(ORIGINAL_FAMILIES))
        raise UntrainableNetworkError(
            f"{network} is one of the original Decloud's families, here to import its SavedModels (decloud "
            f"import-model): decloud train cannot train it, it has no s2_target output (its outputs are the "
            f"original's s2_estim and s2_estim_padN); train one of ours: {', '.join(ours)}")


def resolve_options(network: str, options: Mapping | None, folders: Sequence[str | Path]) -> tuple[dict, list[str]]:
    """The options ``network`` is built with for the records of ``folders``, and a note for each option that
    followed the records: an option that adds inputs (``OPTION_INPUTS``) and that the user did not set defaults
    to false when the records lack those inputs; set to true while they lack them, it is an error naming the
    option. An option the network does not take is an error listing those it takes."""
    from .networks import MODELS  # noqa: PLC0415

    options = dict(options or {})
    if network not in MODELS:
        raise DecloudKeyError(f"unknown model {network!r}; valid names: {', '.join(sorted(MODELS))}")
    refuse_untrainable(network)
    params = inspect.signature(MODELS[network]).parameters
    unknown = [k for k in options if k not in params]
    if unknown:
        raise DecloudInputError(f"--options {', '.join(unknown)}: not an option of {network} (its options: "
                                f"{', '.join(params) or 'none'})")
    keys = {Path(f): record_keys(f) for f in folders}
    notes = []
    for option, (has, lacks, fix) in OPTION_INPUTS.items():
        if option not in params:
            continue
        lacking = [f for f, k in keys.items() if not has(k)]
        if not lacking:
            continue
        if option in options:
            if options[option]:
                raise DecloudInputError(f"--options {option}=true: the records of {lacking[0]} have {lacks}; set "
                                        f"{option} false, or write records that have it ({fix})")
        elif params[option].default is True:
            options[option] = False
            notes.append(f"{option}: false (the records of {lacking[0]} have {lacks})")
    return options, notes


def _pipeline(folder, input_keys: Sequence[str], target_keys: Sequence[str], batch_size: int, *,
              shuffle: bool, seed: int):
    """Batches of one folder, or of several (each folder has its own patch size: a batch comes from one folder;
    batches are drawn from the folders at random in proportion to their sizes, each seen once per epoch)."""
    import tensorflow as tf  # noqa: PLC0415

    folders = _folders(folder)
    if len(folders) > 1:
        parts = [_pipeline(f, input_keys, target_keys, batch_size, shuffle=shuffle, seed=seed) for f in folders]
        sizes = [max(1, len(list(f.glob("*.tfrecord")))) for f in folders]
        weights = [n / sum(sizes) for n in sizes]
        return tf.data.Dataset.sample_from_datasets(parts, weights, seed=seed, stop_on_empty_dataset=False)
    folder = folders[0]
    spec = record_keys(folder)
    missing = [k for k in (*input_keys, *target_keys) if k not in spec]
    if missing:
        raise DecloudInputError(f"{folder}: the records have no {', '.join(missing)} "
                                f"(they have: {', '.join(sorted(spec))}); {_hint(missing)}")

    def split(record):
        x = {k: tf.cast(record[k], tf.float32) for k in input_keys}
        y = {k: tf.cast(record[k], tf.float32) for k in target_keys}
        return x, y

    ds = read_dataset(folder)
    if shuffle:
        ds = ds.shuffle(1024, seed=seed, reshuffle_each_iteration=True)
    return ds.map(split, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)


# ------------------------------------------------------------------------------------------- the state of a run

RUN_FILE = "run.json"  # what the run in out_dir trains: network, options (written when it starts)
HISTORY_FILE = "history.jsonl"  # in out_dir/logs: one line per finished epoch, kept across resumes
FINAL_WEIGHTS = "final.weights.h5"  # in out_dir/checkpoints: the weights at the end of fit, before the export
RunStatus = Literal["new", "unfinished", "trained", "finished"]


@dataclass(frozen=True)
class RunState:
    """Where the run in ``out_dir`` stands: ``new`` (nothing there), ``unfinished`` (started, killed: re-running
    continues it), ``trained`` (fit ended, the export did not: re-running exports), ``finished`` (exported)."""

    status: RunStatus
    epochs_done: int
    network: str | None = None
    options: dict | None = None
    model: Path | None = None

    def describe(self) -> str:
        what = f"{self.network} {json.dumps(self.options, sort_keys=True)}" if self.network else "a run"
        return f"{what}, {self.epochs_done} epoch(s) done"


def _same(a, b) -> bool:
    return json.dumps(a or {}, sort_keys=True, default=str) == json.dumps(b or {}, sort_keys=True, default=str)


def _history(out_dir: Path) -> dict[str, list[float]]:
    """The logs of every finished epoch of the run (all its processes), by key: {key: [value per epoch]}."""
    epochs: dict[int, dict] = {}
    try:
        lines = (out_dir / "logs" / HISTORY_FILE).read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        epochs[int(entry.pop("epoch"))] = entry  # an epoch run again after a kill: its last run counts
    keys = list(dict.fromkeys(k for e in epochs.values() for k in e))
    return {k: [float(epochs[e].get(k, float("nan"))) for e in sorted(epochs)] for k in keys}


def run_state(out_dir: str | Path) -> RunState:
    """The state of the training run in ``out_dir`` (see :class:`RunState`)."""
    out_dir = Path(out_dir)
    if (out_dir / "model" / "card.json").is_file():
        card = read_card(out_dir / "model")
        info = card.get("training", {})
        return RunState("finished", int(info.get("epochs_run", 0)), card.get("network"), info.get("options"),
                        out_dir / "model")
    try:
        run = json.loads((out_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        run = None
    try:
        backed_up = int(json.loads((out_dir / "backup" / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        backed_up = None
    if run is None and backed_up is None:
        return RunState("new", 0)
    network, options = (run.get("network"), run.get("options")) if run else (None, None)
    if run and (out_dir / "checkpoints" / FINAL_WEIGHTS).is_file():
        return RunState("trained", len(_history(out_dir).get("loss", [])), network, options)
    return RunState("unfinished", backed_up or 0, network, options)


def check_run(out_dir: str | Path, network: str, options: Mapping) -> RunState:
    """The state of the run in ``out_dir``, which must be a run of ``network`` with ``options`` (resolved) unless
    it is new: another network or other options is an error naming ``--force``."""
    state = run_state(out_dir)
    if state.status != "new" and state.network is not None and not (state.network == network
                                                                    and _same(state.options, options)):
        raise DecloudInputError(f"--out-dir {out_dir}: holds a {state.status} run of {state.describe()}, not of "
                                f"{network} {json.dumps(options, sort_keys=True)}: choose another --out-dir, or "
                                "--force to replace it")
    return state


def _clear(out_dir: Path) -> None:
    """What a run leaves in ``out_dir``, so that ``force`` starts from scratch."""
    for name in ("model", "backup", "checkpoints", "logs"):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    (out_dir / RUN_FILE).unlink(missing_ok=True)


def _save_weights(model, path: Path) -> Path:
    """``model.save_weights`` to ``path`` (a ``.weights.h5``), atomically."""
    with atomic_output(path) as tmp, tempfile.TemporaryDirectory(dir=path.parent, prefix=".weights-") as scratch:
        model.save_weights(str(Path(scratch) / "w.weights.h5"))  # Keras wants the .weights.h5 suffix
        os.replace(Path(scratch) / "w.weights.h5", tmp)
    return path


def _load_weights(model, path: Path, what: str, network: str, options: dict) -> None:
    try:
        model.load_weights(str(path))
    except (ValueError, OSError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DecloudInputError(f"{what} {path}: not weights of {network} with options "
                                f"{json.dumps(options, sort_keys=True)} ({first})") from e


def _check_init_weights(path: str | Path | None) -> Path | None:
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise DecloudInputError(f"--init-weights {path}: no such file")
    if not path.name.endswith(".weights.h5"):
        raise DecloudInputError(f"--init-weights {path}: not a .weights.h5 file (e.g. RUN/checkpoints/best.weights.h5 "
                                "of a run of the same network and options)")
    return path


def train(network: str, dataset_dir: str | Path | Sequence[str | Path], out_dir: str | Path, *,
          options: dict | None = None, valid_dir: str | Path | None = None, epochs: int = 10, batch_size: int = 4,
          learning_rate: float = 2e-4, patience: int = 5, seed: int = 0, strategy: Strategy = "default",
          callbacks: Sequence = (), verbose: int = 1, name: str | None = None, card_extra: dict | None = None,
          loss: Loss = "l1", init_weights: str | Path | None = None, force: bool = False) -> Path:
    """Train ``network`` (registry name, ``options`` for it) on one dataset folder or several (see
    ``_pipeline``); returns the exported model folder. ``card_extra`` joins the card's training section
    (data, split). ``loss``: ``l1`` (masked L1), ``log_mse`` (per-example masked MSE in dB, see
    ``masked_log_mse``) or ``log_mse_safe`` (the same plus its excess over the gap-filling's, see
    ``masked_log_mse_safe``).

    Options follow the records (:func:`resolve_options`): ``with_dem`` / ``with_sar`` not given default to false
    for records without a DEM / S1. The run in ``out_dir`` (:func:`run_state`): a finished run of the same
    network and options is left as it is (its model is returned; another network or options is an error), an
    unfinished one is continued from its last finished epoch, ``force`` starts from scratch (clears the model,
    checkpoints, backup and logs). ``init_weights``: a ``.weights.h5`` of a run of the same network and options
    (``checkpoints/best.weights.h5``) to start from (fine-tuning); a resumed run continues from its own backup."""
    out_dir = Path(out_dir)
    if loss not in LOSSES:
        raise DecloudInputError(f"unknown loss {loss!r}; losses: {', '.join(LOSSES)}")
    folders = _folders(dataset_dir)
    options, notes = resolve_options(network, options, folders + ([Path(valid_dir)] if valid_dir else []))
    for note in notes:
        log.info("%s", note)
    init = _check_init_weights(init_weights)
    if strategy == "multiworker":
        if len(folders) != 1:
            raise DecloudInputError("strategy multiworker: give one dataset folder")
        return _train_multiworker(network, options, folders[0], out_dir, epochs=epochs, batch_size=batch_size,
                                  learning_rate=learning_rate, seed=seed, verbose=verbose, init_weights=init,
                                  force=force)
    with folder_lock(out_dir, f"decloud train {network}"):
        return _train(network, options, folders, out_dir, valid_dir=valid_dir, epochs=epochs, batch_size=batch_size,
                      learning_rate=learning_rate, patience=patience, seed=seed, strategy=strategy,
                      callbacks=callbacks, verbose=verbose, name=name, card_extra=card_extra, loss=loss,
                      init_weights=init, force=force)


def _train(network: str, options: dict, folders: list[Path], out_dir: Path, *, valid_dir, epochs: int,
           batch_size: int, learning_rate: float, patience: int, seed: int, strategy: Strategy, callbacks: Sequence,
           verbose: int, name: str | None, card_extra: dict | None, loss: Loss, init_weights: Path | None,
           force: bool) -> Path:
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    state = RunState("new", 0) if force else check_run(out_dir, network, options)
    if state.status == "finished":
        assert state.model is not None
        log.info("%s: finished run (%s); its model: %s (force restarts from scratch)", out_dir, state.describe(),
                 state.model)
        return state.model

    keras.utils.set_random_seed(seed)
    scope = tf.distribute.MirroredStrategy() if strategy == "mirrored" else tf.distribute.get_strategy()
    with scope.scope():
        model = get_model(network, **options)
        outputs = model.output
        targets = [k for k in TARGETS if k in outputs]
        trainable = keras.Model(model.inputs, {k: outputs[k] for k in targets})
        trainable.compile(optimizer=keras.optimizers.Adam(learning_rate), loss={k: LOSSES[loss] for k in targets})
    input_keys = [t.name.split(":")[0] for t in model.inputs]
    if loss in GAPFILLING_LOSSES:  # before the run starts: nothing of it is written
        missing = [k for k in GAPFILLING_KEYS if k not in input_keys]
        if missing or targets != ["s2_target"]:
            raise DecloudInputError(f"loss {loss}: compares with the linear gap-filling of t-1 and t+1, which "
                                    f"{network} does not take ({', '.join(missing) or 'a 20 m output'})")
    if init_weights is not None:
        with scope.scope():
            _load_weights(trainable, init_weights, "--init-weights", network, options)
    info = {"network": network, "options": options, "dataset": [str(p.resolve()) for p in folders],
            "validation": str(Path(valid_dir).resolve()) if valid_dir else None,
            "init_weights": str(init_weights.resolve()) if init_weights else None,
            "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
            "loss": LOSS_NAMES[loss], **(card_extra or {})}
    if state.status == "trained":  # fit ended, the export did not: export the weights it ended with
        with scope.scope():
            _load_weights(trainable, out_dir / "checkpoints" / FINAL_WEIGHTS, "checkpoint", network, options)
        return _export(model, out_dir, network, name, info)
    if force:
        _clear(out_dir)
    write_json(out_dir / RUN_FILE, {"network": network, "options": options, "epochs": epochs,
                                    "init_weights": info["init_weights"]}, what="run description")
    train_ds = _pipeline(folders, input_keys, targets, batch_size, shuffle=True, seed=seed)
    valid_ds = (_pipeline(Path(valid_dir), input_keys, targets, batch_size, shuffle=False, seed=seed)
                if valid_dir else None)
    if loss in GAPFILLING_LOSSES:
        train_ds = train_ds.map(_with_gapfilling)
        valid_ds = valid_ds.map(_with_gapfilling) if valid_ds is not None else None
    monitor = "val_loss" if valid_ds is not None else "loss"
    cbs = [
        _epoch_log(out_dir / "logs" / HISTORY_FILE),  # before the backup: an epoch logged is never lost
        keras.callbacks.BackupAndRestore(str(out_dir / "backup"), delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(str(out_dir / "checkpoints" / "best.weights.h5"), monitor=monitor,
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True),
        keras.callbacks.TensorBoard(str(out_dir / "logs")),
        _previews(out_dir / "logs" / "previews", valid_ds if valid_ds is not None else train_ds),
        *callbacks,
    ]
    trainable.fit(train_ds, validation_data=valid_ds, epochs=epochs, callbacks=cbs, verbose=verbose)
    _save_weights(trainable, out_dir / "checkpoints" / FINAL_WEIGHTS)
    shutil.rmtree(out_dir / "backup", ignore_errors=True)  # the final weights replace it
    return _export(model, out_dir, network, name, info)


def _export(model, out_dir: Path, network: str, name: str | None, info: dict) -> Path:
    """Export ``model`` to ``out_dir/model`` (atomically) with its card; the training section gets the history of
    every epoch of the run."""
    history = _history(out_dir)
    info = {**info, "epochs_run": len(history.get("loss", [])), "history": history}
    target = out_dir / "model"
    with atomic_output(target, folder=True) as tmp:
        export_model(model, tmp, network=network, name=name or out_dir.resolve().name, training=info)
    return target


def _epoch_log(path: Path):
    """A callback appending each finished epoch's logs to ``path`` (one JSON line, flushed to disk)."""
    import keras  # noqa: PLC0415

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            path.parent.mkdir(parents=True, exist_ok=True)
            entry = {"epoch": int(epoch), **{k: float(v) for k, v in (logs or {}).items()}}
            with open(path, "a") as f:
                f.write(json.dumps(entry) + "\n")
                f.flush()
                os.fsync(f.fileno())

    return EpochLog()


def _previews(folder: Path, dataset):
    """A callback writing TensorBoard images of the first batch at each epoch: input t, estimate and target
    (B4 B3 B2). A factory, so that keras is imported only when training."""
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    class Previews(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.writer = tf.summary.create_file_writer(str(folder))
            self.batch = next(iter(dataset.take(1)))

        def on_epoch_end(self, epoch, logs=None):
            x, y = self.batch
            estimate = self.model(x, training=False)["s2_target"]

            def rgb(t):
                return tf.clip_by_value(tf.gather(tf.cast(t, tf.float32), [2, 1, 0], axis=-1) / 2000.0, 0, 1)

            with self.writer.as_default():
                if "s2_t" in x:
                    tf.summary.image("input_t", rgb(x["s2_t"]), step=epoch, max_outputs=4)
                tf.summary.image("estimate", rgb(estimate), step=epoch, max_outputs=4)
                tf.summary.image("target", rgb(y["s2_target"]), step=epoch, max_outputs=4)
            self.writer.flush()

    return Previews()


def _cluster_resolver():
    import os  # noqa: PLC0415

    import tensorflow as tf  # noqa: PLC0415

    if "TF_CONFIG" in os.environ:
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return tf.distribute.cluster_resolver.SlurmClusterResolver()
    raise DecloudInputError("strategy multiworker: set TF_CONFIG (or run as a multi-task Slurm job)")


def _train_multiworker(network: str, options: dict, dataset_dir: Path, out_dir: Path, *, epochs: int,
                       batch_size: int, learning_rate: float, seed: int, verbose: int,
                       init_weights: Path | None = None, force: bool = False) -> Path:
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    keras.utils.set_random_seed(seed)
    resolver = _cluster_resolver()
    is_chief = resolver.task_type in (None, "chief") or (resolver.task_type == "worker" and resolver.task_id == 0)
    # Every worker checkpoints (collectives); only the chief's folder is the one to resume from.
    ckpt_dir = out_dir / "backup" if is_chief else out_dir / f".worker{resolver.task_id}_backup"
    target = out_dir / "model" if is_chief else out_dir / f".worker{resolver.task_id}_model"
    if force:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
    elif (target / "card.json").is_file():  # every worker exported: the run is finished
        log.info("%s: finished run; its model: %s (force restarts from scratch)", out_dir, target)
        return target
    strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    with strategy.scope():
        model = get_model(network, **options)
        targets = [k for k in TARGETS if k in model.output]
        trainable = keras.Model(model.inputs, {k: model.output[k] for k in targets})
        optimizer = keras.optimizers.Adam(learning_rate)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False)
        if init_weights is not None:
            _load_weights(trainable, init_weights, "--init-weights", network, options)
    input_keys = [t.name.split(":")[0] for t in model.inputs]
    replicas = strategy.num_replicas_in_sync
    ds = _pipeline(dataset_dir, input_keys, targets, batch_size * replicas, shuffle=True, seed=seed)
    ds_options = tf.data.Options()
    ds_options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dist = strategy.experimental_distribute_dataset(ds.with_options(ds_options))

    @tf.function
    def step(x, y):
        def replica_step(x, y):
            with tf.GradientTape() as tape:
                pred = trainable(x, training=True)
                loss = tf.add_n([masked_l1(y[k], pred[k]) for k in targets]) / replicas
            grads = tape.gradient(loss, trainable.trainable_variables)
            optimizer.apply_gradients(zip(grads, trainable.trainable_variables))
            return loss

        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_step, args=(x, y)), axis=None)

    checkpoint = tf.train.Checkpoint(model=trainable, optimizer=optimizer, epoch=epoch_var)
    manager = tf.train.CheckpointManager(checkpoint, str(ckpt_dir), max_to_keep=1)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
    history = []
    while int(epoch_var.numpy()) < epochs:
        total, batches = 0.0, 0
        for x, y in dist:
            total += float(step(x, y))
            batches += 1
        history.append(total / max(batches, 1))
        epoch_var.assign_add(1)
        manager.save()
        if verbose:
            print(f"epoch {int(epoch_var.numpy())}/{epochs} - loss: {history[-1]:.4f}", flush=True)
    info = {"network": network, "options": options, "dataset": str(dataset_dir.resolve()), "strategy": "multiworker",
            "workers": replicas, "batch_size_per_replica": batch_size, "learning_rate": learning_rate, "seed": seed,
            "init_weights": str(init_weights.resolve()) if init_weights else None,
            "loss": "masked L1", "history": {"loss": history}, "epochs_run": len(history)}
    export_model(model, target, network=network, name=out_dir.resolve().name, training=info)
    return target

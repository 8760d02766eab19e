"""Training: TFRecord shards -> a network of the registry -> an exported SavedModel with its card.

``train(network, dataset_dir, out_dir, ...)``: tf.data (parallel reads, shuffle, batch, prefetch) from the
shards written by ``decloud dataset``; inputs are the records' keys that the network takes, the target is
``s2_target`` (and ``s2_20m_target`` for networks with a 20 m output); masked L1 loss (target nodata pixels
do not count); Adam; early stopping on the validation loss when a validation set is given; resumable:
``BackupAndRestore`` keeps the state of the last finished epoch in ``out_dir/backup`` so a killed run goes
on where it stopped; ``out_dir/checkpoints/best.weights.h5``; TensorBoard logs in ``out_dir/logs`` with
preview images (input t, estimate, target) at each epoch; strategies: default, mirrored (all local GPUs),
multiworker (several machines: ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``, or from Slurm's
environment in a multi-task Slurm job; Keras 3 ``fit`` does not run under it, so a custom loop does the
same training there, with a per-epoch checkpoint to resume from). The model is exported to
``out_dir/model`` with its card (by the chief; other workers export to a scratch folder, as TensorFlow
requires every worker to take part in saving).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from .card import export_model
from .dataset import read_dataset
from .errors import DecloudInputError
from .networks import get_model

log = logging.getLogger(__name__)
Strategy = Literal["default", "mirrored", "multiworker"]
TARGETS = ("s2_target", "s2_20m_target")


Loss = Literal["l1", "log_mse"]


def masked_l1(y_true, y_pred):
    import tensorflow as tf  # noqa: PLC0415

    valid = tf.cast(y_true > -10000, y_pred.dtype)
    return tf.reduce_sum(tf.abs(y_true - y_pred) * valid) / tf.maximum(tf.reduce_sum(valid), 1.0)


def masked_log_mse(y_true, y_pred):
    """10 log10 of each example's MSE over its target pixels (reflectance x 10000; a floor of 10^2, i.e. 40 dB),
    averaged over the examples that have target pixels: minus the mean per-example PSNR, up to a constant. Each
    example counts in decibels, as in the benchmark (a mean of per-scenario PSNR gains), so that sets with small
    errors (smooth 20 m data) weigh as much as sets with large ones."""
    import tensorflow as tf  # noqa: PLC0415

    valid = tf.cast(y_true > -10000, y_pred.dtype)
    count = tf.reduce_sum(valid, axis=[1, 2, 3])
    mse = tf.reduce_sum(tf.square(y_true - y_pred) * valid, axis=[1, 2, 3]) / tf.maximum(count, 1.0)
    db = 10.0 * tf.math.log(mse + 100.0) / tf.math.log(10.0)
    has = tf.cast(count > 0, y_pred.dtype)
    return tf.reduce_sum(db * has) / tf.maximum(tf.reduce_sum(has), 1.0)


LOSSES = {"l1": masked_l1, "log_mse": masked_log_mse}


def _folders(dataset_dir) -> list[Path]:
    items = [dataset_dir] if isinstance(dataset_dir, (str, Path)) else list(dataset_dir)
    if not items:
        raise DecloudInputError("no dataset folder given")
    return [Path(p) for p in items]


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
    try:
        spec = json.loads((folder / "shapes_and_types.json").read_text())
    except OSError as e:
        raise DecloudInputError(f"{folder}: not a dataset folder (no shapes_and_types.json)") from e
    missing = [k for k in (*input_keys, *target_keys) if k not in spec]
    if missing:
        raise DecloudInputError(f"{folder}: the records have no {', '.join(missing)} "
                                f"(they have: {', '.join(sorted(spec))})")

    def split(record):
        x = {k: tf.cast(record[k], tf.float32) for k in input_keys}
        y = {k: tf.cast(record[k], tf.float32) for k in target_keys}
        return x, y

    ds = read_dataset(folder)
    if shuffle:
        ds = ds.shuffle(1024, seed=seed, reshuffle_each_iteration=True)
    return ds.map(split, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train(network: str, dataset_dir: str | Path | Sequence[str | Path], out_dir: str | Path, *,
          options: dict | None = None, valid_dir: str | Path | None = None, epochs: int = 10, batch_size: int = 4,
          learning_rate: float = 2e-4, patience: int = 5, seed: int = 0, strategy: Strategy = "default",
          callbacks: Sequence = (), verbose: int = 1, name: str | None = None, card_extra: dict | None = None,
          loss: Loss = "l1") -> Path:
    """Train ``network`` (registry name, ``options`` for it) on one dataset folder or several (see
    ``_pipeline``); returns the exported model folder. ``card_extra`` joins the card's training section
    (data, split). ``loss``: ``l1`` (masked L1) or ``log_mse`` (per-example masked MSE in dB, see
    ``masked_log_mse``)."""
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    keras.utils.set_random_seed(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if strategy == "multiworker":
        if not isinstance(dataset_dir, (str, Path)):
            raise DecloudInputError("strategy multiworker: give one dataset folder")
        return _train_multiworker(network, options or {}, Path(dataset_dir), out_dir, epochs=epochs,
                                  batch_size=batch_size, learning_rate=learning_rate, seed=seed, verbose=verbose)
    scope = tf.distribute.MirroredStrategy() if strategy == "mirrored" else tf.distribute.get_strategy()
    with scope.scope():
        model = get_model(network, **(options or {}))
        outputs = model.output
        targets = [k for k in TARGETS if k in outputs]
        trainable = keras.Model(model.inputs, {k: outputs[k] for k in targets})
        if loss not in LOSSES:
            raise DecloudInputError(f"unknown loss {loss!r}; losses: {', '.join(LOSSES)}")
        trainable.compile(optimizer=keras.optimizers.Adam(learning_rate), loss={k: LOSSES[loss] for k in targets})
    input_keys = [t.name.split(":")[0] for t in model.inputs]
    train_ds = _pipeline(dataset_dir, input_keys, targets, batch_size, shuffle=True, seed=seed)
    valid_ds = (_pipeline(Path(valid_dir), input_keys, targets, batch_size, shuffle=False, seed=seed)
                if valid_dir else None)
    monitor = "val_loss" if valid_ds is not None else "loss"
    cbs = [
        keras.callbacks.BackupAndRestore(str(out_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(out_dir / "checkpoints" / "best.weights.h5"), monitor=monitor,
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True),
        keras.callbacks.TensorBoard(str(out_dir / "logs")),
        _previews(out_dir / "logs" / "previews", valid_ds if valid_ds is not None else train_ds),
        *callbacks,
    ]
    history = trainable.fit(train_ds, validation_data=valid_ds, epochs=epochs, callbacks=cbs, verbose=verbose)
    losses = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    info = {"network": network, "options": options or {},
            "dataset": [str(p.resolve()) for p in _folders(dataset_dir)],
            "validation": str(Path(valid_dir).resolve()) if valid_dir else None,
            "epochs_run": len(losses.get("loss", [])),
            "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
            "loss": {"l1": "masked L1", "log_mse": "masked per-example MSE in dB"}[loss], "history": losses,
            **(card_extra or {})}
    return export_model(model, out_dir / "model", network=network, name=name, training=info)


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
                       batch_size: int, learning_rate: float, seed: int, verbose: int) -> Path:
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    resolver = _cluster_resolver()
    strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    is_chief = resolver.task_type in (None, "chief") or (resolver.task_type == "worker" and resolver.task_id == 0)
    with strategy.scope():
        model = get_model(network, **options)
        targets = [k for k in TARGETS if k in model.output]
        trainable = keras.Model(model.inputs, {k: model.output[k] for k in targets})
        optimizer = keras.optimizers.Adam(learning_rate)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False)
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

    # Every worker checkpoints (collectives); only the chief's folder is the one to resume from.
    ckpt_dir = out_dir / "backup" if is_chief else out_dir / f".worker{resolver.task_id}_backup"
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
            "loss": "masked L1", "history": {"loss": history}, "epochs_run": len(history)}
    target = out_dir / "model" if is_chief else out_dir / f".worker{resolver.task_id}_model"
    export_model(model, target, network=network, training=info)
    return target

"""Small SavedModels with known behaviour, for the demo, the tests and the benchmarks.

Each builder writes a SavedModel with a ``serving_default`` signature whose input and output keys are
given by the function and returns the model directory. Weights come from a seeded generator, so a
model is the same on every machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def conv_model(
    out_dir: str | Path,
    *,
    in_bands: int = 4,
    out_bands: int = 2,
    kernel: int = 5,
    seed: int = 0,
    extra_output: bool = False,
) -> Path:
    """Fully convolutional model: one 'valid' convolution of ``kernel`` x ``kernel`` plus a bias.

    Input ``x`` [batch, h, w, in_bands] float32; output ``y`` [batch, h - kernel + 1, w - kernel + 1,
    out_bands]; with ``extra_output``, also ``z`` = per-pixel mean over the bands of ``y`` (1 band).
    Receptive field = expression field + kernel - 1.
    """
    import tensorflow as tf  # noqa: PLC0415 - heavy import, only when a model is built

    rng = np.random.default_rng(seed)
    weights = tf.constant(rng.normal(0, 0.1, (kernel, kernel, in_bands, out_bands)).astype("float32"))
    bias = tf.constant(rng.normal(0, 1, (out_bands,)).astype("float32"))

    class Conv(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, in_bands], tf.float32, name="x")])
        def serve(self, x):
            y = tf.nn.conv2d(x, weights, strides=1, padding="VALID") + bias
            outputs = {"y": y}
            if extra_output:
                outputs["z"] = tf.reduce_mean(y, axis=-1, keepdims=True)
            return outputs

    module = Conv()
    tf.saved_model.save(module, str(out_dir), signatures={"serving_default": module.serve})
    return Path(out_dir)


def patch_model(out_dir: str | Path, *, patch: int = 5, in_bands: int = 4, classes: int = 3, seed: int = 1) -> Path:
    """Patch-based model: input ``x`` [n, patch, patch, in_bands] -> output ``prob`` [n, classes] (softmax of
    a dense layer over the flattened patch) and ``label`` [n] (argmax, int32). Fixed patch size.
    """
    import tensorflow as tf  # noqa: PLC0415 - heavy import, only when a model is built

    rng = np.random.default_rng(seed)
    dense = tf.constant(rng.normal(0, 0.01, (patch * patch * in_bands, classes)).astype("float32"))

    class Patch(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, patch, patch, in_bands], tf.float32, name="x")])
        def serve(self, x):
            logits = tf.reshape(x, [-1, patch * patch * in_bands]) @ dense
            return {"prob": tf.nn.softmax(logits), "label": tf.argmax(logits, axis=-1, output_type=tf.int32)}

    module = Patch()
    tf.saved_model.save(module, str(out_dir), signatures={"serving_default": module.serve})
    return Path(out_dir)


def two_source_patch_model(out_dir: str | Path, *, patch1: int = 8, patch2: int = 4, seed: int = 2) -> Path:
    """Patch-based model with two sources (e.g. 10 m and 20 m): ``x1`` [n, patch1, patch1, 4] and ``x2``
    [n, patch2, patch2, 2] -> ``out`` [n, 3] = weighted means of each input's bands.
    """
    import tensorflow as tf  # noqa: PLC0415 - heavy import, only when a model is built

    rng = np.random.default_rng(seed)
    w1 = tf.constant(rng.normal(0, 1, (4, 3)).astype("float32"))
    w2 = tf.constant(rng.normal(0, 1, (2, 3)).astype("float32"))

    class TwoSources(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None, patch1, patch1, 4], tf.float32, name="x1"),
                tf.TensorSpec([None, patch2, patch2, 2], tf.float32, name="x2"),
            ]
        )
        def serve(self, x1, x2):
            return {"out": tf.reduce_mean(x1, axis=[1, 2]) @ w1 + tf.reduce_mean(x2, axis=[1, 2]) @ w2}

    module = TwoSources()
    tf.saved_model.save(module, str(out_dir), signatures={"serving_default": module.serve})
    return Path(out_dir)


def build_keras_unet(
    *,
    in_bands: int = 4,
    out_bands: int = 4,
    widths: tuple[int, ...] = (64, 128, 256, 512, 512, 512),
    seed: int = 0,
):
    """Keras 3 U-Net in Decloud's shape: conv 5x5, stride-2 convs, transposed convs back with skips, conv
    5x5 to the bands; scaling to and from reflectance x 10000 inside. ``len(widths) - 1`` stride-2 levels,
    so the spatial size must be a multiple of 2 ** (len(widths) - 1). Random weights: for engine benchmarks.
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    x = keras.Input((None, None, in_bands), name="x")
    h = layers.Conv2D(widths[0], 5, padding="same", activation="relu")(x / 10000.0)
    skips = [h]
    for width in widths[1:]:
        h = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(h)
        skips.append(h)
    skips.pop()
    for width, skip in zip(reversed(widths[:-1]), reversed(skips)):
        h = layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu")(h)
        h = layers.Concatenate()([h, skip])
    y = layers.Conv2D(out_bands, 5, padding="same")(h) * 10000.0
    return keras.Model(x, y)


def keras_unet(out_dir: str | Path, **kwargs) -> Path:
    """:func:`build_keras_unet` exported with Keras 3 ``model.export`` (input ``x``, output ``output_0``)."""
    build_keras_unet(**kwargs).export(str(out_dir), verbose=False)
    return Path(out_dir)


def run_saved_model(model_dir: str | Path, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Call a SavedModel's serving_default signature from Python (the reference for the app)."""
    import tensorflow as tf  # noqa: PLC0415 - heavy import, only when a model is built

    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}

"""Benchmark: inference throughput of each network family, U-Net vs ResNet, input pipeline vs training step.

  <family>_<size>px_mpx_s   forward pass (batch 1, graph mode, after a warm-up) of ssop_mer (Meraner ResNet),
                            ssop_unet, msop_unet at Decloud's widths and the small U-Nets (width 0.25)
  unet_vs_resnet            ssop_unet / ssop_mer throughput at the same tile size (the paper: 30-40x)
  pipeline_examples_s       tf.data from TFRecord shards (decode, batch) alone
  step_examples_s           training steps of msop_unet (width 0.25, no SAR) on in-memory batches
  pipeline_vs_step          the ratio: above 1, the input pipeline is not the bottleneck

    python bench/models.py           # tiles of 256 and 1024 pixels (several minutes: the ResNet is slow)
    python bench/models.py --quick   # 128-pixel ResNet, 256-pixel U-Nets, under a minute
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from decloud.dataset import write_examples
from decloud.networks import get_model
from decloud.train import _pipeline, masked_l1


def throughput(model, size: int, repeats: int) -> float:
    import keras  # noqa: PLC0415 (TensorFlow loaded when the benchmark runs)
    import tensorflow as tf  # noqa: PLC0415

    rng = np.random.default_rng(0)
    feed = {}
    for t in model.inputs:
        key = t.name.split(":")[0]
        s = size // 2 if key == "dem" or "20m" in key else size
        feed[key] = tf.constant(rng.uniform(0, 3000, (1, s, s, t.shape[-1])).astype("float32"))
    uncropped = keras.Model(model.inputs, {k: v for k, v in model.output.items() if "crop" not in k})
    fn = tf.function(lambda x: uncropped(x, training=False))
    fn(feed)  # warm-up: tracing and graph optimisation
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(feed)["s2_target"].numpy()
        best = min(best, time.perf_counter() - start)
    return size * size / best / 1e6


def pipeline_vs_step(tmp: Path, n: int, batch: int, steps: int) -> tuple[float, float]:
    import keras  # noqa: PLC0415

    rng = np.random.default_rng(1)
    keys = ("s2_tm1", "s2_t", "s2_tp1")
    examples = ({k: rng.integers(0, 4000, (64, 64, 4)).astype(np.int16) for k in (*keys, "s2_target")}
                for _ in range(n))
    write_examples(tmp / "records", examples, shard_size=64)
    ds = _pipeline(tmp / "records", keys, ["s2_target"], batch, shuffle=True, seed=0)
    for _ in ds.take(1):
        pass
    start = time.perf_counter()
    count = sum(int(x["s2_t"].shape[0]) for x, _ in ds)
    pipeline_rate = count / (time.perf_counter() - start)

    model = get_model("msop_unet", width=0.25, with_sar=False, with_dem=False)
    trainable = keras.Model(model.inputs, {"s2_target": model.output["s2_target"]})
    trainable.compile(optimizer=keras.optimizers.Adam(1e-4), loss={"s2_target": masked_l1})
    x, y = next(iter(ds))
    trainable.train_on_batch(x, y)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        trainable.train_on_batch(x, y)
    step_rate = steps * int(x["s2_t"].shape[0]) / (time.perf_counter() - start)
    return pipeline_rate, step_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    unet_sizes = (256,) if args.quick else (256, 1024)
    resnet_sizes = (128,) if args.quick else (256, 1024)
    repeats = 2 if args.quick else 3

    rates = {}
    families = [("ssop_mer", {}, resnet_sizes), ("ssop_unet", {}, unet_sizes), ("msop_unet", {}, unet_sizes),
                ("ssop_unet_small", {"width": 0.25}, unet_sizes), ("msop_unet_small", {"width": 0.25}, unet_sizes)]
    for label, options, sizes in families:
        model = get_model(label.replace("_small", ""), **options)
        print(f"{label}_parameters: {model.count_params()}", flush=True)
        for size in sizes:
            rates[(label, size)] = throughput(model, size, 1 if label == "ssop_mer" and size > 256 else repeats)
            print(f"{label}_{size}px_mpx_s: {rates[(label, size)]:.4f}", flush=True)
    if args.quick:  # same tile size for the ratio
        rates[("ssop_unet", 128)] = throughput(get_model("ssop_unet"), 128, repeats)
        print(f"ssop_unet_128px_mpx_s: {rates[('ssop_unet', 128)]:.4f}")
    size = resnet_sizes[0]
    print(f"unet_vs_resnet: {rates[('ssop_unet', size)] / rates[('ssop_mer', size)]:.1f}")
    print(f"unet_vs_resnet_tile_px: {size}")

    with tempfile.TemporaryDirectory(prefix="decloud-bench-") as tmp:
        pipe, step = pipeline_vs_step(Path(tmp), 128 if args.quick else 512, 8, 3 if args.quick else 10)
    print(f"pipeline_examples_s: {pipe:.1f}")
    print(f"step_examples_s: {step:.1f}")
    print(f"pipeline_vs_step: {pipe / step:.1f}")


if __name__ == "__main__":
    main()

"""Quick in-Python check of a SavedModel (or a training run's weights) on the test scenarios of the real sets:
the whole test image in one call (padded by reflection to a multiple of 32 plus 64 px), no app. For iterating
while training; the reported figures come from bench/quality.py, which goes through the real apps."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from decloud import metrics
from decloud.scenarios import (
    SPLITS,
    build_scene,
    gapfill_local_bias,
    linear_gapfill,
    load_series,
    test_scenarios,
    validation_scenarios,
)


def run_model(fn, scene, pad=64):
    h, w = scene.t.shape[:2]
    H = -(-(h + 2 * pad) // 32) * 32
    W = -(-(w + 2 * pad) // 32) * 32
    py, px = (pad, H - h - pad), (pad, W - w - pad)

    def p(a):
        return np.pad(a, (py, px, (0, 0)), mode="reflect")[None].astype(np.float32)

    x = {"s2_t": p(scene.t), "s2_tm1": p(scene.tm1), "s2_tp1": p(scene.tp1),
         "cloud_t": p(scene.cloud[..., None].astype(np.float32))}
    for k, v in scene.timestamps.items():
        x[f"s2_timestamp_{k}"] = np.array([v], np.float32)
    y = fn(x)
    y = y["s2_target"] if isinstance(y, dict) else y
    return np.asarray(y)[0, py[0]:py[0] + h, px[0]:px[0] + w]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path, help="SavedModel folder, or a training run's .weights.h5 (gfnet)")
    ap.add_argument("--option", action="append", default=[], help="network option KEY=VALUE for .weights.h5")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--max-references", type=int, default=None)
    ap.add_argument("--part", choices=("test", "train"), default="test",
                    help="train: the protocol on the training parts (to choose checkpoints without the test)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    import tensorflow as tf  # noqa: PLC0415 (after the arguments: --help stays fast)

    if args.model.suffix == ".h5":
        from gfnet_common import network_options, trainable_gfnet  # noqa: PLC0415

        net, trainable = trainable_gfnet(network_options(args.option))
        trainable.load_weights(str(args.model))
        keys = [t.name.split(":")[0] for t in net.inputs]

        def fn(x):
            return trainable({k: x[k] for k in keys}, training=False)
    else:
        loaded = tf.saved_model.load(str(args.model))
        sig = loaded.signatures["serving_default"]

        def fn(x):
            return sig(**{k: tf.constant(v) for k, v in x.items() if k in sig.structured_input_signature[1]})

    gains = []
    for name, split in SPLITS.items():
        series = load_series(args.data / name, mask=split.mask)
        pick = test_scenarios if args.part == "test" else validation_scenarios
        part, scs = pick(series, split, max_references=args.max_references)
        rows = []
        for sc in scs:
            scene = build_scene(part, sc)
            m = scene.scored
            if m.sum() == 0:
                continue
            ref = scene.reference
            gf = linear_gapfill(scene.tm1, scene.tp1, scene.timestamps)
            lb = gapfill_local_bias(scene)
            net = run_model(fn, scene)
            r = [metrics.psnr(e, ref, m) for e in (gf, lb, net)]
            r += [metrics.sam(e, ref, m) for e in (gf, net)]
            rows.append(r)
            if not args.quiet:
                print(f"  {sc.label(part)} cloudy={m.mean():.2f} gf={r[0]:.2f} bias={r[1]:.2f} net={r[2]:.2f}",
                      flush=True)
        a = np.array(rows)
        g = a[:, 2].mean() - a[:, 0].mean()
        gains.append(g)
        print(f"{name}: n={len(a)} gf={a[:,0].mean():.2f} bias={a[:,1].mean():.2f} net={a[:,2].mean():.2f} "
              f"gain={g:+.2f} worst={np.min(a[:,2]-a[:,0]):+.2f} sam_ratio={a[:,4].mean()/a[:,3].mean():.3f}",
              flush=True)
    print(f"min_gain_db: {min(gains):.2f} mean_gain_db: {np.mean(gains):.2f}")


if __name__ == "__main__":
    sys.exit(main())

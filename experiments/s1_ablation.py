"""The paper's main question on real data, however small: does Sentinel-1 help the reconstruction?
gfnet with and without S1 on worldcereal-belgium-a (the only set with real S1: VV/VH, 20 m, linear sigma0),
trained on the same examples (same seed, same epochs), scored on the same test scenarios.

    python experiments/s1_ablation.py --data ../shared/data --work experiments/work/s1 [--epochs 8]

1. Training examples from belgium's training part (``decloud.scenarios.training_examples`` with ``s1``:
   the S1 image nearest each S2 date within 3 days, on the S2 grid, Decloud's uint16 log stretch), written
   once; both variants read the same records (the variant without S1 ignores the s1_* keys).
2. Both trained with ``decloud.train.train`` (log_mse, Adam), resumable.
3. Scored in Python on belgium's test scenarios (the whole 64 x 64 scene in one call; the benchmark's apps cannot
   feed S1 from stacks): PSNR / SAM on the pasted cloudy pixels, against the linear gap-filling. Writes
   ``experiments/results/s1_ablation.md``. Test dates without an S1 image within 3 days get S1 = 0 (nodata, as
   the app feeds a missing S1) and are reported apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SET = "worldcereal-belgium-a"
VARIANTS = {"gfnet-s2": {"width": 0.25}, "gfnet-s2-s1": {"width": 0.25, "with_sar": True}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--work", type=Path, default=Path("experiments/work/s1"))
    p.add_argument("--results", type=Path, default=Path("experiments/results"))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--examples", type=int, default=1600)
    args = p.parse_args(argv)
    folder = args.data / SET
    if not folder.is_dir():
        raise SystemExit(f"[s1] {folder} is absent: this experiment needs ../shared/data/{SET}")
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415
    from decloud import metrics  # noqa: PLC0415
    from decloud.dataset import write_examples  # noqa: PLC0415
    from decloud.networks import get_model  # noqa: PLC0415
    from decloud.scenarios import (  # noqa: PLC0415
        SPLITS,
        build_scene,
        linear_gapfill,
        load_s1_for,
        load_series,
        test_scenarios,
        training_examples,
    )
    from decloud.train import train  # noqa: PLC0415

    split = SPLITS[SET]
    series = load_series(folder, mask=split.mask)
    s1 = load_s1_for(series, folder)
    data = args.work / "data"
    if not (data / "done.json").exists():
        write_examples(data, training_examples(series, split, patch=64, count=args.examples, seed=3, s1=s1),
                       total=args.examples, quiet=False, shard_size=128)
        (data / "done.json").write_text(json.dumps({"set": SET, "examples": args.examples, "s1": True}))
    weights = {}
    for name, options in VARIANTS.items():
        run = args.work / "runs" / name
        if not (run / "model" / "card.json").exists():
            print(f"[s1] training {name}", flush=True)
            lr = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_lr=2e-5)
            train("gfnet", [data], run, options=options, epochs=args.epochs, batch_size=8, learning_rate=5e-4,
                  seed=0, patience=10, callbacks=[lr], verbose=2, name=name, loss="log_mse")
        weights[name] = run / "checkpoints" / "best.weights.h5"

    # S1 of the test part: the same arrays, indexed like the test part's dates
    part, scenarios = test_scenarios(series, split)
    index = {d: i for i, d in enumerate(series.dates)}
    rows = []
    nets = {}
    for name, options in VARIANTS.items():
        net = get_model("gfnet", **options)
        trainable = keras.Model(net.inputs, {"s2_target": net.output["s2_target"]})
        trainable.load_weights(str(weights[name]))
        nets[name] = trainable
    for sc in scenarios:
        scene = build_scene(part, sc)
        m = scene.scored
        if not m.any():
            continue
        gf = linear_gapfill(scene.tm1, scene.tp1, scene.timestamps)
        x = {"s2_t": scene.t[None], "s2_tm1": scene.tm1[None], "s2_tp1": scene.tp1[None],
             "cloud_t": scene.cloud[None, ..., None]}
        x = {k: tf.constant(v.astype(np.float32)) for k, v in x.items()}
        for k, v in scene.timestamps.items():
            x[f"s2_timestamp_{k}"] = tf.constant([float(v)], tf.float32)
        sar = {f"s1_{r}": s1[index[part.dates[i]]] for r, i in (("t", sc.reference), ("tm1", sc.before),
                                                                  ("tp1", sc.after))}
        has_s1 = all((v > 0).any() for v in sar.values())
        row = {"scenario": scene.label, "s1_at_all_dates": has_s1, "gapfilling": metrics.psnr(gf, scene.reference, m),
               "sam_gapfilling": metrics.sam(gf, scene.reference, m)}
        for name, net in nets.items():
            feed = dict(x)
            if VARIANTS[name].get("with_sar"):
                feed.update({k: tf.constant(v[None].astype(np.float32)) for k, v in sar.items()})
            out = np.asarray(net(feed, training=False)["s2_target"])[0]
            row[name] = metrics.psnr(out, scene.reference, m)
            row[f"sam_{name}"] = metrics.sam(out, scene.reference, m)
        rows.append(row)
        print(f"  {scene.label} s1={has_s1} gf={row['gapfilling']:.2f} "
              + " ".join(f"{n}={row[n]:.2f}" for n in VARIANTS), flush=True)

    def mean(key, sel=lambda r: True):
        vals = [r[key] for r in rows if sel(r)]
        return float(np.mean(vals)) if vals else float("nan")

    lines = [f"# S1 or not: gfnet on {SET} with and without Sentinel-1 (real S1, same examples, same budget)", "",
             f"Produced by `python experiments/s1_ablation.py` ({args.epochs} epochs, {args.examples} examples of "
             "64 x 64 from the training part; test part from 2018-06-15). PSNR (dB) and SAM on the pasted cloudy "
             "pixels of the test scenarios, scored in Python on the whole scene (not through DecloudInfer: the "
             "benchmark does not feed S1 from stacks).", "",
             "| scenarios | n | gap-filling | gfnet S2 | gfnet S2+S1 | S1 gain (dB) | S1 wins / losses | SAM S2 "
             "| SAM S2+S1 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, sel in (("all", lambda r: True), ("S1 at t, t-1, t+1", lambda r: r["s1_at_all_dates"]),
                       ("some S1 missing", lambda r: not r["s1_at_all_dates"])):
        sub = [r for r in rows if sel(r)]
        if not sub:
            continue
        gain = [r["gfnet-s2-s1"] - r["gfnet-s2"] for r in sub]
        lines.append(f"| {label} | {len(sub)} | {mean('gapfilling', sel):.2f} | {mean('gfnet-s2', sel):.2f} "
                     "| "
                     f"{mean('gfnet-s2-s1', sel):.2f} | {np.mean(gain):+.2f} | {sum(g > 0 for g in gain)} / "
                     f"{sum(g < 0 for g in gain)} | {mean('sam_gfnet-s2', sel):.4f} | "
                     f"{mean('sam_gfnet-s2-s1', sel):.4f} |")
    text = "\n".join(lines) + "\n"
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "s1_ablation.md").write_text(text)
    (args.results / "s1_ablation.json").write_text(json.dumps(rows, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Reproduce the shipped synthesis model (``synthnet``, issue 16) from the real sets of ../shared/data.

    python experiments/synthnet_all_sets.py --data ../shared/data --work experiments/work/synthnet [--epochs N]

1. Training examples per set (``decloud.scenarios.synthesis_examples`` on the TRAINING part of each set's split,
   ``decloud.scenarios.SPLITS``): a clear date of a month withheld as the target, the month's dates picked by the
   original Decloud's rule among the other dates of the training part as inputs (their cloudy pixels as nodata),
   random crops, dihedral transforms, fewer dates, undetected clouds, holes. TFRecord shards that ``decloud
   train`` reads (one folder per set: each set has its own patch size).
2. ``decloud.train.train("synthnet", [folders], ...)``: resumable (a killed run goes on from its last epoch).
Each step is skipped when its output is complete, so the script can be re-run after a kill. The test parts
(``bench/synthesis.py``'s references) are never read for training.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from decloud.scenarios import SPLITS, synthesis_examples

# Patch side and number of examples per set (the training parts' sizes: belgium-a is 64 x 64 pixels).
PLAN = {
    "bolzano-west": (128, 600),
    "greenearthnet-portugal": (96, 600),
    "greenearthnet-sweden": (96, 400),
    "worldcereal-belgium-a": (64, 1600),
}


def build_datasets(data: Path, work: Path, *, seed: int) -> list[Path]:
    from gfnet_common import build_set_records  # noqa: PLC0415

    return build_set_records(
        data, work, PLAN, lambda series, split, patch, n: synthesis_examples(series, split, patch=patch, count=n,
                                                                             seed=seed),
        tag="synthnet", describe={"seed": seed})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--work", type=Path, default=Path("experiments/work/synthnet"))
    p.add_argument("--name", default="synthnet-v1")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=24)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import keras  # noqa: PLC0415
    from decloud.train import train  # noqa: PLC0415

    folders = build_datasets(args.data, args.work, seed=args.seed)
    run = args.work / "runs" / args.name
    extra = {"data": {name: {"patch": PLAN[name][0], "split": SPLITS[name].describe()}
                      for name in PLAN if (args.data / name).is_dir()},
             "examples": "a clear date of a month withheld as the target, the month's dates picked by the original "
                         "Decloud's rule among the others as inputs, clouds as nodata "
                         "(decloud.scenarios.synthesis_examples), training parts only"}
    lr = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_lr=5e-5)
    keep = keras.callbacks.ModelCheckpoint(str(run / "checkpoints" / "ep{epoch:02d}.weights.h5"),
                                           save_weights_only=True)
    model = train("synthnet", folders, run, options={"width": args.width}, epochs=args.epochs,
                  batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed, patience=4,
                  callbacks=[lr, keep], verbose=2, name=args.name, card_extra=extra, loss="log_mse")
    print(f"[synthnet] model: {model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

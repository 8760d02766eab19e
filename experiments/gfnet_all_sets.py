"""Reproduce the shipped default model (gfnet) from the real sets of ../shared/data.

    python experiments/gfnet_all_sets.py --data ../shared/data --work experiments/work/gfnet [--epochs N]

1. Training examples per set (``decloud.scenarios.training_examples`` on the TRAINING part of each set's split,
   ``decloud.scenarios.SPLITS``: real cloudy pixels of other dates pasted on clear dates under their real masks,
   random neighbours and crops, dihedral transforms, holes), written as TFRecord shards that ``decloud train``
   reads (one folder per set: each set has its own patch size).
2. ``decloud.train.train("gfnet", [folders], ...)``: resumable (a killed run goes on from its last epoch).
Each step is skipped when its output is complete, so the script can be re-run after a kill.
Options for ablations: --option use_mask=false etc., --name.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from decloud.scenarios import SPLITS, training_examples
from decloud.train import LOSSES

# Patch side and number of examples per set: the patch is the largest multiple of 32 that fits the set (with room
# for random crops where the set is large); counts roughly follow the number of distinct training scenarios.
PLAN = {
    "bolzano-west": (128, 1600),
    "greenearthnet-portugal": (128, 700),
    "greenearthnet-sweden": (96, 500),
    "worldcereal-belgium-a": (64, 1600),
}


def build_datasets(data: Path, work: Path, *, seed: int, scale: float, holes: float = 0.15,
                   without: Sequence[str] = ()) -> list[Path]:
    from gfnet_common import build_set_records  # noqa: PLC0415

    plan = {name: (patch, max(8, int(count * scale))) for name, (patch, count) in PLAN.items() if name not in without}
    return build_set_records(
        data, work, plan, lambda series, split, patch, n: training_examples(series, split, patch=patch, count=n,
                                                                            seed=seed, holes=holes),
        tag="gfnet", describe={"seed": seed, "holes": holes})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--work", type=Path, default=Path("experiments/work/gfnet"))
    p.add_argument("--name", default="gfnet-default")
    p.add_argument("--epochs", type=int, default=14)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--learning-rate", type=float, default=5e-4)
    p.add_argument("--scale", type=float, default=0.7, help="fraction of the planned number of examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holes", type=float, default=0.15,
                   help="share of examples with nodata holes in t-1, t+1 or t (gfnet-v2: 0.15, gfnet-v3: 0.35); "
                        "a new value needs a new --work folder (its examples are cached)")
    p.add_argument("--loss", default="log_mse", choices=sorted(LOSSES))
    p.add_argument("--option", action="append", default=[], help="network option KEY=VALUE (e.g. width=0.25)")
    p.add_argument("--without", action="append", default=[], choices=sorted(PLAN), metavar="SET",
                   help="leave this set out of training entirely (a region the model never saw: its whole series "
                        "can then test generalisation, experiments/gfnet_diagnose.py --unseen); repeatable")
    p.add_argument("--init-weights", type=Path, default=None,
                   help="start from these weights (a .weights.h5 of a run with the same options): a second stage")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import keras  # noqa: PLC0415
    from decloud.train import train  # noqa: PLC0415
    from gfnet_common import network_options  # noqa: PLC0415

    options = network_options(args.option)
    folders = build_datasets(args.data, args.work, seed=args.seed, scale=args.scale, holes=args.holes,
                             without=args.without)
    run = args.work / "runs" / args.name
    extra = {"data": {name: {"patch": PLAN[name][0], "split": SPLITS[name].describe()}
                      for name in PLAN if (args.data / name).is_dir() and name not in args.without},
             "examples": "real cloudy pixels of other dates pasted on clear dates under their real masks "
                         "(decloud.scenarios.training_examples), training parts only"}
    lr = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_lr=2e-5)
    # every epoch's weights, for averaging the last ones (experiments/average_checkpoints.py)
    keep = keras.callbacks.ModelCheckpoint(str(run / "checkpoints" / "ep{epoch:02d}.weights.h5"),
                                           save_weights_only=True)
    model = train("gfnet", folders, run, options=options, epochs=args.epochs, batch_size=args.batch_size,
                  learning_rate=args.learning_rate, seed=args.seed, patience=4, callbacks=[lr, keep], verbose=2,
                  name=args.name, card_extra=extra, loss=args.loss, init_weights=args.init_weights)
    print(f"[gfnet] model: {model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Average the weights of several checkpoints of one gfnet (or ``--network synthnet``) run (stochastic weight
averaging done after the fact: the mean of the last epochs' weights is usually smoother and generalises better
than any one of them), and export the average as a SavedModel with its card.

    python experiments/average_checkpoints.py OUT_MODEL ckpt1.weights.h5 ckpt2.weights.h5 ... [--option k=v]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("checkpoints", type=Path, nargs="+")
    p.add_argument("--option", action="append", default=[])
    p.add_argument("--network", default="gfnet", help="the registry name of the run's network (gfnet, synthnet)")
    p.add_argument("--name", default=None)
    p.add_argument("--training", type=Path, default=None, help="card.json whose training section to keep")
    args = p.parse_args(argv)
    from decloud.card import export_model  # noqa: PLC0415
    from gfnet_common import network_options, trainable_gfnet  # noqa: PLC0415

    net, trainable = trainable_gfnet(network_options(args.option, args.network), args.network)
    total = None
    for ckpt in args.checkpoints:
        trainable.load_weights(str(ckpt))
        weights = [w.copy() for w in trainable.get_weights()]
        total = weights if total is None else [a + b for a, b in zip(total, weights)]
    trainable.set_weights([w / len(args.checkpoints) for w in total])
    training = json.loads(args.training.read_text())["training"] if args.training else {}
    training = {**training, "averaged_checkpoints": [c.name for c in args.checkpoints]}
    export_model(net, args.out, network=args.network, name=args.name or args.out.name, training=training)
    print(f"averaged {len(args.checkpoints)} checkpoints into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

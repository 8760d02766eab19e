"""Re-export a shipped gfnet with the graph of the current code and its own weights (no training).

    python experiments/reexport_gfnet.py models/gfnet-v5 experiments/work/gfnet-v5-reexported --why "..."

Builds the network of the card's ``training.options`` (``decloud.networks.get_model``), assigns it the variables of
the shipped SavedModel (same count, order and shapes, checked), exports it (``model.export``) with the card, the
reason appended to the card's ``training.reexported``. Then ``experiments/ship_default.py`` scores and ships it. Used
when a change of the graph code (not of the weights) must reach the shipped model, e.g. the analog's statistics in
float64 (2026-12-02: the output no longer depends on TensorFlow's thread count).
"""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--why", required=True, help="what changed in the graph (kept in the card)")
    args = p.parse_args(argv)
    import tensorflow as tf  # noqa: PLC0415
    from decloud.networks import get_model, spatial_multiple  # noqa: PLC0415

    card = json.loads((args.model / "card.json").read_text())
    model = get_model(card["training"]["network"], **card["training"]["options"])
    shipped = list(tf.saved_model.load(str(args.model)).variables)
    if len(shipped) != len(model.variables):
        raise SystemExit(f"{args.model}: {len(shipped)} variables, the network built from its card has "
                         f"{len(model.variables)}")
    for mine, theirs in zip(model.variables, shipped, strict=True):
        if tuple(mine.shape) != tuple(theirs.shape):
            raise SystemExit(f"{args.model}: variable {theirs.name} is {tuple(theirs.shape)}, the network's "
                             f"{mine.path} is {tuple(mine.shape)}")
        mine.assign(theirs.numpy())
    shutil.rmtree(args.out, ignore_errors=True)
    model.export(str(args.out), verbose=False)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    card["training"].setdefault("reexported", []).append(f"{stamp}: {args.why}")
    card["spatial_multiple"] = spatial_multiple(card["training"]["network"], card["training"]["options"])
    (args.out / "card.json").write_text(json.dumps(card, indent=2))
    print(f"exported {args.out} ({len(shipped)} variables)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

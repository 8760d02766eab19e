"""decloud train"""

from __future__ import annotations

import argparse
import json

from ..errors import DecloudInputError
from .options import require_dataset


def run(args: argparse.Namespace) -> int:
    from ..networks import MODELS  # noqa: PLC0415
    from ..train import train  # noqa: PLC0415

    if args.network not in MODELS:
        raise DecloudInputError(f"{args.network!r} is not a network of the registry: {', '.join(sorted(MODELS))}")
    require_dataset(args.dataset, "--dataset")
    if args.valid:
        require_dataset(args.valid, "--valid")
    try:
        options = json.loads(args.options) if args.options else {}
    except ValueError as e:
        raise DecloudInputError(f"--options: not a JSON object: {e}") from e
    model = train(args.network, args.dataset, args.out_dir, options=options, valid_dir=args.valid, epochs=args.epochs,
                  batch_size=args.batch_size, learning_rate=args.learning_rate, patience=args.patience,
                  seed=args.seed, strategy=args.strategy, verbose=0 if args.quiet else 1)
    print(f"model: {model}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a network of the registry on TFRecord shards",
                       description="Masked L1 loss, Adam, early stopping on the validation loss, resumable "
                       "(re-run the same command after a kill), TensorBoard logs with previews in OUT_DIR/logs; "
                       "exports OUT_DIR/model with its card.",
                       epilog='example: decloud train msop_unet --dataset dataset/train --valid dataset/valid '
                       '--options \'{"width": 0.25, "with_sar": false}\' --epochs 50 --out-dir runs/msop')
    p.add_argument("network", help="gapfilling, ssop_mer, ssop_unet or msop_unet")
    p.add_argument("--dataset", required=True, help="folder of training shards")
    p.add_argument("--valid", help="folder of validation shards")
    p.add_argument("--options", help="network options as JSON, e.g. '{\"width\": 0.25}'")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--learning-rate", type=float, default=2e-4)
    p.add_argument("--patience", type=int, default=5, help="early stopping patience (epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", choices=["default", "mirrored", "multiworker"], default="default",
                   help="multiworker: MultiWorkerMirroredStrategy from TF_CONFIG or a multi-task Slurm job")
    p.add_argument("--out-dir", required=True)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=run)

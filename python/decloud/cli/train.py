"""decloud train"""

from __future__ import annotations

import argparse
import json

from ..errors import DecloudInputError
from .options import require_dataset


def run(args: argparse.Namespace) -> int:
    from ..networks import MODELS  # noqa: PLC0415
    from ..train import check_run, resolve_options, run_state, train  # noqa: PLC0415

    if args.network not in MODELS:
        raise DecloudInputError(f"{args.network!r} is not a network of the registry: {', '.join(sorted(MODELS))}")
    require_dataset(args.dataset, "--dataset")
    if args.valid:
        require_dataset(args.valid, "--valid")
    try:
        options = json.loads(args.options) if args.options else {}
    except ValueError as e:
        raise DecloudInputError(f"--options: not a JSON object: {e}") from e
    if not isinstance(options, dict):
        raise DecloudInputError(f"--options: not a JSON object: {args.options}")
    options, notes = resolve_options(args.network, options, [args.dataset] + ([args.valid] if args.valid else []))
    for note in notes:
        print(f"option {note}")
    state = run_state(args.out_dir) if args.force else check_run(args.out_dir, args.network, options)
    if state.status == "unfinished" and not args.force:
        print(f"{args.out_dir}: resuming the unfinished run ({state.describe()})")
    elif state.status == "trained" and not args.force:
        print(f"{args.out_dir}: the run ended its training ({state.describe()}); exporting its model")
    model = train(args.network, args.dataset, args.out_dir, options=options, valid_dir=args.valid, epochs=args.epochs,
                  batch_size=args.batch_size, learning_rate=args.learning_rate, patience=args.patience,
                  seed=args.seed, strategy=args.strategy, verbose=0 if args.quiet else 1,
                  init_weights=args.init_weights, force=args.force)
    if state.status == "finished" and not args.force:
        print(f"{args.out_dir}: finished run ({state.describe()}), nothing to do; --force restarts it from scratch, "
              f"--init-weights {args.out_dir}/checkpoints/best.weights.h5 with another --out-dir trains on from it")
    print(f"model: {model}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a network of the registry on TFRecord shards",
                       description="Masked L1 loss, Adam, early stopping on the validation loss, TensorBoard logs "
                       "with previews in OUT_DIR/logs; exports OUT_DIR/model with its card. Network options "
                       "with_dem / with_sar not given follow the records (false when they have no DEM / S1). "
                       "Re-running the same command continues an unfinished run (after a kill) from its last "
                       "finished epoch, and leaves a finished run as it is (--force restarts from scratch).",
                       epilog='example: decloud train msop_unet --dataset dataset/train --valid dataset/valid '
                       '--options \'{"width": 0.25}\' --epochs 50 --out-dir runs/msop; fine-tuning: '
                       '--init-weights runs/msop/checkpoints/best.weights.h5 --out-dir runs/msop-ft')
    p.add_argument("network", help="gapfilling, ssop_mer, ssop_unet, msop_unet or gfnet")
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
    p.add_argument("--init-weights", metavar="PATH",
                   help="start from these weights (a .weights.h5 of a run of the same network and options, e.g. "
                   "RUN/checkpoints/best.weights.h5): fine-tuning")
    p.add_argument("--force", action="store_true",
                   help="restart from scratch: remove OUT_DIR's model, checkpoints, backup and logs first")
    p.add_argument("--out-dir", required=True)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=run)

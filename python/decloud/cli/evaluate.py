"""decloud evaluate"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DecloudInputError
from .options import parse_assignments, require_dataset


def run(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate, write_report  # noqa: PLC0415

    models = parse_assignments(args.models, "--models", "LABEL=SAVEDMODEL_DIR")
    require_dataset(args.records, "--records")
    for label, folder in models.items():
        if not Path(folder).is_dir():
            raise DecloudInputError(f"--models {label}={folder}: no such folder")
    rows = evaluate(models, args.records, with_gapfilling=not args.no_gapfilling, quiet=args.quiet)
    paths = write_report(rows, args.out_dir, title=args.title)
    print(paths["md"].read_text())
    print(f"report: {args.out_dir} (scores.csv, scores.md, psnr.png, mse.png, ssim.png, sam.png)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score SavedModels and the gap-filling on test records",
                       description="PSNR, MSE, SSIM, SAM on the 10 m bands against s2_target, over the cloudy "
                       "pixels of t (the records' cloud mask of t, cloud_t: the scores that matter) and over all "
                       "pixels; records written before decloud dataset stored cloud_t are scored over all pixels "
                       "only (the report says so). Writes a CSV, a Markdown table and bar plots.",
                       epilog="example: decloud evaluate --records dataset/test --models ssop=runs/ssop/model "
                       "msop=runs/msop/model --out-dir report")
    p.add_argument("--records", required=True, help="folder of test shards")
    p.add_argument("--models", nargs="*", help="LABEL=SAVEDMODEL_DIR ...")
    p.add_argument("--no-gapfilling", action="store_true", help="do not score the gap-filling")
    p.add_argument("--title", default="Decloud evaluation")
    p.add_argument("--out-dir", required=True)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=run)

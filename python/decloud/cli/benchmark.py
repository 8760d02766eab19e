"""decloud benchmark"""

from __future__ import annotations

import argparse

from .options import shows_progress_bar


def run(args: argparse.Namespace) -> int:
    from ..benchmark import run_benchmark, summary_markdown  # noqa: PLC0415 - keeps `decloud --help` fast

    result = run_benchmark(args.folders, models=args.model, out=args.out, quick=args.quick,
                           max_references=args.max_references, mask=args.mask, work=args.work,
                           progress=not args.quiet)
    print(summary_markdown(result.summary))
    print(f"report: {args.out} (scenarios.csv, summary.md, summary.json, psnr.png, quicklook_<set>.png)")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "benchmark", help="score models, DecloudGapFilling, baselines on real clouds pasted on clear dates",
        description="For each folder of dated S2 stacks (S2_L2A_YYYYMMDD_B2B3B4B8.tif with _SCL.tif "
        "and/or _CLM.tif), the scenarios of the quality protocol (real cloudy pixels of a date C pasted on a "
        "clear date T, with T's nearest clear neighbours as t-1 and t+1; for the real sets of "
        "../shared/data, their test part and mask) run through DecloudInfer (each model, with the inputs "
        "its card names), DecloudGapFilling, a nearest-date copy and gap-filling + local bias; each is "
        "scored on the pasted pixels against T (PSNR, SSIM, SAM, MAE, coverage). Writes scenarios.csv, "
        "summary.md, summary.json, psnr.png and one quick-look per set (t | gap-filling | first model | "
        "reference, on its worst scenario).",
        epilog="example: decloud benchmark ../shared/data/bolzano-west ../shared/data/greenearthnet-portugal "
        "--model models/msop-bolzano-west --out benchmark --quick")
    p.add_argument("folders", nargs="+", metavar="DATA_FOLDER", help="folder of dated S2 stacks")
    p.add_argument("--model", action="append", metavar="DIR",
                   help="model folder (SavedModel + card.json), repeatable; default: the shipped model")
    p.add_argument("--out", default="benchmark", help="output folder (default: benchmark)")
    p.add_argument("--work", help="folder of the per-scenario GeoTIFFs (default: OUT/work)")
    p.add_argument("--quick", action="store_true", help="one reference date per set (a few scenarios each)")
    p.add_argument("--max-references", type=int, metavar="N",
                   help="at most N reference dates per set, spread over time (default: all; 1 with --quick)")
    p.add_argument("--mask", choices=("auto", "scl", "clm", "union"), default="auto",
                   help="cloud mask of folders that are not a known real set (auto: SCL where present, "
                   "else CLM)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    shows_progress_bar(p)

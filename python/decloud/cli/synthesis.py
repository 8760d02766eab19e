"""decloud synthesis"""

from __future__ import annotations

import argparse

from ..distributed import add_cluster_arguments, cluster_options
from .options import add_bbox, print_run_summary, shows_progress_bar


def run(args: argparse.Namespace) -> int:
    from ..infer import shipped_model  # noqa: PLC0415
    from ..synthesis import plan_synthesis, run_synthesis  # noqa: PLC0415
    from ..timeseries import find_prepared, parse_dem  # noqa: PLC0415

    if args.model is not None:
        args.model = shipped_model(args.model)
    dem = parse_dem(args.dem)
    prepared = find_prepared(args.prepared)
    tasks, skipped = plan_synthesis(prepared, args.out_dir, period=args.period, start=args.start, end=args.end,
                                    images=args.images, method=args.method, bbox=args.bbox,
                                    max_nodata_percent=args.max_nodata, model=args.model, dem=dem,
                                    max_s1_gap_hours=args.max_s1_gap)
    method = f"network {args.model}" if args.model else args.method
    count = len(tasks[0].images) if tasks else args.images
    print(f"{len(tasks)} period(s) to produce ({method}, {count} dates each), {len(skipped)} skipped "
          "(listed at the end)")
    entries = run_synthesis(tasks, args.out_dir, skipped=skipped, engine=args.engine, progress=not args.quiet,
                            cluster=cluster_options(args))
    print_run_summary(entries, skipped, args.out_dir, "period(s) produced", lambda s: f"{s['tile']} {s['period']}")
    return 0


def run_examples(args: argparse.Namespace) -> int:
    from datetime import date  # noqa: PLC0415

    from ..errors import DecloudInputError  # noqa: PLC0415
    from ..synthesis import write_synthesis_examples  # noqa: PLC0415
    from ..timeseries import find_prepared  # noqa: PLC0415

    try:
        until = date.fromisoformat(args.until) if args.until else None
    except ValueError as e:
        raise DecloudInputError(f"--until {args.until}: not a day (YYYY-MM-DD)") from e
    info = write_synthesis_examples(find_prepared(args.prepared), args.out_dir, tile=args.tile, bbox=args.bbox,
                                    until=until, patch=args.patch, count=args.count, seed=args.seed,
                                    quiet=args.quiet)
    print(f"{info['examples']} examples of {info['patch']} x {info['patch']} pixels from {len(info['dates'])} dates "
          f"of tile {info['tile']} in {args.out_dir}; train with: decloud train synthnet --dataset {args.out_dir} "
          "--out-dir RUN")
    return 0


def register(sub) -> None:
    p = sub.add_parser("synthesis", help="one cloud-free image per month or per N days of a prepared series "
                       "(composites or a synthesis network; resumable)",
                       description="For every period (calendar month centred on the 15th, or N days) of the "
                       "prepared S2 series, per tile: picks the dates as the original Decloud's monthly synthesis "
                       "does (within 22 days of the middle for a month, N/2 + 7 days for N days; under 5 %% nodata; "
                       "fewest clouds first; --images of them, the least cloudy repeated when fewer exist), runs "
                       "a synthesis network on them (--model) or composes them (median: per-pixel median of the "
                       "clear observations; bap: the clear observation of the "
                       "least cloudy date, then the nearest to the middle; nodata where no date is clear) and writes "
                       "OUT_DIR/synthesis_<tile>_<period>.tif atomically (int16, B2 B3 B4 B8, ACQUISITION_DATE = "
                       "the middle). Periods already done are skipped: re-run after a kill to finish. Periods are "
                       "Dask tasks (--workers 0: one after the other here).",
                       epilog="example: decloud synthesis prep/ --out-dir monthly/ --period month --method median "
                       "--start 2018-01-01 --end 2018-06-30 --workers 2")
    p.add_argument("prepared", nargs="+", help="prepared S2 (and S1) folders, or folders holding them")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--period", default="month", help="month (default) or a number of days")
    p.add_argument("--start", help="first day (YYYY-MM-DD; default: the first prepared date); DAYS periods start "
                   "here")
    p.add_argument("--end", help="last day, included (YYYY-MM-DD; default: the last prepared date)")
    add_bbox(p, "produce only this box")
    p.add_argument("--method", default="median", help="median (default) or bap (best available pixel)")
    p.add_argument("--model", metavar="DIR",
                   help="a synthesis network (a folder, or the name of a shipped one: synthnet-v1, Decloud's own; "
                   "its card takes the dates s2_d0 ... s2_d<N-1>, e.g. the original's "
                   "monthly_synthesis_6_s2_images after decloud import-model): fed the period's N picked dates "
                   "through DecloudInfer instead of a composite (--method and --images are then not used); one that "
                   "also takes S1 dates (e.g. monthly_synthesis_6_s2s1_images) is fed, per picked S2 date, the "
                   "nearest prepared S1 of the tile within --max-s1-gap, and --dem")
    p.add_argument("--max-s1-gap", type=float, default=72.0, metavar="HOURS",
                   help="a synthesis network's S1 date is the nearest prepared S1 within this many hours of its S2 "
                   "date (default 72, the original's monthly-synthesis layouts'); a period where a picked S2 date has "
                   "none is skipped")
    p.add_argument("--dem", action="append", metavar="PATH",
                   help="DEM on the tiles' 20 m grid, for a network that takes one: one file for every tile, a folder "
                   "of <tile>.tif (the original's DEM_PREPARE), or TILE=PATH (repeated, one per tile)")
    p.add_argument("--images", type=int, default=6, help="dates per period (default 6, as the original; a "
                   "network's N with --model)")
    p.add_argument("--max-nodata", type=float, default=5.0, metavar="PERCENT",
                   help="dates with this share of nodata or more are not used (default 5, as the original)")
    p.add_argument("--engine", choices=("auto", "numpy", "otb"), default="auto",
                   help="who computes the composite: the OTB app DecloudComposite when installed (auto), or numpy")
    add_cluster_arguments(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    shows_progress_bar(p)

    e = sub.add_parser("synthesis-examples", help="training records of a synthesis network (synthnet) from a "
                       "prepared series", description="From the prepared S2 dates of one tile: examples where a "
                       "clear date of a month is withheld as the target and the month's dates picked by the "
                       "original's rule among the others are the inputs (their clouds as nodata), random crops and "
                       "dihedral transforms, fewer dates, undetected clouds and holes; written as TFRecord shards "
                       "for decloud train synthnet.",
                       epilog="example: decloud synthesis-examples prep/ --out-dir ex/ --bbox 500000 5600000 505120 "
                       "5605120 --until 2023-01-01 --count 2000 && decloud train synthnet --dataset ex/ --out-dir run/")
    e.add_argument("prepared", nargs="+", help="prepared S2 folders, or folders holding them")
    e.add_argument("--out-dir", required=True)
    e.add_argument("--tile", help="the tile (required when the folders hold several)")
    add_bbox(e, "read only this box: the dates are held in memory")
    e.add_argument("--until", metavar="YYYY-MM-DD", help="read only the dates before this day (keep the later ones "
                   "to test on)")
    e.add_argument("--patch", type=int, default=64, help="patch side in pixels (default 64)")
    e.add_argument("--count", type=int, default=1000, help="number of examples (default 1000)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=run_examples)
    shows_progress_bar(e)

"""decloud timeseries"""

from __future__ import annotations

import argparse

from ..distributed import add_cluster_arguments, cluster_options
from ..errors import DecloudInputError
from .infer import add_processing_options, processing_options
from .options import print_run_summary, shows_progress_bar


def run(args: argparse.Namespace) -> int:
    from ..timeseries import find_prepared, parse_dem, plan_timeseries, run_timeseries, series_layout  # noqa: PLC0415

    dem = parse_dem(args.dem)
    prepared = find_prepared(args.prepared)
    layout = series_layout(args.layout, model=args.model, window_before=args.window_before,
                           window_after=args.window_after)
    tasks, skipped = plan_timeseries(prepared, args.out_dir, layout=layout, start=args.start, end=args.end,
                                     model=args.model, keep_clear=args.keep_clear, dem=dem)
    if not tasks and not skipped:
        s2 = [a.when.date().isoformat() for a in prepared if a.sensor == "S2"]
        span = f"the prepared S2 dates run from {s2[0]} to {s2[-1]}" if s2 else "no prepared S2 date"
        raise DecloudInputError(f"no prepared S2 date between --start {args.start or '(first)'} and --end "
                                f"{args.end or '(last)'}: {span}")
    windows = ", ".join(f"{a.name} in [{a.window_hours[0] / 24:+g} d, {a.window_hours[1] / 24:+g} d]"
                        for a in layout.acquisitions if a.name in ("tm1", "tp1"))
    print(f"{len(tasks)} date(s) to process, {len(skipped)} skipped (listed at the end); layout {layout.name}"
          f"{': ' + windows if windows else ''}")
    options = {k: v for k, v in processing_options(args).items() if v is not None and v is not False}
    if args.provenance:
        options["provenance"] = True
    entries = run_timeseries(tasks, args.out_dir, skipped=skipped, options=options, progress=not args.quiet,
                             cluster=cluster_options(args))
    print_run_summary(entries, skipped, args.out_dir, "date(s) processed", lambda s: s["date"][:10])
    return 0


def register(sub) -> None:
    p = sub.add_parser("timeseries", help="remove the clouds of every date of a prepared series (resumable)",
                       description="For each prepared S2 date in [--start, --end]: picks t-1 and t+1 (and S1) of "
                       "its tile within the windows, the least cloudy first (a share within the layout's cloud "
                       "tolerance counts as clear), then the nearest (for a model that takes 20 m bands, the 20 m "
                       "bands of the same dates, in the order its card names: never reordered; a DEM with --dem), "
                       "runs DecloudInfer and writes "
                       "OUT_DIR/<date folder>_decloud.tif atomically. Dates that do not fit (no candidate, a "
                       "constraint of the layout not met) are skipped and listed with the reason at the end and in "
                       "the report. Dates already done are skipped: re-run after a kill, Ctrl-C or a full disk to "
                       "finish. OUT_DIR is locked during the run (a second run on it is refused). Dates are Dask "
                       "tasks: on local worker processes (default), an existing cluster (--scheduler) or Slurm/PBS "
                       "jobs (--cluster); --workers 0 runs them one after the other in this process.",
                       epilog="example: decloud timeseries prep/ --out-dir series/ --start 2022-06-01 --end "
                       "2022-06-30 --keep-clear --window-before 20 --window-after 20 --workers 2 "
                       "--threads-per-worker 4")
    p.add_argument("prepared", nargs="+", help="prepared S2 (and S1) folders, or folders holding them")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--layout", help="acquisitions layout (shipped name or JSON file), applied as decloud search "
                   "applies it; default series-s2 (t-1 within 30 days before t, t+1 within 30 days after, any cloud "
                   "cover), series for a model that takes S1")
    p.add_argument("--window-before", metavar="DAYS", help="t-1 window: MAX days before t (0 to MAX) or MIN-MAX "
                   "(e.g. 10-30); replaces the layout's")
    p.add_argument("--window-after", metavar="DAYS", help="t+1 window: MAX days after t or MIN-MAX; replaces the "
                   "layout's")
    p.add_argument("--start", help="first date (YYYY-MM-DD)")
    p.add_argument("--end", help="last date, included (YYYY-MM-DD)")
    p.add_argument("--dem", action="append", metavar="PATH",
                   help="DEM on the tiles' 20 m grid, for a model that takes one (input role dem, e.g. the original's "
                   "CRGA, Meraner and _all_bands families): one file for every tile, a folder of <tile>.tif (the "
                   "original's DEM_PREPARE), or TILE=PATH (repeated, one per tile)")
    p.add_argument("--keep-clear", action="store_true", help="keep the clear pixels of each date (its cloud mask)")
    p.add_argument("--provenance", action="store_true",
                   help="also write OUT_DIR/<date folder>_provenance.tif beside each output: where each pixel comes "
                   "from (0 nodata, 1 clear pixel of t kept, 2 network, 3 gap-filling fallback, 4 single-date "
                   "fallback); the report gives each class's share")
    add_processing_options(p)
    add_cluster_arguments(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    shows_progress_bar(p)

"""decloud prepare-s2 / prepare-s1 / prepare-dem"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

from ..atomic import check_otb_output, folder_lock
from ..distributed import add_cluster_arguments, cluster_options, run_tasks
from ..errors import DecloudInputError


def _entry(stage: str, source, out_dir, prepare) -> dict:
    """One product prepared (a Dask task): its report entry. The stage itself skips a finished product."""
    began = time.time_ns()
    folder = prepare(source, out_dir).folder
    # A finished folder appears by rename with its done.json, written during the call (file times may lag
    # the clock by a few milliseconds); an older one was there before.
    fresh = (Path(folder) / "done.json").stat().st_mtime_ns >= began - 20_000_000
    return {"task": f"{stage} {Path(source).name}", "inputs": [str(source)], "output": str(folder),
            "status": "done" if fresh else "exists"}


def prepare_s2_entry(product, out_dir, tile: str | None = None) -> dict:
    """Its report entry, with the date's ``nodata_percent`` and ``cloud_percent`` (of the valid pixels)."""
    from ..prepare import prepare_s2  # noqa: PLC0415
    from ..prepare.s2 import date_summary  # noqa: PLC0415

    entry = _entry("prepare-s2", product, out_dir, functools.partial(prepare_s2, tile=tile))
    return {**entry, **date_summary(Path(entry["output"]))}


def describe(entry: dict) -> str:
    """A report entry as the line printed for it: its output, and for an S2 date its nodata and cloud shares."""
    if "nodata_percent" not in entry:
        return str(entry["output"])
    return f"{entry['output']}: nodata {entry['nodata_percent']:.1f} %, cloud {entry['cloud_percent']:.1f} %"


def prepare_s1_entry(vv, out_dir) -> dict:
    from ..prepare import prepare_s1  # noqa: PLC0415

    return _entry("prepare-s1", vv, out_dir, prepare_s1)


def _run(args: argparse.Namespace, stage: str, function, sources) -> int:
    check_otb_output(args.out_dir)
    for source in sources:
        if not Path(source).exists():
            raise DecloudInputError(f"{source}: no such file or folder")
    with folder_lock(args.out_dir, f"decloud {stage}"):
        entries = run_tasks(functools.partial(function, out_dir=args.out_dir), sources,
                            options=cluster_options(args), report_dir=args.out_dir,
                            report_name=f"run_report_{stage}.json", progress=not args.quiet, desc=stage,
                            label=lambda s: f"{stage} {Path(s).name}")
    if not args.quiet:
        for e in entries:
            print(describe(e))
    return 0


def _s2(args: argparse.Namespace) -> int:
    if args.tile is not None:
        from ..prepare.common import check_tile_name  # noqa: PLC0415

        check_tile_name(args.tile)
    return _run(args, "prepare-s2", functools.partial(prepare_s2_entry, tile=args.tile), args.products)


def _s1(args: argparse.Namespace) -> int:
    return _run(args, "prepare-s1", prepare_s1_entry, args.vv_files)


def _dem(args: argparse.Namespace) -> int:
    from ..prepare import prepare_dem  # noqa: PLC0415

    check_otb_output(args.out_dir)
    with folder_lock(args.out_dir, "decloud prepare-dem"):
        print(prepare_dem(args.dems, args.reference, args.out_dir))
    return 0


DASK_NOTE = ("Products are Dask tasks: on local worker processes (default), an existing cluster (--scheduler) or "
             "Slurm/PBS jobs (--cluster); --workers 0 prepares them one after the other in this process. "
             "OUT_DIR/run_report_{stage}.json lists each product's output, status, duration and worker.")


def register(sub) -> None:
    p = sub.add_parser("prepare-s2", help="S2 L2A products (THEIA, ESA SAFE, GeoTIFF stacks) -> Decloud rasters",
                       description="Writes int16 10 m (B2 B3 B4 B8) and 20 m (B5 B6 B7 B8A B11 B12) stacks, "
                       "cloud and nodata masks and per-block counts per product. Finished products are skipped. "
                       "A pixel is nodata only where all its bands hold the product's nodata value, SCL is 0 or "
                       "the THEIA edge mask is set (one band at 0 is a dark, valid pixel). Prints each output "
                       "folder with its nodata share and its cloud share of the valid pixels (also in the run "
                       "report: nodata_percent, cloud_percent). "
                       + DASK_NOTE.format(stage="prepare-s2"),
                       epilog="example: decloud prepare-s2 SENTINEL2A_20220602-*_T32TPS_C_V3-0.zip --out-dir prepared")
    p.add_argument("products", nargs="+", help="product folders, zips or S2_L2A_<date>_<bands>.tif stacks")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--tile", help="tile name of the outputs, S2_<TILE>_<date> (letters, digits, '-'): for GeoTIFF "
                   "stacks, whose names carry none (default NOTILE); a THEIA or ESA product's own tile otherwise. "
                   "decloud index, dataset and timeseries go by this name")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_cluster_arguments(p)
    p.set_defaults(func=_s2)

    p = sub.add_parser("prepare-s1", help="S1Tiling sigma0 (VV + VH) -> Decloud's uint16 log stretch",
                       description="Give the VV files; each VH file is found beside its VV file. "
                       + DASK_NOTE.format(stage="prepare-s1"),
                       epilog="example: decloud prepare-s1 s1tiling/32TPS/s1a_32TPS_vv_ASC_117_*.tif "
                              "--out-dir prepared")
    p.add_argument("vv_files", nargs="+")
    p.add_argument("--out-dir", required=True)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_cluster_arguments(p)
    p.set_defaults(func=_s1)

    p = sub.add_parser("prepare-dem", help="any GDAL DEM (SRTM .hgt, GeoTIFF, VRT) -> the S2 20 m grid",
                       epilog="example: decloud prepare-dem srtm/*.hgt --reference prepared/S2_*/s2_20m.tif "
                              "--out-dir prepared")
    p.add_argument("dems", nargs="+")
    p.add_argument("--reference", required=True, help="a raster on the S2 20 m grid (e.g. a prepared s2_20m.tif)")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=_dem)

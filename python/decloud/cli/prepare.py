"""decloud prepare-s2 / prepare-s1 / prepare-dem"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

from ..atomic import check_otb_output, folder_lock
from ..distributed import add_cluster_arguments, cluster_options, run_tasks
from ..errors import DecloudInputError
from .options import shows_progress_bar


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
    if "summary" in entry:  # an S1 acquisition: what was read and how it was put on the grid
        return f"{entry['output']}: {entry['summary']}"
    if "nodata_percent" not in entry:
        return str(entry["output"])
    return f"{entry['output']}: nodata {entry['nodata_percent']:.1f} %, cloud {entry['cloud_percent']:.1f} %"


def prepare_s1_entry(vv, out_dir, *, reference=None, scale="auto", orbit=None, tile=None) -> dict:
    """Its report entry, with a ``summary``: scale (and how it was known), date source, orbit, grid, nodata share."""
    from ..prepare.s1 import prepare_s1, summary  # noqa: PLC0415

    entry = _entry("prepare-s1", vv, out_dir, functools.partial(prepare_s1, reference=reference, scale=scale,
                                                                orbit=orbit, tile=tile))
    return {**entry, "summary": summary(Path(entry["output"]))}


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
    from ..prepare.s1 import acquisitions, read_s1_source, require_reference, s2_reference  # noqa: PLC0415

    if args.reference is not None:
        s2_reference(args.reference)
    for source in args.vv_files:
        if not Path(source).exists():
            raise DecloudInputError(f"{source}: no such file or folder")
    files = acquisitions(args.vv_files)
    for path in files:  # names and tags only: a wrong input is one line before anything runs
        require_reference(read_s1_source(path, orbit=args.orbit), args.reference)
    entry = functools.partial(prepare_s1_entry, reference=args.reference, scale=args.scale, orbit=args.orbit,
                              tile=args.tile)
    return _run(args, "prepare-s1", entry, files)


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
    shows_progress_bar(p)

    p = sub.add_parser("prepare-s1", help="S1 sigma0 (VV + VH; S1Tiling or plain GeoTIFFs, linear or dB) -> "
                       "Decloud's uint16 log stretch on the S2 10 m grid",
                       description="Give the VV files (a VH file given with its VV file is taken with it); each VH "
                       "file is found beside its VV file (the name with VH for VV), or give two-band VV+VH files. "
                       "Plain GeoTIFFs: the date is the first YYYYMMDD or YYYY-MM-DD of the name (else a tag such "
                       "as ACQUISITION_DATE; the time of day from ACQUISITION_TIME), the orbit direction comes from "
                       "the name (ASC/DES), an ORBIT tag or --orbit, the relative orbit from a tag or is NA. "
                       "S1 that is not at 10 m (e.g. 20 m) is resampled onto the grid of --reference (bilinear on "
                       "linear sigma0; pixels next to nodata stay nodata); without --reference it is an error. "
                       "Prints each output folder with the scale read and how it was known, and its nodata share. "
                       + DASK_NOTE.format(stage="prepare-s1"),
                       epilog="examples: decloud prepare-s1 s1tiling/32TPS/s1a_32TPS_vv_ASC_117_*.tif "
                              "--out-dir prepared; decloud prepare-s1 data/S1_*_VV.tif --reference "
                              "prepared/S2_belgium_20170804T000000 --out-dir prepared")
    p.add_argument("vv_files", nargs="+", metavar="S1_FILE",
                   help="S1Tiling VV files, plain <...date...>_VV.tif files (VH beside them) or two-band VV+VH files")
    p.add_argument("--reference", help="a prepared S2 folder (S2_<tile>_<date>, or a file in it): the S1 goes onto "
                   "the grid of its s2_10m.tif and takes its tile name; required for S1 that is not at 10 m")
    p.add_argument("--scale", choices=("auto", "linear", "db"), default="auto",
                   help="sigma0 in linear power or dB (default auto: the UNITS tag, else the values: a negative "
                   "median is dB; a claim the values contradict is an error)")
    p.add_argument("--orbit", choices=("ascending", "descending"),
                   help="orbit direction, for files whose name (ASC/DES) and tags (ORBIT) do not say it")
    p.add_argument("--tile", help="tile name of the output folders S1_<TILE>_... (default: the reference's, else the "
                   "S1Tiling name's, else NOTILE; one that contradicts them is an error): the S2 folders' tile, so "
                   "that decloud index and dataset find the S1 with them")
    p.add_argument("--out-dir", required=True)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_cluster_arguments(p)
    p.set_defaults(func=_s1)
    shows_progress_bar(p)

    p = sub.add_parser("prepare-dem", help="any GDAL DEM (SRTM .hgt, GeoTIFF, VRT) -> the S2 20 m grid",
                       description="Mosaics the DEM files and resamples them (bicubic) onto the 20 m grid of a "
                       "prepared S2 folder: its s2_10m.tif grid with pixels twice as large. Writes OUT_DIR/dem.tif "
                       "(float32 metres). A DEM that does not cover every pixel of that grid (outside the files, or "
                       "voids) is an error: nothing is written.",
                       epilog="example: decloud prepare-dem srtm/*.hgt --reference prepared/S2_32TPS_20220602T101611 "
                              "--out-dir prepared")
    p.add_argument("dems", nargs="+")
    p.add_argument("--reference", required=True, help="a prepared S2 folder (or a file in it; its 20 m grid), or a "
                   "raster on the wanted 20 m grid (a 10 m raster: its pixels doubled)")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=_dem)

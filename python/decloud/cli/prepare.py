"""decloud prepare-s2 / prepare-s1 / prepare-dem"""

from __future__ import annotations

import argparse

from tqdm import tqdm


def _s2(args: argparse.Namespace) -> int:
    from ..prepare import prepare_s2  # noqa: PLC0415

    for product in tqdm(args.products, desc="S2 products", unit="product", disable=args.quiet):
        prepared = prepare_s2(product, args.out_dir)
        tqdm.write(str(prepared.folder)) if not args.quiet else None
    return 0


def _s1(args: argparse.Namespace) -> int:
    from ..prepare import prepare_s1  # noqa: PLC0415

    for vv in tqdm(args.vv_files, desc="S1 acquisitions", unit="acq", disable=args.quiet):
        prepared = prepare_s1(vv, args.out_dir)
        tqdm.write(str(prepared.folder)) if not args.quiet else None
    return 0


def _dem(args: argparse.Namespace) -> int:
    from ..prepare import prepare_dem  # noqa: PLC0415

    print(prepare_dem(args.dems, args.reference, args.out_dir))
    return 0


def register(sub) -> None:
    p = sub.add_parser("prepare-s2", help="S2 L2A products (THEIA, ESA SAFE, GeoTIFF stacks) -> Decloud rasters",
                       description="Writes int16 10 m (B2 B3 B4 B8) and 20 m (B5 B6 B7 B8A B11 B12) stacks, "
                       "cloud and nodata masks and per-block counts per product. Finished products are skipped.",
                       epilog="example: decloud prepare-s2 SENTINEL2A_20220602-*_T32TPS_C_V3-0.zip --out-dir prepared")
    p.add_argument("products", nargs="+", help="product folders, zips or S2_L2A_<date>_<bands>.tif stacks")
    p.add_argument("--out-dir", required=True)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_s2)

    p = sub.add_parser("prepare-s1", help="S1Tiling sigma0 (VV + VH) -> Decloud's uint16 log stretch",
                       description="Give the VV files; each VH file is found beside its VV file.",
                       epilog="example: decloud prepare-s1 s1tiling/32TPS/s1a_32TPS_vv_ASC_117_*.tif --out-dir prepared")
    p.add_argument("vv_files", nargs="+")
    p.add_argument("--out-dir", required=True)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_s1)

    p = sub.add_parser("prepare-dem", help="any GDAL DEM (SRTM .hgt, GeoTIFF, VRT) -> the S2 20 m grid",
                       epilog="example: decloud prepare-dem srtm/*.hgt --reference prepared/S2_*/s2_20m.tif --out-dir prepared")
    p.add_argument("dems", nargs="+")
    p.add_argument("--reference", required=True, help="a raster on the S2 20 m grid (e.g. a prepared s2_20m.tif)")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=_dem)

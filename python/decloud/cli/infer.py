"""decloud infer"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..infer import INDEXED_ROLES, LIST_ROLES, ROLE_KEYS, role_option
from .options import add_bbox


def add_processing_options(p: argparse.ArgumentParser) -> None:
    """Options shared by decloud infer and decloud timeseries."""
    p.add_argument("--model", help="model folder (SavedModel + card.json); default: the shipped gfnet-v5, which "
                   "takes --mask and the dates")
    p.add_argument("--tile", type=int, default=512, help="largest output tile side in pixels (default 512)")
    p.add_argument("--padding", type=int, help="margin computed and dropped around each tile (default 32)")
    p.add_argument("--encoding", choices=("s2", "float"), default="s2",
                   help="s2: int16 reflectance x 10000, nodata -10000 (default); float: float32, same scale")
    add_bbox(p, "process only this box")
    p.add_argument("--cog", action="store_true", help="write cloud-optimized GeoTIFFs with overviews")
    p.add_argument("--ram", type=int, help="OTB's memory budget for streaming, MB (default 256)")
    p.add_argument("--threads", type=int, help="TensorFlow threads per operation (default: all cores)")


def processing_options(args: argparse.Namespace) -> dict:
    return {"model": args.model, "tile": args.tile, "padding": args.padding, "encoding": args.encoding,
            "bbox": args.bbox, "cog": args.cog, "ram": args.ram, "threads": args.threads}


def run(args: argparse.Namespace) -> int:
    from ..infer import infer  # noqa: PLC0415

    inputs = {role: getattr(args, role) for role in ROLE_KEYS if getattr(args, role)}
    dates = {f"s2_timestamp_{d}": getattr(args, f"date_{d}") for d in ("t", "tm1", "tp1") if getattr(args, f"date_{d}")}
    out = infer(args.out, inputs, mask=args.mask, dates=dates, outprov=args.outprov, mask_classes=args.mask_classes,
                **processing_options(args))
    if args.quicklook:
        print(f"quick-look: {write_infer_quicklook(out, args.s2_t, args.mask)}")
    if args.outprov:
        from ..infer import provenance_shares  # noqa: PLC0415

        shares = provenance_shares(args.outprov)
        print(f"provenance: {args.outprov} (" + ", ".join(f"{k} {100 * v:.2f} %" for k, v in shares.items()) + ")")
    print(out)
    return 0


def write_infer_quicklook(out, s2_t=None, mask=None):
    """OUT.png: s2.t (when given) and the output side by side, both over the output's extent (which --bbox or the
    inputs' common extent may make smaller than s2.t), labelled, stretched on the output's valid pixels that the
    mask (when given) calls clear."""
    from ..raster import read_array, read_like, write_quicklook  # noqa: PLC0415

    panels, titles = [], []
    if s2_t:
        panels.append(read_like(s2_t, out)[:, :, [2, 1, 0]])
        titles.append(f"s2.t: {Path(s2_t).name}")
    panels.append(read_array(out)[:, :, [2, 1, 0]])
    titles.append(f"output: {Path(out).name}")
    clear = (read_like(mask, out, fill=1)[:, :, 0] == 0) if mask else None
    return write_quicklook(Path(out).with_suffix(".png"), panels, titles=titles, stretch_from=len(panels) - 1,
                           clear=clear)


def register(sub) -> None:
    p = sub.add_parser("infer", help="remove the clouds of one Sentinel-2 date (DecloudInfer)",
                       description="Runs DecloudInfer with the inputs the model's card asks for, given by role; "
                       "t-1, t+1 and S1 roles take several candidates in order of preference (completed per "
                       "pixel where one has no data). The output is written under a temporary name, then renamed.",
                       epilog="example: decloud infer --s2-t prep/S2_20220617/s2_10m.tif --s2-tm1 "
                       "prep/S2_20220612/s2_10m.tif --s2-tp1 prep/S2_20220620/s2_10m.tif --mask "
                       "prep/S2_20220617/cloud.tif out/decloud_20220617.tif")
    p.add_argument("out", help="output GeoTIFF")
    for role in ROLE_KEYS:
        flag = role_option(role)
        if role in INDEXED_ROLES:
            p.add_argument(flag, dest=role, nargs="+", metavar="IMAGE",
                           help=f"{ROLE_KEYS[role]}: a synthesis model's dates, one image each, in order")
        elif role in LIST_ROLES:
            p.add_argument(flag, dest=role, nargs="+", metavar="IMAGE", help=f"{ROLE_KEYS[role]} candidates")
        else:
            p.add_argument(flag, dest=role, metavar="IMAGE", help=ROLE_KEYS[role])
    for d in ("t", "tm1", "tp1"):
        p.add_argument(f"--date-{d}", help=f"date of {d} (models that take dates), YYYY-MM-DD[THH:MM:SS]")
    p.add_argument("--mask", help="cloud mask of s2-t (the cloud.tif of prepare-s2: 1 cloudy, 0 clear): keep its clear "
                   "pixels exactly, replace the cloudy ones")
    p.add_argument("--mask-classes", type=int, nargs="+", metavar="CLASS",
                   help="the mask is a class map (e.g. Sen2Cor's SCL) and these classes are cloudy (SCL: 3 8 9 10); "
                   "without it a class map is refused")
    add_processing_options(p)
    p.add_argument("--outprov", metavar="PATH",
                   help="also write where each output pixel comes from (uint8 GeoTIFF: 0 nodata, 1 clear pixel of t "
                   "kept, 2 network, 3 gap-filling fallback, 4 single-date fallback) and print each class's share")
    p.add_argument("--quicklook", action="store_true",
                   help="also write OUT.png (s2-t and the output over the output's extent, labelled)")
    p.set_defaults(func=run)

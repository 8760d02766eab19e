"""decloud dataset: the command line of :func:`decloud.dataset.build_dataset` (the layout search over tile
indexes, one task per (split, tile) on Dask or in this process, the shards merged per split)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..distributed import add_cluster_arguments, cluster_options
from ..errors import DecloudInputError
from .options import parse_assignments, shows_progress_bar


def run(args: argparse.Namespace) -> int:
    from ..dataset import build_dataset  # noqa: PLC0415

    for path in args.index:
        if not Path(path).is_file():
            raise DecloudInputError(f"--index {path}: no such file")
    if not Path(args.prepared).is_dir():
        raise DecloudInputError(f"--prepared {args.prepared}: no such folder")
    rois = None
    if args.rois:
        try:
            rois = json.loads(Path(args.rois).read_text())
        except (OSError, ValueError) as e:
            raise DecloudInputError(f"--rois: {args.rois}: {e}") from e
    results = build_dataset(args.index, args.prepared, args.layout, args.out_dir, rois=rois,
                            dems=parse_assignments(args.dem, "--dem", "TILE=PATH"), strategy=args.strategy,
                            per_cell=args.per_cell, total=args.total, seed=args.seed, patch_size=args.patch_size,
                            shard_size=args.shard_size, cluster=cluster_options(args), progress=not args.quiet)
    for name, r in results.items():
        if not r.samples:
            print(f"{name}: no sample", *r.empty_because, sep="\n")
        else:
            print(f"{name}: {r.samples} samples in {len(r.shards)} shards ({len(r.tiles)} tile(s))")
    return 0


def register(sub) -> None:
    p = sub.add_parser("dataset", help="TFRecord shards of the samples that fit a layout",
                       description="Searches each tile index for the layout, draws samples, splits them by ROI "
                       "(no cell in two splits), extracts the patches (DecloudPatchesExtraction) and writes shards "
                       "(with the cloud mask of t, cloud_t, from the prepared cloud.tif, for decloud evaluate). "
                       "Each (split, tile) is a task (Dask: local worker processes by default, --scheduler, or "
                       "Slurm/PBS jobs with --cluster; --workers 0: this process) writing "
                       "OUT_DIR/<split>/<split>_<tile>_NNNNN.tfrecord: the same files whatever the workers.",
                       epilog="example: decloud dataset --index index/*.npz --prepared prepared --layout os2 "
                       "--rois rois.json --per-cell 4 --out-dir dataset")
    p.add_argument("--index", nargs="+", required=True)
    p.add_argument("--prepared", required=True, help="folder of the preparation outputs")
    p.add_argument("--layout", required=True)
    p.add_argument("--rois", help='JSON {"train": [[xmin, ymin, xmax, ymax], ...], "valid": [...], "test": [...]}')
    p.add_argument("--dem", nargs="*", help="TILE=PATH of a DEM on the tile's 20 m grid")
    p.add_argument("--strategy", choices=["random", "constant", "season"], default="constant")
    p.add_argument("--per-cell", type=int, default=1)
    p.add_argument("--total", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patch-size", type=int, default=64)
    p.add_argument("--shard-size", type=int, default=256)
    p.add_argument("--out-dir", required=True)
    p.add_argument("-q", "--quiet", action="store_true")
    add_cluster_arguments(p)
    p.set_defaults(func=run)
    shows_progress_bar(p)

"""decloud dataset"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import DecloudInputError
from .options import parse_assignments


def run(args: argparse.Namespace) -> int:
    from ..dataset import catalog_from_prepared, generate_dataset  # noqa: PLC0415
    from ..layouts import load_layout  # noqa: PLC0415
    from ..patch_index import TileIndex  # noqa: PLC0415
    from ..search import search, split_cells  # noqa: PLC0415

    layout = load_layout(args.layout)
    dems = parse_assignments(args.dem, "--dem", "TILE=PATH")
    rois = None
    if args.rois:
        try:
            rois = json.loads(Path(args.rois).read_text())
        except (OSError, ValueError) as e:
            raise DecloudInputError(f"--rois: {args.rois}: {e}") from e
    per_split: dict[str, list] = {}
    catalogs = {}
    for path in args.index:
        index = TileIndex.load(path)
        catalogs[index.tile] = catalog_from_prepared(index, args.prepared, dems.get(index.tile))
        splits = split_cells(index.grid, rois) if rois else {"train": None}
        for name, cells in splits.items():
            result = search(index, layout, cells=cells)
            per_split.setdefault(name, []).extend(
                result.draw(strategy=args.strategy, per_cell=args.per_cell, total=args.total, seed=args.seed))
    for name, samples in per_split.items():
        if not samples:
            print(f"{name}: no sample")
            continue
        shards = generate_dataset(samples, catalogs, Path(args.out_dir) / name, patch_size=args.patch_size,
                                  shard_size=args.shard_size, split=name, quiet=args.quiet)
        print(f"{name}: {len(samples)} samples in {len(shards)} shards")
    return 0


def register(sub) -> None:
    p = sub.add_parser("dataset", help="TFRecord shards of the samples that fit a layout",
                       description="Searches each tile index for the layout, draws samples, splits them by ROI "
                       "(no cell in two splits), extracts the patches (DecloudPatchesExtraction) and writes shards.",
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
    p.set_defaults(func=run)

"""decloud index"""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import require_prepared


def run(args: argparse.Namespace) -> int:
    from ..original import expand  # noqa: PLC0415
    from ..patch_index import index_prepared, select_tile  # noqa: PLC0415

    # the original Decloud's products (S2_PREPARE/<tile>/<product>, its S1 files) are read through their views
    args.s2, args.s1 = expand(args.s2), expand(args.s1 or [])
    for folder in args.s2:
        require_prepared(folder, "--s2", "s2_10m.tif")
    for folder in args.s1 or []:
        require_prepared(folder, "--s1", "s1.tif")
    chosen = select_tile([Path(p) for p in args.s2], [Path(p) for p in args.s1 or []], args.tile)
    if chosen.note():
        print(chosen.note())
    index = index_prepared(args.out, chosen.s2, chosen.s1, cell_pixels=args.cell_pixels, tile=chosen.tile)
    print(f"{args.out}: tile {index.tile}, {index.grid.n_cells} cells of {index.grid.cell_pixels} px, "
          f"{index.s2_hours.size} S2 dates, {sum(v.size for v in index.s1_hours.values())} S1 dates")
    return 0


def register(sub) -> None:
    p = sub.add_parser("index", help="build or update a tile's patch index from prepared folders",
                       description="Per cell of a patch grid and per S2 date: cloud %%, validity, nearest valid S1. "
                       "An existing index is updated with the dates it does not have yet. An index is of one tile: "
                       "--tile, else the tile of the S2 folders (S2_<tile>_<date>, as prepared; GeoTIFF stacks "
                       "prepared without --tile are of tile NOTILE); folders of other tiles are left out, and the "
                       "S1 folders must be of that tile (decloud dataset finds them by that name).",
                       epilog="example: decloud index --out index/bolzano.npz --tile bolzano --s2 prepared/S2_* "
                              "--s1 prepared/S1_*")
    p.add_argument("--out", required=True, help="index file (.npz)")
    p.add_argument("--s2", nargs="+", required=True, help="prepared S2 folders of one tile")
    p.add_argument("--s1", nargs="*", help="prepared S1 folders of that tile")
    p.add_argument("--cell-pixels", type=int, default=256, help="patch grid cell size in 10 m pixels (default 256)")
    p.add_argument("--tile", help="tile name, as given to decloud prepare-s2 --tile (default: the S2 folders' tile)")
    p.set_defaults(func=run)

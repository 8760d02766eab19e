"""decloud search"""

from __future__ import annotations

import argparse

from tqdm import tqdm

from ..atomic import write_json


def run(args: argparse.Namespace) -> int:
    from ..layouts import load_layout  # noqa: PLC0415
    from ..patch_index import TileIndex, from_hours  # noqa: PLC0415
    from ..search import explain_message, search  # noqa: PLC0415

    layout = load_layout(args.layout)
    samples = []
    found = 0
    empty = []
    for path in tqdm(args.index, desc="tiles", unit="tile", disable=args.quiet):
        index = TileIndex.load(path)
        result = search(index, layout, seed=args.seed)
        found += len(result)
        if not len(result):
            empty.append(explain_message(index, layout, source=str(path)))
        samples += result.draw(strategy=args.strategy, per_cell=args.per_cell, total=args.total, seed=args.seed)
    for message in empty:
        print(message)
    print(f"{found} (cell, t) pairs fit layout {layout.name}; {len(samples)} samples drawn ({args.strategy})")
    if args.out:
        rows = [{"tile": s.tile, "cell": s.cell,
                 "s2": {k: from_hours(v).isoformat() for k, v in s.s2_hours.items()},
                 "s1": {k: (from_hours(v).isoformat() if v is not None else None) for k, v in s.s1_hours.items()}}
                for s in samples]
        write_json(args.out, {"layout": layout.name, "samples": rows}, what="samples file", indent=1)
    return 0


def register(sub) -> None:
    p = sub.add_parser("search", help="samples that fit an acquisitions layout",
                       description="Every (patch cell, date t) of each index whose acquisitions fit the layout, and "
                       "samples drawn from them. When nothing fits a tile, says per acquisition how many candidates "
                       "each constraint (validity, cloud range, S1 gap, window) kept.",
                       epilog="example: decloud search --index index/*.npz --layout os2 --per-cell 4 "
                              "--out samples.json")
    p.add_argument("--index", nargs="+", required=True, help="tile index files")
    p.add_argument("--layout", required=True,
                   help="a shipped layout (ssop, os1, os2, os2-gf; S2-only: ssop-s2, os1-s2, os2-s2, os2-gf-s2; "
                   "series, series-s2) or a layout JSON file")
    p.add_argument("--strategy", choices=["random", "constant", "season"], default="constant")
    p.add_argument("--per-cell", type=int, default=1, help="samples per cell (constant, season)")
    p.add_argument("--total", type=int, help="samples per tile (random)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="samples JSON file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)

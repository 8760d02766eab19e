"""decloud demo"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo  # noqa: PLC0415 - keeps `decloud --help` fast

    result = run_demo(args.out_dir, size=args.size, bolzano=args.bolzano)
    print(result.table)
    print(f"network:     {result.network}")
    print(f"gap-filling: {result.gapfilling}")
    print(f"quick-look:  {result.quicklook} (cloudy input | gap-filling | network | reference)")
    print(f"metrics:     {result.metrics}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="a cloudy scene through DecloudInfer (shipped model) and DecloudGapFilling",
        description="Makes a cloudy Sentinel-2 scene with its reference (generated, or --bolzano: real images of "
        "../shared/data/bolzano-west with real clouds pasted on a clear date), runs DecloudInfer with the shipped "
        "model (clear pixels kept) and DecloudGapFilling through pyotb, writes their GeoTIFFs, a side-by-side "
        "quick-look PNG and a metrics table.",
        epilog="example: decloud demo --out-dir demo-output --bolzano")
    p.add_argument("--out-dir", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--size", type=int, default=512, help="generated scene size in pixels (default: 512)")
    p.add_argument("--bolzano", action="store_true", help="run on ../shared/data/bolzano-west (when present)")
    p.set_defaults(func=run)

"""decloud demo"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo  # noqa: PLC0415 - keeps `decloud --help` fast

    result = run_demo(args.out_dir, scene="generated" if args.generated else "real", size=args.size,
                      series=args.series, model=args.model)
    print(result.table)
    print(f"network:     {result.network}")
    print(f"gap-filling: {result.gapfilling}")
    print(f"quick-look:  {result.quicklook} (cloudy input | gap-filling | network | reference)")
    print(f"metrics:     {result.metrics}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="a cloudy scene through DecloudInfer (shipped model) and DecloudGapFilling",
        description="Takes a cloudy Sentinel-2 scene with its cloud-free reference (default: real images shipped "
        "with the package, real clouds pasted on a clear date; --generated: a generated landscape; --series: any "
        "folder of dated S2 stacks), runs DecloudInfer with the shipped model (clear pixels kept) and "
        "DecloudGapFilling through pyotb, writes their GeoTIFFs, a side-by-side quick-look PNG and a metrics table.",
        epilog="example: decloud demo --out-dir demo-output --series ../shared/data/bolzano-west")
    p.add_argument("--out-dir", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--generated", action="store_true", help="a generated scene instead of the real one")
    p.add_argument("--size", type=int, default=512, help="generated scene size in pixels (default: 512)")
    p.add_argument("--series", help="folder of dated stacks S2_L2A_YYYYMMDD_B2B3B4B8.tif (+ _SCL/_CLM.tif)")
    p.add_argument("--model", help="model folder (default: the shipped default model)")
    p.set_defaults(func=run)

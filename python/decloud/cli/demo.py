"""decloud demo"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo  # noqa: PLC0415 - keeps `decloud --help` fast

    result = run_demo(args.out_dir, size=args.size)
    print(f"input image:  {result.image}")
    print(f"model:        {result.model}")
    print(f"output:       {result.output} ({result.seconds:.2f} s through TensorflowModelServe)")
    print(f"quick-look:   {result.quicklook}")
    print(f"max |output - closed-form box filter|: {result.max_abs_error:.3g}")
    return 0 if result.max_abs_error < 1e-2 else 1


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="generated image + generated SavedModel through TensorflowModelServe",
        description="Writes a synthetic Sentinel-2-like GeoTIFF, a SavedModel (5x5 box filter), runs "
        "TensorflowModelServe on it with pyotb, writes the output GeoTIFF and a quick-look PNG.",
        epilog="example: decloud demo --out-dir demo-output")
    p.add_argument("--out-dir", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--size", type=int, default=512, help="image size in pixels (default: 512)")
    p.set_defaults(func=run)

"""The ``decloud`` command: one sub-command per stage, each calling the package's functions."""

from __future__ import annotations

import argparse
import logging
import sys

from .errors import DecloudError


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo  # noqa: PLC0415 - keeps `decloud --help` fast

    result = run_demo(args.out_dir, size=args.size)
    print(f"input image:  {result.image}")
    print(f"model:        {result.model}")
    print(f"output:       {result.output} ({result.seconds:.2f} s through TensorflowModelServe)")
    print(f"quick-look:   {result.quicklook}")
    print(f"max |output - closed-form box filter|: {result.max_abs_error:.3g}")
    return 0 if result.max_abs_error < 1e-2 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decloud", description="Cloud removal for Sentinel-2 images.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="generated image + generated SavedModel through TensorflowModelServe",
        description="Writes a synthetic Sentinel-2-like GeoTIFF, a SavedModel (5x5 box filter), runs "
        "TensorflowModelServe on it with pyotb, writes the output GeoTIFF and a quick-look PNG.",
        epilog="example: decloud demo --out-dir demo-output",
    )
    demo.add_argument("--out-dir", default="demo-output", help="output folder (default: demo-output)")
    demo.add_argument("--size", type=int, default=512, help="image size in pixels (default: 512)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except DecloudError as e:
        print(f"decloud: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The ``decloud`` command: one sub-command per stage, one module per command (each has ``register``).
Commands parse their arguments and call the package's functions; errors are one line, exit status 2."""

from __future__ import annotations

import argparse
import logging
import sys

from ..errors import DecloudError
from . import benchmark, dataset, demo, evaluate, index, infer, prepare, qgis_setup, search, timeseries, train

COMMANDS = (demo, prepare, index, search, dataset, train, evaluate, infer, timeseries, qgis_setup, benchmark)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decloud", description="Cloud removal for Sentinel-2 images.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except DecloudError as e:
        print(f"decloud {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

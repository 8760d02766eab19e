"""The ``decloud`` command: one sub-command per stage, one module per command (each has ``register``).
Commands parse their arguments and call the package's functions. A user mistake or an I/O failure is one line
on stderr and exit status 2 (``-v`` adds the traceback); SIGINT / SIGTERM stop a command cleanly (temporary
files removed, locks released) with exit status 130 / 143 (see :mod:`decloud.interrupts`)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from ..atomic import remove_live_temporaries
from ..errors import DecloudError
from ..interrupts import Interrupted, abandoned_writes, handle_signals
from . import (
    benchmark,
    convert_records,
    dataset,
    demo,
    evaluate,
    import_model,
    index,
    infer,
    prepare,
    qgis_setup,
    search,
    synthesis,
    timeseries,
    train,
)
from .options import otb_warnings_only

COMMANDS = (demo, prepare, index, search, dataset, train, evaluate, infer, timeseries, qgis_setup, benchmark,
            convert_records, import_model, synthesis)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decloud", description="Cloud removal for Sentinel-2 images.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging (and OTB's INFO lines, which commands with a progress bar hide)")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    # train keeps Python's defaults: TensorFlow may block the main thread in C++ (a collective waiting for a lost
    # worker), where only SIGTERM's default action still ends the process.
    signums = (signal.SIGINT,) if args.command == "train" else (signal.SIGINT, signal.SIGTERM)
    with handle_signals(signums), otb_warnings_only(getattr(args, "progress_bar", False) and not args.verbose):
        try:
            return args.func(args)
        except DecloudError as e:
            if args.verbose:
                raise
            return _error(args.command, str(e))
        except OSError as e:  # a file the command could not read or write, named by the system
            if args.verbose:
                raise
            where = f"{e.filename}: " if e.filename else ""
            return _error(args.command, f"{where}{e.strerror or e}")
        except KeyboardInterrupt as e:
            code = e.exit_code if isinstance(e, Interrupted) else 130
            name = e.name if isinstance(e, Interrupted) else "SIGINT"
            remove_live_temporaries()
            print(f"decloud {args.command}: interrupted by {name}: no partial output was left (temporary files "
                  "removed); run the same command again to finish", file=sys.stderr)
            if abandoned_writes():  # an OTB write still runs in a worker thread: do not wait for it
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            return code


def _error(command: str, message: str) -> int:
    text = " ".join(line.strip() for line in message.strip().splitlines() if line.strip())
    print(f"decloud {command}: error: {text}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Parsing helpers shared by the commands."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import DecloudInputError


def shows_progress_bar(parser) -> None:
    """Mark a command whose progress bar OTB's INFO lines would bury (a line or more per image, from this process
    and from its Dask workers): :func:`otb_warnings_only` applies to it unless ``decloud -v``."""
    parser.set_defaults(progress_bar=True)


@contextlib.contextmanager
def otb_warnings_only(enabled: bool) -> Iterator[None]:
    """OTB's log (and pyotb's, which follows it) at WARNING for the block, where the user has not set
    OTB_LOGGER_LEVEL: set before pyotb loads, so that this process and the Dask workers started in the block
    (which inherit the environment) log only warnings and errors; given back after, so that a caller's process
    (a test calling ``main()``) keeps its environment. Errors still reach the user in full: a failed app's
    message is in the exception pyotb raises."""
    if not enabled or "OTB_LOGGER_LEVEL" in os.environ:
        yield
        return
    os.environ["OTB_LOGGER_LEVEL"] = "WARNING"
    try:
        yield
    finally:
        os.environ.pop("OTB_LOGGER_LEVEL", None)


def add_bbox(parser, what: str) -> None:
    """``--bbox XMIN YMIN XMAX YMAX`` (coordinates in the images' CRS); ``what``: what the box limits."""
    parser.add_argument("--bbox", type=float, nargs=4, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                        help=f"{what} (coordinates in the images' CRS)")


def parse_assignments(items: list[str] | None, option: str, form: str) -> dict[str, str]:
    """``["A=x", "B=y"]`` -> ``{"A": "x", "B": "y"}``; an item without ``=`` names ``option`` and ``form``."""
    parsed = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise DecloudInputError(f"{option}: {item!r} is not {form}")
        parsed[key] = value
    return parsed


def require_dataset(folder: str, option: str) -> None:
    """A folder of TFRecord shards (with its ``shapes_and_types.json``), else one error naming ``option``."""
    path = Path(folder)
    if not path.is_dir():
        raise DecloudInputError(f"{option} {folder}: no such folder")
    if not (path / "shapes_and_types.json").is_file():
        raise DecloudInputError(f"{option} {folder}: not a dataset folder (no shapes_and_types.json; made by "
                                "decloud dataset)")


def require_prepared(folder: str, option: str, image: str) -> None:
    """A finished preparation output folder (``done.json`` and ``image``), else one error naming ``option``."""
    path = Path(folder)
    if not path.is_dir():
        raise DecloudInputError(f"{option} {folder}: no such folder")
    if not (path / "done.json").is_file() or not (path / image).is_file():
        raise DecloudInputError(f"{option} {folder}: not a finished preparation output (no done.json or {image}; "
                                "made by decloud prepare-s2 / prepare-s1)")


def print_run_summary(entries: list[dict], skipped: list[dict], out_dir, done_words: str, skip_label) -> None:
    """The last lines of a resumable run (timeseries, synthesis): how many tasks ``done_words`` ("date(s)
    processed"), already done and skipped, the report's path, then each skipped task (``skip_label(entry)``) with
    its reason."""
    done = sum(e["status"] == "done" for e in entries)
    exists = sum(e["status"] == "exists" for e in entries)
    print(f"{done} {done_words}, {exists} already done, {len(skipped)} skipped; report: {out_dir}/run_report.json")
    for s in skipped:
        print(f"  skipped {skip_label(s)}: {s['reason']}")

"""Every date of a series without clouds: one ``DecloudInfer`` run per S2 date, resumable.

Planning (``plan_timeseries``): the layout (``--layout``; default ``series-s2``, or ``series`` for a model that takes
S1: t-1 within 30 days before t, t+1 within 30 days after) is applied as ``decloud search`` applies it, with the
same rule (:func:`decloud.search.constraint_masks`), to each prepared S2 date as a whole instead of a patch cell:
t must meet the constraints of the layout's origin, each other acquisition the model takes (t-1, t+1) has as
candidates the prepared S2 dates of t's own tile (:mod:`decloud.prepare.common`'s tile rule) inside its window that
meet its constraints (valid: some valid pixel; cloud share of the valid pixels within its range, the layout's
tolerance applied; S1 within ``max_s1s2_gap_hours`` when the acquisition names S1). Acquisitions the model does not
take (``target``) are not used. ``window_before`` / ``window_after`` (``--window-before`` / ``--window-after``, days,
``MAX`` or ``MIN-MAX``) replace the windows of t-1 and t+1. Candidates are ranked by cloud share (a share within
the layout's cloud tolerance counts as clear), then by nearness to t: a cloudy neighbour is taken only when no
clearer one is in the window; the first ``MAX_CANDIDATES`` complete each other per pixel where one has no data
(swath edges). A date its mask calls clear that is a cloud the mask missed (far brighter in blue than the clear dates
of its tile before and after it: :func:`decloud.scenarios.missed_cloud_gaps`, on a decimated read) ranks as fully
cloudy, with a warning naming it, and its candidates' entry says ``missed_cloud``. S1 images (for models that take
them) are those of the tile within the gap of each S2 date, nearest first. A date that does not fit is skipped, with
the reason (which constraint left no candidate, with the counts) in the plan and the report.

Running (``run_timeseries``): one task per date, each writing ``<out_dir>/<S2 folder name>_decloud.tif``
(and, with the option ``provenance``, ``<S2 folder name>_provenance.tif`` beside it: where each pixel comes from)
atomically (temporary name, checked, then renamed: :mod:`decloud.atomic`). A date whose output exists (and
reads to its last block) is done: a run killed at any point, or stopped by a full disk, and run again produces
every date, each identical to a clean run. The run holds ``out_dir``'s lock (a second run on the same folder
is refused, naming the first); an output path that is one of the inputs is refused before anything runs;
SIGINT stops it between two dates or in the middle of a write, leaving no partial output.
``run_report.json`` next to the outputs (written atomically) lists, per task, its inputs, output, status,
duration and worker. Given ``cluster`` (:class:`decloud.distributed.
ClusterOptions`), the dates still to do are Dask tasks (local worker processes, a scheduler, Slurm or PBS jobs),
each with ``threads_per_worker`` TensorFlow threads unless ``options`` sets ``threads``.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from . import distributed
from .atomic import check_otb_output, folder_lock, output_done, refuse_input_as_output
from .card import read_card
from .errors import DecloudError, DecloudInputError
from .infer import default_model, infer, provenance_shares, required_roles
from .interrupts import check, handle_signals
from .layouts import Acquisition, AcquisitionsLayout, Orbit, load_layout
from .prepare.common import MISSED_CLOUD_SIDE, check_tile_name, decimated_blue, prepared_tile, read_marker
from .search import CONSTRAINTS, constraint_masks, describe_constraint

MAX_CANDIDATES = 3
TWENTY_M_ROLES = {"t": "s2_20m_t", "tm1": "s2_20m_tm1", "tp1": "s2_20m_tp1"}
DemOption = str | Path | Mapping[str, str | Path] | None
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Acquired:
    """A prepared acquisition: its folder, date, sensor, tile, (S1) orbit direction and (S2) share of cloudy valid
    pixels and of nodata pixels, in percent."""

    folder: Path
    when: datetime
    sensor: str
    cloud_percent: float = 0.0
    nodata_percent: float = 0.0
    tile: str = "NOTILE"
    orbit: str | None = None

    @property
    def image(self) -> Path:
        return self.folder / ("s2_10m.tif" if self.sensor == "S2" else "s1.tif")

    @property
    def cloud_fraction(self) -> float:
        return self.cloud_percent / 100.0


@dataclass(frozen=True)
class DateTask:
    """One date to process: the inputs by role (candidates in order), the cloud mask of t, the output, and per S2
    role the date and cloud share of each candidate (what the report shows of the choice)."""

    date: str
    inputs: dict[str, list[str]]
    output: str
    mask: str | None = None
    dates: dict[str, str] = field(default_factory=dict)
    candidates: dict[str, list[dict]] = field(default_factory=dict)


def _shares(folder: Path) -> tuple[float, float]:
    """(cloud percent of the valid pixels, nodata percent) of a prepared S2 date."""
    from .prepare.s2 import date_summary  # noqa: PLC0415

    try:
        summary = date_summary(folder)
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise DecloudInputError(f"{folder}: its per-block counts (blocks.npz) or nodata.tif cannot be read ({e}); "
                                "prepare it again") from e
    return summary["cloud_percent"], summary["nodata_percent"]


def find_prepared(folders: Iterable[str | Path]) -> list[Acquired]:
    """Prepared S2 and S1 folders (done.json + image) under the given folders (or the folders themselves); the
    original Decloud's prepared tree (or products of it) are read through their views (:mod:`decloud.original`)."""
    from .original import expand, find_original  # noqa: PLC0415

    found: dict[Path, Acquired] = {}
    for root in folders:
        root = Path(root)
        if not root.exists():
            raise DecloudInputError(f"{root}: no such folder")
        s2_original, s1_original = find_original([root])
        views = expand([*s2_original, *s1_original]) if s2_original or s1_original else []
        for marker in [root / "done.json", *root.glob("*/done.json"), *(v / "done.json" for v in views)]:
            info = read_marker(marker.parent)
            if not info or "acquired" not in info:
                continue
            sensor = "S1" if (marker.parent / "s1.tif").exists() else "S2"
            if sensor == "S2" and not (marker.parent / "s2_10m.tif").exists():
                continue
            when = datetime.fromisoformat(info["acquired"])
            cloud, nodata = _shares(marker.parent) if sensor == "S2" else (0.0, 0.0)
            found[marker.parent] = Acquired(marker.parent, when, sensor, cloud, nodata,
                                            prepared_tile(marker.parent, info), info.get("orbit_direction"))
    if not found:
        raise DecloudInputError(f"no prepared S2 or S1 folder under {', '.join(str(f) for f in folders)} "
                                "(run decloud prepare-s2 first)")
    return sorted(found.values(), key=lambda a: (a.when, a.folder.name))


def _in_window(candidates, t: datetime, window_hours: tuple[float, float], exclude: Path | None = None):
    start, end = t + timedelta(hours=window_hours[0]), t + timedelta(hours=window_hours[1])
    return [c for c in candidates if start <= c.when <= end and c.folder != exclude]


def _bound(text: str | None, name: str, tz, *, end: bool = False) -> datetime | None:
    """``--start`` / ``--end`` in the series' time zone; an end given as a day includes that whole day."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError as e:
        raise DecloudInputError(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from e
    when = when if when.tzinfo or tz is None else when.replace(tzinfo=tz)
    return when + timedelta(days=1) if end and len(text) <= 10 else when


def parse_window(text: str | float | None, option: str) -> tuple[float, float] | None:
    """``--window-before`` / ``--window-after``: ``MAX`` days (0 to MAX) or ``MIN-MAX`` days, as (min, max)."""
    if text is None:
        return None
    try:
        parts = [float(x) for x in str(text).split("-")] if isinstance(text, str) else [float(text)]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = [0.0, parts[0]]
    if len(parts) != 2 or not 0 <= parts[0] <= parts[1] or parts[1] <= 0:
        raise DecloudInputError(f"{option} {text}: give days as MAX or MIN-MAX, 0 <= MIN <= MAX, MAX > 0 (e.g. 30 "
                                "or 10-30)")
    return parts[0], parts[1]


def default_layout(model: str | Path | None = None) -> str:
    """The layout ``decloud timeseries`` uses without ``--layout``: ``series`` for a model that takes S1, else
    ``series-s2``."""
    roles = required_roles(model)
    return "series" if any(r.startswith("s1_") for r in roles["images"]) else "series-s2"


def series_layout(layout: str | Path | AcquisitionsLayout | None = None, *, model: str | Path | None = None,
                  window_before: str | float | None = None, window_after: str | float | None = None
                  ) -> AcquisitionsLayout:
    """The layout of a series: ``layout`` (default :func:`default_layout`) with the windows of ``tm1`` and ``tp1``
    replaced by ``window_before`` / ``window_after`` (days, see :func:`parse_window`) when given."""
    import dataclasses  # noqa: PLC0415

    lay = layout if isinstance(layout, AcquisitionsLayout) else load_layout(layout or default_layout(model))
    changes = {}
    for name, option, text, sign in (("tm1", "--window-before", window_before, -1),
                                     ("tp1", "--window-after", window_after, 1)):
        days = parse_window(text, option)
        if days is None:
            continue
        if name not in lay.names:
            raise DecloudInputError(f"{option}: layout {lay.name} has no acquisition {name} "
                                    f"(acquisitions: {', '.join(lay.names)})")
        lo, hi = sorted((sign * days[0] * 24 + 0.0, sign * days[1] * 24 + 0.0))  # no -0
        changes[name] = (lo, hi)
    if not changes:
        return lay
    acquisitions = tuple(dataclasses.replace(a, window_hours=changes[a.name]) if a.name in changes else a
                         for a in lay.acquisitions)
    return dataclasses.replace(lay, acquisitions=acquisitions)


def _window_text(window: tuple[float, float]) -> str:
    if all(h % 24 == 0 for h in window):
        return f"[{window[0] / 24:+g} d, {window[1] / 24:+g} d]"
    return f"[{window[0]:+g} h, {window[1]:+g} h]"


def _s1_gap(acquisition: Acquired, s1: Sequence[Acquired], orbit: Orbit) -> float:
    """Hours to the nearest S1 of ``orbit`` (or any) of the acquisition's tile; inf when there is none."""
    gaps = [abs((c.when - acquisition.when).total_seconds()) / 3600 for c in s1
            if c.tile == acquisition.tile and (orbit == "any" or c.orbit == orbit)]
    return min(gaps, default=np.inf)


def fit(acq: Acquisition, candidates: Sequence[Acquired], s1: Sequence[Acquired]
        ) -> tuple[list[Acquired], list[tuple[str, int]]]:
    """The candidates that meet an acquisition's constraints (:func:`decloud.search.constraint_masks`, per date:
    valid = some valid pixel) and how many each constraint kept: (label, count) in order."""
    cloud = np.array([c.cloud_percent for c in candidates], dtype=np.float64)
    valid = np.array([c.nodata_percent < 100 for c in candidates], dtype=bool)
    gap = None if acq.s1 is None else np.array([_s1_gap(c, s1, acq.s1.orbit) for c in candidates])
    masks = constraint_masks(acq, cloud, valid, gap)
    steps = [("valid (some data)" if c == "valid" else describe_constraint(acq, c), int(masks[c].sum()))
             for c in CONSTRAINTS if c != "s1" or acq.s1]
    return [c for c, ok in zip(candidates, masks["s1"]) if ok], steps


def rank(candidates: Sequence[Acquired], t: datetime, tolerance: float,
         missed: Mapping[Path, float] | None = None) -> list[Acquired]:
    """Best first: the least cloud (a share within ``tolerance`` percent counts as clear; a missed cloud, one of
    ``missed``, counts as fully cloudy), then the nearest to t."""
    missed = missed or {}
    return sorted(candidates, key=lambda c: (round(max((100.0 if c.folder in missed else c.cloud_percent)
                                                       - tolerance, 0.0), 1),
                                             abs((c.when - t).total_seconds()), c.folder.name))


def _blue_and_usable(a: Acquired, side: int) -> tuple[np.ndarray, np.ndarray] | None:
    """B2 and its usable pixels of a prepared S2 date, decimated to at most ``side`` px a side
    (:func:`decloud.prepare.common.decimated_blue`): from its ``blocks.npz`` where the preparation stored them, else
    read; None for a date without its cloud.tif / nodata.tif (the original Decloud's views)."""
    cloud, nodata = a.folder / "cloud.tif", a.folder / "nodata.tif"
    if not all(p.exists() for p in (a.image, cloud, nodata)):
        return None
    if a.image == a.folder / "s2_10m.tif":
        try:
            with np.load(a.folder / "blocks.npz") as z:
                if "blue_decimated" in z.files and int(z["decimated_side"]) == side:
                    return z["blue_decimated"], z["usable_decimated"]
        except (OSError, ValueError, KeyError):
            pass  # read below
    return decimated_blue(a.image, cloud, nodata, side)


def warn_missed_clouds(missed: Mapping[Path, float], consequence: str) -> None:
    """One warning per missed cloud of ``missed_cloud_dates``, naming the date's folder, by how much it is brighter,
    and ``consequence`` (what is done with it)."""
    for folder, brighter in sorted(missed.items()):
        log.warning("%s: its cloud mask calls it clear, but its blue band is %.2f brighter than the clear dates "
                    "before and after it: a cloud the mask missed, %s", folder, brighter / 10000.0, consequence)


def missed_cloud_dates(s2: Sequence[Acquired], tolerance: float, *, side: int = MISSED_CLOUD_SIDE) -> dict[Path, float]:
    """Per tile, the prepared S2 dates within ``tolerance`` percent of cloud that are clouds their masks missed
    (:func:`decloud.scenarios.missed_cloud_gaps` among them, in time order): {folder: how much brighter in B2 x
    10000 than its clear neighbours, in median}."""
    from .scenarios import missed_cloud_gaps  # noqa: PLC0415

    out: dict[Path, float] = {}
    for tile in sorted({a.tile for a in s2}):
        clear = sorted((a for a in s2 if a.tile == tile and a.cloud_percent <= tolerance), key=lambda a: a.when)
        dates, blue, usable = [], [], []
        for a in clear:
            read = _blue_and_usable(a, side)
            if read is not None:
                dates.append(a)
                blue.append(read[0])
                usable.append(read[1])
        out.update({dates[k].folder: gap for k, gap in missed_cloud_gaps(blue, usable).items()})
    return out


def _why_not(name: str, window_text: str, in_window: int, steps: list[tuple[str, int]]) -> str:
    kept = " -> ".join(f"{label} {n}" for label, n in steps)
    first_empty = next((label for label, n in steps if n == 0), None)
    return (f"no {name} candidate: {in_window} S2 date(s) in {window_text}"
            + (f", {kept}" if in_window else "") + (f" (none left by \"{first_empty}\")" if in_window else ""))


def card_bands(model: str | Path | None, roles: Iterable[str]) -> dict[str, list[str] | None]:
    """The band order the model's card gives each of ``roles`` (None: the card names no bands)."""
    card = read_card(Path(model) if model else default_model())
    out: dict[str, list[str] | None] = {}
    for key, spec in card["inputs"].items():
        role = spec.get("role", key)
        if role in roles:
            out[role] = list(spec["bands"]) if spec.get("bands") else None
    return out


def _descriptions(path: Path) -> list[str]:
    from osgeo import gdal  # noqa: PLC0415

    from .atomic import capture_gdal_errors  # noqa: PLC0415
    from .products import BAND_NAME, canonical_band  # noqa: PLC0415

    with capture_gdal_errors():
        ds = gdal.Open(str(path))
        found = [ds.GetRasterBand(b + 1).GetDescription().strip() for b in range(ds.RasterCount)]
        ds = None
    return [canonical_band(d) for d in found] if found and all(BAND_NAME.match(d) for d in found) else []


@functools.lru_cache(maxsize=4096)
def _twenty_m(folder: Path) -> tuple[tuple[Path, tuple[str, ...]], ...]:
    """The 20 m stacks of a prepared S2 date with their band order: the folder's ``s2_20m.tif`` and, for a view of
    the original's tree, the original's ``*_FRE_20m.tif`` (in the order its ``done.json`` gives)."""
    from .products import BANDS_20M  # noqa: PLC0415

    marker = read_marker(folder) or {}
    found = []
    if marker.get("kind") == "original-decloud" and marker.get("source"):
        original = sorted(Path(marker["source"]).glob("*_FRE_20m.tif"))
        if len(original) == 1 and marker.get("bands_20m"):
            found.append((original[0], tuple(marker["bands_20m"])))
    own = folder / "s2_20m.tif"
    if own.exists():
        order = _descriptions(own) or list(marker.get("bands_20m") or BANDS_20M)
        found.append((own, tuple(order)))
    return tuple(found)


def twenty_m_image(acquired: Acquired, bands: Sequence[str] | None) -> tuple[Path | None, str]:
    """The 20 m bands of a prepared S2 date in the order ``bands`` (a model card's; None: any), never reordered:
    (the image, "") or (None, why there is none)."""
    stacks = _twenty_m(acquired.folder)
    if not stacks:
        return None, (f"{acquired.when.date()} has no 20 m bands ({acquired.folder.name} has no s2_20m.tif: its "
                      "product had no B5 B6 B7 B8A B11 B12, or was prepared from a 10 m stack)")
    for path, order in stacks:
        if bands is None or list(order) == list(bands):
            return path, ""
    have = " / ".join(" ".join(order) for _, order in stacks)
    ours = not any(p.name.endswith("_FRE_20m.tif") for p, _ in stacks)
    return None, (f"the 20 m bands of {acquired.when.date()} are {have}" + (" (decloud prepare-s2's order)" if ours
                                                                         else "")
                  + f", the model takes {' '.join(bands or [])}"
                  + (" (the original Decloud's order: give its prepared tree, S2_PREPARE, whose *_FRE_20m.tif are in "
                     "it)" if ours else "") + "; decloud timeseries does not reorder bands")


def dem_for(tile: str, dem: DemOption) -> tuple[Path | None, str]:
    """The DEM of a tile from ``--dem``: one file (every tile), a folder holding ``<tile>.tif`` or ``T<tile>.tif``
    (the original's ``DEM_PREPARE``), or ``{tile: file}``; (None, why not) when there is none."""
    if dem is None:
        return None, "no --dem given"
    if isinstance(dem, Mapping):
        named = {check_tile_name(str(k), "--dem"): Path(v) for k, v in dem.items()}
        if tile in named:
            if not named[tile].is_file():
                raise DecloudInputError(f"--dem {tile}={named[tile]}: no such file")
            return named[tile].absolute(), ""
        return None, f"no DEM for tile {tile} (--dem gives {', '.join(sorted(named)) or 'none'})"
    path = Path(dem)
    if path.is_dir():
        for name in (f"{tile}.tif", f"T{tile}.tif"):
            if (path / name).is_file():
                return (path / name).absolute(), ""
        return None, f"no DEM for tile {tile} in {path} (looked for {tile}.tif and T{tile}.tif)"
    if not path.exists():
        raise DecloudInputError(f"--dem {dem}: no such file or folder")
    return path.absolute(), ""


def parse_dem(items: Sequence[str] | None) -> DemOption:
    """``--dem``'s values: one PATH (a file for every tile, or a folder of <tile>.tif), or TILE=PATH items."""
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0]:
        return items[0]
    out: dict[str, str] = {}
    for item in items:
        tile, sep, path = item.partition("=")
        if not sep or not tile or not path:
            raise DecloudInputError(f"--dem {item!r}: give one PATH (a DEM for every tile, or a folder of <tile>.tif) "
                                    "or TILE=PATH items")
        out[check_tile_name(tile, "--dem")] = path
    return out


def needs_dem(roles: dict[str, list[str]], dem: DemOption, model: str | Path | None) -> bool:
    """Whether the model takes a DEM; refuses a model that does when no ``dem`` is given."""
    if "dem" not in roles["images"]:
        if dem is not None:
            log.warning("--dem is not used: model %s takes no DEM", model or default_model())
        return False
    if dem is None:
        raise DecloudInputError(f"model {model or default_model()} takes a DEM (input role dem, on the 20 m grid): "
                                "give --dem PATH (one file, a folder of <tile>.tif such as the original's DEM_PREPARE, "
                                "or --dem TILE=PATH per tile; decloud prepare-dem makes one)")
    return True


def plan_timeseries(prepared: Sequence[Acquired], out_dir: str | Path, *,
                    layout: str | Path | AcquisitionsLayout | None = None, start: str | None = None,
                    end: str | None = None, model: str | Path | None = None, keep_clear: bool = False,
                    window_before: str | float | None = None, window_after: str | float | None = None,
                    dem: DemOption = None) -> tuple[list[DateTask], list[dict]]:
    """The tasks of a series and the dates skipped (with why): see the module doc."""
    roles = required_roles(model)
    wanted = set(roles["images"]) | set(roles["dates"])
    twenty = card_bands(model, [r for r in TWENTY_M_ROLES.values() if r in wanted])
    takes_dem = needs_dem(roles, dem, model)
    lay = series_layout(layout, model=model, window_before=window_before, window_after=window_after)
    tolerance = lay.cloud_tolerance_percent
    s2 = [a for a in prepared if a.sensor == "S2"]
    s1 = [a for a in prepared if a.sensor == "S1"]
    tz = s2[0].when.tzinfo if s2 else None
    t0, t1 = _bound(start, "start", tz), _bound(end, "end", tz, end=True)
    if t0 is not None and t1 is not None and t0 >= t1:
        raise DecloudInputError(f"--start {start} is after --end {end}: no date can be in that range")
    out_dir = Path(out_dir)
    tasks, skipped = [], []
    missed = missed_cloud_dates(s2, tolerance)
    warn_missed_clouds(missed, "ranked as fully cloudy for t-1 and t+1")
    for t in s2:
        if (t0 and t.when < t0) or (t1 and t.when >= t1):
            continue
        inputs: dict[str, list[str]] = {}
        dates: dict[str, str] = {}
        candidates: dict[str, list[dict]] = {}
        chosen: dict[str, Acquired] = {"t": t}
        problems = []
        same_tile = [c for c in s2 if c.tile == t.tile]
        origin = lay.origin
        consumed = [a for a in lay.acquisitions if a.is_origin or (a.name in ("tm1", "tp1") and {
            f"s2_{a.name}", f"s1_{a.name}", f"s2_timestamp_{a.name}", f"s2_20m_{a.name}"} & wanted)]
        needs_s1 = [a.name for a in consumed if a.s1 is not None]
        if needs_s1 and not any(c.tile == t.tile for c in s1):
            others = sorted({c.tile for c in s1})
            skipped.append({"date": t.when.isoformat(), "folder": str(t.folder), "status": "skipped",
                            "reason": f"layout {lay.name} needs S1 for {', '.join(needs_s1)} and no S1 of tile "
                            f"{t.tile} is prepared" + (f" (only of {', '.join(others)}: prepare S2 and S1 under one "
                                                       "tile name)" if others else "")
                            + ": prepare S1, or use an S2-only layout (series-s2, os2-s2, ...)"})
            continue
        kept, steps = fit(origin, [t], s1)
        origin_failed = not kept
        if origin_failed:
            label = next(label for label, n in steps if n == 0)
            problems.append(f"t (cloud {t.cloud_percent:g} %, nodata {t.nodata_percent:g} %) does not meet "
                            f"\"{label}\" of layout {lay.name}")
        for name in ("tm1", "tp1"):
            if not {f"s2_{name}", f"s1_{name}", f"s2_timestamp_{name}", f"s2_20m_{name}"} & wanted:
                continue
            if name not in lay.names:
                problems.append(f"layout {lay.name} has no acquisition {name}")
                continue
            acq = lay[name]
            window = acq.window_hours
            in_window = _in_window(same_tile, t.when, window, exclude=t.folder)
            kept, steps = fit(acq, in_window, s1)
            if not kept:
                problems.append(_why_not(name, _window_text(window), len(in_window), steps))
                continue
            found = rank(kept, t.when, tolerance, missed)
            role20 = TWENTY_M_ROLES[name]
            if role20 in wanted:
                images20 = {c.folder: twenty_m_image(c, twenty.get(role20)) for c in found[:MAX_CANDIDATES]}
                if images20[found[0].folder][0] is None:
                    problems.append(f"{name} {found[0].when.date()} chosen: {images20[found[0].folder][1]}")
                    continue
                found = [c for c in found[:MAX_CANDIDATES] if images20[c.folder][0] is not None]
                inputs[role20] = [str(images20[c.folder][0]) for c in found]
            chosen[name] = found[0]
            if f"s2_{name}" in wanted:
                inputs[f"s2_{name}"] = [str(c.image) for c in found[:MAX_CANDIDATES]]
                candidates[f"s2_{name}"] = [{"date": c.when.isoformat(), "cloud_percent": c.cloud_percent,
                                             "nodata_percent": c.nodata_percent,
                                             **({"missed_cloud": True} if c.folder in missed else {})}
                                            for c in found[:MAX_CANDIDATES]]
        for name, acquisition in chosen.items():
            if f"s2_timestamp_{name}" in wanted:
                dates[f"s2_timestamp_{name}"] = acquisition.when.strftime("%Y-%m-%dT%H:%M:%S")
            if f"s1_{name}" in wanted:
                acq_s1 = lay[name] if name in lay.names else None
                gap = acq_s1.max_s1s2_gap_hours if acq_s1 is not None else None
                gap = 72.0 if gap is None else gap
                orbit = acq_s1.s1.orbit if acq_s1 is not None and acq_s1.s1 is not None else "any"
                pool = [c for c in s1 if c.tile == t.tile and (orbit == "any" or c.orbit == orbit)]
                near = sorted(_in_window(pool, acquisition.when, (-gap, gap)),
                              key=lambda c: abs((c.when - acquisition.when).total_seconds()))
                if not near and name == "t" and origin_failed:
                    pass  # said above
                elif not near:
                    others = sorted({c.tile for c in s1} - {t.tile})
                    hint = (f" (S1 is prepared for tile(s) {', '.join(others)} only: prepare S2 and S1 under one "
                            "tile name)" if others else "")
                    problems.append(f"no S1 of tile {t.tile} within {gap:g} h of the S2 date for {name}{hint}")
                else:
                    inputs[f"s1_{name}"] = [str(c.image) for c in near[:MAX_CANDIDATES]]
        if "s2_t" in wanted:
            inputs["s2_t"] = [str(t.image)]
        if TWENTY_M_ROLES["t"] in wanted:
            image20, why = twenty_m_image(t, twenty.get(TWENTY_M_ROLES["t"]))
            if image20 is None:
                problems.append(f"t: {why}")
            else:
                inputs[TWENTY_M_ROLES["t"]] = [str(image20)]
        if takes_dem:
            dem_path, why = dem_for(t.tile, dem)
            if dem_path is None:
                problems.append(why)
            else:
                inputs["dem"] = [str(dem_path)]
        if problems:
            skipped.append({"date": t.when.isoformat(), "folder": str(t.folder), "status": "skipped",
                            "reason": "; ".join(problems)})
            continue
        tasks.append(DateTask(date=t.when.isoformat(), inputs=inputs, dates=dates, candidates=candidates,
                              mask=str(t.folder / "cloud.tif") if (keep_clear and "s2_t" in wanted)
                              or roles["masks"] else None,
                              output=str(out_dir / f"{t.folder.name}_decloud.tif")))
    return tasks, skipped




def provenance_path(output: str | Path) -> Path:
    """The provenance output beside a date's output: ``<S2 folder name>_provenance.tif``."""
    output = Path(output)
    return output.with_name(output.name.removesuffix("_decloud.tif").removesuffix(".tif") + "_provenance.tif")


def _task_done(task: DateTask, options: dict | None) -> bool:
    """Whether a date's output (and, with the option ``provenance``, its provenance output) is complete."""
    if not output_done(task.output, "redoing that date"):
        return False
    return not (options or {}).get("provenance") or output_done(str(provenance_path(task.output)), "redoing that date")


def run_task(task: DateTask, options: dict | None = None) -> dict:
    """Process one date unless its output exists; returns its report entry. Safe to run twice or concurrently
    with a killed earlier run: the output appears only complete, by rename. With ``options["provenance"]``, the
    provenance output is written beside it (a date whose provenance is missing is redone) and the entry gives the
    share of each class."""
    options = dict(options or {})
    provenance = provenance_path(task.output) if options.pop("provenance", False) else None
    began = time.perf_counter()
    listed = {**task.inputs, **({"mask": task.mask} if task.mask else {}), **task.dates}
    entry = {"task": f"decloud {task.date}", "date": task.date, "inputs": listed, "output": task.output,
             "worker": f"{socket.gethostname()}:{os.getpid()}"}
    if task.candidates:
        entry["candidates"] = task.candidates
    if provenance is not None:
        entry["provenance"] = str(provenance)
    if _task_done(task, {"provenance": provenance is not None}):
        return entry | {"status": "exists", "duration_s": 0.0}
    inputs = {role: (paths if len(paths) > 1 else paths[0]) for role, paths in task.inputs.items()}
    infer(task.output, inputs, mask=task.mask, dates=task.dates or None, outprov=provenance, **options)
    if provenance is not None:
        entry["provenance_shares"] = {k: round(v, 6) for k, v in provenance_shares(provenance).items()}
    return entry | {"status": "done", "duration_s": round(time.perf_counter() - began, 3)}


def check_outputs(tasks: Sequence[DateTask], out_dir: str | Path, *, provenance: bool = False) -> None:
    """Refuse, before anything runs, an output folder OTB cannot write as given and an output (or, with
    ``provenance``, a provenance output) that is one of the inputs of the series (the same file, also through a
    symbolic or hard link)."""
    check_otb_output(out_dir)
    inputs: dict[str, object] = {}
    for t in tasks:
        for role, paths in t.inputs.items():
            inputs[f"{role} of {t.date[:10]}"] = paths
        if t.mask:
            inputs[f"mask of {t.date[:10]}"] = t.mask
    outputs = [t.output for t in tasks] + ([str(provenance_path(t.output)) for t in tasks] if provenance else [])
    refuse_input_as_output(outputs, inputs)


def run_timeseries(tasks: Sequence[DateTask], out_dir: str | Path, *, skipped: Sequence[dict] = (),
                   options: dict | None = None, progress: bool = True,
                   cluster: distributed.ClusterOptions | None = None, client=None) -> list[dict]:
    """Run the tasks one after the other (the report is rewritten after each), or as Dask tasks on ``cluster``
    (or an existing Dask ``client``); returns the report entries (skipped dates, then the tasks in order).
    On Dask, a task that fails does not stop the others; the run then raises DecloudError.

    The run holds ``out_dir``'s lock (:func:`decloud.atomic.folder_lock`): another run on the same folder
    raises :class:`decloud.errors.DecloudBusyError`. Outputs that are inputs are refused before anything runs."""
    check_outputs(tasks, out_dir, provenance=bool((options or {}).get("provenance")))
    with folder_lock(out_dir, "decloud timeseries"), handle_signals((signal.SIGINT,)):
        return _run_timeseries(tasks, out_dir, skipped=skipped, options=options, progress=progress,
                               cluster=cluster, client=client)


def _run_timeseries(tasks, out_dir, *, skipped, options, progress, cluster, client) -> list[dict]:
    from tqdm import tqdm  # noqa: PLC0415

    options = dict(options or {})
    options.setdefault("model", str(default_model()))
    if cluster is not None or client is not None:
        return _run_distributed(tasks, out_dir, skipped=skipped, options=options, progress=progress,
                                cluster=cluster or distributed.ClusterOptions(), client=client)
    entries = list(skipped)
    for task in tqdm(tasks, desc="dates", unit="date", disable=not progress):
        check()
        entries.append(run_task(task, options))
        distributed.write_report(out_dir, entries, extra={"options": options})
    distributed.write_report(out_dir, entries, extra={"options": options})
    return entries


def _run_distributed(tasks: Sequence[DateTask], out_dir: str | Path, *, skipped: Sequence[dict], options: dict,
                     progress: bool, cluster: distributed.ClusterOptions, client) -> list[dict]:
    # Dates already done are reported here; a cluster is started only for the others.
    existing = {t.output: run_task(t, options) for t in tasks if _task_done(t, options)}
    todo = [t for t in tasks if t.output not in existing]
    threads = cluster.task_threads(client)
    if distributed.uses_dask(cluster, len(todo), client) and threads and not options.get("threads"):
        options["threads"] = threads
    before = [*skipped, *existing.values()]
    ran = distributed.run_tasks(functools.partial(run_task, options=options), todo, options=cluster, client=client,
                                report_dir=out_dir, report_extra={"options": options}, entries_before=before,
                                progress=progress, desc="dates", label=lambda t: f"decloud {t.date}",
                                raise_failures=False)
    new = dict(zip((t.output for t in todo), ran[len(before):]))
    ordered = [*skipped, *(existing.get(t.output) or new[t.output] for t in tasks)]
    distributed.write_report(out_dir, ordered, extra={"options": options, "cluster": cluster.describe()})
    failed = [e for e in ordered if e.get("status") == "failed"]
    if failed:
        raise DecloudError(f"{len(failed)} of {len(tasks)} dates failed (see {Path(out_dir) / 'run_report.json'}); "
                           f"first: {failed[0]['task']}: {failed[0].get('error', '')}")
    return ordered

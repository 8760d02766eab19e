"""One cloud-free image per period (a month, or N days) of a prepared series: composites, resumable, on Dask.

Periods (:func:`periods`): ``month`` is the calendar months, each centred on its 15th (the original Decloud's
monthly synthesis); ``DAYS`` (an integer) is consecutive windows of DAYS days from the first date asked
(``--start``, else the first prepared S2 date), each centred on its day DAYS // 2.

Dates (:func:`pick_dates`, the original Decloud's rule, re-implemented): the prepared S2 dates of the tile within
``window`` days of the period's middle (strictly: ``|date - middle| < window``; 22 days for a month, as the
original, DAYS / 2 + 7 for DAYS) with less than ``max_nodata_percent`` nodata (5 %, as the original), fewest clouds
first (then the nearest to the middle, then the name), at most ``images`` (6); when fewer exist, the least cloudy
is repeated in front until there are ``images`` (what a network of N inputs needs). A period without any such
date is skipped, with the reason. A date its mask calls clear (5 % or less) that is a cloud the mask missed (far
brighter in blue than the clear dates before and after it: :func:`decloud.timeseries.missed_cloud_dates`) counts as
fully cloudy there: picked last, last for ``bap``, with a warning naming it.

Composites (:func:`median_composite`, :func:`bap_composite`; the numpy references of the OTB app
``DecloudComposite``, which runs them when it is installed): per pixel, over the CLEAR observations of the picked
dates (valid and not cloudy; a duplicated date counts once):

- ``median``: the median of each band (the mean of the two middle values for an even count), rounded half up;
- ``bap`` (best available pixel): the observation of the image with the smallest cloud share, then the nearest to
  the period's middle, then the earliest.

A pixel without any clear observation is nodata (-10000): a composite never shows a cloud as ground.

Synthesis networks (``model=DIR``, ``decloud synthesis --model DIR``): a model whose card takes the N dates of a
synthesis (roles ``s2_d0`` ... ``s2_d<N-1>``, e.g. the original Decloud's ``monthly_synthesis_6_s2_images`` after
``decloud import-model``) is fed the period's N picked dates in the rule's order (repeats included, as the
original fed them) through ``DecloudInfer`` (``-s2.dates``); the output is nodata only where no picked date has
data. A network that also takes S1 dates (``s1_d0`` ... ``s1_d<N-1>``, e.g. ``monthly_synthesis_6_s2s1_images``)
is fed, for each picked S2 date (repeats included), the nearest prepared S1 image of the same tile within
``max_s1_gap_hours`` (72 h by default, the ``max_s1s2_gap_hours`` of the original's monthly-synthesis layout; any
orbit; ties: the earlier) through ``-s1.dates``, in the same order; a period where a picked S2 date has no S1
within that gap is skipped with the reason. (The original's processor mosaicked the 6 nearest S1 images of any gap
per date; ``DecloudInfer`` takes one image per date and completes a date's S1 holes from the other dates' S1.) A
network that takes the DEM is fed ``dem`` (``--dem``: one file, a folder of ``<tile>.tif`` such as the original's
``DEM_PREPARE``, or one file per tile; :func:`decloud.timeseries.dem_for`). A network whose card says ``"holes":
"model"`` (Decloud's own ``synthnet``) completes holes in its graph and takes each date's CLEAR pixels only: each
picked date is fed with its cloudy pixels (its ``cloud.tif``) as nodata (:func:`masks_clouds`); the others (the
original's) see the clouds, as the original's did.

Outputs: ``<out_dir>/synthesis_<tile>_<period>.tif`` (int16, bands B2 B3 B4 B8, nodata -10000, metadata
``ACQUISITION_DATE`` = the period's middle, ``DECLOUD_SYNTHESIS`` = the method, ``DECLOUD_SYNTHESIS_DATES``),
each written atomically (:mod:`decloud.atomic`) and skipped when it exists and reads to its last block, so that a
killed run, run again, finishes the series; ``run_report.json`` beside them lists per period its inputs, output,
status, duration and worker (:func:`decloud.distributed.run_tasks`, as ``decloud timeseries``).
"""

from __future__ import annotations

import functools
import logging
import signal
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from . import distributed
from .atomic import (
    app_failure,
    atomic_output,
    check_otb_output,
    folder_lock,
    output_done,
    refuse_input_as_output,
    verify_raster,
)
from .errors import DecloudError, DecloudInputError, DecloudIOError
from .interrupts import check, handle_signals

NODATA = -10000
BANDS = ("B2", "B3", "B4", "B8")
IMAGES = 6
MONTH_WINDOW_DAYS = 22.0
MAX_NODATA_PERCENT = 5.0
MAX_S1_GAP_HOURS = 72.0  # the original's monthly-synthesis layouts' max_s1s2_gap_hours
BLOCK_ROWS = 256
COMPOSITES = ("median", "bap")
Method = Literal["median", "bap"]
Engine = Literal["auto", "otb", "numpy"]  # who computes a composite (--engine)
log = logging.getLogger(__name__)
# the dates judged for clouds their masks missed (decloud.timeseries.missed_cloud_dates): those their masks call clear
MISSED_CLOUD_CLEAR_PERCENT = 5.0


class Dated(Protocol):
    """What :func:`pick_dates` needs of a date (a :class:`decloud.timeseries.Acquired` is one)."""

    @property
    def when(self) -> datetime: ...
    @property
    def cloud_percent(self) -> float: ...
    @property
    def nodata_percent(self) -> float: ...


@dataclass(frozen=True)
class Period:
    """``[start, end)`` (days) with its middle and its name (``2022-06`` for a month, ``20220601-20220610`` for
    ten days)."""

    name: str
    start: date
    end: date
    middle: date
    window_days: float


def parse_period(text: str | int) -> str | int:
    """``month`` or a positive number of days."""
    if isinstance(text, int) or str(text).strip().isdigit():
        days = int(text)
        if days < 1:
            raise DecloudInputError(f"--period {text}: give month or a number of days >= 1")
        return days
    if str(text).strip().lower() == "month":
        return "month"
    raise DecloudInputError(f"--period {text}: give month or a number of days (e.g. 10)")


def periods(first: date, last: date, period: str | int) -> list[Period]:
    """The periods that cover ``[first, last]`` (both included): see the module doc."""
    period = parse_period(period)
    if last < first:
        return []
    out = []
    if period == "month":
        y, m = first.year, first.month
        while date(y, m, 1) <= last:
            end = date(y + (m == 12), m % 12 + 1, 1)
            out.append(Period(f"{y:04d}-{m:02d}", date(y, m, 1), end, date(y, m, 15), MONTH_WINDOW_DAYS))
            y, m = end.year, end.month
        return out
    assert isinstance(period, int)
    start = first
    while start <= last:
        end = start + timedelta(days=period)
        out.append(Period(f"{start:%Y%m%d}-{end - timedelta(days=1):%Y%m%d}", start, end,
                          start + timedelta(days=period // 2), period / 2 + 7))
        start = end
    return out


def _days_from(when: datetime | date, middle: date) -> float:
    day = when.date() if isinstance(when, datetime) else when
    seconds = 0.0
    if isinstance(when, datetime):
        seconds = when.hour * 3600 + when.minute * 60 + when.second
    return (day - middle).days + seconds / 86400


def pick_dates(candidates: Sequence[Dated], middle: date, *, window_days: float = MONTH_WINDOW_DAYS,
               images: int = IMAGES, max_nodata_percent: float = MAX_NODATA_PERCENT) -> list:
    """The original Decloud's rule (module doc): ``images`` dates (repeated when fewer exist), fewest clouds first;
    [] when none is within the window."""
    if images < 1:
        raise DecloudInputError(f"--images {images}: at least 1")
    kept = [c for c in candidates
            if abs(_days_from(c.when, middle)) < window_days and c.nodata_percent < max_nodata_percent]
    kept.sort(key=lambda c: (c.cloud_percent, abs(_days_from(c.when, middle)), str(getattr(c, "folder", c.when))))
    kept = kept[:images]
    if kept and len(kept) < images:
        kept = [kept[0]] * (images - len(kept)) + kept
    return kept


# ---------------------------------------------------------------------------------------------- numpy composites

def _clear(images: np.ndarray, clouds: np.ndarray) -> np.ndarray:
    return np.any(images != NODATA, axis=-1) & ~clouds.astype(bool)


def median_composite(images: np.ndarray, clouds: np.ndarray) -> np.ndarray:
    """Per pixel and band, the median of the clear observations (``images`` [N, H, W, B] int16 with -10000
    nodata, ``clouds`` [N, H, W] true where cloudy); -10000 where none is clear; int16 [H, W, B]."""
    clear = _clear(images, clouds)
    data = np.where(clear[..., None], images.astype(np.float32), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pixels without any clear observation
        med = np.nanmedian(data, axis=0)
    out = np.where(np.isnan(med), NODATA, np.floor(np.nan_to_num(med, nan=NODATA) + 0.5))  # half up, as the app
    return np.clip(out, -32768, 32767).astype(np.int16)


def bap_order(dates: Sequence[date | datetime], middle: date, cloud_percents: Sequence[float] | None) -> list[int]:
    """The images by preference: the smallest cloud share, then the nearest to ``middle``, then the earliest."""
    shares = list(cloud_percents) if cloud_percents is not None else [0.0] * len(dates)
    return sorted(range(len(dates)), key=lambda k: (shares[k], abs(_days_from(dates[k], middle)),
                                                    _days_from(dates[k], middle)))


def bap_composite(images: np.ndarray, clouds: np.ndarray, dates: Sequence[date | datetime], middle: date,
                  cloud_percents: Sequence[float] | None = None) -> np.ndarray:
    """Per pixel, the clear observation of the best image (:func:`bap_order`); -10000 where none is clear."""
    clear = _clear(images, clouds)
    out = np.full(images.shape[1:], NODATA, np.int16)
    filled = np.zeros(images.shape[1:3], bool)
    for k in bap_order(dates, middle, cloud_percents):
        take = clear[k] & ~filled
        out[take] = images[k][take]
        filled |= take
    return out


# ---------------------------------------------------------------------------------------------- planning

@dataclass(frozen=True)
class PeriodTask:
    """One period to produce: the picked images in order (repeated as the rule repeats them), their masks, dates
    and cloud shares, the method and the output."""

    period: str
    tile: str
    start: str
    end: str
    middle: str
    images: list[str]
    masks: list[str]
    nodata: list[str]
    dates: list[str]
    cloud_percents: list[float]
    output: str
    method: str = "median"
    bbox: tuple[float, float, float, float] | None = None
    extra: dict = field(default_factory=dict)
    model: str = ""  # a synthesis network's folder (method "network"), else a composite
    s1_images: list[str] = field(default_factory=list)  # a network's S1 dates: one per S2 date, in their order
    s1_dates: list[str] = field(default_factory=list)
    dem: str = ""

    def unique(self) -> list[int]:
        """Indices of the distinct images (a repeated date counts once in a composite)."""
        seen: set[str] = set()
        keep = []
        for k, path in enumerate(self.images):
            if path not in seen:
                seen.add(path)
                keep.append(k)
        return keep


def output_path(out_dir: str | Path, tile: str, period: Period) -> Path:
    return Path(out_dir) / f"synthesis_{tile}_{period.name}.tif"


def synthesis_dates(model: str | Path) -> int:
    """N, the dates a synthesis network takes (its card's roles ``s2_d0`` ... ``s2_d<N-1>``): see
    :func:`synthesis_inputs`."""
    return synthesis_inputs(model)[0]


def masks_clouds(model: str | Path) -> bool:
    """Whether a synthesis network takes each date's clear pixels only, its clouds as nodata: a network whose graph
    completes holes itself (card ``"holes": "model"``: ``synthnet``)."""
    from .card import read_card  # noqa: PLC0415

    return read_card(model).get("holes") == "model"


def synthesis_inputs(model: str | Path) -> tuple[int, bool, bool]:
    """(N, whether it takes N S1 dates, whether it takes the DEM) of a synthesis network (its card's roles ``s2_d0``
    ... ``s2_d<N-1>``, ``s1_d0`` ... ``s1_d<N-1>``, ``dem``); refuses a model that is not one, or that takes inputs
    this command does not pick (masks, timestamps, other roles)."""
    from .infer import required_roles, table_role  # noqa: PLC0415

    roles = required_roles(model)
    s2 = [r for r in roles["images"] if table_role(r)[0] == "s2_d"]
    if not s2:
        takes = ", ".join(roles["images"] + roles["dates"] + roles["masks"])
        raise DecloudInputError(f"--model {model}: not a synthesis network: its card takes {takes}, a synthesis "
                                "takes the dates s2_d0, s2_d1... (import the original's with decloud import-model "
                                "--family monthly_synthesis_6_s2_images)")
    s1 = [r for r in roles["images"] if table_role(r)[0] == "s1_d"]
    other = [r for r in roles["images"] if r not in s2 and r not in s1 and r != "dem"] + roles["dates"] + roles["masks"]
    if other:
        raise DecloudInputError(f"--model {model}: decloud synthesis feeds a synthesis network its S2 dates, S1 dates "
                                f"and DEM only; this one also takes {', '.join(other)}: run DecloudInfer per period")
    if s1 and len(s1) != len(s2):
        raise DecloudInputError(f"--model {model}: its card takes {len(s2)} S2 dates and {len(s1)} S1 dates; decloud "
                                "synthesis feeds one S1 date per S2 date")
    return len(s2), bool(s1), "dem" in roles["images"]


def nearest_s1(s2_date, s1: Sequence, max_gap_hours: float):
    """The S1 acquisition (``decloud.timeseries.Acquired``) of ``s2_date``'s tile nearest to it within
    ``max_gap_hours`` (any orbit; ties: the earlier, then the folder name), or None."""
    def gap(c) -> float:
        return abs((c.when - s2_date.when).total_seconds()) / 3600

    near = [c for c in s1 if c.tile == s2_date.tile and gap(c) <= max_gap_hours]
    return min(near, key=lambda c: (gap(c), c.when, c.folder.name), default=None)


def _no_s1(s2_date, s1: Sequence, max_gap_hours: float) -> str:
    """Why an S2 date has no S1 within the gap: the nearest of its tile, or the tiles S1 is prepared for."""
    same = [c for c in s1 if c.tile == s2_date.tile]
    text = f"S2 date {s2_date.when:%Y-%m-%d} has no prepared S1 of tile {s2_date.tile} within {max_gap_hours:g} h"
    if same:
        near = min(same, key=lambda c: abs((c.when - s2_date.when).total_seconds()))
        hours = abs((near.when - s2_date.when).total_seconds()) / 3600
        return text + f" (the nearest, {near.when:%Y-%m-%d %H:%M}, is {hours:.0f} h away; see --max-s1-gap)"
    others = sorted({c.tile for c in s1})
    return text + (f" (S1 is prepared for tile(s) {', '.join(others)} only: prepare S2 and S1 under one tile name)"
                   if others else " (no S1 is prepared: decloud prepare-s1)")


def plan_synthesis(prepared: Sequence, out_dir: str | Path, *, period: str | int = "month",
                   start: str | None = None, end: str | None = None, images: int = IMAGES,
                   method: str = "median", bbox: Sequence[float] | None = None,
                   max_nodata_percent: float = MAX_NODATA_PERCENT,
                   model: str | Path | None = None, dem=None,
                   max_s1_gap_hours: float = MAX_S1_GAP_HOURS) -> tuple[list[PeriodTask], list[dict]]:
    """The periods of the series (per tile) and those skipped (no date in the window; for a network that takes S1
    dates or a DEM, a picked date without S1 within ``max_s1_gap_hours``, a tile without a DEM), with why. With
    ``model`` (a synthesis network), the method is ``network`` and ``images`` is the network's N. ``dem``: see
    :func:`decloud.timeseries.dem_for`."""
    from .timeseries import _bound, dem_for, missed_cloud_dates, warn_missed_clouds  # noqa: PLC0415

    takes_s1 = takes_dem = False
    if model is not None:
        (images, takes_s1, takes_dem), method = synthesis_inputs(model), "network"
        if takes_dem and dem is None:
            raise DecloudInputError(f"--model {model} takes a DEM (input role dem, on the 20 m grid): give --dem PATH "
                                    "(one file, a folder of <tile>.tif such as the original's DEM_PREPARE, or --dem "
                                    "TILE=PATH per tile)")
        if not max_s1_gap_hours > 0:
            raise DecloudInputError(f"--max-s1-gap {max_s1_gap_hours:g}: give hours > 0")
    elif method not in COMPOSITES:
        raise DecloudInputError(f"--method {method}: use {' or '.join(COMPOSITES)}, or --model DIR for a synthesis "
                                "network")
    period = parse_period(period)
    s2 = [a for a in prepared if a.sensor == "S2"]
    if not s2:
        raise DecloudInputError("no prepared S2 date (run decloud prepare-s2 first)")
    # a date its mask calls clear that is a cloud the mask missed ranks, and composites, as fully cloudy
    missed = missed_cloud_dates(s2, MISSED_CLOUD_CLEAR_PERCENT)
    warn_missed_clouds(missed, "picked last and counted as fully cloudy")
    s2 = [replace(a, cloud_percent=100.0) if a.folder in missed else a for a in s2]
    tz = s2[0].when.tzinfo
    t0, t1 = _bound(start, "start", tz), _bound(end, "end", tz, end=True)
    if t0 is not None and t1 is not None and t0 >= t1:
        raise DecloudInputError(f"--start {start} is after --end {end}: no period can be in that range")
    first = t0.date() if t0 else min(a.when for a in s2).date()
    last = (t1 - timedelta(seconds=1)).date() if t1 else max(a.when for a in s2).date()
    if bbox is not None and len(bbox) != 4:
        raise DecloudInputError("--bbox: give XMIN YMIN XMAX YMAX")
    box = (float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])) if bbox is not None else None
    if box is not None and (box[0] >= box[2] or box[1] >= box[3]):
        raise DecloudInputError(f"--bbox {' '.join(f'{v:g}' for v in box)}: give XMIN YMIN XMAX YMAX with XMIN < XMAX "
                                "and YMIN < YMAX")
    s1 = [a for a in prepared if a.sensor == "S1"]
    tasks, skipped = [], []
    for tile in sorted({a.tile for a in s2}):
        dates = [a for a in s2 if a.tile == tile]
        tile_dem, no_dem = dem_for(tile, dem) if takes_dem else (None, "")
        for p in periods(first, last, period):
            picked = pick_dates(dates, p.middle, window_days=p.window_days, images=images,
                                max_nodata_percent=max_nodata_percent)
            reason = ""
            s1_picked = []
            if not picked:
                near = [a for a in dates if abs(_days_from(a.when, p.middle)) < p.window_days]
                reason = (f"no prepared S2 date of tile {tile} within {p.window_days:g} days of {p.middle}" if not near
                          else f"the {len(near)} S2 date(s) of tile {tile} within {p.window_days:g} days of "
                          f"{p.middle} all have {max_nodata_percent:g} % nodata or more")
            elif takes_dem and tile_dem is None:
                reason = no_dem
            elif takes_s1:
                s1_picked = [nearest_s1(a, s1, max_s1_gap_hours) for a in picked]
                missing = [a for a, c in zip(picked, s1_picked) if c is None]
                if missing:
                    reason = "; ".join(dict.fromkeys(_no_s1(a, s1, max_s1_gap_hours) for a in missing))
            if reason:
                skipped.append({"task": f"synthesis {tile} {p.name}", "period": p.name, "tile": tile,
                                "status": "skipped", "reason": reason})
                continue
            tasks.append(PeriodTask(
                period=p.name, tile=tile, start=p.start.isoformat(), end=p.end.isoformat(),
                middle=p.middle.isoformat(), images=[str(a.image) for a in picked],
                masks=[str(a.folder / "cloud.tif") for a in picked], nodata=[str(a.folder / "nodata.tif")
                                                                           for a in picked],
                dates=[a.when.isoformat() for a in picked], cloud_percents=[float(a.cloud_percent) for a in picked],
                output=str(output_path(out_dir, tile, p)), method=method, bbox=box,
                model=str(Path(model).resolve()) if model is not None else "",
                s1_images=[str(c.image) for c in s1_picked if c is not None],
                s1_dates=[c.when.isoformat() for c in s1_picked if c is not None],
                dem=str(tile_dem) if tile_dem is not None else ""))
    return tasks, skipped


# ---------------------------------------------------------------------------------------- training examples

MAX_SERIES_BYTES = 4 * 2**30  # a series read into memory for training examples (dates x pixels x 9 bytes)


def prepared_series(prepared: Sequence, *, tile: str | None = None, bbox: Sequence[float] | None = None,
                    until: date | None = None):
    """The prepared S2 dates of one tile (``decloud prepare-s2`` folders), cropped to ``bbox``, as a
    :class:`decloud.scenarios.Series` in memory (reflectance int16 with -10000 nodata; clouds: ``cloud.tif`` != 0)."""
    from .raster import read_array  # noqa: PLC0415
    from .scenarios import Series  # noqa: PLC0415

    s2 = [a for a in prepared if a.sensor == "S2"]
    tiles = sorted({a.tile for a in s2})
    if not s2:
        raise DecloudInputError("no prepared S2 date (run decloud prepare-s2 first)")
    if tile is None and len(tiles) > 1:
        raise DecloudInputError(f"prepared dates of {len(tiles)} tiles ({', '.join(tiles)}): choose one with --tile")
    tile = tile or tiles[0]
    dates = sorted((a for a in s2 if a.tile == tile), key=lambda a: a.when)
    if not dates:
        raise DecloudInputError(f"--tile {tile}: no prepared S2 date of that tile (tiles: {', '.join(tiles)})")
    first = _open(str(dates[0].image))
    x0, y0, width, height = _window(first, bbox)
    size = len(dates) * width * height * 9
    if size > MAX_SERIES_BYTES:
        raise DecloudInputError(f"{len(dates)} dates of {width} x {height} pixels need {size / 2**30:.1f} GiB in "
                                f"memory (at most {MAX_SERIES_BYTES / 2**30:.0f}): give --bbox or fewer dates")
    gt = list(first.GetGeoTransform())
    gt[0] += x0 * gt[1]
    gt[3] += y0 * gt[5]
    images, clouds = [], []
    for a in dates:
        ds = _open(str(a.image))
        if (ds.RasterXSize, ds.RasterYSize) != (first.RasterXSize, first.RasterYSize):
            raise DecloudInputError(f"{a.image}: {ds.RasterXSize} x {ds.RasterYSize} pixels, {dates[0].image} has "
                                    f"{first.RasterXSize} x {first.RasterYSize}: not one tile's grid")
        win = (slice(y0, y0 + height), slice(x0, x0 + width))
        images.append(read_array(a.image)[win].astype(np.int16))
        clouds.append(read_array(a.folder / "cloud.tif")[win][..., 0] != 0)
    reflectance = np.stack(images)
    cloud = np.stack(clouds) & np.any(reflectance != NODATA, axis=-1)
    if until is not None:
        keep = [k for k, a in enumerate(dates) if a.when.date() < until]
        dates, reflectance, cloud = [dates[k] for k in keep], reflectance[keep], cloud[keep]
    return Series(tile, tuple(a.when.date() for a in dates), reflectance, cloud, "cloud.tif", tuple(gt),
                  first.GetProjection())


def write_synthesis_examples(prepared: Sequence, out_dir: str | Path, *, tile: str | None = None,
                             bbox: Sequence[float] | None = None, until: date | None = None, patch: int = 64,
                             count: int = 1000, seed: int = 0, quiet: bool = True) -> dict:
    """Training records of a synthesis network (``synthnet``) from a prepared series (one tile): ``count`` examples
    of :func:`decloud.scenarios.synthesis_examples` (a clear date of a month withheld as the target, the month's
    dates picked by the rule among the others as inputs, their clouds as nodata), written as TFRecord shards that
    ``decloud train synthnet`` reads, with ``synthesis_examples.json`` describing them. ``until``: only the dates
    before that day are read (keep the later ones for testing)."""
    from .atomic import write_json  # noqa: PLC0415
    from .dataset import write_examples  # noqa: PLC0415
    from .scenarios import Split, synthesis_examples  # noqa: PLC0415

    series = prepared_series(prepared, tile=tile, bbox=bbox, until=until)
    split = Split("temporal", "auto")  # every date read is a training date
    write_examples(out_dir, synthesis_examples(series, split, patch=patch, count=count, seed=seed), total=count,
                   quiet=quiet)
    info = {"tile": series.name, "dates": [d.isoformat() for d in series.dates], "patch": patch, "examples": count,
            "seed": seed, "bbox": list(bbox) if bbox is not None else None,
            "until": until.isoformat() if until else None,
            "examples_are": "decloud.scenarios.synthesis_examples: a clear date of a month withheld as the target, "
                            "the month's dates picked by the original Decloud's rule among the others as inputs "
                            "(s2_d0 ...), their clouds as nodata"}
    write_json(Path(out_dir) / "synthesis_examples.json", info, what="description of the examples")
    return info


# ---------------------------------------------------------------------------------------------- running

def composite_app_available() -> bool:
    """Whether the OTB app DecloudComposite is installed (it then computes the composites)."""
    import os  # noqa: PLC0415

    paths = [p for p in os.environ.get("OTB_APPLICATION_PATH", "").split(":") if p]
    return any((Path(p) / "otbapp_DecloudComposite.so").exists() for p in paths)


def _window(ds, bbox) -> tuple[int, int, int, int]:
    """(x0, y0, width, height) of ``bbox`` on the image's grid (whole pixels that it touches), or the whole image."""
    w, h = ds.RasterXSize, ds.RasterYSize
    if bbox is None:
        return 0, 0, w, h
    gt = ds.GetGeoTransform()
    xmin, ymin, xmax, ymax = bbox
    c0 = int(np.floor((xmin - gt[0]) / gt[1] + 1e-9))
    c1 = int(np.ceil((xmax - gt[0]) / gt[1] - 1e-9))
    r0 = int(np.floor((ymax - gt[3]) / gt[5] + 1e-9))
    r1 = int(np.ceil((ymin - gt[3]) / gt[5] - 1e-9))
    c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, w), min(r1, h)
    if c1 <= c0 or r1 <= r0:
        raise DecloudInputError(f"--bbox {' '.join(f'{v:.12g}' for v in bbox)} is outside the images ({w} x {h} "
                                f"px from x={gt[0]:.12g}, y={gt[3]:.12g})")
    return c0, r0, c1 - c0, r1 - r0


def _open(path: str):
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    try:
        return gdal.Open(path)
    except RuntimeError as e:
        raise DecloudInputError(f"{path}: not readable by GDAL ({e})") from e


def compose_numpy(task: PeriodTask, out: str | Path) -> None:
    """Write ``task``'s composite to ``out`` (block by block, int16 GeoTIFF with band names and metadata)."""
    from osgeo import gdal  # noqa: PLC0415

    from .geotiff import creation_options  # noqa: PLC0415

    keep = task.unique()
    images = [_open(task.images[k]) for k in keep]
    masks = [_open(task.masks[k]) for k in keep]
    nodata = [_open(task.nodata[k]) if Path(task.nodata[k]).exists() else None for k in keep]
    ref = images[0]
    for k, ds in zip(keep, images):
        if (ds.RasterXSize, ds.RasterYSize) != (ref.RasterXSize, ref.RasterYSize) or \
                not np.allclose(ds.GetGeoTransform(), ref.GetGeoTransform()):
            raise DecloudInputError(f"{task.images[k]}: not on the grid of {task.images[keep[0]]}")
    x0, y0, width, height = _window(ref, task.bbox)
    gt = list(ref.GetGeoTransform())
    gt[0] += x0 * gt[1]
    gt[3] += y0 * gt[5]
    middle = date.fromisoformat(task.middle)
    dates = [datetime.fromisoformat(task.dates[k]) for k in keep]
    shares = [task.cloud_percents[k] for k in keep]
    bands = ref.RasterCount
    dst = gdal.GetDriverByName("GTiff").Create(str(out), width, height, bands, gdal.GDT_Int16,
                                               options=creation_options(np.dtype("int16")))
    dst.SetGeoTransform(gt)
    dst.SetProjection(ref.GetProjection())
    for b in range(bands):
        band = dst.GetRasterBand(b + 1)
        band.SetNoDataValue(NODATA)
        band.SetDescription(ref.GetRasterBand(b + 1).GetDescription() or (BANDS[b] if b < len(BANDS) else ""))
    dst.SetMetadata(metadata(task))
    for r in range(0, height, BLOCK_ROWS):
        check()
        rows = min(BLOCK_ROWS, height - r)
        stack = np.stack([np.moveaxis(ds.ReadAsArray(x0, y0 + r, width, rows).reshape(bands, rows, width), 0, -1)
                          for ds in images]).astype(np.int16)
        cloud = np.stack([m.ReadAsArray(x0, y0 + r, width, rows) != 0 for m in masks])
        for k, nd in enumerate(nodata):
            if nd is not None:
                stack[k][nd.ReadAsArray(x0, y0 + r, width, rows) != 0] = NODATA
        block = (median_composite(stack, cloud) if task.method == "median"
                 else bap_composite(stack, cloud, dates, middle, shares))
        for b in range(bands):
            dst.GetRasterBand(b + 1).WriteArray(block[..., b], 0, r)
    dst.FlushCache()
    dst = None


def compose_app(task: PeriodTask, out: str | Path) -> None:
    """Write ``task``'s composite to ``out`` with the OTB app DecloudComposite."""
    from .atomic import write_app  # noqa: PLC0415
    from .geotiff import extended_filename  # noqa: PLC0415
    from .otbenv import pyotb  # noqa: PLC0415

    otb = pyotb()
    keep = task.unique()
    # the window of the numpy path (whole pixels the box touches), not ExtractROI's extent mode (one pixel more)
    x0, y0, width, height = _window(_open(task.images[keep[0]]), task.bbox)

    def crop(path: str):
        if task.bbox is None:
            return path
        return otb.ExtractROI({"in": path, "mode": "standard", "startx": x0, "starty": y0, "sizex": width,
                               "sizey": height})

    params = {"il": [crop(task.images[k]) for k in keep], "masks": [crop(task.masks[k]) for k in keep],
              "dates": [task.dates[k][:19] for k in keep], "mode": task.method, "date": task.middle,
              "nodata": NODATA}
    if task.method == "bap":
        params["cloudshares"] = [f"{task.cloud_percents[k]:.6g}" for k in keep]
    try:
        app = otb.DecloudComposite(params)
    except Exception as e:  # pyotb wraps the app's one-line FATAL in a RuntimeError
        raise app_failure(e, "DecloudComposite", prefix="DecloudComposite: ") from e
    write_app(app, out, pixel_type="int16", ext_fname=extended_filename(np.dtype("int16")), name=task.output)
    from osgeo import gdal  # noqa: PLC0415

    ds = gdal.Open(str(out), gdal.GA_Update)
    for b in range(ds.RasterCount):
        ds.GetRasterBand(b + 1).SetDescription(BANDS[b] if b < len(BANDS) else f"band{b + 1}")
    ds.SetMetadata({**(ds.GetMetadata() or {}), **metadata(task)})
    ds = None


def compose_network(task: PeriodTask, out: str | Path) -> None:
    """Write ``task``'s synthesis by its network to ``out``: DecloudInfer fed the picked dates in order
    (``-s2.dates``, repeats included), cropped as the composites are (the whole pixels the box touches)."""
    from .atomic import write_app  # noqa: PLC0415
    from .geotiff import extended_filename  # noqa: PLC0415
    from .infer import crop as crop_extent  # noqa: PLC0415
    from .infer import decloud_app, describe_bands  # noqa: PLC0415
    from .otbenv import pyotb  # noqa: PLC0415

    otb = pyotb()
    first = _open(task.images[0])
    x0, y0, width, height = _window(first, task.bbox)
    gt = first.GetGeoTransform()
    xs, ys = (gt[0] + x0 * gt[1], gt[0] + (x0 + width) * gt[1]), (gt[3] + y0 * gt[5], gt[3] + (y0 + height) * gt[5])
    extent = (min(xs), min(ys), max(xs), max(ys))  # the S2 window's, for the S1 dates and the DEM

    def crop(path: str):
        if task.bbox is None:
            return Path(path)
        return otb.ExtractROI({"in": path, "mode": "standard", "startx": x0, "starty": y0, "sizex": width,
                               "sizey": height})

    if masks_clouds(task.model):
        # the date's cloudy pixels (nonzero in its cloud.tif) as nodata: the network takes clear pixels only
        clouds = "{" + ",".join(["-10000"] * len(BANDS)) + "}"
        dates = [otb.BandMathX({"il": [crop(p), crop(m)], "exp": f"im2b1 > 0 ? {clouds} : im1"})
                 for p, m in zip(task.images, task.masks)]
    else:
        dates = [crop(p) for p in task.images]
    inputs: dict[str, object] = {"s2_d": dates}
    if task.s1_images:
        inputs["s1_d"] = [crop_extent(otb, Path(p), extent if task.bbox else None) for p in task.s1_images]
    if task.dem:
        inputs["dem"] = crop_extent(otb, Path(task.dem), extent if task.bbox else None)
    app = decloud_app(inputs, model=task.model, dates={"s2_timestamp_t": task.middle})
    write_app(app, out, pixel_type="int16", ext_fname=extended_filename(np.dtype("int16")), name=task.output)
    describe_bands(out, name=task.output)
    from osgeo import gdal  # noqa: PLC0415

    ds = gdal.Open(str(out), gdal.GA_Update)
    ds.SetMetadata({**(ds.GetMetadata() or {}), **metadata(task)})
    ds = None


def metadata(task: PeriodTask) -> dict[str, str]:
    return {"ACQUISITION_DATE": f"{task.middle}T00:00:00", "DECLOUD_SYNTHESIS": task.method,
            "DECLOUD_SYNTHESIS_PERIOD": f"{task.start}/{task.end}",
            "DECLOUD_SYNTHESIS_DATES": " ".join(d[:19] for d in task.dates)}




def run_task(task: PeriodTask, engine: Engine = "auto") -> dict:
    """Produce one period unless its output exists; its report entry."""
    import os  # noqa: PLC0415
    import socket  # noqa: PLC0415

    began = time.perf_counter()
    inputs: dict[str, object] = {"images": task.images, "masks": task.masks, "dates": task.dates,
                                 "cloud_percents": task.cloud_percents}
    if task.s1_images:
        inputs.update(s1_images=task.s1_images, s1_dates=task.s1_dates)
    if task.dem:
        inputs["dem"] = task.dem
    entry = {"task": f"synthesis {task.tile} {task.period}", "period": task.period, "tile": task.tile,
             "middle": task.middle, "method": task.method, "output": task.output, "inputs": inputs,
             "worker": f"{socket.gethostname()}:{os.getpid()}"}
    if task.model:
        entry["model"] = task.model
    if output_done(task.output, "redoing that period"):
        return entry | {"status": "exists", "duration_s": 0.0}
    use_app = engine == "otb" or (engine == "auto" and composite_app_available())
    write = compose_network if task.model else compose_app if use_app else compose_numpy
    with atomic_output(task.output) as tmp:
        try:
            write(task, tmp)
        except RuntimeError as e:  # GDAL's, e.g. a full disk
            raise DecloudIOError(f"{task.output}: writing failed: {e}") from e
        verify_raster(tmp, name=task.output)
    return entry | {"status": "done",
                    "engine": "DecloudInfer" if task.model else "DecloudComposite" if use_app else "numpy",
                    "duration_s": round(time.perf_counter() - began, 3)}


def run_synthesis(tasks: Sequence[PeriodTask], out_dir: str | Path, *, skipped: Sequence[dict] = (),
                  engine: Engine = "auto", progress: bool = True, cluster: distributed.ClusterOptions | None = None,
                  client=None) -> list[dict]:
    """Run the periods (on Dask unless ``cluster.workers == 0``), holding ``out_dir``'s lock; returns the report
    entries (skipped periods first). A failed period does not stop the others; the run then raises."""
    check_otb_output(out_dir)
    inputs: dict[str, object] = {}
    for t in tasks:
        inputs[f"images of {t.period}"] = t.images
        inputs[f"masks of {t.period}"] = t.masks
        if t.s1_images:
            inputs[f"S1 dates of {t.period}"] = t.s1_images
        if t.dem:
            inputs[f"dem of {t.period}"] = t.dem
    refuse_input_as_output([t.output for t in tasks], inputs)
    cluster = cluster or distributed.ClusterOptions()
    extra = {"command": "decloud synthesis", "engine": engine}
    with folder_lock(out_dir, "decloud synthesis"), handle_signals((signal.SIGINT,)):
        existing = {t.output: run_task(t, engine) for t in tasks if output_done(t.output, "redoing that period")}
        todo = [t for t in tasks if t.output not in existing]
        before = [*skipped, *existing.values()]
        ran = distributed.run_tasks(functools.partial(run_task, engine=engine), todo, options=cluster, client=client,
                                    report_dir=out_dir, report_extra=extra, entries_before=before,
                                    progress=progress, desc="periods", label=lambda t: f"synthesis {t.tile} {t.period}",
                                    raise_failures=False)
        new = dict(zip((t.output for t in todo), ran[len(before):]))
        ordered = [*skipped, *(existing.get(t.output) or new[t.output] for t in tasks)]
        distributed.write_report(out_dir, ordered, extra={**extra, "cluster": cluster.describe()})
    failed = [e for e in ordered if e.get("status") == "failed"]
    if failed:
        raise DecloudError(f"{len(failed)} of {len(tasks)} periods failed (see {Path(out_dir) / 'run_report.json'}); "
                           f"first: {failed[0]['task']}: {failed[0].get('error', '')}")
    return ordered

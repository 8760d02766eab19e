"""S1 preparation: calibrated sigma0 (VV, VH) GeoTIFFs -> Decloud's uint16, on the S2 10 m grid.

Two kinds of input are read:

- S1Tiling outputs (``S1TILING_NAME``): ``<unit>_<tile>_<pol>_<ASC|DES>_<relative orbit>_<YYYYMMDDtHHMMSS>[_...].tif``,
  e.g. ``s1a_33NWB_vv_DES_007_20200108t044150.tif``; linear sigma0 already on the S2 tile grid (10 m); the VV and
  VH files of one acquisition share all but the polarisation. A time ``txxxxxx`` (S1Tiling's name for a product
  put together from several slices, e.g. ``s1a_33NWB_vv_DES_007_20200108txxxxxx.tif``) says the date only: the
  time of day comes from a tag as for plain files (``DATE_TAGS``, ``TIME_TAGS``; a tag of another day is an
  error), else it is 00:00:00 UTC, and ``date_from`` in ``done.json`` says so (the original Decloud took 05:45).
- Plain S1 GeoTIFFs, any name that holds the acquisition date, e.g. ``S1_20170801_VV.tif`` with ``S1_20170801_VH.tif``
  beside it (as in worldcereal-belgium-a), or one two-band file (bands VV, VH: found by their descriptions or
  ``POLARISATION`` tags, else in that order). Read from the file:
    date          the first ``YYYYMMDD`` or ``YYYY-MM-DD`` of the name (with ``THHMMSS`` / ``THH:MM:SS`` if it
                  follows), else a GDAL tag (``DATE_TAGS``); the time of day from ``ACQUISITION_TIME`` when the
                  name has none (a tag date that contradicts the name's is an error). No date: an error.
    orbit         direction from ``orbit=`` (``--orbit``), else ``ASC``/``DES``/``ascending``/``descending`` in the
                  name, else a tag (``ORBIT``, ``ORBIT_DIRECTION``, ``PASS``...); none of these: an error naming
                  ``--orbit`` (the patch index keeps S1 per direction; a layout takes either unless it names one).
                  Relative orbit from a tag (``RELATIVE_ORBIT``...) when there is one, else unknown: ``NA`` in the
                  folder name, ``null`` in ``done.json``.
    scale         linear power or dB: ``scale=`` (``--scale``), else the ``UNITS`` tag (or the band's unit), else
                  the values (a negative median is dB); a claim that the values contradict (a negative median
                  called linear, a positive one called dB) is an error. Stated in ``done.json``
                  (``input_scale``, ``input_scale_from``) and in the CLI's line.
    nodata        the band's nodata value, NaN, and (linear) any value <= 0.
  Integer files are refused (Decloud's own uint16 ``s1.tif`` is an output, not an input).

Grid: with ``reference`` (a prepared S2 folder, any file of one, or a raster on the wanted grid) the S1 is
resampled onto the grid of the reference's ``s2_10m.tif`` with OTB's Superimpose, bilinear on linear sigma0 (dB
is converted first); a 10 m pixel whose bilinear support touches an S1 nodata pixel is nodata (a validity band is
resampled alongside and must stay 1), so nodata never bleeds into valid values. Without ``reference`` the S1 must
already be at 10 m (S1Tiling); any other pixel size is an error asking for ``--reference``: 20 m S1 is never passed
on at 20 m. An S1 with no valid pixel on the grid is an error.

``prepare_s1(path, out_dir, ...)`` (``path``: the VV file, the VH file or a two-band file) writes
``out_dir/S1_<tile>_<ASC|DES>_<orbit|NA>_<YYYYMMDDTHHMMSS>/``, ``<tile>`` by the tile rule of
:mod:`decloud.prepare.common`: ``tile=`` (``--tile``), else the reference's tile (so that ``decloud index`` and
``dataset`` find it with its S2), else the S1Tiling name's, else ``NOTILE``; two of these that disagree are an
error:
  s1.tif      uint16, bands VV, VH, the stretch below, nodata 0
  nodata.tif  uint8, 1 = nodata
  blocks.npz  per 64 x 64 pixel block: ``nodata`` pixel counts (outside the image counts as nodata)
  done.json   completion marker (source, polarisation files, date and where it came from, orbit, scale, grid)
A finished folder of the same file is skipped, unless it was put on another grid or read another way (scale,
bands): then it is redone. ``summary(folder)`` is the line the CLI prints for it.

The stretch (``S1_STRETCH``), as Decloud stores S1: with L = min(max(ln(sigma0), -10), 3),
    stored = floor(1.5 + (L + 10) * 65534 / 13)        (1..65535; 0 where sigma0 <= 0 = nodata)
    ln(sigma0) = (stored - 1) * 13 / 65534 - 10        (inverse, to within half a step: 1e-4 in ln)
OTB evaluates the stretch in float32: a value at a rounding edge may be one step (2e-4 in ln) off.
A dB input: sigma0 = 10 ** (dB / 10).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timezone
from pathlib import Path
from typing import Literal

import numpy as np

from ..atomic import atomic_output, write_json
from ..errors import DecloudInputError
from ..otbenv import pyotb
from ..products import NO_TILE
from .common import (
    build_folder,
    check_tile_name,
    done_marker,
    grid_of,
    prepared_folder_name,
    prepared_tile,
    read_blocks,
    read_marker,
    write_image,
)

S1TILING_NAME = re.compile(
    r"^(?P<unit>s1[a-d])_(?P<tile>\d{2}[A-Z]{3})_(?P<pol>vv|vh)_(?P<direction>ASC|DES)_(?P<orbit>\d{3})"
    r"_(?P<stamp>\d{8}t(?:\d{6}|x{6}))(?P<suffix>_[^.]*)?\.tif$", re.IGNORECASE)
# A date in a plain name: YYYYMMDD or YYYY-MM-DD, optionally followed by THHMMSS / THH:MM:SS.
NAME_DATE = re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})(?P<sep>-?)(?P<m>\d{2})(?P=sep)(?P<d>\d{2})"
                       r"(?:[Tt](?P<H>\d{2})(?P<sep2>:?)(?P<M>\d{2})(?P=sep2)(?P<S>\d{2}))?(?!\d)")
TIME_OF_DAY = re.compile(r"^\s*(?P<H>\d{2}):?(?P<M>\d{2}):?(?P<S>\d{2})(?:\.\d*)?\s*Z?\s*$", re.IGNORECASE)
POLARISATION = re.compile(r"(?<![A-Za-z0-9])(?P<pol>vv|vh)(?![A-Za-z0-9])", re.IGNORECASE)
DIRECTION = re.compile(r"(?<![A-Za-z0-9])(?P<dir>asc|des|ascending|descending)(?![A-Za-z0-9])", re.IGNORECASE)
DATE_TAGS = ("ACQUISITION_DATETIME", "ACQUISITION_START_TIME", "ACQUISITION_START", "SENSING_TIME", "SENSING_START",
             "SENSING_DATE", "DATE_ACQUIRED", "ACQUISITION_DATE", "DATE")
TIME_TAGS = ("ACQUISITION_TIME", "SENSING_TIME_OF_DAY")
ORBIT_TAGS = ("ORBIT_DIRECTION", "ORBITDIRECTION", "ORBIT", "ORBIT_PASS", "PASS", "PASS_DIRECTION",
              "FLIGHT_DIRECTION")
RELATIVE_ORBIT_TAGS = ("RELATIVE_ORBIT", "RELATIVE_ORBIT_NUMBER", "RELATIVEORBITNUMBER", "TRACK")
POLARISATION_TAGS = ("POLARISATION", "POLARIZATION")
LN_MIN, LN_MAX = -10.0, 3.0
S1_STRETCH = f"floor(1.5 + (min(max(ln(sigma0), {LN_MIN}), {LN_MAX}) - {LN_MIN}) * 65534 / {LN_MAX - LN_MIN})"
RESAMPLING = ("bilinear (OTB Superimpose) on linear sigma0; a pixel whose support touches an S1 nodata pixel "
              "is nodata")

Scale = Literal["linear", "db"]
ScaleOption = Literal["auto", "linear", "db"]  # --scale: auto reads the tags and the values
Direction = Literal["ascending", "descending"]


def stretch(sigma0: np.ndarray) -> np.ndarray:
    """The stored uint16 values of linear sigma0 values (the formula above, in numpy)."""
    s = np.asarray(sigma0, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln = np.clip(np.log(np.where(s > 0, s, 1.0)), LN_MIN, LN_MAX)
    return np.where(s > 0, np.floor(1.5 + (ln - LN_MIN) * 65534 / (LN_MAX - LN_MIN)), 0).astype(np.uint16)


def unstretch(stored: np.ndarray) -> np.ndarray:
    """ln(sigma0) of stored values (nan where nodata)."""
    v = np.asarray(stored, dtype=np.float64)
    return np.where(v > 0, (v - 1) * (LN_MAX - LN_MIN) / 65534 + LN_MIN, np.nan)


@dataclass(frozen=True)
class PreparedS1:
    folder: Path
    tile: str
    orbit_direction: str  # "ascending" or "descending"
    acquired: str

    @property
    def s1(self) -> Path:
        return self.folder / "s1.tif"

    def blocks(self) -> dict[str, np.ndarray]:
        return read_blocks(self.folder)

    def describe(self) -> str:
        return summary(self.folder)


def summary(folder: Path) -> str:
    """One line on a prepared S1 folder: scale and how it was known, date source, orbit, grid, nodata share."""
    m = done_marker(folder)
    grid = m.get("grid") or {}
    if grid.get("resampled"):
        where = f"{grid['from_pixel']:g} m -> {grid['to_pixel']:g} m bilinear onto {grid['reference']}"
    else:
        where = f"{grid.get('to_pixel', 10):g} m, not resampled"
    orbit = m.get("relative_orbit")
    return (f"{'dB' if m.get('input_scale') == 'db' else 'linear'} sigma0 ({m.get('input_scale_from', 'S1Tiling')}), "
            f"date from {m.get('date_from', 'the name')}, {m['orbit_direction']} orbit "
            f"{'NA' if orbit is None else orbit}, {where}, nodata {m.get('nodata_percent', 0.0):.1f} %")


# ------------------------------------------------------------------------------------------------ the inputs


@dataclass(frozen=True)
class Band:
    path: Path
    band: int  # 1-based
    nodata: float | None


@dataclass(frozen=True)
class S1Source:
    """One acquisition as read from its file names and tags (no pixel read)."""

    given: Path
    vv: Band
    vh: Band
    acquired: datetime
    date_from: str
    direction: Direction
    direction_from: str
    relative_orbit: int | None
    tile: str | None  # S1Tiling's
    units: str | None  # what a UNITS tag or band unit says ("linear", "db") or None
    kind: Literal["s1tiling", "plain"]
    pixel: tuple[float, float]


def _open(path: Path):
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    try:
        return gdal.Open(str(path))  # read-only: nothing is ever written beside the input
    except RuntimeError as e:
        raise DecloudInputError(f"{path}: not a raster GDAL can read ({e})") from e


def _tags(ds, band: int = 1) -> dict[str, str]:
    """The dataset's and the band's metadata (default domain), keys upper-cased; the band's win."""
    tags = {k.upper(): v for k, v in (ds.GetMetadata() or {}).items()}
    tags.update({k.upper(): v for k, v in (ds.GetRasterBand(band).GetMetadata() or {}).items()})
    return tags


def _first(tags: dict[str, str], keys: Sequence[str]) -> tuple[str, str] | None:
    for k in keys:
        if tags.get(k, "").strip():
            return k, tags[k].strip()
    return None


def _date_in(text: str) -> tuple[datetime, bool] | None:
    """The first valid date in ``text`` (and whether a time of day came with it)."""
    for m in NAME_DATE.finditer(text):
        try:
            day = datetime(int(m["y"]), int(m["m"]), int(m["d"]), tzinfo=timezone.utc)
            if m["H"] is None:
                return day, False
            return day.replace(hour=int(m["H"]), minute=int(m["M"]), second=int(m["S"])), True
        except ValueError:
            continue
    return None


def _acquired(path: Path, tags: dict[str, str]) -> tuple[datetime, str]:
    """The acquisition date and time of a plain S1 file, and where they came from."""
    named = _date_in(path.stem)
    tagged = None
    if (found := _first(tags, DATE_TAGS)) is not None:
        key, value = found
        if (parsed := _date_in(value)) is None:
            if named is None:
                raise DecloudInputError(f"{path}: unparsable date {value!r} in its {key} tag and no date in its name "
                                        "(expected YYYYMMDD or YYYY-MM-DD)")
        else:
            tagged = (parsed, key)
    if named is not None and tagged is not None and named[0].date() != tagged[0][0].date():
        raise DecloudInputError(f"{path}: its name says {named[0]:%Y-%m-%d} but its {tagged[1]} tag says "
                                f"{tagged[0][0]:%Y-%m-%d}")
    if named is not None:
        when, has_time, source = named[0], named[1], "the name"
    elif tagged is not None:
        (when, has_time), source = tagged[0], f"the {tagged[1]} tag"
    else:
        raise DecloudInputError(f"{path}: no acquisition date in its name (YYYYMMDD or YYYY-MM-DD) nor in a tag "
                                f"({', '.join(DATE_TAGS)})")
    if not has_time and tagged is not None and tagged[0][1]:
        when, has_time = tagged[0][0], True
        source += f" and {tagged[1]}"
    if not has_time and (found := _first(tags, TIME_TAGS)) is not None:
        key, value = found
        m = TIME_OF_DAY.match(value)
        if m is None:
            raise DecloudInputError(f"{path}: unparsable time of day {value!r} in its {key} tag (expected HH:MM:SS)")
        try:
            when = datetime.combine(when.date(), time(int(m["H"]), int(m["M"]), int(m["S"])), tzinfo=timezone.utc)
        except ValueError as e:
            raise DecloudInputError(f"{path}: invalid time of day {value!r} in its {key} tag") from e
        source += f" and the {key} tag"
    return when, source


def _direction(path: Path, tags: dict[str, str], orbit: Direction | None) -> tuple[Direction, str]:
    found: list[tuple[Direction, str]] = []
    if (m := DIRECTION.search(path.stem)) is not None:
        found.append(("ascending" if m["dir"].lower().startswith("asc") else "descending", "the name"))
    if (tag := _first(tags, ORBIT_TAGS)) is not None and tag[1].lower()[:3] in ("asc", "des"):
        found.append(("ascending" if tag[1].lower().startswith("asc") else "descending", f"the {tag[0]} tag"))
    if orbit is not None:
        if orbit not in ("ascending", "descending"):
            raise DecloudInputError(f"orbit {orbit!r}: must be ascending or descending")
        for d, where in found:
            if d != orbit:
                raise DecloudInputError(f"{path}: --orbit {orbit} but {where} says {d}")
        return orbit, "option"
    if not found:
        raise DecloudInputError(f"{path}: orbit direction unknown (no ASC/DES in its name, no ORBIT tag): "
                                "give --orbit ascending or --orbit descending")
    if len({d for d, _ in found}) > 1:
        raise DecloudInputError(f"{path}: {found[0][1]} says {found[0][0]} but {found[1][1]} says {found[1][0]}")
    return found[0]


def _relative_orbit(path: Path, tags: dict[str, str]) -> int | None:
    if (tag := _first(tags, RELATIVE_ORBIT_TAGS)) is None:
        return None
    try:
        return int(float(tag[1]))
    except ValueError as e:
        raise DecloudInputError(f"{path}: unparsable relative orbit {tag[1]!r} in its {tag[0]} tag") from e


def _units(ds, tags: dict[str, str]) -> str | None:
    text = " ".join(filter(None, [tags.get("UNITS", ""), tags.get("UNIT", ""), ds.GetRasterBand(1).GetUnitType()]))
    if re.search(r"linear", text, re.IGNORECASE):
        return "linear"  # e.g. "sigma0, linear power ratio (converted from dB)"
    if re.search(r"(?<![A-Za-z])db(?![A-Za-z])|decibel", text, re.IGNORECASE):
        return "db"
    return None


def _band_pol(ds, b: int) -> str | None:
    texts = [ds.GetRasterBand(b).GetDescription() or ""]
    texts += [v for k, v in (ds.GetRasterBand(b).GetMetadata() or {}).items() if k.upper() in POLARISATION_TAGS]
    for text in texts:
        if m := POLARISATION.search(text):
            return m["pol"].upper()
    return None


def _check_pixels(path: Path, ds) -> None:
    from osgeo import gdal  # noqa: PLC0415

    dtype = ds.GetRasterBand(1).DataType
    if dtype not in (gdal.GDT_Float32, gdal.GDT_Float64):
        raise DecloudInputError(f"{path}: {gdal.GetDataTypeName(dtype)} pixels; expected float sigma0 (linear or dB), "
                                "not a stored or scaled encoding")


def _pixel(ds) -> tuple[float, float]:
    gt = ds.GetGeoTransform()
    return abs(gt[1]), abs(gt[5])


def _same_grid(a: Path, b: Path) -> bool:
    from osgeo import osr  # noqa: PLC0415

    if grid_of(a) != grid_of(b):
        return False
    sa, sb = osr.SpatialReference(), osr.SpatialReference()
    sa.ImportFromWkt(_open(a).GetProjection() or "")
    sb.ImportFromWkt(_open(b).GetProjection() or "")
    return bool(sa.IsSame(sb))


def _pol_token(name: str) -> re.Match | None:
    """Where a file name says its polarisation: S1Tiling's field, else a VV or VH between separators."""
    if (s := S1TILING_NAME.match(name)) is not None:
        return POLARISATION.match(name, s.start("pol"))
    return POLARISATION.search(Path(name).stem)


def _sibling(path: Path, m: re.Match, pol: str) -> Path:
    """``path`` with its polarisation token replaced (keeping the case of the letters)."""
    token = m["pol"]
    other = pol.lower() if token.islower() else pol.upper()
    return path.with_name(path.name[: m.start("pol")] + other + path.name[m.end("pol"):])


def read_s1_source(path: str | Path, *, orbit: Direction | None = None) -> S1Source:
    """Identify one S1 acquisition from its file (the VV file, the VH file or a two-band file): its VV and VH
    bands, date, orbit, tile (S1Tiling) and what its tags say of its scale. Reads names and tags only."""
    given = Path(path)
    if not given.is_file():
        raise DecloudInputError(f"{given}: no such file")
    s = S1TILING_NAME.match(given.name)
    pol_match = _pol_token(given.name)
    ds = _open(given)
    _check_pixels(given, ds)
    tags = _tags(ds)
    if pol_match is not None:
        if ds.RasterCount != 1:
            raise DecloudInputError(f"{given}: {ds.RasterCount} bands in a file named for one polarisation "
                                    f"({pol_match['pol']}); expected one band")
        vv_path = given if pol_match["pol"].upper() == "VV" else _sibling(given, pol_match, "VV")
        vh_path = given if pol_match["pol"].upper() == "VH" else _sibling(given, pol_match, "VH")
        other = vh_path if vv_path == given else vv_path
        if not other.is_file():
            raise DecloudInputError(f"{given}: its {'VH' if other == vh_path else 'VV'} file {other.name} is missing")
        other_ds = _open(other)
        _check_pixels(other, other_ds)
        if other_ds.RasterCount != 1:
            raise DecloudInputError(f"{other}: {other_ds.RasterCount} bands; expected one band")
        if grid_of(vv_path) != grid_of(vh_path):
            raise DecloudInputError(f"{vh_path}: not on the grid of {vv_path.name} ({grid_of(vh_path)[:2]} vs "
                                    f"{grid_of(vv_path)[:2]} pixels)")
        for p, d, pol in ((given, ds, pol_match["pol"].upper()), (other, other_ds, None)):
            tagged = _band_pol(d, 1)
            want = pol or ("VH" if p == vh_path else "VV")
            if tagged is not None and tagged != want:
                raise DecloudInputError(f"{p}: named {want} but its band says {tagged}")
        vv_ds = ds if vv_path == given else other_ds
        vh_ds = other_ds if vv_path == given else ds
        vv = Band(vv_path, 1, vv_ds.GetRasterBand(1).GetNoDataValue())
        vh = Band(vh_path, 1, vh_ds.GetRasterBand(1).GetNoDataValue())
        tags = {**_tags(vh_ds), **_tags(vv_ds)}
    else:
        if ds.RasterCount != 2:
            raise DecloudInputError(f"{given}: no VV or VH in its name and {ds.RasterCount} band(s); expected "
                                    "<name>_VV.tif with <name>_VH.tif beside it, or one file with bands VV, VH")
        pols = [_band_pol(ds, 1), _band_pol(ds, 2)]
        if pols == ["VH", "VV"]:
            order = (2, 1)
        elif pols[0] in ("VV", None) and pols[1] in ("VH", None):
            order = (1, 2)
        else:
            raise DecloudInputError(f"{given}: its bands are described {pols[0]}, {pols[1]}; expected VV and VH")
        vv = Band(given, order[0], ds.GetRasterBand(order[0]).GetNoDataValue())
        vh = Band(given, order[1], ds.GetRasterBand(order[1]).GetNoDataValue())
        vv_path = given
    if s is not None:
        if s["stamp"].lower().endswith("xxxxxx"):  # S1Tiling: the date only
            acquired, how = _acquired(given, tags)  # "the name", or "the name and <the tag that gave the time>"
            date_from = ("the S1Tiling name (date only: time unknown, 00:00:00 UTC taken)" if how == "the name" else
                         "the S1Tiling name (date only)" + how.removeprefix("the name"))
        else:
            acquired = datetime.strptime(s["stamp"].lower(), "%Y%m%dt%H%M%S").replace(tzinfo=timezone.utc)
            date_from = "the S1Tiling name"
        direction: Direction = "ascending" if s["direction"].upper() == "ASC" else "descending"
        if orbit is not None and orbit != direction:
            raise DecloudInputError(f"{given}: --orbit {orbit} but its S1Tiling name says {direction}")
        return S1Source(given, vv, vh, acquired, date_from, direction, "the S1Tiling name", int(s["orbit"]),
                        s["tile"], _units(ds, tags), "s1tiling", _pixel(ds))
    acquired, date_from = _acquired(vv_path, tags)
    direction, direction_from = _direction(vv_path, tags, orbit)
    return S1Source(given, vv, vh, acquired, date_from, direction, direction_from, _relative_orbit(vv_path, tags),
                    None, _units(ds, tags), "plain", _pixel(ds))


def acquisitions(paths: Sequence[str | Path]) -> list[Path]:
    """``paths`` less each VH file whose VV file is in ``paths`` too (``S1_*.tif`` names each pair twice)."""
    given = [Path(p) for p in paths]
    resolved = {p.resolve() for p in given}
    kept = []
    for p in given:
        pol = _pol_token(p.name)
        if pol is not None and pol["pol"].upper() == "VH" and _sibling(p, pol, "VV").resolve() in resolved:
            continue
        kept.append(p)
    return kept


def _scale(source: S1Source, scale: ScaleOption) -> tuple[Scale, str]:
    """Linear or dB: ``scale`` ("auto", "linear", "db"), the tags, the values; a claim the values contradict is an
    error."""
    if scale not in ("auto", "linear", "db"):
        raise DecloudInputError(f"scale {scale!r}: must be auto, linear or db")
    ds = _open(source.vv.path)
    band = ds.GetRasterBand(source.vv.band)
    n = 512  # a decimated read (nearest): enough for a median, cheap on a whole S1 tile
    sample = band.ReadAsArray(buf_xsize=min(ds.RasterXSize, n), buf_ysize=min(ds.RasterYSize, n)).astype(np.float64)
    valid = np.isfinite(sample) & (sample != 0)
    if source.vv.nodata is not None and not math.isnan(source.vv.nodata):
        valid &= sample != source.vv.nodata
    if not valid.any():
        raise DecloudInputError(f"{source.vv.path}: no valid VV pixel (all nodata, NaN or 0)")
    median = float(np.median(sample[valid]))
    looks: Scale = "db" if median < 0 else "linear"
    claims: list[tuple[str, str]] = [(scale, "--scale")] if scale != "auto" else []
    if source.units is not None:
        claims.append((source.units, "its UNITS tag"))
    if source.kind == "s1tiling" and scale == "auto":
        claims.append(("linear", "S1Tiling"))
    for claim, who in claims:
        if claim != looks:
            raise DecloudInputError(f"{source.vv.path}: {who} says {'dB' if claim == 'db' else claim} but its VV "
                                    f"values look {'dB' if looks == 'db' else 'linear'} (median {median:.4g})")
    if claims:
        return looks, claims[0][1].removeprefix("its ")
    return looks, f"detected: VV median {median:.4g}"


# ------------------------------------------------------------------------------------------------ the S2 grid


@dataclass(frozen=True)
class S2Reference:
    """The S2 grid that S1 and DEM go onto: ``grid`` is the raster whose grid is wanted (a prepared folder's
    ``s2_10m.tif``), ``folder`` the prepared folder (None for a plain raster), ``tile`` its tile."""

    given: Path
    grid: Path
    folder: Path | None
    tile: str | None


def s2_reference(reference: str | Path) -> S2Reference:
    """A prepared S2 folder (``decloud prepare-s2``), any file in one, or a plain raster."""
    given = Path(reference)
    if not given.exists():
        raise DecloudInputError(f"{given}: no such reference (give a prepared S2 folder, S2_<tile>_<date>)")
    folder = given if given.is_dir() else given.parent
    if (folder / "s2_10m.tif").is_file() and read_marker(folder) is not None:
        return S2Reference(given, folder / "s2_10m.tif", folder, prepared_tile(folder))
    if given.is_dir():
        raise DecloudInputError(f"{given}: not a prepared S2 folder (no s2_10m.tif with its done.json; run decloud "
                                "prepare-s2 first)")
    _open(given)
    return S2Reference(given, given, None, None)


def needs_reference(source: S1Source) -> bool:
    """True when the S1 is not at 10 m (within a millimetre): it must be resampled onto an S2 grid."""
    return any(abs(p - 10.0) > 1e-3 for p in source.pixel)


def s1_tile(source: S1Source, reference: S2Reference | None, tile: str | None = None) -> str:
    """The tile of the output (see the module doc): ``tile``, the reference's, the S1Tiling name's, else NOTILE."""
    named = [(check_tile_name(tile), f"--tile {tile}")] if tile is not None else []
    if reference is not None and reference.tile is not None:
        named.append((reference.tile, f"the reference {reference.given} (tile {reference.tile})"))
    if source.tile is not None:
        named.append((check_tile_name(source.tile, f"{source.given}: tile"), f"its S1Tiling name (tile {source.tile})"))
    for name, who in named[1:]:
        if name != named[0][0]:
            raise DecloudInputError(f"{source.given}: {named[0][1]} but {who}: S1 and S2 of one place must be "
                                    "prepared under one tile name (decloud prepare-s2 --tile)")
    return named[0][0] if named else NO_TILE


def require_reference(source: S1Source, reference: str | Path | None) -> None:
    """The one-line error of an S1 that is not at 10 m given without a reference grid."""
    if reference is None and needs_reference(source):
        raise DecloudInputError(f"{source.vv.path}: {source.pixel[0]:g} m pixels, not 10 m: give --reference (a "
                                "prepared S2 folder) to resample it onto the S2 10 m grid")


# ------------------------------------------------------------------------------------------------ preparation


def _linear(source: S1Source, scale: Scale, otb):
    """Bands: linear sigma0 VV, VH (0 = nodata), then validity VV, VH (1 valid, 0 nodata)."""
    paths = [source.vv.path] if source.vv.path == source.vh.path else [source.vv.path, source.vh.path]
    exprs, valids = [], []
    for b in (source.vv, source.vh):
        v = f"im{paths.index(b.path) + 1}b{b.band}"
        valid = [f"({v} == {v})"]  # not NaN
        if b.nodata is not None and not math.isnan(b.nodata):
            valid.append(f"({v} != {b.nodata!r})")
        if scale == "linear":
            valid.append(f"({v} > 0)")
            value = v
        else:
            value = f"exp({v} * {math.log(10) / 10!r})"
        cond = " && ".join(valid)
        exprs.append(f"({cond}) ? {value} : 0")
        valids.append(f"({cond}) ? 1 : 0")
    return otb.BandMathX({"il": [str(p) for p in paths], "exp": "; ".join(exprs + valids)})


def prepare_s1(path: str | Path, out_dir: str | Path, *, reference: str | Path | None = None,
               scale: ScaleOption = "auto", orbit: Direction | None = None, tile: str | None = None,
               block_pixels: int = 64) -> PreparedS1:
    """Prepare one S1 acquisition (its VV file, its VH file or a two-band file) into ``out_dir`` (see the module
    doc): onto the grid of ``reference`` when given (required unless the S1 is at 10 m)."""
    source = read_s1_source(path, orbit=orbit)
    ref = s2_reference(reference) if reference is not None else None
    require_reference(source, reference)
    tile = s1_tile(source, ref, tile)
    input_scale, scale_from = _scale(source, scale)
    resample = ref is not None and not _same_grid(source.vv.path, ref.grid)
    grid_path = ref.grid if ref is not None else source.vv.path
    gx, gy = _pixel(_open(grid_path))
    orbit_name = "NA" if source.relative_orbit is None else f"{source.relative_orbit:03d}"
    folder = Path(out_dir) / prepared_folder_name("S1", tile, "ASC" if source.direction == "ascending" else "DES",
                                                  orbit_name, f"{source.acquired:%Y%m%dT%H%M%S}")
    marker = {"source": str(source.vv.path.resolve()), "vh": str(source.vh.path.resolve()),
              "bands": {"VV": source.vv.band, "VH": source.vh.band}, "kind": source.kind, "tile": tile,
              "orbit_direction": source.direction, "orbit_direction_from": source.direction_from,
              "relative_orbit": source.relative_orbit, "acquired": source.acquired.isoformat(),
              "date_from": source.date_from, "input_scale": input_scale, "input_scale_from": scale_from,
              "stretch": S1_STRETCH,
              "grid": {"reference": str(ref.grid.resolve()) if ref is not None else None, "resampled": resample,
                       "from_pixel": source.pixel[0], "to_pixel": gx,
                       "interpolator": RESAMPLING if resample else None}}

    def fill(tmp: Path) -> None:
        from .s2 import block_counts  # noqa: PLC0415

        otb = pyotb()
        linear = _linear(source, input_scale, otb)
        stretched = ("{v} > 0 && {m} >= 0.999 ? 1.5 + (min(max(ln({v}), {lo}), {hi}) - ({lo})) * {k!r} : 0")
        if resample:
            assert ref is not None
            # fill value 0: outside the S1 is nodata; the validity bands, resampled alike, are < 1 near nodata
            linear = otb.Superimpose({"inr": str(ref.grid), "inm": linear, "interpolator": "linear", "fv": 0})
        # the uint16 cast truncates: + 1.5 then truncation is floor(1.5 + ...)
        app = otb.BandMathX({"il": [linear], "exp": "; ".join(
            stretched.format(v=f"im1b{k}", m=f"im1b{k + 2}", lo=LN_MIN, hi=LN_MAX, k=65534 / (LN_MAX - LN_MIN))
            for k in (1, 2))})
        write_image(app, tmp / "s1.tif", "uint16", 0)
        nodata = otb.BandMathX({"il": [str(tmp / "s1.tif")], "exp": "(im1b1 == 0 || im1b2 == 0) ? 1 : 0"})
        write_image(nodata, tmp / "nodata.tif", "uint8")
        counts = block_counts(tmp / "nodata.tif", tmp / "nodata.tif", block_pixels)
        width, height, _ = grid_of(tmp / "s1.tif")
        padding = counts["nodata"].size * block_pixels ** 2 - width * height
        empty = int(counts["nodata"].sum()) - padding
        if empty == width * height:
            where = f"the grid of {ref.given}" if ref is not None else "its grid"
            raise DecloudInputError(f"{source.vv.path}: no valid S1 pixel on {where} (outside it, or all nodata)")
        marker["nodata_percent"] = round(100.0 * empty / (width * height), 2)
        np.savez_compressed(tmp / "blocks.npz", nodata=counts["nodata"], block_pixels=counts["block_pixels"])

    done = read_marker(folder)
    if done is not None and done.get("source") == marker["source"] and any(
            done.get(k) != marker[k] for k in ("grid", "input_scale", "vh", "bands")):
        # done from the same file onto another grid or read another way (build_folder would skip it): redone
        with atomic_output(folder, folder=True) as tmp:
            fill(tmp)
            write_json(tmp / "done.json", marker, what="completion marker")
    else:
        build_folder(folder, marker, fill)
    return PreparedS1(folder, tile, source.direction, done_marker(folder)["acquired"])

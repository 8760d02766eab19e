"""Sentinel-2 L2A products: find a product's band files and masks from its parsed names.

Three kinds are read, each recognised by a documented regular expression on names (never by the sort
order of files):

THEIA (folder or .zip), e.g. ``SENTINEL2A_20220602-103041-123_L2A_T32TPS_C_V3-0``:
  ``THEIA_PRODUCT``  platform, date (YYYYMMDD), time (HHMMSS), tile; bands ``<name>_FRE_<band>.tif``
  (``THEIA_BAND``), masks ``MASKS/<name>_CLM_R1.tif`` (cloud, any bit set) and ``_EDG_R1.tif`` (edge/nodata).
  Values: reflectance x 10000, int16, nodata -10000.
ESA (SAFE folder or .zip), e.g. ``S2A_MSIL2A_20220602T101611_N0400_R065_T32TPS_20220602T163502.SAFE``:
  ``ESA_PRODUCT`` platform, date, time, processing baseline, relative orbit, tile; bands
  ``GRANULE/*/IMG_DATA/R10m|R20m/T<tile>_<datetime>_<band>_<res>m.jp2`` (``ESA_BAND``), SCL at 20 m as
  cloud mask (classes 3 cloud shadow, 8, 9 clouds, 10 cirrus), DN 0 = nodata. Reflectance x 10000 =
  DN + BOA_ADD_OFFSET (read from MTD_MSIL2A.xml; -1000 from baseline 04.00 on when it is absent).
GeoTIFF stack, e.g. ``S2_L2A_20220602_B2B3B4B8.tif`` (``STACK``) with ``S2_L2A_20220602_SCL.tif``:
  bands found by their GDAL descriptions (B02 or B2), else by the band list of the name; uint16
  reflectance x 10000 with the offset already removed, nodata 0; SCL as for ESA.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from .errors import DecloudInputError

BANDS_10M = ("B2", "B3", "B4", "B8")
BANDS_20M = ("B5", "B6", "B7", "B8A", "B11", "B12")
SCL_CLOUD_CLASSES = (3, 8, 9, 10)

THEIA_PRODUCT = re.compile(
    r"^(?P<platform>SENTINEL2[A-D])_(?P<date>\d{8})-(?P<time>\d{6})-\d{3}_L2A_T(?P<tile>\d{2}[A-Z]{3})_[A-Z]_V\d+-\d+$")
THEIA_BAND = re.compile(r"_FRE_(?P<band>B(?:\d{1,2}|8A))\.tif$", re.IGNORECASE)
ESA_PRODUCT = re.compile(
    r"^(?P<platform>S2[A-D])_MSIL2A_(?P<date>\d{8})T(?P<time>\d{6})_N(?P<baseline>\d{4})_R(?P<orbit>\d{3})"
    r"_T(?P<tile>\d{2}[A-Z]{3})_\d{8}T\d{6}(?:\.SAFE)?$")
ESA_BAND = re.compile(r"^T(?P<tile>\d{2}[A-Z]{3})_\d{8}T\d{6}_(?P<band>B\d{2}|B8A|SCL)_(?P<res>\d{2})m\.jp2$")
STACK = re.compile(r"^S2_L2A_(?P<date>\d{8})_(?P<bands>(?:B\d{1,2}A?)+)\.tif$", re.IGNORECASE)
BAND_NAME = re.compile(r"^B0?(?P<num>\d{1,2}A?)$", re.IGNORECASE)

Kind = Literal["theia", "esa", "stack"]
NO_TILE = "NOTILE"  # the tile of a product that names none (a GeoTIFF stack) when the user gives none


def canonical_band(name: str) -> str:
    """"B02" -> "B2", "b8a" -> "B8A"; raises on anything that is not a band name."""
    m = BAND_NAME.match(name.strip())
    if not m:
        raise DecloudInputError(f"{name!r} is not a Sentinel-2 band name")
    return "B" + m.group("num").upper()


@dataclass(frozen=True)
class BandSource:
    """One band: a raster path readable by GDAL/OTB (possibly /vsizip/) and the band index in it (1-based)."""

    path: str
    band: int = 1


@dataclass(frozen=True)
class S2Product:
    kind: Kind
    source: Path
    platform: str
    tile: str | None
    acquired: datetime
    bands: dict[str, BandSource]
    cloud_mask: BandSource | None  # THEIA CLM (10 m) or SCL (10 or 20 m)
    edge_mask: BandSource | None  # THEIA EDG (10 m); None: nodata from the band values
    offset: int = 0  # added to the stored values to get reflectance x 10000
    nodata: int = 0  # stored nodata value of the bands
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def has_20m(self) -> bool:
        return all(b in self.bands for b in BANDS_20M)

    def folder_name(self, tile: str | None = None) -> str:
        """The name of its prepared folder: ``S2_<tile>_<YYYYMMDDTHHMMSS>``, ``tile`` by default its own (or
        ``NOTILE``; see :func:`decloud.prepare.common.resolve_tile`)."""
        return f"S2_{tile or self.tile or NO_TILE}_{self.acquired:%Y%m%dT%H%M%S}"

    @property
    def name(self) -> str:
        return self.folder_name()


def _listing(source: Path) -> tuple[str, list[str]]:
    """(prefix for GDAL paths, relative file names) of a folder or a zip."""
    if source.is_dir():
        return str(source), [str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()]
    if source.suffix.lower() == ".zip" and source.is_file():
        with zipfile.ZipFile(source) as z:
            return f"/vsizip/{source}", [n for n in z.namelist() if not n.endswith("/")]
    raise DecloudInputError(f"{source}: not a product folder or .zip")


def _parse_date(date: str, time: str = "000000") -> datetime:
    return datetime.strptime(date + time, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)


def read_s2_product(path: str | Path) -> S2Product:
    """Identify and describe the S2 product at ``path`` (THEIA or ESA folder/zip, or a GeoTIFF stack)."""
    source = Path(path)
    if not source.exists():
        raise DecloudInputError(f"{source}: no such file or folder")
    stem = source.name[:-4] if source.name.lower().endswith(".zip") else source.name
    if m := THEIA_PRODUCT.match(stem):
        return _read_theia(source, m)
    if m := ESA_PRODUCT.match(stem):
        return _read_esa(source, m)
    if m := STACK.match(source.name):
        return _read_stack(source, m)
    raise DecloudInputError(f"{source}: unparsable product name (expected a THEIA, ESA SAFE or "
                            "S2_L2A_<date>_<bands>.tif name, see decloud.products)")


def _require(source: Path, found: dict, needed, what: str) -> None:
    missing = [b for b in needed if b not in found]
    if missing:
        raise DecloudInputError(f"{source}: missing {what} {', '.join(missing)}")


def _read_theia(source: Path, m: re.Match) -> S2Product:
    prefix, files = _listing(source)
    bands, clm, edg = {}, None, None
    for f in files:
        base = Path(f).name
        b = THEIA_BAND.search(base)
        if b and base.startswith(m.string):
            bands[canonical_band(b.group("band"))] = BandSource(f"{prefix}/{f}")
        elif base.endswith("_CLM_R1.tif"):
            clm = BandSource(f"{prefix}/{f}")
        elif base.endswith("_EDG_R1.tif"):
            edg = BandSource(f"{prefix}/{f}")
    _require(source, bands, BANDS_10M, "band file(s)")
    if clm is None or edg is None:
        raise DecloudInputError(f"{source}: missing mask MASKS/*_{'CLM' if clm is None else 'EDG'}_R1.tif")
    return S2Product("theia", source, m["platform"], m["tile"], _parse_date(m["date"], m["time"]), bands, clm, edg,
                     offset=0, nodata=-10000)


def _read_esa(source: Path, m: re.Match) -> S2Product:
    prefix, files = _listing(source)
    bands, scl = {}, None
    for f in files:
        b = ESA_BAND.match(Path(f).name)
        if not b or "/IMG_DATA/" not in f"/{f}":
            continue
        name, res = b["band"], int(b["res"])
        if name == "SCL":
            if res == 20:
                scl = BandSource(f"{prefix}/{f}")
            continue
        band = canonical_band(name)
        native = 10 if band in BANDS_10M else 20
        if res == native:
            bands[band] = BandSource(f"{prefix}/{f}")
    _require(source, bands, BANDS_10M, "band file(s)")
    if scl is None:
        raise DecloudInputError(f"{source}: missing the scene classification IMG_DATA/R20m/*_SCL_20m.jp2")
    offset = _esa_offset(source, prefix, files, int(m["baseline"]))
    return S2Product("esa", source, m["platform"], m["tile"], _parse_date(m["date"], m["time"]), bands, scl, None,
                     offset=offset, nodata=0, extra={"baseline": m["baseline"], "relative_orbit": m["orbit"]})


def _esa_offset(source: Path, prefix: str, files: list[str], baseline: int) -> int:
    mtd = next((f for f in files if Path(f).name == "MTD_MSIL2A.xml"), None)
    if mtd is not None:
        if prefix.startswith("/vsizip/"):
            with zipfile.ZipFile(source) as z:
                text = z.read(mtd).decode("utf-8", "replace")
        else:
            text = (Path(prefix) / mtd).read_text(errors="replace")
        offsets = set(re.findall(r"<BOA_ADD_OFFSET[^>]*>\s*(-?\d+)\s*<", text))
        if len(offsets) > 1:
            raise DecloudInputError(f"{source}: band-dependent BOA_ADD_OFFSET values {sorted(offsets)} are not "
                                    "supported")
        if offsets:
            return int(offsets.pop())
    return -1000 if baseline >= 400 else 0


def _read_stack(source: Path, m: re.Match) -> S2Product:
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    ds = gdal.Open(str(source))
    named = re.findall(r"B\d{1,2}A?", m["bands"], re.IGNORECASE)
    if len(named) != ds.RasterCount:
        raise DecloudInputError(f"{source}: the name lists {len(named)} bands but the file has {ds.RasterCount}")
    bands = {}
    for i in range(1, ds.RasterCount + 1):
        description = ds.GetRasterBand(i).GetDescription()
        band = canonical_band(description) if BAND_NAME.match(description or "") else canonical_band(named[i - 1])
        bands[band] = BandSource(str(source), i)
    _require(source, bands, BANDS_10M, "band(s)")
    scl = source.with_name(f"S2_L2A_{m['date']}_SCL.tif")
    if not scl.exists():
        raise DecloudInputError(f"{source}: missing its cloud mask {scl.name}")
    return S2Product("stack", source, "S2", None, _parse_date(m["date"]), bands, BandSource(str(scl)), None,
                     offset=0, nodata=0)

"""S1 preparation: S1Tiling outputs (calibrated sigma0, linear, on the S2 tile grid) -> Decloud's uint16.

S1Tiling names (``S1TILING_NAME``): ``<unit>_<tile>_<pol>_<ASC|DES>_<relative orbit>_<YYYYMMDDtHHMMSS>[_...].tif``,
e.g. ``s1a_33NWB_vv_DES_007_20200108t044150.tif``; the VV and VH files of one acquisition share all but the
polarisation. ``prepare_s1(vv_path, out_dir)`` finds the VH sibling and writes
``out_dir/S1_<tile>_<ASC|DES>_<orbit>_<YYYYMMDDTHHMMSS>/``:
  s1.tif      uint16, bands VV, VH, the stretch below, nodata 0
  blocks.npz  per 64 x 64 pixel block: ``nodata`` pixel counts (outside the image counts as nodata)
  done.json   completion marker

The stretch (``S1_STRETCH``), as Decloud stores S1: with L = min(max(ln(sigma0), -10), 3),
    stored = floor(1.5 + (L + 10) * 65534 / 13)        (1..65535; 0 where sigma0 <= 0 = nodata)
    ln(sigma0) = (stored - 1) * 13 / 65534 - 10        (inverse, to within half a step: 1e-4 in ln)
OTB evaluates the stretch in float32: a value at a rounding edge may be one step (2e-4 in ln) off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import DecloudInputError
from ..otbenv import pyotb
from .common import build_folder, done_marker, grid_of, read_blocks, write_image

S1TILING_NAME = re.compile(
    r"^(?P<unit>s1[a-d])_(?P<tile>\d{2}[A-Z]{3})_(?P<pol>vv|vh)_(?P<direction>ASC|DES)_(?P<orbit>\d{3})"
    r"_(?P<stamp>\d{8}t\d{6})(?P<suffix>_[^.]*)?\.tif$", re.IGNORECASE)
LN_MIN, LN_MAX = -10.0, 3.0
S1_STRETCH = f"floor(1.5 + (min(max(ln(sigma0), {LN_MIN}), {LN_MAX}) - {LN_MIN}) * 65534 / {LN_MAX - LN_MIN})"


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


def prepare_s1(vv_path: str | Path, out_dir: str | Path, *, block_pixels: int = 64) -> PreparedS1:
    """Stretch one S1Tiling acquisition (its VV file; the VH file is found beside it) into ``out_dir``."""
    vv = Path(vv_path)
    m = S1TILING_NAME.match(vv.name)
    if not m:
        raise DecloudInputError(f"{vv}: unparsable S1Tiling name "
                                "(expected e.g. s1a_33NWB_vv_DES_007_20200108t044150.tif)")
    if m["pol"].lower() != "vv":
        raise DecloudInputError(f"{vv}: give the VV file (this is {m['pol']})")
    if not vv.is_file():
        raise DecloudInputError(f"{vv}: no such file")
    vh = vv.with_name(vv.name[: m.start("pol")] + ("VH" if m["pol"] == "VV" else "vh") + vv.name[m.end("pol"):])
    if not vh.is_file():
        raise DecloudInputError(f"{vv}: its VH file {vh.name} is missing")
    if grid_of(vv) != grid_of(vh):
        raise DecloudInputError(f"{vh}: not on the grid of {vv.name} ({grid_of(vh)[:2]} vs {grid_of(vv)[:2]} pixels)")
    acquired = datetime.strptime(m["stamp"].lower(), "%Y%m%dt%H%M%S").replace(tzinfo=timezone.utc)
    direction = "ascending" if m["direction"].upper() == "ASC" else "descending"
    folder = Path(out_dir) / f"S1_{m['tile']}_{m['direction'].upper()}_{m['orbit']}_{acquired:%Y%m%dT%H%M%S}"
    marker = {"source": str(vv.resolve()), "vh": str(vh.resolve()), "tile": m["tile"], "orbit_direction": direction,
              "relative_orbit": int(m["orbit"]), "acquired": acquired.isoformat(), "stretch": S1_STRETCH}

    def fill(tmp: Path) -> None:
        from .s2 import block_counts  # noqa: PLC0415

        otb = pyotb()
        expr = (f"im{{k}}b1 <= 0 ? 0 : 1.5 + (min(max(ln(im{{k}}b1), {LN_MIN}), {LN_MAX}) - ({LN_MIN})) * "
                f"{65534 / (LN_MAX - LN_MIN)!r}")
        # the uint16 cast truncates: + 1.5 then truncation is floor(1.5 + ...)
        app = otb.BandMathX({"il": [str(vv), str(vh)], "exp": f"{expr.format(k=1)}; {expr.format(k=2)}"})
        write_image(app, tmp / "s1.tif", "uint16", 0)
        nodata = otb.BandMathX({"il": [str(tmp / "s1.tif")], "exp": "(im1b1 == 0 || im1b2 == 0) ? 1 : 0"})
        write_image(nodata, tmp / "nodata.tif", "uint8")
        counts = block_counts(tmp / "nodata.tif", tmp / "nodata.tif", block_pixels)
        np.savez_compressed(tmp / "blocks.npz", nodata=counts["nodata"], block_pixels=counts["block_pixels"])

    build_folder(folder, marker, fill)
    return PreparedS1(folder, m["tile"], direction, done_marker(folder)["acquired"])

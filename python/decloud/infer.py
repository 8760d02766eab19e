"""One date without clouds: ``DecloudInfer`` composed in memory with pyotb, written atomically.

``infer(out, {"s2_t": T, "s2_tm1": [A, A2], "s2_tp1": B}, model=...)`` runs the application with its inputs by
role (the model card's roles; t-1, t+1 and S1 roles take candidate lists completed per pixel), optionally cropped
to a bounding box (``ExtractROI`` chained in memory before the app), writes a tiled GeoTIFF under a temporary
name in the output folder and renames it: the output path holds a complete image or nothing. ``cog=True``
converts it to a cloud-optimized GeoTIFF with overviews before the rename.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .card import read_card
from .errors import DecloudError, DecloudInputError
from .otbenv import pyotb
from .raster import to_cog

ROLE_KEYS = {"s2_t": "s2.t", "s2_tm1": "s2.tm1", "s2_tp1": "s2.tp1", "s1_t": "s1.t", "s1_tm1": "s1.tm1",
             "s1_tp1": "s1.tp1", "s2_20m_t": "s2r20.t", "dem": "dem"}
CANDIDATE_ROLES = {"s2_tm1", "s2_tp1", "s1_t", "s1_tm1", "s1_tp1"}
DATE_KEYS = {"s2_timestamp_t": "date.t", "s2_timestamp_tm1": "date.tm1", "s2_timestamp_tp1": "date.tp1"}
GEOTIFF_OPTIONS = ("gdal:co:TILED=YES&gdal:co:COMPRESS=DEFLATE&gdal:co:ZLEVEL=1&gdal:co:NUM_THREADS=ALL_CPUS"
                   "&gdal:co:BIGTIFF=IF_SAFER&gdal:co:PREDICTOR=")  # + 2 (integers) or 3 (floats)
DEFAULT_MODEL_NAME = "msop-bolzano-west"


def default_model() -> Path:
    """The shipped default model: installed with the module, else the source tree's models/."""
    for folder in (Path(sys.prefix) / "share" / "decloud" / "models", Path(__file__).resolve().parents[2] / "models"):
        if (folder / DEFAULT_MODEL_NAME / "card.json").is_file():
            return folder / DEFAULT_MODEL_NAME
    raise DecloudInputError(f"the default model {DEFAULT_MODEL_NAME} is not installed: give --model")


def crop(otb, image, bbox: Sequence[float] | None):
    """``image`` (a path or an in-memory app) cropped to bbox = (xmin, ymin, xmax, ymax) in its CRS, in memory."""
    if bbox is None:
        return str(image) if isinstance(image, Path) else image
    xmin, ymin, xmax, ymax = bbox
    return otb.ExtractROI({"in": str(image) if isinstance(image, Path) else image, "mode": "extent",
                           "mode.extent.unit": "phy", "mode.extent.ulx": xmin, "mode.extent.uly": ymax,
                           "mode.extent.lrx": xmax, "mode.extent.lry": ymin})


def decloud_app(inputs: dict, *, model: str | Path | None = None, mask=None, dates: dict[str, str] | None = None,
                padding: int | None = None, tile: int = 512, encoding: str = "s2", bbox=None,
                ram: int | None = None, threads: int | None = None):
    """The DecloudInfer app (pyotb, executed, not written) for inputs by role; usable in a pyotb chain."""
    otb = pyotb()
    model = Path(model) if model else default_model()
    params: dict = {"model": str(model), "tile": int(tile), "encoding": encoding}
    for role, value in inputs.items():
        if role not in ROLE_KEYS:
            raise DecloudInputError(f"unknown input role {role!r}; roles: {', '.join(ROLE_KEYS)}")
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not values:
            continue
        images = [crop(otb, v, bbox) for v in values]
        params[ROLE_KEYS[role]] = images if role in CANDIDATE_ROLES else images[0]
    for role, date in (dates or {}).items():
        params[DATE_KEYS[role]] = date
    if mask is not None:
        params["mask"] = crop(otb, mask, bbox)
    if padding is not None:
        params["padding"] = int(padding)
    if ram:
        params["ram"] = int(ram)
    if threads:
        params["optim.intraop"] = int(threads)
    try:
        return otb.DecloudInfer(params)
    except Exception as e:  # pyotb wraps the app's one-line FATAL in a RuntimeError
        raise DecloudInputError(_app_error(e)) from None


def _app_error(e: Exception) -> str:
    text = str(e).strip().splitlines()
    fatal = [line for line in text if "(FATAL)" in line or "Exception" in line]
    line = (fatal or text or ["DecloudInfer failed"])[-1]
    line = line.split("(FATAL)")[-1].split(": ", 1)[-1].strip() if "(FATAL)" in line else line
    return line.replace("otb::ApplicationException", "").strip()


def write_atomically(app, out: str | Path, *, pixel_type: str, cog: bool = False) -> Path:
    """Write a pyotb app's output under a temporary name next to ``out``, then rename it to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.part{out.suffix or '.tif'}")
    try:
        predictor = "3" if pixel_type in ("float", "double") else "2"
        app.write(str(tmp), pixel_type=pixel_type, ext_fname=GEOTIFF_OPTIONS + predictor)
        if cog:
            to_cog(tmp)
        os.replace(tmp, out)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, (DecloudError, KeyboardInterrupt)):
            raise
        if isinstance(e, Exception):
            raise DecloudError(f"{out}: writing failed: {_app_error(e)}") from None
        raise
    return out


def infer(out: str | Path, inputs: dict, *, model: str | Path | None = None, mask=None,
          dates: dict[str, str] | None = None, padding: int | None = None, tile: int = 512, encoding: str = "s2",
          cog: bool = False, bbox=None, ram: int | None = None, threads: int | None = None) -> Path:
    """Run DecloudInfer for one date and write ``out`` atomically; returns ``out``."""
    app = decloud_app(inputs, model=model, mask=mask, dates=dates, padding=padding, tile=tile, encoding=encoding,
                      bbox=bbox, ram=ram, threads=threads)
    return write_atomically(app, out, pixel_type="int16" if encoding == "s2" else "float", cog=cog)


def required_roles(model: str | Path | None = None) -> dict[str, list[str]]:
    """Image roles, date roles and mask roles (``cloud_t``: fed by ``mask``) the model's card asks for."""
    card = read_card(Path(model) if model else default_model())
    images = [r for r, spec in card["inputs"].items() if spec.get("kind") not in ("timestamp", "mask")]
    dates = [r for r, spec in card["inputs"].items() if spec.get("kind") == "timestamp"]
    masks = [r for r, spec in card["inputs"].items() if spec.get("kind") == "mask"]
    return {"images": images, "dates": dates, "masks": masks}

"""One date without clouds: ``DecloudInfer`` composed in memory with pyotb, written atomically.

``infer(out, {"s2_t": T, "s2_tm1": [A, A2], "s2_tp1": B}, model=...)`` runs the application with its inputs by
role (the model card's roles; t-1, t+1 and S1 roles take candidate lists completed per pixel; a synthesis model
takes its N dates as ``{"s2_d": [D0, ..., DN-1], "s1_d": [...]}``), optionally cropped
to a bounding box (``ExtractROI`` chained in memory before the app), writes a tiled GeoTIFF under a temporary
name in the output folder, checks it (no GDAL error during the write, every band readable to its last block)
and renames it: the output path holds a complete image, or what it held before. ``cog=True`` converts it to a
cloud-optimized GeoTIFF with overviews before the rename. ``outprov=PATH`` also writes, atomically, where each
output pixel comes from (uint8: :data:`PROVENANCE_CLASSES`) and logs the share of each class.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal, TypeAlias

from .atomic import (
    app_failure,
    atomic_output,
    capture_gdal_errors,
    check_otb_output,
    refuse_input_as_output,
    verify_raster,
    write_app,
)
from .card import read_card
from .errors import DecloudInputError, DecloudIOError, DecloudKeyError
from .geotiff import OTBPixelType, extended_filename
from .interrupts import check, handle_signals
from .otbenv import pyotb
from .raster import to_cog

# DecloudInfer's input roles (the roles a model card names): one table, roles.def in this package, that the app
# #includes (Roles[] and Timestamps[] of app/otbDecloudInfer.cxx) and parse_role_table reads here, at import.
# test/python/test_infer_roles.py checks the installed app against it. decloud infer's options (--s2-20m-tm1...)
# and decloud_app's inputs follow it.
ROLE_TABLE_FILE = "roles.def"
_BOOL = r"(true|false)"
_ROLE_LINE = re.compile(
    rf'DECLOUD_ROLE\(([a-z][a-z0-9_]*), +"([a-z][a-z0-9.]*)", +{_BOOL}, +{_BOOL}, +{_BOOL}, +"([^"\\]+)"\)')
_TIMESTAMP_LINE = re.compile(r'DECLOUD_TIMESTAMP\(([a-z][a-z0-9_]*), +"([a-z][a-z0-9.]*)", +"([^"\\]+)"\)')


@dataclass(frozen=True)
class TableRole:
    """One line of roles.def: an image role (DECLOUD_ROLE) or a date role (DECLOUD_TIMESTAMP: a string parameter,
    ``listed``, ``own_parameter`` and ``indexed`` are False, True, False)."""

    role: str
    key: str
    listed: bool  # an image list: candidates in order of preference, or an indexed role's dates
    own_parameter: bool  # False: the app declares the parameter apart (cloud_t: -mask)
    indexed: bool  # a list of dates: card role <role><K> is its K-th image
    description: str  # the parameter's name in the app


def parse_role_table(text: str, source: str = ROLE_TABLE_FILE) -> tuple[list[TableRole], list[TableRole]]:
    """The image roles and the date roles of a roles.def text, in order. A line that is neither blank, nor a ``//``
    comment, nor one DECLOUD_ROLE(...) / DECLOUD_TIMESTAMP(...) entry of the file's format, or a role or parameter
    named twice, raises ValueError naming the line."""
    roles: list[TableRole] = []
    timestamps: list[TableRole] = []
    named: dict[str, int] = {}  # role or parameter -> its line
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if not entry or (entry.startswith("//") and not entry.endswith("\\")):  # (C++ would splice a \ line)
            continue
        if m := _ROLE_LINE.fullmatch(entry):
            role, key, listed, own, indexed, description = m.groups()
            row = TableRole(role, key, listed == "true", own == "true", indexed == "true", description)
            if row.indexed and not row.listed:
                raise ValueError(f"{source}:{number}: indexed role {role!r} is not a list: {line!r}")
            roles.append(row)
        elif m := _TIMESTAMP_LINE.fullmatch(entry):
            role, key, description = m.groups()
            row = TableRole(role, key, False, True, False, description)
            timestamps.append(row)
        else:
            raise ValueError(f"{source}:{number}: not a DECLOUD_ROLE(role, \"key\", list, own, indexed, "
                             f"\"description\") or DECLOUD_TIMESTAMP(role, \"key\", \"description\") line: {line!r}")
        for name in dict.fromkeys((row.role, row.key)):  # (dem's role and parameter are one name)
            if name in named:
                raise ValueError(f"{source}:{number}: {name!r} is already named on line {named[name]}: {line!r}")
            named[name] = number
    return roles, timestamps


_TABLE = files("decloud").joinpath(ROLE_TABLE_FILE)
ROLE_TABLE, TIMESTAMP_TABLE = parse_role_table(_TABLE.read_text(encoding="utf-8"), str(_TABLE))
# The image roles that have their own parameter: role -> (the app's parameter, whether it takes a list).
ROLES: dict[str, tuple[str, bool]] = {r.role: (r.key, r.listed) for r in ROLE_TABLE if r.own_parameter}
ROLE_KEYS = {role: key for role, (key, _) in ROLES.items()}
# The dates of a synthesis model (N dates in, one image out): the card's roles s2_d0 ... s2_d<N-1> (s1_d0 ... for S1)
# are the images of one list, -s2.dates (-s1.dates), date K its K-th image; the list holds exactly N.
INDEXED_ROLES = {r.role for r in ROLE_TABLE if r.own_parameter and r.indexed}
LIST_ROLES = {role for role, (_, listed) in ROLES.items() if listed}
CANDIDATE_ROLES = LIST_ROLES - INDEXED_ROLES


def role_option(role: str) -> str:
    """decloud infer's option of a role: --s2-tm1, --s2-20m-t...; --s2-dates / --s1-dates for a synthesis's dates."""
    return "--" + (ROLE_KEYS[role].replace(".", "-") if role in INDEXED_ROLES else role.replace("_", "-"))


def table_role(card_role: str) -> tuple[str, int | None]:
    """The role of the table that feeds a card role, and the date's index for a synthesis's (``s2_d3``: ``("s2_d",
    3)``; ``s2_tm1``: ``("s2_tm1", None)``)."""
    for role in INDEXED_ROLES:
        rest = card_role[len(role):]
        if card_role.startswith(role) and rest.isdigit() and (rest == "0" or not rest.startswith("0")):
            return role, int(rest)
    return card_role, None


DATE_KEYS = {r.role: r.key for r in TIMESTAMP_TABLE}
DEFAULT_MODEL_NAME = "gfnet-v5"
# Where the module's install puts the shipped models (CMakeLists.txt: share/decloud/models of the prefix, the venv).
SHIPPED_MODELS = Path(sys.prefix) / "share" / "decloud" / "models"
Encoding: TypeAlias = Literal["s2", "float"]  # DecloudInfer's -encoding: int16 reflectance x 10000, or float32
# Values of DecloudInfer's provenance output (-outprov), in order.
PROVENANCE_CLASSES = ("nodata", "t kept", "network", "gap-filling fallback", "single-date fallback")
log = logging.getLogger(__name__)


def shipped_model(name: str | Path) -> Path:
    """``name`` as given when it is a folder, else the shipped model of that name (``synthnet-v1``), installed with
    the module (:data:`SHIPPED_MODELS`); an input error otherwise."""
    given = Path(name)
    if given.is_dir() or given.name != str(name):
        return given
    if (SHIPPED_MODELS / given.name / "card.json").is_file():
        return SHIPPED_MODELS / given.name
    raise DecloudInputError(f"--model {name}: no such folder, and no shipped model of that name (in {SHIPPED_MODELS})")


def default_model() -> Path:
    """The shipped default model, installed with the module (:data:`SHIPPED_MODELS`; never the source tree's)."""
    if (SHIPPED_MODELS / DEFAULT_MODEL_NAME / "card.json").is_file():
        return SHIPPED_MODELS / DEFAULT_MODEL_NAME
    raise DecloudInputError(f"the default model {DEFAULT_MODEL_NAME} is not installed in {SHIPPED_MODELS} (run the "
                            "set-up, ./dev.sh setup), or give --model")


def crop(otb, image, bbox: Sequence[float] | None):
    """``image`` (a path or an in-memory app) cropped to bbox = (xmin, ymin, xmax, ymax) in its CRS, in memory."""
    if bbox is None:
        return str(image) if isinstance(image, Path) else image
    xmin, ymin, xmax, ymax = bbox
    return otb.ExtractROI({"in": str(image) if isinstance(image, Path) else image, "mode": "extent",
                           "mode.extent.unit": "phy", "mode.extent.ulx": xmin, "mode.extent.uly": ymax,
                           "mode.extent.lrx": xmax, "mode.extent.lry": ymin})


def decloud_app(inputs: dict, *, model: str | Path | None = None, mask=None, dates: dict[str, str] | None = None,
                padding: int | None = None, tile: int = 512, encoding: Encoding = "s2", bbox=None,
                ram: int | None = None, threads: int | None = None, mask_classes: Sequence[int] | None = None):
    """The DecloudInfer app (pyotb, executed, not written) for inputs by role; usable in a pyotb chain.
    ``mask_classes``: the mask is a class map (e.g. Sen2Cor's SCL) whose classes listed count as cloudy
    (SCL: :data:`decloud.products.SCL_CLOUD_CLASSES`); without it a class map is refused. An application's
    failure is an :class:`~decloud.errors.OTBAppInputError` naming it (DecloudInfer, or the ExtractROI of an input's
    crop, with that input's key), pyotb's exception chained."""

    otb = pyotb()
    model = Path(model) if model else default_model()
    params: dict = {"model": str(model), "tile": int(tile), "encoding": encoding}
    for role, value in inputs.items():
        if role not in ROLE_KEYS:
            raise DecloudInputError(f"unknown input role {role!r}; roles: {', '.join(ROLE_KEYS)}")
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not values:
            continue
        try:
            images = [crop(otb, v, bbox) for v in values]
        except RuntimeError as e:  # pyotb's, e.g. an unreadable image
            raise app_failure(e, "ExtractROI", key=ROLE_KEYS[role], prefix=f"{ROLE_KEYS[role]}: ") from e
        params[ROLE_KEYS[role]] = images if role in LIST_ROLES else images[0]
    for role, date in (dates or {}).items():
        if role not in DATE_KEYS:
            raise DecloudKeyError(f"unknown date role {role!r}; date roles: {', '.join(DATE_KEYS)}")
        params[DATE_KEYS[role]] = date
    if mask is not None:
        try:
            params["mask"] = crop(otb, mask, bbox)
        except RuntimeError as e:
            raise app_failure(e, "ExtractROI", key="mask", prefix="mask: ") from e
        if mask_classes:
            params["maskclasses"] = [str(int(c)) for c in mask_classes]
    if padding is not None:
        params["padding"] = int(padding)
    if ram:
        params["ram"] = int(ram)
    if threads:
        params["optim.intraop"] = int(threads)
    try:
        return otb.DecloudInfer(params)
    except Exception as e:  # pyotb wraps the app's one-line FATAL in a RuntimeError
        raise app_failure(e, "DecloudInfer", prefix="") from e


def write_atomically(app, out: str | Path, *, pixel_type: OTBPixelType, cog: bool = False) -> Path:
    """Write a pyotb app's output to ``out`` atomically (:func:`decloud.atomic.atomic_output`), checked before
    the rename (:func:`decloud.atomic.write_app`): a write error (full disk...), an unreadable result or a
    signal leaves the previous file at ``out`` untouched and no temporary file; errors are
    :class:`DecloudIOError` naming ``out`` and the cause. Band names in the app's output metadata (DecloudInfer,
    DecloudGapFilling) become GDAL band descriptions of the temporary file (:func:`describe_bands`)."""
    out = Path(out)
    check_otb_output(out)
    with atomic_output(out) as tmp:
        write_app(app, tmp, pixel_type=pixel_type, ext_fname=extended_filename(pixel_type), name=out)
        describe_bands(tmp, name=out)
        if cog:
            to_cog(tmp)
            verify_raster(tmp, name=out)
    return out


def describe_bands(path: str | Path, *, name: str | Path | None = None) -> None:
    """GDAL band descriptions of a written raster (before its rename) from its bands' ``BandName`` items: the
    band names that DecloudInfer and DecloudGapFilling put in their outputs' metadata, which OTB's writer stores
    only as items (the applications do the same from the command line). A format that GDAL cannot update keeps
    the items only; a GDAL error while the file is updated is a DecloudIOError naming ``name``."""
    from osgeo import gdal  # noqa: PLC0415

    with capture_gdal_errors():
        dataset = gdal.OpenEx(str(path), gdal.OF_RASTER)
        named = [dataset.GetRasterBand(b).GetMetadataItem("BandName") for b in range(1, dataset.RasterCount + 1)]
        dataset = None
    if not any(named):
        return
    with capture_gdal_errors():
        try:
            dataset = gdal.OpenEx(str(path), gdal.OF_RASTER | gdal.OF_UPDATE)
        except RuntimeError:
            dataset = None
    if dataset is None:
        log.warning("%s: its format has no band descriptions: band names left as BandName items", name or path)
        return
    with capture_gdal_errors() as errors:
        try:
            for b, band_name in enumerate(named, start=1):
                if band_name:
                    dataset.GetRasterBand(b).SetDescription(band_name)
            dataset = None
        except RuntimeError as e:
            errors.append(str(e))
    if errors:
        raise DecloudIOError(f"{name or path}: its band names could not be written: {errors[0]}")


def input_paths(inputs: dict, mask=None) -> dict[str, object]:
    """The inputs by role (and the mask), as given: paths, lists of paths or in-memory apps."""
    return {**{role: value for role, value in inputs.items()}, **({"mask": mask} if mask is not None else {})}


def check_bbox(inputs: dict, bbox: Sequence[float] | None, mask=None) -> None:
    """Refuse a bounding box that is empty or does not overlap every input image given as a file."""
    if bbox is None:
        return
    xmin, ymin, xmax, ymax = bbox
    if not (xmin < xmax and ymin < ymax):
        raise DecloudInputError(f"--bbox {xmin:g} {ymin:g} {xmax:g} {ymax:g}: XMIN must be below XMAX and YMIN "
                                "below YMAX")
    from osgeo import gdal  # noqa: PLC0415

    for role, value in input_paths(inputs, mask).items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if not isinstance(item, (str, Path)):
                continue
            try:
                with capture_gdal_errors():
                    ds = gdal.OpenEx(str(item).split("?&", 1)[0], gdal.OF_RASTER)
            except RuntimeError:
                ds = None
            if ds is None:
                raise DecloudInputError(f"{role}: {item}: cannot be read as a raster")
            x0, dx, _, y0, _, dy = ds.GetGeoTransform()
            x1, y1 = x0 + dx * ds.RasterXSize, y0 + dy * ds.RasterYSize
            left, right, bottom, top = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
            if xmax <= left or xmin >= right or ymax <= bottom or ymin >= top:
                raise DecloudInputError(
                    f"--bbox {xmin:.12g} {ymin:.12g} {xmax:.12g} {ymax:.12g} is outside {role} ({item}), whose "
                    "extent is "
                    f"{left:.12g} {bottom:.12g} {right:.12g} {top:.12g} (XMIN YMIN XMAX YMAX, in its CRS)")


def infer(out: str | Path, inputs: dict, *, model: str | Path | None = None, mask=None,
          dates: dict[str, str] | None = None, padding: int | None = None, tile: int = 512, encoding: Encoding = "s2",
          cog: bool = False, bbox=None, ram: int | None = None, threads: int | None = None,
          outprov: str | Path | None = None, mask_classes: Sequence[int] | None = None) -> Path:
    """Run DecloudInfer for one date and write ``out`` atomically; returns ``out``.

    ``mask_classes``: see :func:`decloud_app`. The outputs carry their band names (GDAL band descriptions) and
    the metadata items ACQUISITION_DATE (the date of t), DECLOUD_MODEL and DECLOUD_NOTE (when there is one).

    ``outprov``: also write (atomically, after ``out``) the provenance of each output pixel, a uint8 GeoTIFF
    (0 nodata, 1 clear pixel of t kept, 2 network, 3 gap-filling fallback, 4 single-date fallback, classified
    from the inputs), and log the share of each class.

    Refused before anything runs: an ``out`` (or ``outprov``) that is one of the inputs (also through a link),
    a ``?`` in it, ``outprov`` equal to ``out``, a ``bbox`` outside the inputs. Ctrl-C (SIGINT) stops it at once
    with :class:`decloud.interrupts.Interrupted` (a KeyboardInterrupt), the previous files untouched."""
    check_otb_output(out)
    outputs = [out]
    if outprov is not None:
        check_otb_output(outprov)
        if Path(outprov).resolve() == Path(out).resolve():
            raise DecloudInputError(f"{outprov}: the provenance output is also the output: choose another path")
        outputs.append(outprov)
    refuse_input_as_output(outputs, input_paths(inputs, mask))
    check_bbox(inputs, bbox, mask)
    options = {"model": model, "mask": mask, "dates": dates, "padding": padding, "tile": tile, "encoding": encoding,
               "bbox": bbox, "ram": ram, "threads": threads, "mask_classes": mask_classes}
    with handle_signals((signal.SIGINT,)):
        app = decloud_app(inputs, **options)
        check()
        write_atomically(app, out, pixel_type="int16" if encoding == "s2" else "float", cog=cog)
        if outprov is not None:
            check()
            # A second app that writes only the provenance (read from the inputs: no network run besides the
            # first-tile check): writing another output of the first app would make OTB write ``out`` again.
            write_atomically(decloud_app(inputs, **options)["outprov"], outprov, pixel_type="uint8", cog=cog)
            shares = provenance_shares(outprov)
            log.info("%s: output pixels by provenance: %s", out,
                     ", ".join(f"{name} {100 * share:.2f} %" for name, share in shares.items()))
        return Path(out)


def provenance_shares(path: str | Path) -> dict[str, float]:
    """Share of each provenance class (:data:`PROVENANCE_CLASSES`) in a provenance output, counted by strips of
    rows (bounded memory, no statistics file written beside it)."""
    import numpy as np  # noqa: PLC0415
    from osgeo import gdal  # noqa: PLC0415

    counts = np.zeros(len(PROVENANCE_CLASSES), dtype=np.int64)
    with capture_gdal_errors():
        dataset = gdal.Open(str(path))  # held while its band is used
        band = dataset.GetRasterBand(1)
        for y in range(0, dataset.RasterYSize, 512):
            rows = band.ReadAsArray(0, y, dataset.RasterXSize, min(512, dataset.RasterYSize - y))
            counts += np.bincount(rows.ravel(), minlength=len(PROVENANCE_CLASSES))[:len(PROVENANCE_CLASSES)]
        band = dataset = None
    total = int(counts.sum()) or 1
    return {name: int(count) / total for name, count in zip(PROVENANCE_CLASSES, counts)}


def required_roles(model: str | Path | None = None) -> dict[str, list[str]]:
    """Image roles, date roles and mask roles (``cloud_t``: fed by ``mask``) the model's card asks for. An input's
    role is its ``"role"``, else its key (the SavedModel's input name: the original Decloud's
    ``crga_os1_unet_impostor`` takes ``s1_t`` as ``s1_target``)."""
    card = read_card(Path(model) if model else default_model())
    roles = [(spec.get("role", key), spec.get("kind")) for key, spec in card["inputs"].items()]
    images = [r for r, kind in roles if kind not in ("timestamp", "mask")]
    dates = [r for r, kind in roles if kind == "timestamp"]
    masks = [r for r, kind in roles if kind == "mask"]
    return {"images": images, "dates": dates, "masks": masks}

"""What the preparation stages share: completion markers, atomic output folders, GeoTIFF writing, and the tile
rule.

The tile rule (one for prepare, index, dataset and timeseries): every prepared folder is named
``<sensor>_<tile>_...`` (``S2_<tile>_<YYYYMMDDTHHMMSS>``, ``S1_<tile>_...``) and its ``done.json`` says ``tile``.
The tile is the one the user gives (``--tile``) or else the product's own (THEIA, ESA and S1Tiling names carry
one); a product without one (a GeoTIFF stack) is of tile ``NOTILE`` unless the user names it. A name given for a
product that has its own tile must be that tile (``T32TPS`` and ``32TPS`` are the same). Tile names are letters,
digits and ``-`` (no ``_``: it separates the parts of folder names), e.g. ``bolzano``. ``decloud index`` indexes
the folders of one tile and names the index after it; ``decloud dataset`` finds the folders of an index's tile by
that name; ``decloud timeseries`` takes t-1, t+1 and S1 of t's own tile.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from ..atomic import atomic_output, write_app, write_json
from ..errors import DecloudInputError, DecloudIOError
from ..geotiff import OTBPixelType, extended_filename
from ..products import NO_TILE

TILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
PREPARED_FOLDER = re.compile(r"^(?P<sensor>S[12])_(?P<tile>[A-Za-z0-9-]+)_")
_MGRS = re.compile(r"^T?(?P<tile>\d{2}[A-Z]{3})$")


def check_tile_name(name: str, what: str = "--tile") -> str:
    """A valid tile name (an MGRS tile loses its leading T: ``T32TPS`` -> ``32TPS``), else a DecloudInputError."""
    if not TILE_NAME.match(name or ""):
        raise DecloudInputError(f"{what} {name!r}: not a tile name (letters, digits and '-', no '_' nor '/', "
                                "e.g. bolzano or 32TPS)")
    m = _MGRS.match(name)
    return m["tile"] if m else name


def resolve_tile(user: str | None, product: str | None, source: object) -> str:
    """The tile of a product being prepared: ``user``'s (``--tile``) or the product's own, else ``NOTILE``; a
    user tile that contradicts the product's own is refused (naming ``source``)."""
    own = check_tile_name(product, f"{source}: tile") if product else None
    if user is None:
        return own or NO_TILE
    name = check_tile_name(user)
    if own is not None and name != own:
        raise DecloudInputError(f"--tile {user}: {source} is of tile {own} (its name says so); leave --tile out or "
                                f"give {own}")
    return name


def prepared_folder_name(sensor: str, tile: str, *parts: str) -> str:
    """``<sensor>_<tile>_<parts joined by _>``: the name of a prepared folder."""
    return "_".join((sensor, check_tile_name(tile), *parts))


def prepared_tile(folder: Path, marker: dict | None = None) -> str:
    """The tile of a prepared folder: its ``done.json``'s ``tile``, else (outputs of older versions, whose stacks
    say none) the one in its name, else ``NOTILE``."""
    marker = read_marker(Path(folder)) if marker is None else marker
    if marker and isinstance(marker.get("tile"), str) and marker["tile"]:
        return marker["tile"]
    m = PREPARED_FOLDER.match(Path(folder).name)
    return m["tile"] if m else NO_TILE


def read_marker(folder: Path) -> dict | None:
    """The ``done.json`` of a finished output folder, or None."""
    try:
        return json.loads((folder / "done.json").read_text())
    except (OSError, ValueError):
        return None


def done_marker(folder: Path) -> dict:
    """The ``done.json`` of a folder just built; a :class:`DecloudIOError` when it cannot be read back."""
    marker = read_marker(folder)
    if marker is None:
        raise DecloudIOError(f"{folder}: its completion marker done.json cannot be read back")
    return marker


def build_folder(folder: Path, marker: dict, fill: Callable[[Path], object]) -> bool:
    """Write ``folder`` atomically (:func:`decloud.atomic.atomic_output`): ``fill`` writes into a temporary
    sibling, ``done.json`` is added, then it is renamed into place (replacing an older ``folder``); on any error
    or signal the temporary folder is removed and ``folder`` stays as it was. Skipped (returns False) when
    ``folder`` is already done for the same source."""
    done = read_marker(folder)
    if done is not None and done.get("source") == marker.get("source"):
        return False
    with atomic_output(folder, folder=True) as tmp:
        fill(tmp)
        write_json(tmp / "done.json", marker, what="completion marker")
    return True


def write_image(app, path: Path, pixel_type: OTBPixelType, nodata: float | None = None,
                descriptions: Sequence[str] | None = None) -> None:
    """Write a pyotb app's output as a tiled, compressed GeoTIFF (:mod:`decloud.geotiff`), with the nodata value
    ``nodata``, or none at all when it is None (OTB copies an input's NoData into its outputs: a mask computed from
    an SCL would say NoData=0, and GIS software would show its clear pixels as empty), and the band names
    ``descriptions`` (GDAL band descriptions: DecloudInfer refuses an image whose bands are named in another order
    than the model's); checked (:func:`decloud.atomic.write_app`: a GDAL error during the write or an unreadable
    file is a DecloudIOError)."""
    write_app(app, path, pixel_type=pixel_type, ext_fname=extended_filename(pixel_type))
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    ds = gdal.Open(str(path), gdal.GA_Update)
    if descriptions is not None and len(descriptions) != ds.RasterCount:
        raise ValueError(f"{path}: {len(descriptions)} band names for {ds.RasterCount} bands")
    for b in range(ds.RasterCount):
        band = ds.GetRasterBand(b + 1)
        if descriptions is not None:
            band.SetDescription(descriptions[b])
        if nodata is not None:
            band.SetNoDataValue(nodata)
        elif band.GetNoDataValue() is not None:
            band.DeleteNoDataValue()
    ds = None


def grid_of(path) -> tuple:
    """(width, height, geotransform) of a raster."""
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    ds = gdal.Open(str(path))
    return (ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform())


MISSED_CLOUD_SIDE = 512  # the side of the decimated B2 that clouds the masks missed are judged on (timeseries)


def decimated_blue(image: Path, cloud: Path, nodata: Path, side: int = MISSED_CLOUD_SIDE):
    """B2 (the first band of ``image``) and its usable pixels (valid, not cloudy per ``cloud`` and ``nodata``) of a
    prepared S2 date, read decimated to at most ``side`` px a side (nearest pixel): what
    :func:`decloud.timeseries.missed_cloud_dates` judges. The preparation stores it in ``blocks.npz``."""
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    arrays = []
    for p in (image, cloud, nodata):
        try:
            ds = gdal.Open(str(p))  # kept while its band is read (a band outlives no dataset)
            band = ds.GetRasterBand(1)
            f = max(1, -(-max(band.XSize, band.YSize) // side))
            arrays.append(band.ReadAsArray(buf_xsize=max(1, band.XSize // f), buf_ysize=max(1, band.YSize // f)))
        except RuntimeError as e:
            raise DecloudInputError(f"{p}: not readable by GDAL ({e})") from e
        ds = None
    blue, cloudy, invalid = arrays
    return blue, (cloudy == 0) & (invalid == 0) & (blue != -10000)


def read_blocks(folder: Path) -> dict:
    """The per-block counts (``blocks.npz``) of a preparation output folder."""
    import numpy as np  # noqa: PLC0415

    with np.load(folder / "blocks.npz") as z:
        return {k: z[k] for k in z.files}

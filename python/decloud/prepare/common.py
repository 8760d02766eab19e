"""What the preparation stages share: completion markers, atomic output folders, GeoTIFF writing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..atomic import atomic_output, write_app, write_json
from ..errors import DecloudIOError
from ..geotiff import OTBPixelType, extended_filename


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


def write_image(app, path: Path, pixel_type: OTBPixelType, nodata: float | None = None) -> None:
    """Write a pyotb app's output as a tiled, compressed GeoTIFF (:mod:`decloud.geotiff`), with a nodata value if
    given; checked (:func:`decloud.atomic.write_app`: a GDAL error during the write or an unreadable file is a
    DecloudIOError)."""
    write_app(app, path, pixel_type=pixel_type, ext_fname=extended_filename(pixel_type))
    if nodata is not None:
        from osgeo import gdal  # noqa: PLC0415

        ds = gdal.Open(str(path), gdal.GA_Update)
        for b in range(ds.RasterCount):
            ds.GetRasterBand(b + 1).SetNoDataValue(nodata)
        ds = None


def grid_of(path) -> tuple:
    """(width, height, geotransform) of a raster."""
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    ds = gdal.Open(str(path))
    return (ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform())


def read_blocks(folder: Path) -> dict:
    """The per-block counts (``blocks.npz``) of a preparation output folder."""
    import numpy as np  # noqa: PLC0415

    with np.load(folder / "blocks.npz") as z:
        return {k: z[k] for k in z.files}

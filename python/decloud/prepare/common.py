"""What the preparation stages share: completion markers, atomic output folders, GeoTIFF writing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

TIFF_OPTIONS = "gdal:co:COMPRESS=DEFLATE&gdal:co:TILED=YES&gdal:co:BIGTIFF=IF_SAFER"


def read_marker(folder: Path) -> dict | None:
    """The ``done.json`` of a finished output folder, or None."""
    try:
        return json.loads((folder / "done.json").read_text())
    except (OSError, ValueError):
        return None


def build_folder(folder: Path, marker: dict, fill: Callable[[Path], None]) -> bool:
    """Write ``folder`` atomically: ``fill`` writes into a temporary sibling, ``done.json`` is added, then it
    is renamed into place. Skipped (returns False) when ``folder`` is already done for the same source."""
    done = read_marker(folder)
    if done is not None and done.get("source") == marker.get("source"):
        return False
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        fill(tmp)
        (tmp / "done.json").write_text(json.dumps(marker, indent=2))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


def write_image(app, path: Path, pixel_type: str, nodata: float | None = None) -> None:
    """Write a pyotb app's output as a tiled, compressed GeoTIFF, with a nodata value if given."""
    app.write(str(path), pixel_type=pixel_type, ext_fname=TIFF_OPTIONS)
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

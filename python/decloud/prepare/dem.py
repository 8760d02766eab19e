"""DEM preparation: any GDAL DEM (SRTM .hgt tiles, GeoTIFF, a VRT of tiles) onto an S2 20 m grid.

``prepare_dem(sources, reference, out_dir)`` mosaics ``sources`` (a GDAL VRT), resamples them with OTB's
Superimpose (bicubic, any CRS) onto the grid of ``reference`` (an S2 20 m raster, e.g. a prepared
``s2_20m.tif``) and writes ``out_dir/dem.tif`` (float32 metres, nodata -32768) with a ``dem.done.json``
marker.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..atomic import atomic_output, temporary_path, write_json
from ..errors import DecloudInputError
from ..otbenv import pyotb
from .common import write_image

DEM_NODATA = -32768.0


def prepare_dem(sources: Sequence[str | Path], reference: str | Path, out_dir: str | Path) -> Path:
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    paths = [Path(s) for s in sources]
    if not paths:
        raise DecloudInputError("prepare_dem: no DEM file given")
    for s in paths:
        if not s.is_file():
            raise DecloudInputError(f"{s}: no such DEM file")
    out_dir = Path(out_dir)
    out = out_dir / "dem.tif"
    marker_path = out_dir / "dem.done.json"
    marker = {"sources": sorted(str(s.resolve()) for s in paths), "reference": str(Path(reference).resolve())}
    if out.exists() and marker_path.exists() and json.loads(marker_path.read_text()) == marker:
        return out
    with atomic_output(out) as tmp:
        vrt = temporary_path(out_dir / "dem_sources.vrt")
        try:
            gdal.BuildVRT(str(vrt), [str(s) for s in paths], srcNodata=DEM_NODATA, VRTNodata=DEM_NODATA)
            app = pyotb().Superimpose({"inr": str(reference), "inm": str(vrt), "interpolator": "bco"})
            write_image(app, tmp, "float", DEM_NODATA)
        finally:
            vrt.unlink(missing_ok=True)
    write_json(marker_path, marker, what="completion marker")
    return out

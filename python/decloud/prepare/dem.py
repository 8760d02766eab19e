"""DEM preparation: any GDAL DEM (SRTM .hgt tiles, GeoTIFF, a VRT of tiles) onto the S2 20 m grid of a reference.

``prepare_dem(sources, reference, out_dir)`` mosaics ``sources`` (a GDAL VRT; each file's own nodata value marks
its voids), resamples them with OTB's Superimpose (bicubic, any CRS) onto the 20 m grid of ``reference`` and writes
``out_dir/dem.tif`` (float32 metres, nodata -32768) with a ``dem.done.json`` marker (sources, reference, grid).

``reference``: a prepared S2 folder (``decloud prepare-s2``; any file in one names it too), whose 20 m grid is
the one of its ``s2_10m.tif`` with pixels twice as large (same upper-left corner, the last row and column
rounded up): the grid ``decloud dataset`` reads DEM patches on (half the S2 patch size). A plain raster is
taken as the 20 m grid itself, unless its pixels are 10 m (then doubled the same way).

The DEM must cover the whole reference: a pixel has a height only where every DEM pixel its bicubic support
draws on has one (a validity band is resampled alongside and must stay 1); a reference pixel without a height
(outside the DEM files, or in a void) is an error naming the DEM, the reference and the covered share, and
nothing is written -- never an all-nodata or zero-filled DEM. Heights below -1000 m count as voids (undeclared
nodata values such as -32768 or -9999).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_output, temporary_path, write_json
from ..errors import DecloudInputError
from ..otbenv import pyotb
from .common import grid_of, write_image
from .s1 import s2_reference

DEM_NODATA = -32768.0
LOWEST_HEIGHT = -1000.0  # below: a void (the Dead Sea shore is at -430 m)


def dem_grid(reference: str | Path) -> tuple[Path, tuple[float, float, float, float], float, float, str]:
    """(raster giving the CRS, bounds (xmin, ymin, xmax, ymax), x pixel, y pixel, description) of the 20 m grid of
    ``reference`` (see the module doc)."""
    ref = s2_reference(reference)
    width, height, gt = grid_of(ref.grid)
    if abs(gt[2]) > 0 or abs(gt[4]) > 0:
        raise DecloudInputError(f"{ref.grid}: a rotated grid is not supported as a DEM reference")
    factor = 2 if ref.folder is not None or abs(abs(gt[1]) - 10.0) < 1e-3 else 1
    dx, dy = gt[1] * factor, gt[5] * factor
    cols, rows = math.ceil(width / factor), math.ceil(height / factor)
    x0, y0 = gt[0], gt[3]
    x1, y1 = x0 + cols * dx, y0 + rows * dy
    bounds = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    what = f"its {abs(dx):g} m grid" + (f" ({ref.grid.name} with pixels doubled)" if factor == 2 else "")
    return ref.grid, bounds, abs(dx), abs(dy), what


def _count_voids(path: Path) -> tuple[int, int]:
    """(pixels without a height, pixels) of a written DEM, read in strips."""
    from osgeo import gdal  # noqa: PLC0415

    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    voids, strip = 0, 512
    for row in range(0, ds.RasterYSize, strip):
        a = band.ReadAsArray(0, row, ds.RasterXSize, min(strip, ds.RasterYSize - row))
        voids += int(np.count_nonzero(~(a > LOWEST_HEIGHT)))  # nan counts too
    return voids, ds.RasterXSize * ds.RasterYSize


def prepare_dem(sources: Sequence[str | Path], reference: str | Path, out_dir: str | Path) -> Path:
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    paths = [Path(s) for s in sources]
    if not paths:
        raise DecloudInputError("prepare_dem: no DEM file given")
    for s in paths:
        if not s.is_file():
            raise DecloudInputError(f"{s}: no such DEM file")
    grid_raster, bounds, px, py, what = dem_grid(reference)
    out_dir = Path(out_dir)
    out = out_dir / "dem.tif"
    marker_path = out_dir / "dem.done.json"
    marker = {"sources": sorted(str(s.resolve()) for s in paths), "reference": str(Path(reference).resolve()),
              "grid": {"raster": str(grid_raster.resolve()), "bounds": list(bounds), "pixel": [px, py]},
              "resampling": "bicubic (OTB Superimpose); a pixel whose support touches a DEM void or lies outside "
                            "the DEM is refused"}
    try:
        if out.exists() and json.loads(marker_path.read_text()) == marker:
            return out
    except (OSError, ValueError):
        pass  # no marker, or an unreadable one: redone
    named = paths[0].name if len(paths) == 1 else f"{paths[0].name} and {len(paths) - 1} more"
    with atomic_output(out) as tmp:
        vrt = temporary_path(out_dir / "dem_sources.vrt")
        grid_vrt = temporary_path(out_dir / "dem_grid.vrt")
        try:
            try:
                gdal.BuildVRT(str(vrt), [str(s) for s in paths], VRTNodata=DEM_NODATA)
            except RuntimeError as e:
                raise DecloudInputError(f"{named}: cannot mosaic these DEM files ({e})") from e
            # the 20 m grid as a raster for Superimpose (only its geometry is used)
            gdal.BuildVRT(str(grid_vrt), [str(grid_raster)], outputBounds=bounds, xRes=px, yRes=py,
                          resolution="user")
            otb = pyotb()
            valid = f"(im1b1 > {LOWEST_HEIGHT!r} && im1b1 == im1b1)"
            heights = otb.BandMathX({"il": [str(vrt)], "exp": f"{valid} ? im1b1 : 0; {valid} ? 1 : 0"})
            on_grid = otb.Superimpose({"inr": str(grid_vrt), "inm": heights, "interpolator": "bco", "fv": 0})
            app = otb.BandMathX({"il": [on_grid], "exp": f"abs(im1b2 - 1) < 0.001 ? im1b1 : {DEM_NODATA!r}"})
            write_image(app, tmp, "float", DEM_NODATA)
        finally:
            vrt.unlink(missing_ok=True)
            grid_vrt.unlink(missing_ok=True)
        voids, pixels = _count_voids(tmp)
        if voids == pixels:
            raise DecloudInputError(f"{named}: the DEM does not cover the reference {reference}: no height on any "
                                    f"pixel of {what}")
        if voids:
            raise DecloudInputError(f"{named}: the DEM covers only {100 * (pixels - voids) / pixels:.1f} % of the "
                                    f"reference {reference}: {voids} of {pixels} pixels of {what} have no height "
                                    "(outside the DEM files or in their voids); add the DEM files that cover the rest")
    write_json(marker_path, marker, what="completion marker")
    return out

"""Small GDAL helpers: write and read georeferenced arrays, quick-look PNGs. Writes are atomic."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .atomic import atomic_output, verify_raster
from .errors import DecloudInputError, DecloudIOError
from .geotiff import COG_OPTIONS, creation_options


def _gdal():
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    return gdal


_GDAL_TYPES = {
    np.dtype("uint8"): 1, np.dtype("uint16"): 2, np.dtype("int16"): 3, np.dtype("uint32"): 4,
    np.dtype("int32"): 5, np.dtype("float32"): 6, np.dtype("float64"): 7,
}


def write_geotiff(
    path: str | Path,
    array: np.ndarray,
    *,
    origin: tuple[float, float],
    spacing: tuple[float, float],
    epsg: int = 32632,
    nodata: float | None = None,
    projection: str | None = None,
) -> Path:
    """Write a [rows, cols, bands] (or [rows, cols]) array as a tiled, compressed GeoTIFF (the options of
    :mod:`decloud.geotiff`, those of the C++ applications).

    ``origin`` is the upper-left corner (x, y); ``spacing`` is (x, y) with y negative for north-up images.
    ``projection`` (WKT), when given, replaces ``epsg``.
    The file appears at ``path`` only once complete (written under a temporary name, then renamed).
    """
    gdal = _gdal()
    from osgeo import osr  # noqa: PLC0415

    path = Path(path)
    data = array if array.ndim == 3 else array[:, :, None]
    if data.dtype not in _GDAL_TYPES:
        raise DecloudInputError(f"{path}: unsupported array dtype {data.dtype}")
    try:
        with atomic_output(path) as tmp:
            ds = gdal.GetDriverByName("GTiff").Create(
                str(tmp), data.shape[1], data.shape[0], data.shape[2], _GDAL_TYPES[data.dtype],
                options=creation_options(data.dtype),
            )
            ds.SetGeoTransform((origin[0], spacing[0], 0.0, origin[1], 0.0, spacing[1]))
            if projection:
                ds.SetProjection(projection)
            else:
                srs = osr.SpatialReference()
                srs.ImportFromEPSG(epsg)
                ds.SetProjection(srs.ExportToWkt())
            for b in range(data.shape[2]):
                band = ds.GetRasterBand(b + 1)
                band.WriteArray(data[:, :, b])
                if nodata is not None:
                    band.SetNoDataValue(nodata)
            ds = None
            verify_raster(tmp, name=path)
    except RuntimeError as e:  # GDAL's, e.g. a full disk
        raise DecloudIOError(f"{path}: writing failed: {e}") from None
    return path


def read_array(path: str | Path) -> np.ndarray:
    """Read a raster as a [rows, cols, bands] array."""
    gdal = _gdal()
    try:
        ds = gdal.Open(str(path))
    except RuntimeError as e:
        raise DecloudIOError(f"{path}: cannot be read as a raster ({e})") from e
    return np.stack([ds.GetRasterBand(b + 1).ReadAsArray() for b in range(ds.RasterCount)], axis=-1)


def geotransform(path: str | Path) -> tuple[float, ...]:
    """GDAL geotransform of a raster (x0, dx, 0, y0, 0, dy)."""
    return tuple(_gdal().Open(str(path)).GetGeoTransform())


def stretch_limits(array: np.ndarray, *, low: float = 2, high: float = 90) -> list[tuple[float, float]]:
    """Per-band percentiles (nan and inf ignored); the default high cut keeps clouds from flattening the land."""
    limits = []
    for b in range(array.shape[2]):
        finite = array[:, :, b][np.isfinite(array[:, :, b])]
        limits.append(tuple(np.percentile(finite, [low, high])) if finite.size else (0.0, 1.0))
    return limits


def stretch_to_bytes(array: np.ndarray, limits: list[tuple[float, float]] | None = None) -> np.ndarray:
    """Linear stretch of a [rows, cols, bands] array to uint8 between per-band (low, high) limits."""
    limits = limits or stretch_limits(array)
    out = np.zeros(array.shape, dtype=np.uint8)
    for b, (lo, hi) in enumerate(limits):
        band = array[:, :, b].astype("float64")
        scaled = (band - lo) / (hi - lo if hi > lo else 1.0)
        out[:, :, b] = np.clip(np.nan_to_num(scaled) * 255, 0, 255).astype(np.uint8)
    return out


def write_quicklook(path: str | Path, panels: Sequence[np.ndarray], *, gap: int = 8, stretch_from: int = 0) -> Path:
    """Write RGB (or grey) panels side by side as a PNG, all stretched like panel ``stretch_from``."""
    gdal = _gdal()
    path = Path(path)
    if not panels:
        raise DecloudInputError(f"{path}: no panel to draw")
    height = max(p.shape[0] for p in panels)
    rgb = [p if p.ndim == 3 and p.shape[2] == 3 else np.repeat(p.reshape(p.shape[0], p.shape[1], -1)[:, :, :1], 3, 2)
           for p in panels]
    width = sum(p.shape[1] for p in rgb) + gap * (len(rgb) - 1)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    limits = stretch_limits(rgb[stretch_from])
    x = 0
    for panel in rgb:
        canvas[: panel.shape[0], x : x + panel.shape[1]] = stretch_to_bytes(panel, limits)
        x += panel.shape[1] + gap
    mem = gdal.GetDriverByName("MEM").Create("", width, height, 3, gdal.GDT_Byte)
    for b in range(3):
        mem.GetRasterBand(b + 1).WriteArray(canvas[:, :, b])
    with atomic_output(path) as tmp:
        gdal.GetDriverByName("PNG").CreateCopy(str(tmp), mem)
        Path(str(tmp) + ".aux.xml").unlink(missing_ok=True)
    return path


def to_cog(path: str | Path) -> Path:
    """Convert a GeoTIFF in place to a cloud-optimized GeoTIFF with overviews (:data:`decloud.geotiff.COG_OPTIONS`),
    atomically."""
    gdal = _gdal()
    path = Path(path)
    try:
        with atomic_output(path) as tmp:
            gdal.Translate(str(tmp), str(path), format="COG",
                           creationOptions=list(COG_OPTIONS))
    except RuntimeError as e:
        raise DecloudIOError(f"{path}: conversion to COG failed: {e}") from e
    return path

"""Small GDAL helpers: write and read georeferenced arrays, quick-look PNGs (labelled panels over one extent,
stretched on valid clear pixels). Writes are atomic."""

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
        raise DecloudIOError(f"{path}: writing failed: {e}") from e
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


def read_like(path: str | Path, reference: str | Path, *, fill: float = -10000) -> np.ndarray:
    """Read raster ``path`` over the extent of raster ``reference`` ([rows, cols, bands], ``reference``'s size):
    both on one grid (same pixel size, aligned); pixels of ``reference`` that ``path`` does not cover are ``fill``.
    What puts an input and an output cropped by ``--bbox`` (or to the inputs' common extent) side by side."""
    gdal = _gdal()
    try:
        src, ref = gdal.Open(str(path)), gdal.Open(str(reference))
    except RuntimeError as e:
        raise DecloudIOError(f"{path}: cannot be read as a raster ({e})") from e
    x0, dx, _, y0, _, dy = src.GetGeoTransform()
    rx0, rdx, _, ry0, _, rdy = ref.GetGeoTransform()
    if abs(dx - rdx) > 1e-6 * abs(rdx) or abs(dy - rdy) > 1e-6 * abs(rdy):
        raise DecloudInputError(f"{path}: pixel size {dx:g} x {dy:g}, {reference} has {rdx:g} x {rdy:g}: "
                                "not on one grid")
    col, row = round((rx0 - x0) / dx), round((ry0 - y0) / dy)
    width, height = ref.RasterXSize, ref.RasterYSize
    out = np.full((height, width, src.RasterCount), fill,
                  dtype=np.result_type(_array_type(src), np.min_scalar_type(fill)))
    c0, r0 = max(col, 0), max(row, 0)
    c1, r1 = min(col + width, src.RasterXSize), min(row + height, src.RasterYSize)
    if c1 > c0 and r1 > r0:
        for b in range(src.RasterCount):
            out[r0 - row : r1 - row, c0 - col : c1 - col, b] = src.GetRasterBand(b + 1).ReadAsArray(
                c0, r0, c1 - c0, r1 - r0)
    return out


def _array_type(ds) -> np.dtype:
    from osgeo import gdal_array  # noqa: PLC0415

    return np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(ds.GetRasterBand(1).DataType))


def valid_pixels(array: np.ndarray, *, nodata: float | None = -10000) -> np.ndarray:
    """[rows, cols] True where every band of ``array`` is finite and not ``nodata``."""
    data = array if array.ndim == 3 else array[:, :, None]
    valid = np.all(np.isfinite(data), axis=2)
    if nodata is not None:
        valid &= np.all(data != nodata, axis=2)
    return valid


def stretch_limits(array: np.ndarray, *, low: float = 2, high: float = 98,
                   where: np.ndarray | None = None) -> list[tuple[float, float]]:
    """Per-band (low, high) percentiles over the pixels ``where`` is True (default: all), nan and inf ignored;
    (0, 1) for a band without such a pixel."""
    limits: list[tuple[float, float]] = []
    for b in range(array.shape[2]):
        values = array[:, :, b] if where is None else array[:, :, b][where]
        finite = values[np.isfinite(values)]
        lo, hi = np.percentile(finite, [low, high]) if finite.size else (0.0, 1.0)
        limits.append((float(lo), float(hi)))
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


TITLE_HEIGHT = 20  # pixels of the strip above each panel that holds its title


def write_quicklook(path: str | Path, panels: Sequence[np.ndarray], *, titles: Sequence[str] | None = None,
                    gap: int = 8, stretch_from: int = 0, clear: np.ndarray | None = None,
                    nodata: float | None = -10000) -> Path:
    """Write RGB (or grey) panels side by side as a PNG, each under its title (``titles``, drawn into the image).

    The panels show one extent (the same [rows, cols]; :func:`read_like` reads an input over an output's extent):
    panels of different sizes are refused. All are stretched alike, between the 2nd and 98th percentiles of
    panel ``stretch_from`` over its valid clear pixels: no band at ``nodata`` nor NaN, and ``clear`` True
    ([rows, cols], e.g. ``cloud == 0``) when given; nodata pixels are drawn black. Written atomically.
    """
    gdal = _gdal()
    path = Path(path)
    if not panels:
        raise DecloudInputError(f"{path}: no panel to draw")
    if titles is not None and len(titles) != len(panels):
        raise DecloudInputError(f"{path}: {len(titles)} titles for {len(panels)} panels")
    shapes = {tuple(p.shape[:2]) for p in panels}
    if len(shapes) > 1:
        sizes = ", ".join(f"{r}x{c}" for r, c in sorted(shapes))
        raise DecloudInputError(f"{path}: the panels have different sizes ({sizes} rows x cols): read them over one "
                                "extent (decloud.raster.read_like)")
    rgb = [p if p.ndim == 3 and p.shape[2] == 3 else np.repeat(p.reshape(p.shape[0], p.shape[1], -1)[:, :, :1], 3, 2)
           for p in panels]
    rows, cols = rgb[0].shape[:2]
    top = TITLE_HEIGHT if titles else 0
    width = cols * len(rgb) + gap * (len(rgb) - 1)
    canvas = np.full((top + rows, width, 3), 255, dtype=np.uint8)
    where = valid_pixels(rgb[stretch_from], nodata=nodata)
    if clear is not None:
        if clear.shape != (rows, cols):
            raise DecloudInputError(f"{path}: the clear-pixel mask is {clear.shape[0]}x{clear.shape[1]}, the panels "
                                    f"{rows}x{cols}")
        where &= clear.astype(bool)
    limits = stretch_limits(rgb[stretch_from], where=where)
    for k, panel in enumerate(rgb):
        drawn = stretch_to_bytes(panel, limits)
        drawn[~valid_pixels(panel, nodata=nodata)] = 0
        canvas[top:, k * (cols + gap) : k * (cols + gap) + cols] = drawn
    if titles:
        _draw_titles(canvas, titles, cols, gap)
    mem = gdal.GetDriverByName("MEM").Create("", width, top + rows, 3, gdal.GDT_Byte)
    for b in range(3):
        mem.GetRasterBand(b + 1).WriteArray(canvas[:, :, b])
    with atomic_output(path) as tmp:
        gdal.GetDriverByName("PNG").CreateCopy(str(tmp), mem)
        Path(str(tmp) + ".aux.xml").unlink(missing_ok=True)
    return path


def _draw_titles(canvas: np.ndarray, titles: Sequence[str], cols: int, gap: int) -> None:
    """Each title in black in the strip above its panel (clipped to the panel's width)."""
    from PIL import Image, ImageDraw, ImageFont  # noqa: PLC0415

    font = ImageFont.load_default()
    for k, title in enumerate(titles):
        strip = Image.new("RGB", (cols, TITLE_HEIGHT), (255, 255, 255))
        ImageDraw.Draw(strip).text((2, 3), str(title), fill=(0, 0, 0), font=font)
        canvas[:TITLE_HEIGHT, k * (cols + gap) : k * (cols + gap) + cols] = np.asarray(strip)


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

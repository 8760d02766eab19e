"""GeoTIFF creation options: the one source of Decloud's Python writers, the same as the C++ applications'.

Every GeoTIFF that Decloud writes is tiled (GDAL's 256 x 256 blocks) and compressed with DEFLATE at level 1
after a predictor: horizontal differencing (``PREDICTOR=2``) for integer pixels, the floating-point predictor
(``PREDICTOR=3``) for real ones (measured faster and smaller than level 6 without a predictor). GDAL compresses
with all CPUs and switches to BigTIFF when the file may pass 4 GB.

- :func:`creation_options`: the list for GDAL (``gdal.GetDriverByName("GTiff").Create(..., options=...)``);
- :func:`extended_filename`: the same options as OTB's extended filename (``out.tif?&gdal:co:TILED=YES&...``),
  for pyotb's ``write(..., ext_fname=...)``;
- :data:`COG_OPTIONS`: the options of the conversion to a cloud-optimized GeoTIFF (``gdal.Translate`` to the COG
  driver), with overviews.

The C++ applications use the same options (``UseTiledGeoTIFF`` in ``include/otbWrapperDecloudApplication.h``,
``TranslateToCog`` in ``src/otbDecloudAtomicOutput.cxx``); ``test/python/test_geotiff.py`` writes the same
pixels through an application and through :func:`decloud.raster.write_geotiff` and compares the files.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np

# OTB's output pixel types (otbcli ``-out file.tif <type>``, pyotb ``pixel_type``) that Decloud writes.
OTBPixelType: TypeAlias = Literal["uint8", "int16", "uint16", "int32", "uint32", "float", "double"]
PixelType: TypeAlias = OTBPixelType | np.dtype | type[np.generic]

_OTB_REAL = ("float", "double")
_OTB_INTEGER = ("uint8", "int16", "uint16", "int32", "uint32")

COMMON_OPTIONS = ("TILED=YES", "COMPRESS=DEFLATE", "ZLEVEL=1", "NUM_THREADS=ALL_CPUS", "BIGTIFF=IF_SAFER")
COG_OPTIONS = ("COMPRESS=DEFLATE", "OVERVIEWS=AUTO", "BIGTIFF=IF_SAFER")


def is_real(pixel_type: PixelType) -> bool:
    """True for floating-point pixels: an OTB pixel type name (``"float"``, ``"int16"``...) or a numpy dtype."""
    if isinstance(pixel_type, str) and pixel_type in _OTB_REAL + _OTB_INTEGER:
        return pixel_type in _OTB_REAL
    try:
        kind = np.dtype(pixel_type).kind
    except TypeError as e:
        raise ValueError(f"{pixel_type!r} is not a pixel type; valid names: "
                         f"{', '.join(_OTB_INTEGER + _OTB_REAL)}, or a numpy dtype") from e
    if kind not in "iuf" or np.dtype(pixel_type).itemsize > 8:
        raise ValueError(f"{pixel_type!r}: Decloud writes integer or real pixels only")
    return kind == "f"


def predictor(pixel_type: PixelType) -> int:
    """GDAL's TIFF predictor for ``pixel_type``: 3 (floating point) for real pixels, 2 (horizontal) otherwise."""
    return 3 if is_real(pixel_type) else 2


def creation_options(pixel_type: PixelType) -> list[str]:
    """The GTiff creation options for pixels of ``pixel_type`` (a list for GDAL's ``options=``)."""
    return [*COMMON_OPTIONS, f"PREDICTOR={predictor(pixel_type)}"]


def extended_filename(pixel_type: PixelType) -> str:
    """The creation options as OTB's extended filename options, without the leading ``?&``:
    ``gdal:co:TILED=YES&gdal:co:COMPRESS=DEFLATE&...``."""
    return "&".join(f"gdal:co:{option}" for option in creation_options(pixel_type))

"""One source of GeoTIFF creation options: decloud.geotiff, and the C++ applications write the same files.

The same pixels are written by DecloudGapFilling (one date, asked at that date: its output is the input) and by
decloud.raster.write_geotiff; the two files must have the same structure (GDAL's IMAGE_STRUCTURE metadata:
compression, predictor, interleave; the block size) and the same compressed size of every block (which only
holds with the same predictor and DEFLATE level).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ORIGIN, run_app
from decloud import geotiff
from decloud.raster import read_array, to_cog, write_geotiff
from decloud.synthetic import s2_like

DATE = "2022-06-01"


def test_options_by_pixel_type():
    common = ["TILED=YES", "COMPRESS=DEFLATE", "ZLEVEL=1", "NUM_THREADS=ALL_CPUS", "BIGTIFF=IF_SAFER"]
    for pixel_type in ("int16", "uint8", "uint16", "int32", "uint32", np.int16, np.dtype("uint8")):
        assert geotiff.creation_options(pixel_type) == [*common, "PREDICTOR=2"]
    for pixel_type in ("float", "double", "float32", np.float64, np.dtype("float32")):
        assert geotiff.creation_options(pixel_type) == [*common, "PREDICTOR=3"]
    assert geotiff.extended_filename("float") == "&".join(f"gdal:co:{o}" for o in [*common, "PREDICTOR=3"])
    for bad in ("cfloat", "complex64", np.bool_, "nonsense"):
        with pytest.raises(ValueError, match="pixel"):
            geotiff.creation_options(bad)


def structure(path) -> dict:
    """What the creation options leave in a file: IMAGE_STRUCTURE metadata, block size, overviews, and the
    compressed size of every block of every band."""
    from osgeo import gdal  # noqa: PLC0415

    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    bx, by = band.GetBlockSize()
    sizes = [ds.GetRasterBand(b).GetMetadataItem(f"BLOCK_SIZE_{i}_{j}", "TIFF")
             for b in range(1, ds.RasterCount + 1)
             for j in range((ds.RasterYSize + by - 1) // by) for i in range((ds.RasterXSize + bx - 1) // bx)]
    return {"image_structure": ds.GetMetadata("IMAGE_STRUCTURE"), "block": (bx, by),
            "overviews": band.GetOverviewCount(), "block_bytes": sizes}


# The fast lane runs int16 as a GeoTIFF and float as a COG (each type, each layout once); the full suite all four.
@pytest.mark.parametrize(("otb_type", "dtype", "predictor", "cog"), [
    pytest.param("int16", np.int16, "2", 0, id="0-int16-int16-2"),
    pytest.param("float", np.float32, "3", 0, id="0-float-float32-3", marks=pytest.mark.slow),
    pytest.param("int16", np.int16, "2", 1, id="1-int16-int16-2", marks=pytest.mark.slow),
    pytest.param("float", np.float32, "3", 1, id="1-float-float32-3"),
])
def test_app_and_python_write_the_same_geotiff(tmp_path, otb_type, dtype, predictor, cog):
    # 300 x 280: two blocks of 256 each way, the last ones partial.
    image = np.rint(s2_like(280, 300, seed=4, clouds=False)).astype(np.int16)
    source = write_geotiff(tmp_path / "in.tif", image, origin=ORIGIN, spacing=(10.0, -10.0))
    app = tmp_path / "app.tif"
    run = run_app("DecloudGapFilling", {"il": [source], "dates": [DATE], "date": DATE, "cog": cog,
                                        "out": [app, otb_type]})
    assert run.returncode == 0, run.output
    python = write_geotiff(tmp_path / "python.tif", image.astype(dtype), origin=ORIGIN, spacing=(10.0, -10.0))
    if cog:
        to_cog(python)
    assert np.array_equal(read_array(app), read_array(python))  # the same pixels...
    got, expected = structure(app), structure(python)
    assert got == expected  # ...written the same way
    assert expected["image_structure"]["COMPRESSION"] == "DEFLATE"
    # The COG conversion (COG_OPTIONS, C++ and Python) keeps no predictor.
    assert expected["image_structure"].get("PREDICTOR") == (None if cog else predictor)
    assert (expected["image_structure"].get("LAYOUT") == "COG") == bool(cog)
    assert expected["block"] == ((512, 512) if cog else (256, 256))

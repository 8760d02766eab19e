"""Fixtures for the C++ app tests (ctest): a generated image, a SavedModel and the model's Python output.

``python -m decloud.testing.testdata DIR`` writes into DIR:
  image.tif     100 x 90 pixels, 4 bands, float32, EPSG:32632, 10 m
  conv_model/   fully convolutional SavedModel: 5x5 'valid' convolution, input x, outputs y (2 bands), z (1 band)
  expected_y.tif  the model's output y computed by TensorFlow in Python, on the grid that
                  TensorflowModelServe gives with source1.rfield = 20 and output.efield = 16
  s2_a.tif, s2_b.tif, cloud_a.tif, cloud_b.tif  two dated int16 images (2022-06-10, 2022-06-20) and masks
  expected_gapfilling.tif  the gap-filling at 2022-06-13 computed in numpy (linear in time, half up)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import raster
from . import toymodels

ORIGIN = (674990.0, 5154960.0)


def write_engine_fixtures(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    array = np.random.default_rng(11).uniform(0, 100, (90, 100, 4)).astype("float32")
    raster.write_geotiff(out_dir / "image.tif", array, origin=ORIGIN, spacing=(10.0, -10.0))
    model = out_dir / "conv_model"
    if not (model / "saved_model.pb").exists():
        toymodels.conv_model(model, kernel=5, extra_output=True)
    y = toymodels.run_saved_model(model, x=array[None])["y"][0]
    # Valid 5x5 convolution: the output starts 2 pixels in; OTBTF keeps a multiple of the expression field.
    rows, cols = y.shape[0] // 16 * 16, y.shape[1] // 16 * 16
    raster.write_geotiff(out_dir / "expected_y.tif", y[:rows, :cols], origin=(ORIGIN[0] + 20, ORIGIN[1] - 20),
                         spacing=(10.0, -10.0))
    return out_dir


def write_gapfilling_fixtures(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    rng = np.random.default_rng(12)
    images = [rng.integers(100, 5000, (60, 70, 4)).astype(np.int16) for _ in range(2)]
    clouds = [(rng.random((60, 70)) < 0.3).astype(np.uint8) for _ in range(2)]
    for name, image, cloud in zip("ab", images, clouds):
        raster.write_geotiff(out_dir / f"s2_{name}.tif", image, origin=ORIGIN, spacing=(10.0, -10.0), nodata=-10000)
        raster.write_geotiff(out_dir / f"cloud_{name}.tif", cloud, origin=ORIGIN, spacing=(10.0, -10.0))
    a, b = (im.astype(np.float64) for im in images)
    ok_a, ok_b = (clouds[0] == 0)[:, :, None], (clouds[1] == 0)[:, :, None]
    mixed = np.floor(a + 0.3 * (b - a) + 0.5)  # 2022-06-13 is 3 of the 10 days from a to b
    expected = np.where(ok_a & ok_b, mixed, np.where(ok_a, a, np.where(ok_b, b, -10000))).astype(np.int16)
    raster.write_geotiff(out_dir / "expected_gapfilling.tif", expected, origin=ORIGIN, spacing=(10.0, -10.0),
                         nodata=-10000)
    return out_dir


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m decloud.testing.testdata DIR")
    write_engine_fixtures(sys.argv[1])
    write_gapfilling_fixtures(sys.argv[1])

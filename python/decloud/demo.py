"""The demo: a generated Sentinel-2-like image through TensorflowModelServe with a generated SavedModel.

Chains the app in memory with pyotb, writes a GeoTIFF and a quick-look PNG, and checks the result
against the model's closed-form output (a 5x5 box filter).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import raster, synthetic, toymodels
from .otbenv import pyotb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoResult:
    image: Path
    model: Path
    output: Path
    quicklook: Path
    max_abs_error: float
    seconds: float


def box_filter_valid(image: np.ndarray, kernel: int) -> np.ndarray:
    """Mean over every kernel x kernel window ('valid'), per band, via cumulative sums."""
    c = np.cumsum(np.cumsum(np.pad(image.astype("float64"), ((1, 0), (1, 0), (0, 0))), 0), 1)
    k = kernel
    return ((c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / k**2).astype("float32")


def run_demo(out_dir: str | Path, *, size: int = 512, tile: int = 128) -> DemoResult:
    """Run the demo into ``out_dir`` (created); returns what was written and the measured error."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kernel, efield = 5, 64

    image = synthetic.s2_like(size, size, seed=42)
    image_path = raster.write_geotiff(out_dir / "s2_synthetic.tif", image, origin=(674990.0, 5154960.0),
                                      spacing=(10.0, -10.0))
    model_dir = out_dir / "smoothing_model"
    if not (model_dir / "saved_model.pb").exists():
        toymodels.smoothing_model(model_dir, bands=4, kernel=kernel)

    output = out_dir / "s2_smoothed.tif"
    tmp = out_dir / ".s2_smoothed.part.tif"
    start = time.perf_counter()
    app = pyotb().TensorflowModelServe(
        {
            "source1.il": [str(image_path)],
            "source1.rfieldx": efield + kernel - 1,
            "source1.rfieldy": efield + kernel - 1,
            "source1.placeholder": "x",
            "model.dir": str(model_dir),
            "model.fullyconv": True,
            "output.names": ["smoothed"],
            "output.efieldx": efield,
            "output.efieldy": efield,
            "optim.tilesizex": tile,
            "optim.tilesizey": tile,
        },
        n_sources=1,
    )
    app.write(str(tmp) + "?&gdal:co:COMPRESS=DEFLATE&gdal:co:TILED=YES")
    os.replace(tmp, output)
    seconds = time.perf_counter() - start

    result = raster.read_array(output)
    expected = box_filter_valid(image, kernel)[: result.shape[0], : result.shape[1]]
    max_abs_error = float(np.abs(result - expected).max())

    quicklook = raster.write_quicklook(out_dir / "quicklook.png", [image[:, :, [2, 1, 0]], result[:, :, [2, 1, 0]]])
    return DemoResult(image_path, model_dir, output, quicklook, max_abs_error, seconds)

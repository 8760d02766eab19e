"""Preparation stages: products -> Decloud's stored rasters. Idempotent (a ``done.json`` marker per output
folder), atomic (written under a temporary folder name, then renamed), paths only from arguments.

``prepare_s2(product, out_dir)`` writes ``out_dir/S2_<tile>_<YYYYMMDDTHHMMSS>/``:
  s2_10m.tif   int16 reflectance x 10000, bands B2, B3, B4, B8, nodata -10000
  s2_20m.tif   int16, bands B5, B6, B7, B8A, B11, B12, nodata -10000 (when the product has them)
  cloud.tif    uint8 on the 10 m grid, 1 = cloud (THEIA CLM any bit; SCL 3, 8, 9, 10), 0 elsewhere
  nodata.tif   uint8 on the 10 m grid, 1 = no data (THEIA EDG; DN 0 in any 10 m band otherwise)
  blocks.npz   per 64 x 64 pixel block: ``cloud`` (cloudy valid pixels) and ``nodata`` (nodata pixels,
               counting the part of an edge block outside the image) -- what the patch index reads
  done.json    the completion marker: source, kind, tile, date, offset applied
Pixel work is done by OTB apps chained in memory with pyotb (ConcatenateImages, BandMathX, Superimpose).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DecloudInputError
from ..otbenv import pyotb
from .common import build_folder, grid_of, read_blocks, read_marker, write_image
from ..products import BANDS_10M, BANDS_20M, SCL_CLOUD_CLASSES, BandSource, S2Product, read_s2_product

S2_NODATA = -10000


@dataclass(frozen=True)
class PreparedS2:
    folder: Path
    tile: str | None
    acquired: str  # ISO 8601 UTC

    @property
    def s2_10m(self) -> Path:
        return self.folder / "s2_10m.tif"

    @property
    def s2_20m(self) -> Path | None:
        p = self.folder / "s2_20m.tif"
        return p if p.exists() else None

    @property
    def cloud(self) -> Path:
        return self.folder / "cloud.tif"

    @property
    def nodata(self) -> Path:
        return self.folder / "nodata.tif"

    def blocks(self) -> dict[str, np.ndarray]:
        return read_blocks(self.folder)


def _stack(otb, sources: list[BandSource]):
    """Bands (possibly from several files, possibly one band of a multi-band file) as one image."""
    images = [otb.ExtractROI({"in": s.path, "cl": [f"Channel{s.band}"]}) if s.band != 1 or _band_count(s.path) > 1
              else s.path for s in sources]
    return otb.ConcatenateImages({"il": images})


def _band_count(path: str) -> int:
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    return gdal.Open(path).RasterCount


def _reflectance(otb, product: S2Product, bands: tuple[str, ...], nodata_expr: str | None, extra=()):
    """int16 reflectance x 10000 of ``bands``, S2_NODATA where ``nodata_expr`` holds (im1 = the bands)."""
    stack = _stack(otb, [product.bands[b] for b in bands])
    if nodata_expr is None:  # values already in Decloud's encoding (THEIA FRE)
        return stack
    exprs = [f"({nodata_expr}) ? {S2_NODATA} : im1b{k + 1} + {product.offset}" for k in range(len(bands))]
    return otb.BandMathX({"il": [stack, *extra], "exp": "; ".join(exprs)})


def prepare_s2(product_path: str | Path, out_dir: str | Path, *, block_pixels: int = 64) -> PreparedS2:
    """Prepare one S2 L2A product (THEIA, ESA or GeoTIFF stack) into ``out_dir`` (see the module doc)."""
    product = read_s2_product(product_path)
    folder = Path(out_dir) / product.name
    marker = {"source": str(Path(product_path).resolve()), "kind": product.kind, "tile": product.tile,
              "acquired": product.acquired.isoformat(), "offset": product.offset,
              "bands_10m": list(BANDS_10M), "bands_20m": list(BANDS_20M) if product.has_20m else []}
    build_folder(folder, marker, lambda tmp: _prepare_into(product, tmp, block_pixels))
    return PreparedS2(folder, product.tile, read_marker(folder)["acquired"])


def _check_grids(product: S2Product) -> None:
    """The bands of one resolution must share a grid."""
    for group in (BANDS_10M, BANDS_20M) if product.has_20m else (BANDS_10M,):
        first = product.bands[group[0]]
        reference = grid_of(first.path)
        for band in group[1:]:
            grid = grid_of(product.bands[band].path)
            if grid != reference:
                raise DecloudInputError(f"{product.bands[band].path}: band {band} is on another grid than {group[0]} "
                                        f"({grid[0]}x{grid[1]} pixels, origin {grid[2][0]}, {grid[2][3]}, spacing "
                                        f"{grid[2][1]} vs {reference[0]}x{reference[1]}, {reference[2][0]}, "
                                        f"{reference[2][3]}, {reference[2][1]})")


def _prepare_into(product: S2Product, folder: Path, block_pixels: int) -> None:
    _check_grids(product)
    otb = pyotb()
    ref = product.bands["B2"]
    if product.kind == "theia":
        nodata_mask = otb.BandMathX({"il": [product.edge_mask.path], "exp": "im1b1 != 0 ? 1 : 0"})
        s2_10m = _reflectance(otb, product, BANDS_10M, None)
        s2_10m = otb.BandMathX({"il": [s2_10m, nodata_mask],
                                "exp": "; ".join(f"im2b1 != 0 ? {S2_NODATA} : im1b{k + 1}" for k in range(4))})
        cloud = otb.BandMathX({"il": [product.cloud_mask.path], "exp": "im1b1 != 0 ? 1 : 0"})
    else:
        any_zero = " || ".join(f"im1b{k + 1} == {product.nodata}" for k in range(len(BANDS_10M)))
        s2_10m = _reflectance(otb, product, BANDS_10M, any_zero)
        nodata_mask = otb.BandMathX({"il": [_stack(otb, [product.bands[b] for b in BANDS_10M])], "exp": f"({any_zero}) ? 1 : 0"})
        scl = product.cloud_mask.path
        if grid_of(scl) != grid_of(ref.path):  # ESA: SCL at 20 m onto the 10 m grid
            scl = otb.Superimpose({"inr": ref.path, "inm": scl, "interpolator": "nn"})
        cloud = otb.BandMathX({"il": [scl], "exp": "(" + " || ".join(f"im1b1 == {c}" for c in SCL_CLOUD_CLASSES) + ") ? 1 : 0"})
    write_image(s2_10m, folder / "s2_10m.tif", "int16", S2_NODATA)
    write_image(nodata_mask, folder / "nodata.tif", "uint8")
    write_image(cloud, folder / "cloud.tif", "uint8")
    if product.has_20m:
        if product.kind == "theia":
            s2_20m = _reflectance(otb, product, BANDS_20M, None)
        else:
            zero20 = " || ".join(f"im1b{k + 1} == {product.nodata}" for k in range(len(BANDS_20M)))
            s2_20m = _reflectance(otb, product, BANDS_20M, zero20)
        write_image(s2_20m, folder / "s2_20m.tif", "int16", S2_NODATA)
    np.savez_compressed(folder / "blocks.npz", **block_counts(folder / "cloud.tif", folder / "nodata.tif", block_pixels))


def block_counts(cloud_path: Path, nodata_path: Path, block_pixels: int = 64) -> dict[str, np.ndarray]:
    """Per-block counts of cloudy valid pixels and of nodata pixels (outside the image counts as nodata)."""
    from ..raster import read_array  # noqa: PLC0415

    cloud = read_array(cloud_path)[:, :, 0] != 0
    nodata = read_array(nodata_path)[:, :, 0] != 0
    if cloud.shape != nodata.shape:
        raise DecloudInputError(f"{cloud_path}: {cloud.shape} pixels but {nodata_path} has {nodata.shape}")
    rows, cols = -(-cloud.shape[0] // block_pixels), -(-cloud.shape[1] // block_pixels)
    pad = ((0, rows * block_pixels - cloud.shape[0]), (0, cols * block_pixels - cloud.shape[1]))
    cloud = np.pad(cloud & ~nodata, pad, constant_values=False)
    nodata = np.pad(nodata, pad, constant_values=True)

    def count(mask):
        return mask.reshape(rows, block_pixels, cols, block_pixels).sum(axis=(1, 3), dtype=np.int32)

    return {"cloud": count(cloud), "nodata": count(nodata), "block_pixels": np.array(block_pixels)}

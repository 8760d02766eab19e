"""Preparation stages: products -> Decloud's stored rasters. Idempotent (a ``done.json`` marker per output
folder), atomic (written under a temporary folder name, then renamed), paths only from arguments.

``prepare_s2(product, out_dir, tile=None)`` writes ``out_dir/S2_<tile>_<YYYYMMDDTHHMMSS>/`` (the tile rule of
:mod:`decloud.prepare.common`: ``tile`` if given, else the product's, else NOTILE for a GeoTIFF stack):
  s2_10m.tif   int16 reflectance x 10000, bands B2, B3, B4, B8, nodata -10000
  s2_20m.tif   int16, bands B5, B6, B7, B8A, B11, B12, nodata -10000 (when the product has them)
  cloud.tif    uint8 on the 10 m grid, 1 = cloud (THEIA CLM any bit; SCL 3, 8, 9, 10), 0 elsewhere (no NoData
               value: 0 is clear, not empty)
  nodata.tif   uint8 on the 10 m grid, 1 = no data (no NoData value either)
  blocks.npz   per 64 x 64 pixel block: ``cloud`` (cloudy valid pixels) and ``nodata`` (nodata pixels,
               counting the part of an edge block outside the image) -- what the patch index reads; and B2
               decimated to 512 px a side with its usable pixels (``blue_decimated``, ``usable_decimated``,
               ``decimated_side``) -- what timeseries and synthesis judge clouds the masks missed on
  done.json    the completion marker: source, kind, tile, date, offset applied
A pixel is nodata only where the product says so: ALL its bands hold the product's stored nodata value
(DN 0 for ESA and GeoTIFF stacks, -10000 for THEIA FRE; compared before the offset is added), or the SCL is
class 0 (ESA, stacks; a 20 m SCL is superimposed onto the 10 m grid, nearest neighbour, as for the cloud
mask), or the THEIA edge mask EDG is set. A single band at the nodata value is a dark pixel (e.g. a blue band
clipped at 0 over vegetation) and is kept: its value is that DN + offset (-1000 for an ESA product with offset
-1000). Valid values are clamped to [-9999, 32767], so a valid pixel never reads -10000. The 20 m stack
follows the same rule on its own grid: all 20 m bands at the nodata value, or SCL 0 there (THEIA: its FRE
20 m bands hold -10000 wherever EDG is set, so the all-bands rule finds them; the 10 m EDG is not resampled).
``date_summary(folder)`` (``PreparedS2.summary()``): the date's nodata share and cloud share of its valid pixels,
what ``decloud prepare-s2`` prints and reports for each date.
Pixel work is done by OTB apps chained in memory with pyotb (ConcatenateImages, BandMathX, Superimpose).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DecloudInputError
from ..otbenv import pyotb
from ..products import BANDS_10M, BANDS_20M, SCL_CLOUD_CLASSES, BandSource, S2Product, read_s2_product
from .common import (
    MISSED_CLOUD_SIDE,
    build_folder,
    decimated_blue,
    done_marker,
    grid_of,
    read_blocks,
    resolve_tile,
    write_image,
)

S2_NODATA = -10000


@dataclass(frozen=True)
class PreparedS2:
    folder: Path
    tile: str
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

    def summary(self) -> dict[str, float]:
        return date_summary(self.folder)


def date_summary(folder: Path) -> dict[str, float]:
    """A prepared date's ``nodata_percent`` (of the image's pixels) and ``cloud_percent`` (of its valid pixels),
    from ``blocks.npz`` (its nodata counts include the padding of edge blocks, taken off here)."""
    blocks = read_blocks(folder)
    width, height, _ = grid_of(folder / "nodata.tif")
    pixels = width * height
    nodata = int(blocks["nodata"].sum()) - (blocks["nodata"].size * int(blocks["block_pixels"]) ** 2 - pixels)
    valid = pixels - nodata
    return {"nodata_percent": round(100.0 * nodata / pixels, 2),
            "cloud_percent": round(100.0 * int(blocks["cloud"].sum()) / valid, 2) if valid else 0.0}


def _stack(otb, sources: list[BandSource]):
    """Bands (possibly from several files, possibly one band of a multi-band file) as one image."""
    images = [otb.ExtractROI({"in": s.path, "cl": [f"Channel{s.band}"]}) if s.band != 1 or _band_count(s.path) > 1
              else s.path for s in sources]
    return otb.ConcatenateImages({"il": images})


def _band_count(path: str) -> int:
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    return gdal.Open(path).RasterCount


VALID_MIN, VALID_MAX = S2_NODATA + 1, 32767  # the int16 range a valid reflectance is clamped to


def _nodata_expr(product: S2Product, n_bands: int, mask: str | None) -> str:
    """BandMathX condition of a nodata pixel: all ``n_bands`` bands of im1 at the stored nodata value, or
    ``mask`` (a condition on im2: SCL 0 or THEIA EDG) when given."""
    all_nodata = " && ".join(f"im1b{k + 1} == {product.nodata}" for k in range(n_bands))
    return f"({all_nodata}) || ({mask})" if mask else f"({all_nodata})"


def _prepared_stack(otb, product: S2Product, bands: tuple[str, ...], mask_image=None, mask: str | None = None):
    """(int16 reflectance x 10000 of ``bands``, uint8 nodata mask): S2_NODATA where the pixel is nodata (see the
    module doc), elsewhere the stored value + offset clamped to [VALID_MIN, VALID_MAX]. ``mask_image`` (im2,
    on the grid of the bands) and ``mask`` (a condition on im2) add the product's own nodata mask."""
    stack = _stack(otb, [product.bands[b] for b in bands])
    il = [stack] if mask_image is None else [stack, mask_image]
    nodata = otb.BandMathX({"il": il, "exp": f"({_nodata_expr(product, len(bands), mask)}) ? 1 : 0"})
    value = "im1b{k} + {offset}" if product.offset else "im1b{k}"
    exprs = [f"im2b1 != 0 ? {S2_NODATA} : max(min({value.format(k=k + 1, offset=product.offset)}, {VALID_MAX}), "
             f"{VALID_MIN})" for k in range(len(bands))]
    return otb.BandMathX({"il": [stack, nodata], "exp": "; ".join(exprs)}), nodata


def _on_grid(otb, path: str, reference: str):
    """``path`` on the grid of ``reference`` (nearest neighbour), or ``path`` itself when it is already there."""
    if grid_of(path) == grid_of(reference):
        return path
    return otb.Superimpose({"inr": reference, "inm": path, "interpolator": "nn"})


def prepare_s2(product_path: str | Path, out_dir: str | Path, *, block_pixels: int = 64,
               tile: str | None = None) -> PreparedS2:
    """Prepare one S2 L2A product (THEIA, ESA or GeoTIFF stack) into ``out_dir`` (see the module doc), as tile
    ``tile`` (required to match the product's own tile when it has one; default: that tile, or NOTILE)."""
    product = read_s2_product(product_path)
    tile = resolve_tile(tile, product.tile, product.source)
    folder = Path(out_dir) / product.folder_name(tile)
    marker = {"source": str(Path(product_path).resolve()), "kind": product.kind, "tile": tile,
              "acquired": product.acquired.isoformat(), "offset": product.offset,
              "bands_10m": list(BANDS_10M), "bands_20m": list(BANDS_20M) if product.has_20m else []}
    build_folder(folder, marker, lambda tmp: _prepare_into(product, tmp, block_pixels))
    return PreparedS2(folder, tile, done_marker(folder)["acquired"])


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
    ref = product.bands["B2"].path
    if product.kind == "theia":
        if product.edge_mask is None or product.cloud_mask is None:
            raise DecloudInputError(f"{product.source}: a THEIA product needs its EDG and CLM masks")
        mask10, mask = product.edge_mask.path, "im2b1 != 0"
        cloud = otb.BandMathX({"il": [product.cloud_mask.path], "exp": "im1b1 != 0 ? 1 : 0"})
    elif product.cloud_mask is not None:  # SCL, the 20 m one of ESA onto the 10 m grid: cloud and nodata
        scl10 = _on_grid(otb, product.cloud_mask.path, ref)
        mask10, mask = scl10, "im2b1 == 0"
        cloud = otb.BandMathX({"il": [scl10], "exp": "(" + " || ".join(f"im1b1 == {c}" for c in SCL_CLOUD_CLASSES)
                               + ") ? 1 : 0"})
    else:  # no SCL: nodata from the bands alone, no cloud
        mask10, mask = None, None
        cloud = otb.BandMathX({"il": [ref], "exp": "0"})
    s2_10m, nodata_mask = _prepared_stack(otb, product, BANDS_10M, mask10, mask)
    write_image(s2_10m, folder / "s2_10m.tif", "int16", S2_NODATA, descriptions=BANDS_10M)
    write_image(nodata_mask, folder / "nodata.tif", "uint8")
    write_image(cloud, folder / "cloud.tif", "uint8")
    if product.has_20m:
        if product.kind == "theia" or product.cloud_mask is None:  # THEIA: FRE 20 m is -10000 wherever EDG is
            s2_20m, _ = _prepared_stack(otb, product, BANDS_20M)
        else:
            scl20 = _on_grid(otb, product.cloud_mask.path, product.bands[BANDS_20M[0]].path)
            s2_20m, _ = _prepared_stack(otb, product, BANDS_20M, scl20, "im2b1 == 0")
        write_image(s2_20m, folder / "s2_20m.tif", "int16", S2_NODATA, descriptions=BANDS_20M)
    counts = block_counts(folder / "cloud.tif", folder / "nodata.tif", block_pixels)
    # B2 decimated, for the missed-cloud check of timeseries / synthesis (read here once, not at every planning)
    blue, usable = decimated_blue(folder / "s2_10m.tif", folder / "cloud.tif", folder / "nodata.tif")
    counts.update(blue_decimated=blue, usable_decimated=usable, decimated_side=np.array(MISSED_CLOUD_SIDE))
    np.savez_compressed(folder / "blocks.npz", **counts)


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

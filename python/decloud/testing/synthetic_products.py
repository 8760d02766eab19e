"""Synthetic Sentinel-2 L2A products with real folder hierarchies and names, for tests (deterministic).

Each generator writes a product and returns its ground truth: the reflectance x 10000 of the 10 m and
20 m bands in Decloud's order (int16, -10000 where there is no data), the cloud mask and the nodata mask
on the 10 m grid. Band k of the truth has values around 1000 * (k + 1), so a band-order mistake shows.

The products hold the kinds of pixels that preparation must tell apart (see ``decloud.prepare.s2``), all in
the upper-left corner (the patch cell that the swath edge already makes invalid):
  - the swath edge (``x + y < size / 4``): every band at the stored nodata value, SCL 0 / THEIA EDG set;
  - ``all_nodata_patch``: every band at the stored nodata value, but a valid SCL (vegetation), no EDG: nodata;
  - ``mask_nodata_patch``: valid band values, but SCL 0 (ESA, stacks) or EDG set (THEIA): nodata;
  - dark pixels (``SyntheticS2.dark``): ONE band at the stored value 0 (0 in THEIA FRE), valid: their truth
    is 0 + offset in that band (ESA with offset -1000: -1000; an offset of -10000 is clamped to -9999).
The patches are 2 x 2 aligned blocks of 10 m pixels, i.e. whole 20 m pixels, so both grids agree.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..products import BANDS_10M, BANDS_20M
from ..raster import write_geotiff

EPSG = 32632
ORIGIN = (600000.0, 5100000.0)


@dataclass(frozen=True)
class SyntheticS2:
    path: Path
    truth_10m: np.ndarray  # [rows, cols, 4] int16
    truth_20m: np.ndarray  # [rows/2, cols/2, 6] int16
    cloud: np.ndarray  # [rows, cols] bool
    nodata: np.ndarray  # [rows, cols] bool
    dark: np.ndarray  # [rows, cols] bool: one 10 m band at 0 (the stored value), a valid pixel
    nodata_20m: np.ndarray  # [rows/2, cols/2] bool


def _patch(size: int, row20: int) -> np.ndarray:
    """A 2 x 3 block of 20 m pixels (4 x 6 at 10 m) at 20 m row ``row20``, right of the swath edge, on the 10 m
    grid."""
    mask = np.zeros((size, size), dtype=bool)
    c20 = size // 8 + 2
    mask[2 * row20:2 * row20 + 4, 2 * c20:2 * c20 + 6] = True
    return mask


def all_nodata_patch(size: int) -> np.ndarray:
    """Where every band holds the stored nodata value under a valid SCL / no EDG (10 m grid)."""
    return _patch(size, 1)


def mask_nodata_patch(size: int) -> np.ndarray:
    """Where the bands are valid but SCL is 0 (or THEIA EDG is set) (10 m grid)."""
    return _patch(size, 4)


def _dark(size: int, nodata: np.ndarray) -> np.ndarray:
    """Dark pixels (one band at 0, see ``_darken``): a sparse diagonal pattern left of the clouds, outside nodata."""
    y, x = np.mgrid[0:size, 0:size]
    return ((x * 3 + y * 5) % 11 == 0) & (x < size // 3) & (y < size // 2) & ~nodata


def _darken(array: np.ndarray, dark: np.ndarray, value) -> None:
    """Set band (x + y) % bands of the dark pixels of ``array`` [rows, cols, bands] to ``value``."""
    y, x = np.nonzero(dark)
    array[y, x, (x + y) % array.shape[-1]] = value


@dataclass(frozen=True)
class _Scene:
    r10: np.ndarray  # [size, size, 4] int16 reflectance x 10000, Decloud's band order
    r20: np.ndarray  # [size/2, size/2, 6]
    cloud: np.ndarray  # [size, size] bool
    shadow: np.ndarray  # [size, size] bool, outside the cloud
    edge: np.ndarray  # the swath edge (10 m): every band at nodata and SCL 0 / EDG
    edge20: np.ndarray  # 20 m pixels whose four 10 m pixels are edge
    all_nodata: np.ndarray  # every band at nodata, SCL / EDG valid (10 m; whole 20 m pixels)
    mask_nodata: np.ndarray  # valid bands, SCL 0 / EDG set (10 m; whole 20 m pixels)
    dark: np.ndarray  # one 10 m band at 0
    dark20: np.ndarray  # one 20 m band at 0

    @property
    def nodata(self) -> np.ndarray:
        return self.edge | self.all_nodata | self.mask_nodata

    @property
    def nodata20(self) -> np.ndarray:
        return self.edge20 | self.all_nodata[::2, ::2] | self.mask_nodata[::2, ::2]

    def truth(self, dark_value: int) -> tuple[np.ndarray, np.ndarray]:
        """The prepared 10 m and 20 m reflectance: a dark pixel's band reads ``dark_value``, nodata -10000."""
        t10, t20 = self.r10.copy(), self.r20.copy()
        _darken(t10, self.dark, max(dark_value, -9999))
        _darken(t20, self.dark20, max(dark_value, -9999))
        t10[self.nodata] = -10000
        t20[self.nodata20] = -10000
        return t10, t20

    def synthetic(self, path: Path, t10, t20, cloud: np.ndarray) -> SyntheticS2:
        return SyntheticS2(path, t10, t20, cloud & ~self.nodata, self.nodata, self.dark, self.nodata20)


def _scene(size: int, seed: int) -> _Scene:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    texture = (np.sin(x / 7.0) + np.cos(y / 11.0)) * 150
    r10 = np.stack([1000 * (k + 1) + texture + rng.integers(0, 50, (size, size)) for k in range(4)], -1)
    half = size // 2
    r20 = np.stack([1000 * (k + 5) + texture[::2, ::2] + rng.integers(0, 50, (half, half)) for k in range(6)], -1)
    cloud = np.hypot(x - size * 0.6, y - size * 0.4) < size * 0.15
    shadow = np.hypot(x - size * 0.5, y - size * 0.55) < size * 0.08
    edge = x + y < size // 4  # a swath edge in the upper-left corner
    edge20 = edge[::2, ::2] & edge[1::2, 1::2] & edge[::2, 1::2] & edge[1::2, ::2]
    all_nodata, mask_nodata = all_nodata_patch(size), mask_nodata_patch(size)
    nodata20 = edge20 | all_nodata[::2, ::2] | mask_nodata[::2, ::2]
    return _Scene(r10.astype(np.int16), r20.astype(np.int16), cloud, shadow & ~cloud, edge, edge20, all_nodata,
                  mask_nodata, _dark(size, edge | all_nodata | mask_nodata), _dark(half, nodata20))


def make_theia(out_dir: str | Path, *, tile: str = "32TPS", when: datetime = datetime(2022, 6, 2, 10, 30, 41),
               size: int = 128, seed: int = 0, as_zip: bool = False) -> SyntheticS2:
    """A THEIA L2A product: FRE bands (int16, -10000 nodata), MASKS/CLM_R1 (bits: 1 cloud, 4 shadow), EDG_R1.
    FRE is -10000 on the swath edge and the all-nodata patch (EDG 0 there) in every band; EDG is set on the edge
    and on the mask-nodata patch, where the 10 m FRE values are valid (the 20 m ones -10000, as THEIA writes them)."""
    scene = _scene(size, seed)
    t10, t20 = scene.truth(0)
    fre10 = t10.copy()
    fre10[scene.mask_nodata] = scene.r10[scene.mask_nodata]
    name = f"SENTINEL2A_{when:%Y%m%d-%H%M%S}-123_L2A_T{tile}_C_V3-0"
    folder = Path(out_dir) / name
    (folder / "MASKS").mkdir(parents=True, exist_ok=True)
    kw: dict[str, Any] = {"origin": ORIGIN, "epsg": EPSG}
    for k, band in enumerate(BANDS_10M):
        write_geotiff(folder / f"{name}_FRE_{band}.tif", fre10[:, :, k], spacing=(10, -10), nodata=-10000, **kw)
    for k, band in enumerate(BANDS_20M):
        write_geotiff(folder / f"{name}_FRE_{band}.tif", t20[:, :, k], spacing=(20, -20), nodata=-10000, **kw)
    clm = (scene.cloud * 1 + scene.shadow * 4).astype(np.uint8)
    write_geotiff(folder / "MASKS" / f"{name}_CLM_R1.tif", clm, spacing=(10, -10), **kw)
    edg = (scene.edge | scene.mask_nodata).astype(np.uint8)
    write_geotiff(folder / "MASKS" / f"{name}_EDG_R1.tif", edg, spacing=(10, -10), **kw)
    path = folder
    if as_zip:
        path = folder.with_suffix(".zip")
        with zipfile.ZipFile(path, "w") as z:
            for f in sorted(folder.rglob("*")):
                z.write(f, f.relative_to(folder.parent))
        import shutil  # noqa: PLC0415

        shutil.rmtree(folder)
    return scene.synthetic(path, t10, t20, scene.cloud | scene.shadow)


def _write_jp2(path: Path, array: np.ndarray, spacing: float) -> None:
    from osgeo import gdal  # noqa: PLC0415

    tmp = path.with_suffix(".tif")
    write_geotiff(tmp, array, origin=ORIGIN, spacing=(spacing, -spacing), epsg=EPSG)
    gdal.GetDriverByName("JP2OpenJPEG").CreateCopy(str(path), gdal.Open(str(tmp)),
                                                   options=["REVERSIBLE=YES", "QUALITY=100"])
    tmp.unlink()
    Path(str(path) + ".aux.xml").unlink(missing_ok=True)


def _stored(scene: _Scene, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """uint16 DN of the 10 m and 20 m bands (reflectance x 10000 - offset): 0 on the edge and the all-nodata patch in
    every band, 0 in one band of the dark pixels."""
    dn10 = (scene.r10.astype(np.int32) - offset).astype(np.uint16)
    dn20 = (scene.r20.astype(np.int32) - offset).astype(np.uint16)
    _darken(dn10, scene.dark, 0)
    _darken(dn20, scene.dark20, 0)
    dn10[scene.edge | scene.all_nodata] = 0
    dn20[scene.edge20 | scene.all_nodata[::2, ::2]] = 0
    return dn10, dn20


def make_esa(out_dir: str | Path, *, tile: str = "32TPS", when: datetime = datetime(2022, 6, 2, 10, 16, 11),
             size: int = 128, seed: int = 0, baseline: str = "0400", offset: int | None = None) -> SyntheticS2:
    """An ESA L2A SAFE: R10m / R20m jp2 (uint16 DN = reflectance x 10000 - BOA_ADD_OFFSET, 0 nodata), SCL 20 m,
    MTD_MSIL2A.xml with BOA_ADD_OFFSET (``offset``, by default -1000 from baseline 04.00, else 0). SCL is 0 on
    the edge's whole 20 m pixels and on the mask-nodata patch, vegetation on the all-nodata patch."""
    scene = _scene(size, seed)
    if offset is None:
        offset = -1000 if int(baseline) >= 400 else 0
    stamp = f"{when:%Y%m%dT%H%M%S}"
    safe = Path(out_dir) / f"S2A_MSIL2A_{stamp}_N{baseline}_R065_T{tile}_{when:%Y%m%d}T163502.SAFE"
    img = safe / "GRANULE" / f"L2A_T{tile}_A036226_{stamp}" / "IMG_DATA"
    (img / "R10m").mkdir(parents=True, exist_ok=True)
    (img / "R20m").mkdir(parents=True, exist_ok=True)
    dn10, dn20 = _stored(scene, offset)
    for k, band in enumerate(BANDS_10M):
        esa = f"B{band[1:].zfill(2)}" if band[1:].isdigit() else band
        _write_jp2(img / "R10m" / f"T{tile}_{stamp}_{esa}_10m.jp2", dn10[:, :, k], 10)
    for k, band in enumerate(BANDS_20M):
        esa = f"B{band[1:].zfill(2)}" if band[1:].isdigit() else band
        _write_jp2(img / "R20m" / f"T{tile}_{stamp}_{esa}_20m.jp2", dn20[:, :, k], 20)
    # SCL on the 20 m grid: 4 vegetation, 9 cloud high probability, 3 shadow, 0 nodata
    scl = np.full((size // 2, size // 2), 4, dtype=np.uint8)
    scl[scene.cloud[::2, ::2]] = 9
    scl[scene.shadow[::2, ::2]] = 3
    scl[scene.edge20 | scene.mask_nodata[::2, ::2]] = 0
    _write_jp2(img / "R20m" / f"T{tile}_{stamp}_SCL_20m.jp2", scl, 20)
    (safe / "MTD_MSIL2A.xml").write_text(
        "<?xml version='1.0'?><Level-2A_User_Product><BOA_ADD_OFFSET_VALUES_LIST>"
        + "".join(f'<BOA_ADD_OFFSET band_id="{i}">{offset}</BOA_ADD_OFFSET>' for i in range(13))
        + "</BOA_ADD_OFFSET_VALUES_LIST></Level-2A_User_Product>")
    scl10 = np.kron(scl, np.ones((2, 2), dtype=np.uint8))
    t10, t20 = scene.truth(offset)
    return scene.synthetic(safe, t10, t20, np.isin(scl10, (3, 8, 9, 10)))


def make_stack(out_dir: str | Path, *, when: datetime = datetime(2022, 6, 2), size: int = 128, seed: int = 0,
               band_order: tuple[str, ...] = ("B02", "B03", "B04", "B08")) -> SyntheticS2:
    """A GeoTIFF stack as in ../shared/data (uint16, nodata 0, described bands) and its SCL (10 m, 0 on the edge
    and the mask-nodata patch)."""
    from osgeo import gdal  # noqa: PLC0415

    scene = _scene(size, seed)
    t10, t20 = scene.truth(0)
    dn10, _ = _stored(scene, 0)
    order = [int(b[1:]) for b in band_order]
    index = {2: 0, 3: 1, 4: 2, 8: 3}
    data = np.stack([dn10[:, :, index[n]] for n in order], -1)
    name = "".join(f"B{n}" for n in order)
    path = Path(out_dir) / f"S2_L2A_{when:%Y%m%d}_{name}.tif"
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_geotiff(path, data, origin=ORIGIN, spacing=(10, -10), epsg=EPSG, nodata=0)
    ds = gdal.Open(str(path), gdal.GA_Update)
    for k, b in enumerate(band_order):
        ds.GetRasterBand(k + 1).SetDescription(b)
    ds = None
    scl = np.full(scene.cloud.shape, 4, dtype=np.uint8)
    scl[scene.cloud] = 8
    scl[scene.shadow] = 3
    scl[scene.edge | scene.mask_nodata] = 0
    write_geotiff(path.with_name(f"S2_L2A_{when:%Y%m%d}_SCL.tif"), scl, origin=ORIGIN, spacing=(10, -10), epsg=EPSG,
                  nodata=0)
    return scene.synthetic(path, t10, t20, scene.cloud | scene.shadow)


def make_s1tiling(out_dir: str | Path, *, tile: str = "32TPS", when: datetime = datetime(2022, 6, 3, 17, 5, 12),
                  direction: Literal["ASC", "DES"] = "ASC", orbit: int = 117, size: int = 128, seed: int = 0,
                  nodata_cols: int = 0) -> tuple[Path, np.ndarray]:
    """An S1Tiling acquisition: ``s1a_<tile>_vv|vh_<ASC|DES>_<orbit>_<stamp>.tif`` (float32 linear sigma0, 0 =
    nodata in the first ``nodata_cols`` columns). Returns the VV path and the [size, size, 2] sigma0 truth."""
    rng = np.random.default_rng(seed)
    sigma0 = np.stack([rng.lognormal(-2.5, 1.0, (size, size)), rng.lognormal(-4.0, 1.0, (size, size))], -1)
    sigma0 = sigma0.astype("float32")
    sigma0[:, :nodata_cols] = 0
    paths = []
    for k, pol in enumerate(("vv", "vh")):
        path = Path(out_dir) / f"s1a_{tile}_{pol}_{direction}_{orbit:03d}_{when:%Y%m%dt%H%M%S}.tif"
        write_geotiff(path, sigma0[:, :, k], origin=ORIGIN, spacing=(10, -10), epsg=EPSG, nodata=0)
        paths.append(path)
    return paths[0], sigma0

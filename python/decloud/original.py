"""The original Decloud's prepared tree, read as it is: each of its products is presented as one of our prepared
folders (a *view*: small VRT files that point at the original's rasters, the per-block counts and ``done.json``),
so ``decloud index``, ``dataset`` and ``timeseries`` run on it without preparing anything again.

What the original's ``sentinel2_prepare.py`` / ``sentinel1_prepare.py`` / ``dem_prepare.py`` write (facts read from
its sources, github.com/CNES/decloud):

- ``S2_PREPARE/<T-tile>/<THEIA product name>/``: ``<product>_FRE_10m.tif`` and ``_FRE_20m.tif`` (int16 THEIA FRE
  reflectance x 10000 as it is, -10000 outside the swath), each the concatenation of the product's
  ``FRE_B*.tif`` files in the order of their sorted file names (10 m: B2 B3 B4 B8; 20 m: B11 B12 B5 B6 B7 B8A),
  ``<product>_CLM_R1.tif`` and ``_EDG_R1.tif`` (uint8 copies of THEIA's masks), and ``_CLM_R1_stats.tif`` /
  ``_EDG_R1_stats.tif`` (per 64-pixel block counts, not needed here: counted again from the masks);
- ``S1_PREPARE/<tile>/s1x_<tile>_vvvh_<ASC|DES>_<orbit>_<YYYYMMDD>t<HHMMSS|xxxxxx>_from-10to3dB.tif``: uint16, VV
  then VH, ``1 + (ln(sigma0) + 10) * 65534 / 13`` clipped to 1..65535 and truncated, 0 = nodata (a pixel is
  nodata when both bands are 0), with ``_edge.tif`` (block counts, not needed);
- ``DEM_PREPARE/<T-tile>.tif``: int16 metres on the 20 m grid of the tile (``decloud dataset --dem
  TILE=DEM_PREPARE/T31TEJ.tif`` reads it as it is).

Band order: a stack's band descriptions are used when they name bands (B2, B02, ...; VV, VH); the original's
writer sets none, so otherwise the order is the one its writer produced (sorted ``_FRE_<band>.tif`` names; VV
then VH), and the band count must match. Values need no conversion: the S2 encoding is ours; the S1 stretch is
ours to within one unit (the original truncates where we round: 2e-4 in ln sigma0). The CLM mask counts as
cloud where any bit is set (as both Decloud's do), EDG as nodata where set. An S1 time ``xxxxxx`` is taken as
00:00:00 UTC, as ``decloud prepare-s1`` does (the original took 05:45:00).

Views are written (atomically, once per source) under ``$DECLOUD_ORIGINAL_VIEWS`` or
``~/.cache/decloud/original-views``, as ``S2_<tile>_<date>`` / ``S1_<tile>_<dir>_<orbit>_<date>`` folders; the
original's files are never written to.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from .errors import DecloudInputError
from .products import BAND_NAME, BANDS_10M, BANDS_20M, THEIA_PRODUCT, canonical_band

S1_FILE = re.compile(r"^(?P<platform>s1[a-d])_(?P<tile>[A-Za-z0-9]+)_vvvh_(?P<dir>ASC|DES)_(?P<orbit>\d{3})_"
                     r"(?P<date>\d{8})t(?P<time>\d{6}|xxxxxx)_from-10to3dB\.tif$", re.IGNORECASE)
S1_BANDS = ("VV", "VH")
BLOCK = 64
_LUT_01 = "0:0,1:1,255:1"  # uint8 mask -> 0 / 1 (any bit set is 1)


def views_root() -> Path:
    return Path(os.environ.get("DECLOUD_ORIGINAL_VIEWS") or Path.home() / ".cache" / "decloud" / "original-views")


def is_s2_product(folder: Path) -> bool:
    return folder.is_dir() and THEIA_PRODUCT.match(folder.name) is not None and any(folder.glob("*_FRE_10m.tif"))


def is_s1_file(path: Path) -> bool:
    return path.is_file() and S1_FILE.match(path.name) is not None


def find_original(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """(original S2 product folders, original S1 files) at or under ``paths`` (a tree root with S2_PREPARE /
    S1_PREPARE, a tile folder, a product folder or an S1 file), up to three levels down."""
    s2: list[Path] = []
    s1: list[Path] = []
    for p in map(Path, paths):
        candidates = [p]
        for depth in range(3):
            if not p.is_dir():
                break
            candidates += [c for c in p.glob("/".join(["*"] * (depth + 1)))]
        for c in candidates:
            if is_s2_product(c):
                s2.append(c)
            elif is_s1_file(c):
                s1.append(c)
    return sorted(set(s2)), sorted(set(s1))


def _one(folder: Path, suffix: str) -> Path:
    found = sorted(folder.glob(f"*{suffix}"))
    if len(found) != 1:
        raise DecloudInputError(f"{folder}: {len(found)} files *{suffix} (an original Decloud S2 product has one)")
    return found[0]


def _band_order(path: Path, names: Sequence[str], writer_order: Sequence[str]) -> tuple[list[str], str]:
    """The band names of a stack: its descriptions when they all name bands, else the original writer's order."""
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    ds = gdal.Open(str(path))
    if ds.RasterCount != len(names):
        raise DecloudInputError(f"{path}: {ds.RasterCount} bands, expected {len(names)} ({', '.join(names)})")
    found = [ds.GetRasterBand(b + 1).GetDescription().strip() for b in range(ds.RasterCount)]
    polar = set(names) == set(S1_BANDS)
    if all((d.upper() in S1_BANDS) if polar else BAND_NAME.match(d) for d in found):
        order = [d.upper() if polar else canonical_band(d) for d in found]
        if sorted(order) != sorted(names):
            raise DecloudInputError(f"{path}: its bands say {', '.join(found)}, expected {', '.join(names)}")
        return order, "band descriptions"
    return list(writer_order), "the original's writer (no band descriptions)"


def s2_writer_order(bands: Sequence[str]) -> list[str]:
    """The order the original's sentinel2_prepare.py stacked bands in: its band files' sorted names."""
    return sorted(bands, key=lambda b: f"_FRE_{b}.tif")


def _vrt(path: Path, like: Path, bands: list[dict]) -> None:
    """A VRT (XML, under ``path``'s name) on ``like``'s grid; each band: source, band, dtype, nodata, lut, name."""
    from osgeo import gdal  # noqa: PLC0415

    ds = gdal.Open(str(like))
    w, h = ds.RasterXSize, ds.RasterYSize
    lines = [f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">',
             f"  <SRS>{escape(ds.GetProjection())}</SRS>",
             f"  <GeoTransform>{', '.join(repr(float(v)) for v in ds.GetGeoTransform())}</GeoTransform>"]
    for i, b in enumerate(bands, 1):
        lines += [f'  <VRTRasterBand dataType="{b["dtype"]}" band="{i}">',
                  f"    <Description>{escape(b['name'])}</Description>"]
        if b.get("nodata") is not None:
            lines.append(f"    <NoDataValue>{b['nodata']}</NoDataValue>")
        source = escape(str(Path(b["source"]).resolve()))
        lines += ["    <ComplexSource>", f'      <SourceFilename relativeToVRT="0">{source}</SourceFilename>',
                  f"      <SourceBand>{b['band']}</SourceBand>",
                  f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>',
                  f'      <DstRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>']
        if b.get("lut"):
            lines.append(f"      <LUT>{b['lut']}</LUT>")
        lines += ["    </ComplexSource>", "  </VRTRasterBand>"]
    lines.append("</VRTDataset>")
    path.write_text("\n".join(lines) + "\n")


def _counts(mask: np.ndarray, pad_value: bool) -> np.ndarray:
    rows, cols = -(-mask.shape[0] // BLOCK), -(-mask.shape[1] // BLOCK)
    m = np.pad(mask, ((0, rows * BLOCK - mask.shape[0]), (0, cols * BLOCK - mask.shape[1])),
               constant_values=pad_value)
    return m.reshape(rows, BLOCK, cols, BLOCK).sum(axis=(1, 3), dtype=np.int32)


def s2_view(product: Path, root: Path | None = None) -> Path:
    """Our prepared folder for one original S2 product folder (built once; rebuilt when its source changes)."""
    from .prepare.common import build_folder, check_tile_name, prepared_folder_name  # noqa: PLC0415
    from .raster import read_array  # noqa: PLC0415

    m = THEIA_PRODUCT.match(product.name)
    if m is None:
        raise DecloudInputError(f"{product}: not an original Decloud S2 product folder (a THEIA product name)")
    tile = check_tile_name(m["tile"])
    when = datetime.strptime(m["date"] + m["time"], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    f10, f20 = _one(product, "_FRE_10m.tif"), _one(product, "_FRE_20m.tif")
    clm, edg = _one(product, "_CLM_R1.tif"), _one(product, "_EDG_R1.tif")
    order10, how10 = _band_order(f10, BANDS_10M, s2_writer_order(BANDS_10M))
    order20, how20 = _band_order(f20, BANDS_20M, s2_writer_order(BANDS_20M))
    folder = (root or views_root()) / prepared_folder_name("S2", tile, f"{when:%Y%m%dT%H%M%S}")
    marker = {"source": str(product.resolve()), "kind": "original-decloud", "tile": tile,
              "acquired": when.isoformat(), "offset": 0, "bands_10m": order10, "bands_20m": order20,
              "band_order_from": how10 if how10 == how20 else f"10 m: {how10}; 20 m: {how20}"}

    def fill(tmp: Path) -> None:
        for name, src, order, wanted in (("s2_10m.tif", f10, order10, BANDS_10M),
                                         ("s2_20m.tif", f20, order20, BANDS_20M)):
            _vrt(tmp / name, src, [{"source": src, "band": order.index(b) + 1, "dtype": "Int16", "nodata": -10000,
                                    "name": b} for b in wanted])
        _vrt(tmp / "cloud.tif", clm, [{"source": clm, "band": 1, "dtype": "Byte", "lut": _LUT_01, "name": "cloud"}])
        _vrt(tmp / "nodata.tif", edg, [{"source": edg, "band": 1, "dtype": "Byte", "lut": _LUT_01, "name": "nodata"}])
        cloud, nodata = read_array(clm)[:, :, 0] != 0, read_array(edg)[:, :, 0] != 0
        np.savez_compressed(tmp / "blocks.npz", cloud=_counts(cloud & ~nodata, False), nodata=_counts(nodata, True),
                            block_pixels=np.array(BLOCK))

    build_folder(folder, marker, fill)
    return folder


def s1_view(path: Path, root: Path | None = None) -> Path:
    """Our prepared folder for one original S1 file (``*_vvvh_*_from-10to3dB.tif``)."""
    from osgeo import gdal  # noqa: PLC0415

    from .prepare.common import build_folder, check_tile_name, prepared_folder_name  # noqa: PLC0415
    from .raster import read_array  # noqa: PLC0415

    m = S1_FILE.match(path.name)
    if m is None:
        raise DecloudInputError(f"{path}: not an original Decloud S1 file (*_vvvh_*_from-10to3dB.tif)")
    tile = check_tile_name(m["tile"].upper())
    known_time = m["time"].lower() != "xxxxxx"
    when = datetime.strptime(m["date"] + (m["time"] if known_time else "000000"), "%Y%m%d%H%M%S").replace(
        tzinfo=timezone.utc)
    direction = m["dir"].upper()
    order, how = _band_order(path, S1_BANDS, S1_BANDS)
    if gdal.GetDataTypeName(gdal.Open(str(path)).GetRasterBand(1).DataType) != "UInt16":
        raise DecloudInputError(f"{path}: not uint16 (the original's S1 stretch is stored as uint16)")
    folder = (root or views_root()) / prepared_folder_name("S1", tile, direction, m["orbit"], f"{when:%Y%m%dT%H%M%S}")
    marker = {"source": str(path.resolve()), "kind": "original-decloud", "tile": tile, "acquired": when.isoformat(),
              "date_from": "the name" if known_time else "the name (date only: time xxxxxx taken as 00:00:00 UTC)",
              "orbit_direction": "ascending" if direction == "ASC" else "descending", "relative_orbit": m["orbit"],
              "bands": order, "band_order_from": how}

    def fill(tmp: Path) -> None:
        _vrt(tmp / "s1.tif", path, [{"source": path, "band": order.index(b) + 1, "dtype": "UInt16", "nodata": 0,
                                     "name": b} for b in S1_BANDS])
        stored = read_array(path)
        nodata = np.all(stored == 0, axis=-1)
        driver = gdal.GetDriverByName("GTiff")
        src = gdal.Open(str(path))
        out = driver.Create(str(tmp / "nodata.tif"), src.RasterXSize, src.RasterYSize, 1, gdal.GDT_Byte,
                            ["COMPRESS=DEFLATE", "TILED=YES"])
        out.SetGeoTransform(src.GetGeoTransform())
        out.SetProjection(src.GetProjection())
        out.GetRasterBand(1).WriteArray(nodata.astype(np.uint8))
        out = None
        np.savez_compressed(tmp / "blocks.npz", nodata=_counts(nodata, True), block_pixels=np.array(BLOCK))

    build_folder(folder, marker, fill)
    return folder


def expand(paths: Iterable[str | Path], root: Path | None = None) -> list[Path]:
    """``paths`` with the original Decloud's products (or folders holding them) replaced by their views; our own
    prepared folders (and anything else) are passed on unchanged."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "done.json").is_file():
            out.append(p)
            continue
        s2, s1 = find_original([p])
        if not s2 and not s1:
            out.append(p)
            continue
        out += [s2_view(f, root) for f in s2] + [s1_view(f, root) for f in s1]
    return out


def holds_original(path: str | Path) -> bool:
    s2, s1 = find_original([path])
    return bool(s2 or s1)


def tree_views(tree: str | Path, tile: str | None = None, root: Path | None = None) -> Path:
    """The folder of the views of an original tree's products (of ``tile`` only when given)."""
    from .prepare.common import check_tile_name  # noqa: PLC0415

    s2, s1 = find_original([tree])
    for f in s2:
        m = THEIA_PRODUCT.match(f.name)
        if tile is None or (m is not None and check_tile_name(m["tile"]) == tile):
            s2_view(f, root)
    for f in s1:
        m = S1_FILE.match(f.name)
        if tile is None or (m is not None and check_tile_name(m["tile"].upper()) == tile):
            s1_view(f, root)
    return root or views_root()


# ---------------------------------------------------------------------------------------------------- TFRecords
# The original's create_tfrecords.py writes ``<N>.records`` shards whose features are tf.io.serialize_tensor bytes,
# one per key, with ``output_types.json`` (key -> dtype name) and ``output_shape.json`` (key -> [null, *shape]):
#   s2_<acq> int16 [P, P, 4], s2_20m_<acq> int16 [P/2, P/2, 6] (its 20 m stack order), s2_cld10m_<acq> uint8
#   [P, P, 1], s2_timestamp_<acq> / s1_timestamp_<acq> float64 [] (seconds), s1_<acq> uint16 [P, P, 2] (VV VH),
#   s1_ascending_<acq> bool [], dem int16 [P/2, P/2, 1]; ``geoinfo`` is in the records but not in the json files.


def _mapped(key: str, value: np.ndarray, order_10m: Sequence[str], order_20m: Sequence[str]
            ) -> tuple[str, np.ndarray | int] | None:
    """One original feature as (our key, our value), or None when ours has no such key."""
    if key.startswith(("s2_timestamp_", "s1_timestamp_")):
        return key, int(np.rint(float(value)))
    if key.startswith("s1_ascending_"):
        return None
    if key.startswith("s2_cld10m_"):
        return ("cloud_t", (value > 0).astype(np.uint8)) if key == "s2_cld10m_t" else None
    if key.startswith("s2_20m_"):
        return key, value[..., [list(order_20m).index(b) for b in BANDS_20M]].astype(np.int16)
    if key.startswith("s2_"):
        return key, value[..., [list(order_10m).index(b) for b in BANDS_10M]].astype(np.int16)
    if key == "dem":
        return key, value.astype(np.float32)
    return key, value


def read_original_records(src: str | Path):
    """(output_types, shapes, iterator of {key: numpy value}) of a folder of the original's records."""
    import json  # noqa: PLC0415

    import tensorflow as tf  # noqa: PLC0415

    src = Path(src)
    try:
        types = json.loads((src / "output_types.json").read_text())
        shapes = json.loads((src / "output_shape.json").read_text())
    except (OSError, ValueError) as e:
        raise DecloudInputError(f"{src}: not the original Decloud's records (output_types.json / output_shape.json: "
                                f"{e})") from e
    files = sorted(src.glob("*.records"), key=lambda p: (int(p.stem) if p.stem.isdigit() else -1, p.name))
    if not files:
        raise DecloudInputError(f"{src}: no *.records file")
    description = {k: tf.io.FixedLenFeature([], tf.string) for k in types}

    def examples():
        for raw in tf.data.TFRecordDataset([str(f) for f in files]):
            parsed = tf.io.parse_single_example(raw, description)
            sample = {}
            for k, dtype in types.items():
                value = tf.io.parse_tensor(parsed[k], out_type=tf.as_dtype(dtype)).numpy()
                want = [d for d in shapes.get(k, [None])[1:]]
                if list(value.shape) != want:
                    raise DecloudInputError(f"{src}: {k} of shape {list(value.shape)}, output_shape.json says {want}")
                sample[k] = value
            yield sample

    return types, shapes, examples()


def convert_records(src: str | Path, out_dir: str | Path, *, split: str = "train", shard_size: int = 256,
                    bands_20m: Sequence[str] | None = None, bands_10m: Sequence[str] | None = None,
                    quiet: bool = True) -> tuple[list[Path], dict]:
    """Rewrite the original's records in ``src`` as ours (:func:`decloud.dataset.write_examples`) in ``out_dir``.
    Keys: timestamps to int64 seconds, ``s2_cld10m_t`` to ``cloud_t`` (1 = cloud), the 20 m (and 10 m) bands put in
    our order from theirs (``bands_20m`` / ``bands_10m``; default the original writer's, see
    :func:`s2_writer_order`), ``dem`` to float32; ``s1_ascending_*`` and the other cloud masks dropped. Returns the
    shards and a summary (count, keys kept, dropped)."""
    from .dataset import write_examples  # noqa: PLC0415

    order_10m = [canonical_band(b) for b in bands_10m] if bands_10m else s2_writer_order(BANDS_10M)
    order_20m = [canonical_band(b) for b in bands_20m] if bands_20m else s2_writer_order(BANDS_20M)
    for order, wanted, what in ((order_10m, BANDS_10M, "10 m"), (order_20m, BANDS_20M, "20 m")):
        if sorted(order) != sorted(wanted):
            raise DecloudInputError(f"the {what} band order must list {', '.join(wanted)} once each, got "
                                    f"{', '.join(order)}")
    types, _, examples = read_original_records(src)
    dropped = sorted(k for k in types if k.startswith(("s1_ascending_", "s2_cld10m_")) and k != "s2_cld10m_t")
    count = 0

    def converted():
        nonlocal count
        for sample in examples:
            count += 1
            yield dict(kv for k, v in sample.items() if (kv := _mapped(k, v, order_10m, order_20m)) is not None)

    shards = write_examples(out_dir, converted(), split=split, shard_size=shard_size, quiet=quiet)
    return shards, {"examples": count, "dropped": dropped, "bands_10m": order_10m, "bands_20m": order_20m}

"""Dataset generation: samples (from the search) -> patches (DecloudPatchesExtraction, C++) -> TFRecord shards.

Each sample becomes one ``tf.train.Example`` with Decloud's keys, for each acquisition ``<acq>`` of the layout:
  s2_<acq>            int16   [P, P, 4]        B2 B3 B4 B8, reflectance x 10000, -10000 nodata
  s2_20m_<acq>        int16   [P/2, P/2, 6]    B5 B6 B7 B8A B11 B12 (when the product has them)
  s1_<acq>            uint16  [P, P, 2]        VV VH, Decloud's log stretch (acquisitions with S1)
  s2_timestamp_<acq>  int64   []               seconds since 1970-01-01 UTC
  s1_timestamp_<acq>  int64   []
and ``dem`` float32 [P/2, P/2, 1] when a DEM is given, and
  cloud_t             uint8   [P, P, 1]        the cloud mask of t (1 = cloud, 0 elsewhere): the prepared
                                               ``cloud.tif`` of t's S2 (layouts with an acquisition ``t``)
which ``decloud evaluate`` uses to score the cloudy pixels (records written before it existed have no
``cloud_t``: they are still read, and scored on all pixels only). Arrays are stored as raw bytes (``tf.io.decode_raw``);
``shapes_and_types.json`` next to the shards gives each key's shape and dtype, ``footprints.geojson`` the patch
footprints (with tile, cell and split). Shards are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .atomic import atomic_output, write_json
from .errors import DecloudInputError, DecloudIOError
from .otbenv import pyotb
from .patch_index import PatchGrid
from .search import Sample

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TileCatalog:
    """Where the prepared rasters of one tile are: S2 folders by time (hours), S1 folders by time, a DEM."""

    grid: PatchGrid
    s2: Mapping[int, Path]
    s1: Mapping[int, Path]
    dem: Path | None = None


def extract_patches(sources: Sequence[Path], corners: Sequence[tuple[float, float]], patch_size: int,
                    out_prefix: Path) -> list[Path]:
    """Run DecloudPatchesExtraction (in process, through pyotb); returns one patch stack per source."""
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    pyotb().App("DecloudPatchesExtraction", {
        "il": [str(s) for s in sources], "patchsize": patch_size,
        "pos": [f"{x!r},{y!r}" for x, y in corners], "outprefix": str(out_prefix)})
    return [Path(f"{out_prefix}_{i + 1}.tif") for i in range(len(sources))]


def _read_patch(path: Path, k: int, size: int) -> np.ndarray:
    from osgeo import gdal  # noqa: PLC0415

    ds = gdal.Open(str(path))
    return np.stack([ds.GetRasterBand(b + 1).ReadAsArray(0, k * size, size, size) for b in range(ds.RasterCount)], -1)


def generate_dataset(samples: Sequence[Sample], catalogs: Mapping[str, TileCatalog], out_dir: str | Path, *,
                     patch_size: int = 64, shard_size: int = 256, split: str = "train",
                     quiet: bool = False) -> list[Path]:
    """Write the TFRecord shards of ``samples`` into ``out_dir`` (see the module doc); returns the shards."""
    out_dir = Path(out_dir)
    work = out_dir / ".patches"
    if not samples:
        raise DecloudInputError(f"{out_dir}: no sample to write")

    # 1. Which cells each prepared image must give: one extraction run per image.
    needs: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for s in samples:
        if s.tile not in catalogs:
            raise DecloudInputError(f"sample of tile {s.tile}: no catalog for this tile")
        cat = catalogs[s.tile]
        for acq, h in s.s2_hours.items():
            if h not in cat.s2:
                raise DecloudInputError(f"tile {s.tile}: no prepared S2 for {acq} at hour {h}")
            needs[(s.tile, "s2", h)].append(s.cell)
        for acq, h1 in s.s1_hours.items():
            if h1 is not None:
                if h1 not in cat.s1:
                    raise DecloudInputError(f"tile {s.tile}: no prepared S1 for {acq} at hour {h1}")
                needs[(s.tile, "s1", h1)].append(s.cell)
        if cat.dem is not None:
            needs[(s.tile, "dem", 0)].append(s.cell)
    with_cloud = _cloud_of_t(samples, catalogs)

    # Each run's patch stacks by name: "10m", "20m", "cloud" (S2), "s1", "dem".
    stacks: dict[tuple[str, str, int], tuple[dict[int, int], dict[str, Path]]] = {}
    for n, (key, cells) in enumerate(tqdm(sorted(needs.items()), desc="patches", unit="image", disable=quiet)):
        tile, kind, h = key
        cat = catalogs[tile]
        cells = sorted(set(cells))
        bounds = cat.grid.cell_bounds(np.array(cells))
        corners = [(float(b[0]), float(b[3])) for b in bounds]
        if kind == "s2":
            folder = cat.s2[h]
            named = {"10m": folder / "s2_10m.tif"}
            if (folder / "s2_20m.tif").exists():
                named["20m"] = folder / "s2_20m.tif"
            if (tile, h) in with_cloud:  # on the 10 m grid: the same patch size
                named["cloud"] = folder / CLOUD_MASK
        elif kind == "s1":
            named = {"s1": cat.s1[h] / "s1.tif"}
        elif cat.dem is not None:  # kind "dem": asked for only when the catalog has one
            named = {"dem": cat.dem}
        else:
            raise DecloudInputError(f"tile {tile}: no DEM in its catalog")
        size = patch_size
        if kind == "dem":  # source 1 of this run is the DEM: the patch size in its own pixels
            from .raster import geotransform  # noqa: PLC0415

            size = int(round(patch_size * cat.grid.pixel_size / geotransform(named["dem"])[1]))
        paths = extract_patches(list(named.values()), corners, size, work / f"{n:05d}")
        stacks[key] = ({c: i for i, c in enumerate(cells)}, dict(zip(named, paths)))

    # 2. Examples, in shards.
    def arrays(s: Sample) -> dict[str, np.ndarray | int]:
        f: dict[str, np.ndarray | int] = {}
        for acq, h in s.s2_hours.items():
            index, patches = stacks[(s.tile, "s2", h)]
            k = index[s.cell]
            f[f"s2_{acq}"] = _read_patch(patches["10m"], k, patch_size).astype(np.int16)
            if "20m" in patches:
                f[f"s2_20m_{acq}"] = _read_patch(patches["20m"], k, patch_size // 2).astype(np.int16)
            if acq == "t" and "cloud" in patches:
                f["cloud_t"] = (_read_patch(patches["cloud"], k, patch_size) > 0).astype(np.uint8)
            f[f"s2_timestamp_{acq}"] = h * 3600
        for acq, h1 in s.s1_hours.items():
            if h1 is not None:
                index, patches = stacks[(s.tile, "s1", h1)]
                f[f"s1_{acq}"] = _read_patch(patches["s1"], index[s.cell], patch_size).astype(np.uint16)
                f[f"s1_timestamp_{acq}"] = h1 * 3600
        if catalogs[s.tile].dem is not None:
            index, patches = stacks[(s.tile, "dem", 0)]
            f["dem"] = _read_patch(patches["dem"], index[s.cell], patch_size // 2).astype(np.float32)
        return f

    shards = write_examples(out_dir, (arrays(s) for s in samples), split=split, shard_size=shard_size,
                            total=len(samples), quiet=quiet)
    features = []
    for s in samples:
        xmin, ymin, xmax, ymax = catalogs[s.tile].grid.cell_bounds(s.cell)[0].tolist()
        features.append({"type": "Feature", "properties": {"tile": s.tile, "cell": s.cell, "split": split},
                         "geometry": {"type": "Polygon", "coordinates": [[[xmin, ymax], [xmax, ymax], [xmax, ymin],
                                                                          [xmin, ymin], [xmin, ymax]]]}})
    _write_json(out_dir / "footprints.geojson", {"type": "FeatureCollection", "features": features})
    for p in work.glob("*"):
        p.unlink()
    work.rmdir()
    return shards


CLOUD_MASK = "cloud.tif"  # of a prepared S2 folder: uint8 on the 10 m grid, 1 = cloud


def _cloud_of_t(samples: Sequence[Sample], catalogs: Mapping[str, TileCatalog]) -> set[tuple[str, int]]:
    """The (tile, hour) of the S2 images that are t in some sample and whose cloud mask goes into the records
    (as ``cloud_t``): all of them, or none when no t folder has a cloud mask (preparations without one); some
    with and some without is an error (records must all have the same keys)."""
    ts = {(s.tile, s.s2_hours["t"]) for s in samples if "t" in s.s2_hours}
    missing = sorted((catalogs[tile].s2[h] for tile, h in ts if not (catalogs[tile].s2[h] / CLOUD_MASK).is_file()),
                     key=str)
    if not missing:
        return ts
    if len(missing) < len(ts):
        raise DecloudInputError(f"{missing[0]}: no {CLOUD_MASK} (the cloud mask of t), which other dates have; "
                                "prepare it again (decloud prepare-s2)")
    log.warning("%s: no %s: the records get no cloud mask of t (cloud_t); decloud evaluate will score all pixels only",
                missing[0], CLOUD_MASK)
    return set()


def write_examples(out_dir: str | Path, examples: Iterable[Mapping[str, np.ndarray | int]], *, split: str = "train",
                   shard_size: int = 256, total: int | None = None, quiet: bool = True) -> list[Path]:
    """Write examples (key -> array, or int for a timestamp) as TFRecord shards ``<split>_NNNNN.tfrecord`` with
    ``shapes_and_types.json``; each shard appears only once complete. All examples must have the same keys."""
    import tensorflow as tf  # noqa: PLC0415

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shapes: dict[str, dict] = {}

    def encode(example: Mapping[str, np.ndarray | int]) -> bytes:
        features = {}
        for key, value in example.items():
            if isinstance(value, (int, np.integer)):
                shapes.setdefault(key, {"shape": [], "dtype": "int64"})
                features[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
            else:
                shapes.setdefault(key, {"shape": list(value.shape), "dtype": str(value.dtype)})
                features[key] = tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[np.ascontiguousarray(value).tobytes()]))
        return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()

    shards: list[Path] = []
    iterator = iter(tqdm(examples, total=total, desc="examples", unit="ex", disable=quiet))
    for first in iterator:
        path = out_dir / f"{split}_{len(shards):05d}.tfrecord"
        try:
            with atomic_output(path) as tmp:
                with tf.io.TFRecordWriter(str(tmp)) as writer:
                    for example in itertools.chain([first], itertools.islice(iterator, shard_size - 1)):
                        writer.write(encode(example))
        except tf.errors.OpError as e:  # e.g. a full disk
            raise DecloudIOError(f"{path}: writing failed: {e.message}") from None
        shards.append(path)
    _write_json(out_dir / "shapes_and_types.json", shapes)
    return shards


def _write_json(path: Path, data) -> None:
    write_json(path, data, indent=1)


def read_dataset(folder: str | Path, pattern: str = "*.tfrecord"):
    """A tf.data.Dataset of dicts of tensors, decoded with ``shapes_and_types.json``."""
    import tensorflow as tf  # noqa: PLC0415

    folder = Path(folder)
    spec = json.loads((folder / "shapes_and_types.json").read_text())
    description = {k: tf.io.FixedLenFeature([], tf.int64 if v["dtype"] == "int64" and not v["shape"] else tf.string)
                   for k, v in spec.items()}

    def parse(record):
        raw = tf.io.parse_single_example(record, description)
        out = {}
        for k, v in spec.items():
            if not v["shape"]:
                out[k] = raw[k]
            else:
                out[k] = tf.reshape(tf.io.decode_raw(raw[k], tf.as_dtype(v["dtype"])), v["shape"])
        return out

    files = sorted(str(p) for p in folder.glob(pattern))
    if not files:
        raise DecloudInputError(f"{folder}: no TFRecord shard matches {pattern}")
    return tf.data.TFRecordDataset(files).map(parse)


def catalog_from_prepared(index, prepared_dir: str | Path, dem: str | Path | None = None) -> TileCatalog:
    """The catalog of an index's tile from a folder of preparation outputs (``S2_<tile>_*``, ``S1_<tile>_*``), or
    from the original Decloud's prepared tree (``S2_PREPARE/``, ``S1_PREPARE/``: their views,
    :mod:`decloud.original`)."""
    from datetime import datetime  # noqa: PLC0415

    from . import original  # noqa: PLC0415

    if not any(Path(prepared_dir).glob(f"S[12]_{index.tile}_*")) and original.holds_original(prepared_dir):
        prepared_dir = original.tree_views(prepared_dir, index.tile)
    from .patch_index import to_hours  # noqa: PLC0415

    s2: dict[int, Path] = {}
    s1: dict[int, Path] = {}
    for folder in sorted(Path(prepared_dir).glob(f"S[12]_{index.tile}_*")):
        try:
            marker = json.loads((folder / "done.json").read_text())
        except (OSError, ValueError):
            continue  # unfinished: not in the catalog
        hours = to_hours(datetime.fromisoformat(marker["acquired"]))
        (s2 if folder.name.startswith("S2_") else s1)[hours] = folder
    if not s2:
        raise DecloudInputError(f"{prepared_dir}: no finished S2 preparation of tile {index.tile}")
    return TileCatalog(index.grid, s2, s1, Path(dem) if dem else None)

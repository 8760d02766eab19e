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

import hashlib
import itertools
import json
import logging
import os
import shutil
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from .atomic import app_failure, atomic_output, folder_lock, write_json
from .errors import DecloudInputError, DecloudIOError
from .otbenv import pyotb
from .patch_index import PatchGrid
from .search import Sample, Strategy

if TYPE_CHECKING:
    from .distributed import ClusterOptions

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
    """Run DecloudPatchesExtraction (in process, through pyotb); returns one patch stack per source. A failure of
    the app (an unreadable prepared raster...) is an :class:`~decloud.errors.OTBAppInputError`."""
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    try:
        pyotb().App("DecloudPatchesExtraction", {
            "il": [str(s) for s in sources], "patchsize": patch_size,
            "pos": [f"{x!r},{y!r}" for x, y in corners], "outprefix": str(out_prefix)})
    except Exception as e:  # pyotb wraps the app's one-line FATAL in a RuntimeError
        raise app_failure(e, "DecloudPatchesExtraction") from e
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
            raise DecloudIOError(f"{path}: writing failed: {e.message}") from e
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


# ---- the dataset stage: layout search over tile indexes, one task per (split, tile), merged per split ----

# The records' contents: bump when a key is added, so that tile datasets written before are written again
# (2: the cloud mask of t, ``cloud_t``).
RECORDS_VERSION = 2


@dataclass(frozen=True)
class TileDataset:
    """The samples of one tile for one split, to write into ``folder`` (a task, on Dask or in this process)."""

    tile: str
    split: str
    samples: tuple
    catalog: TileCatalog
    folder: str
    patch_size: int
    shard_size: int


@dataclass(frozen=True)
class SplitResult:
    """What :func:`build_dataset` wrote for one split: its samples, shards and tiles; ``empty_because`` says why
    the layout found no sample there (one line per index)."""

    split: str
    samples: int
    shards: tuple[Path, ...]
    tiles: tuple[str, ...]
    empty_because: tuple[str, ...] = ()


def _digest(task: TileDataset) -> str:
    described: list[Any] = [[s.tile, int(s.cell), {k: int(v) for k, v in s.s2_hours.items()},
                             {k: None if v is None else int(v) for k, v in s.s1_hours.items()}] for s in task.samples]
    text = json.dumps(described + [task.patch_size, task.shard_size, str(task.catalog.dem), RECORDS_VERSION])
    return hashlib.sha1(text.encode()).hexdigest()


def tile_dataset_entry(task: TileDataset) -> dict:
    """Write one tile's dataset (skipped when done for the same samples); its report entry."""
    from .prepare.common import build_folder  # noqa: PLC0415

    folder = Path(task.folder)
    marker = {"source": _digest(task), "tile": task.tile, "split": task.split, "samples": len(task.samples),
              "patch_size": task.patch_size, "shard_size": task.shard_size}
    hours = {h for s in task.samples for h in s.s2_hours.values()}
    s1_hours = {h for s in task.samples for h in s.s1_hours.values() if h is not None}
    inputs = sorted({str(task.catalog.s2[h]) for h in hours} | {str(task.catalog.s1[h]) for h in s1_hours
                                                                 if h in task.catalog.s1})
    built = build_folder(folder, marker, lambda tmp: generate_dataset(
        list(task.samples), {task.tile: task.catalog}, tmp, patch_size=task.patch_size, shard_size=task.shard_size,
        split=task.split, quiet=True))
    return {"task": f"dataset {task.split} {task.tile}", "inputs": inputs + ([str(task.catalog.dem)]
                                                                             if task.catalog.dem else []),
            "output": str(folder), "samples": len(task.samples), "status": "done" if built else "exists"}


def merge_tiles(split_dir: Path, split: str, tiles: Sequence[str]) -> list[Path]:
    """The shards of each tile's folder (``<split>/.tiles/<tile>``) into the split folder
    (``<split>_<tile>_NNNNN.tfrecord``: hard links, or copies where the file system has none), with one
    ``shapes_and_types.json`` and all footprints; returns the shards."""
    shapes, first, features, shards = None, None, [], []
    for tile in tiles:
        folder = split_dir / ".tiles" / tile
        tile_shapes = json.loads((folder / "shapes_and_types.json").read_text())
        if shapes is not None and tile_shapes != shapes:
            raise DecloudInputError(f"{split}: the records of tile {tile} have other keys or shapes than those of "
                                    f"tile {first} ({sorted(tile_shapes)} vs {sorted(shapes)})")
        shapes, first = tile_shapes, first or tile
        features += json.loads((folder / "footprints.geojson").read_text())["features"]
        mine = []
        for shard in sorted(folder.glob(f"{split}_*.tfrecord")):
            target = split_dir / f"{split}_{tile}_{shard.name[len(split) + 1:]}"
            mine.append(target)
            if target.exists() and os.path.samefile(shard, target):
                continue
            with atomic_output(target) as tmp:
                try:
                    os.link(shard, tmp)
                except OSError:
                    shutil.copyfile(shard, tmp)
        for stale in set(split_dir.glob(f"{split}_{tile}_*.tfrecord")) - set(mine):
            stale.unlink()
        shards += mine
    _write_json(split_dir / "shapes_and_types.json", shapes)
    _write_json(split_dir / "footprints.geojson", {"type": "FeatureCollection", "features": features})
    return shards


def build_dataset(indexes: Sequence[str | Path], prepared: str | Path, layout, out_dir: str | Path, *,
                  rois: Mapping[str, Sequence] | None = None, dems: Mapping[str, str | Path] | None = None,
                  strategy: Strategy = "constant", per_cell: int = 1, total: int | None = None, seed: int = 0,
                  patch_size: int = 64, shard_size: int = 256, cluster: ClusterOptions | None = None,
                  progress: bool = True) -> dict[str, SplitResult]:
    """The dataset stage (``decloud dataset``): searches each tile index (``decloud index`` files) for ``layout``
    (a layout, or its name or file), draws samples (``strategy``, ``per_cell``, ``total``, ``seed``), splits
    them by ``rois`` ({split: [[xmin, ymin, xmax, ymax], ...]}; no cell in two splits; without, all in
    ``train``), and writes each split's TFRecord shards into ``out_dir/<split>``.

    Each (split, tile) is a task (``cluster``: Dask workers, a scheduler, Slurm / PBS jobs, or ``workers=0``
    for this process) writing a complete dataset of that tile into ``<split>/.tiles/<tile>`` (atomically, with
    a ``done.json`` naming its samples, so a re-run skips it); the split folder then gets
    ``<split>_<tile>_NNNNN.tfrecord`` (hard links), one ``shapes_and_types.json`` and the footprints of all
    tiles. The same layout and records whatever the number of workers. A run report is written in ``out_dir``;
    ``out_dir`` is locked against a concurrent run."""
    from .distributed import ClusterOptions, run_tasks  # noqa: PLC0415
    from .layouts import load_layout  # noqa: PLC0415
    from .patch_index import TileIndex  # noqa: PLC0415
    from .search import explain_message, search, split_cells  # noqa: PLC0415

    for path in indexes:
        if not Path(path).is_file():
            raise DecloudInputError(f"index {path}: no such file")
    if not Path(prepared).is_dir():
        raise DecloudInputError(f"prepared folder {prepared}: no such folder")
    layout = load_layout(layout) if isinstance(layout, (str, Path)) else layout
    dems = dict(dems or {})
    out = Path(out_dir)
    with folder_lock(out, "decloud dataset"):
        per_split: dict[str, list] = {}
        why: dict[str, list[str]] = {}
        catalogs = {}
        for path in indexes:
            index = TileIndex.load(path)
            catalogs[index.tile] = catalog_from_prepared(index, prepared, dems.get(index.tile))
            splits = split_cells(index.grid, rois) if rois else {"train": None}
            for name, cells in splits.items():
                result = search(index, layout, cells=cells, seed=seed)
                if not len(result):
                    why.setdefault(name, []).append(explain_message(index, layout, source=str(path)))
                per_split.setdefault(name, []).extend(
                    result.draw(strategy=strategy, per_cell=per_cell, total=total, seed=seed))
        tasks = []
        for name, samples in per_split.items():
            for tile in dict.fromkeys(s.tile for s in samples):
                tasks.append(TileDataset(tile, name, tuple(s for s in samples if s.tile == tile), catalogs[tile],
                                         str(out / name / ".tiles" / tile), patch_size, shard_size))
        run_tasks(tile_dataset_entry, tasks, options=cluster or ClusterOptions(), report_dir=out, progress=progress,
                  desc="tiles", label=lambda t: f"dataset {t.split} {t.tile}", report_extra={"command": "dataset"})
        results = {}
        for name, samples in per_split.items():
            tiles = tuple(t.tile for t in tasks if t.split == name)
            shards = tuple(merge_tiles(out / name, name, tiles)) if samples else ()
            results[name] = SplitResult(name, len(samples), shards, tiles, tuple(why.get(name, [])))
        return results

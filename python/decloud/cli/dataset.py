"""decloud dataset

With Dask (the default, see decloud.distributed), each (split, tile) is a task that writes a complete dataset of
that tile's samples into ``OUT_DIR/<split>/.tiles/<tile>`` (atomically: temporary folder, then rename, with a
``done.json`` naming the samples, so a re-run skips it). The split folder then gets the shards of every tile as
``<split>_<tile>_NNNNN.tfrecord`` (hard links, or copies where the file system has none), one
``shapes_and_types.json`` and the footprints of all tiles. ``--workers 0`` writes ``<split>_NNNNN.tfrecord``
shards over all tiles in this process, as before.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_output, folder_lock
from ..distributed import add_cluster_arguments, cluster_options, run_tasks
from ..errors import DecloudInputError
from .options import parse_assignments

if TYPE_CHECKING:
    from ..dataset import TileCatalog


@dataclass(frozen=True)
class TileDataset:
    """The samples of one tile for one split, to write into ``folder`` (a Dask task)."""

    tile: str
    split: str
    samples: tuple
    catalog: TileCatalog
    folder: str
    patch_size: int
    shard_size: int


# The records' contents: bump when a key is added, so that tile datasets written before are written again
# (2: the cloud mask of t, ``cloud_t``).
RECORDS_VERSION = 2


def _digest(task: TileDataset) -> str:
    described: list[Any] = [[s.tile, int(s.cell), {k: int(v) for k, v in s.s2_hours.items()},
                             {k: None if v is None else int(v) for k, v in s.s1_hours.items()}] for s in task.samples]
    text = json.dumps(described + [task.patch_size, task.shard_size, str(task.catalog.dem), RECORDS_VERSION])
    return hashlib.sha1(text.encode()).hexdigest()


def tile_dataset_entry(task: TileDataset) -> dict:
    """Write one tile's dataset (skipped when done for the same samples); its report entry."""
    from ..dataset import generate_dataset  # noqa: PLC0415
    from ..prepare.common import build_folder  # noqa: PLC0415

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


def merge_tiles(split_dir: Path, split: str, tiles: list[str]) -> list[Path]:
    """The shards of each tile's folder into the split folder (``<split>_<tile>_NNNNN.tfrecord``), with one
    ``shapes_and_types.json`` and all footprints; returns the shards."""
    from ..dataset import _write_json  # noqa: PLC0415

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


def run(args: argparse.Namespace) -> int:
    for path in args.index:
        if not Path(path).is_file():
            raise DecloudInputError(f"--index {path}: no such file")
    if not Path(args.prepared).is_dir():
        raise DecloudInputError(f"--prepared {args.prepared}: no such folder")
    with folder_lock(args.out_dir, "decloud dataset"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..dataset import catalog_from_prepared, generate_dataset  # noqa: PLC0415
    from ..layouts import load_layout  # noqa: PLC0415
    from ..patch_index import TileIndex  # noqa: PLC0415
    from ..search import explain_message, search, split_cells  # noqa: PLC0415

    layout = load_layout(args.layout)
    dems = parse_assignments(args.dem, "--dem", "TILE=PATH")
    rois = None
    if args.rois:
        try:
            rois = json.loads(Path(args.rois).read_text())
        except (OSError, ValueError) as e:
            raise DecloudInputError(f"--rois: {args.rois}: {e}") from e
    per_split: dict[str, list] = {}
    why: dict[str, list[str]] = {}  # split -> why the layout found nothing there (search.explain_message)
    catalogs = {}
    cluster = cluster_options(args)
    for path in args.index:
        index = TileIndex.load(path)
        catalogs[index.tile] = catalog_from_prepared(index, args.prepared, dems.get(index.tile))
        splits = split_cells(index.grid, rois) if rois else {"train": None}
        for name, cells in splits.items():
            result = search(index, layout, cells=cells, seed=args.seed)
            if not len(result):
                why.setdefault(name, []).append(explain_message(index, layout, source=str(path)))
            per_split.setdefault(name, []).extend(
                result.draw(strategy=args.strategy, per_cell=args.per_cell, total=args.total, seed=args.seed))
    if cluster.in_process:
        for name, samples in per_split.items():
            if not samples:
                print(f"{name}: no sample", *why.get(name, []), sep="\n")
                continue
            shards = generate_dataset(samples, catalogs, Path(args.out_dir) / name, patch_size=args.patch_size,
                                      shard_size=args.shard_size, split=name, quiet=args.quiet)
            print(f"{name}: {len(samples)} samples in {len(shards)} shards")
        return 0
    tasks = []
    for name, samples in per_split.items():
        for tile in dict.fromkeys(s.tile for s in samples):
            tasks.append(TileDataset(tile, name, tuple(s for s in samples if s.tile == tile), catalogs[tile],
                                     str(Path(args.out_dir) / name / ".tiles" / tile), args.patch_size,
                                     args.shard_size))
    run_tasks(tile_dataset_entry, tasks, options=cluster, report_dir=args.out_dir, progress=not args.quiet,
              desc="tiles", label=lambda t: f"dataset {t.split} {t.tile}", report_extra={"command": "dataset"})
    for name, samples in per_split.items():
        if not samples:
            print(f"{name}: no sample", *why.get(name, []), sep="\n")
            continue
        tiles = [t.tile for t in tasks if t.split == name]
        shards = merge_tiles(Path(args.out_dir) / name, name, tiles)
        print(f"{name}: {len(samples)} samples in {len(shards)} shards ({len(tiles)} tile(s))")
    return 0


def register(sub) -> None:
    p = sub.add_parser("dataset", help="TFRecord shards of the samples that fit a layout",
                       description="Searches each tile index for the layout, draws samples, splits them by ROI "
                       "(no cell in two splits), extracts the patches (DecloudPatchesExtraction) and writes shards "
                       "(with the cloud mask of t, cloud_t, from the prepared cloud.tif, for decloud evaluate). "
                       "Each (split, tile) is a Dask task (local worker processes by default, --scheduler, or "
                       "Slurm/PBS jobs with --cluster) writing OUT_DIR/<split>/<split>_<tile>_NNNNN.tfrecord; "
                       "--workers 0: one process, OUT_DIR/<split>/<split>_NNNNN.tfrecord.",
                       epilog="example: decloud dataset --index index/*.npz --prepared prepared --layout os2 "
                       "--rois rois.json --per-cell 4 --out-dir dataset")
    p.add_argument("--index", nargs="+", required=True)
    p.add_argument("--prepared", required=True, help="folder of the preparation outputs")
    p.add_argument("--layout", required=True)
    p.add_argument("--rois", help='JSON {"train": [[xmin, ymin, xmax, ymax], ...], "valid": [...], "test": [...]}')
    p.add_argument("--dem", nargs="*", help="TILE=PATH of a DEM on the tile's 20 m grid")
    p.add_argument("--strategy", choices=["random", "constant", "season"], default="constant")
    p.add_argument("--per-cell", type=int, default=1)
    p.add_argument("--total", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patch-size", type=int, default=64)
    p.add_argument("--shard-size", type=int, default=256)
    p.add_argument("--out-dir", required=True)
    p.add_argument("-q", "--quiet", action="store_true")
    add_cluster_arguments(p)
    p.set_defaults(func=run)

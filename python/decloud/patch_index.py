"""Patch index: per tile, per cell of a patch grid and per S2 date, the cloud cover, the validity and the
nearest valid S1 acquisition. Built once from the per-block counts written by the preparation stage,
saved as one ``.npz`` per tile, extended when new dates arrive.

Layout of a tile's index (``C`` cells, ``D`` S2 dates, ``E`` S1 dates of one orbit direction):
  s2_hours [D]               acquisition times, hours since 1970-01-01 UTC, sorted
  cloud_percent [C, D]       float32, 0..100
  valid [C, D]               bool, no nodata pixel in the cell
  s1_hours[orbit] [E]        sorted; orbit in ("ascending", "descending")
  s1_valid[orbit] [C, E]     bool
The nearest valid S1 of each (cell, S2 date) and its gap in hours are derived on load (cheap).
Cells are numbered row-major over the grid; ``PatchGrid`` maps them to map coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np

from .atomic import atomic_output
from .errors import DecloudInputError
from .layouts import Orbit

Direction = Literal["ascending", "descending"]
ORBITS: tuple[Direction, ...] = ("ascending", "descending")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_hours(when: datetime) -> int:
    """Hours since 1970-01-01 UTC (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int((when - _EPOCH).total_seconds() // 3600)


def from_hours(hours: int) -> datetime:
    return datetime.fromtimestamp(int(hours) * 3600, tz=timezone.utc)


@dataclass(frozen=True)
class PatchGrid:
    """A grid of square cells of ``cell_pixels`` over a tile whose upper-left corner is (x0, y0)."""

    x0: float
    y0: float
    pixel_size: float
    cell_pixels: int
    rows: int
    cols: int
    epsg: int = 0

    @classmethod
    def for_tile(cls, x0: float, y0: float, *, width: int = 10980, height: int = 10980, pixel_size: float = 10.0,
                 cell_pixels: int = 256, epsg: int = 0) -> PatchGrid:
        """Whole cells only: a partial cell at the right or bottom edge is left out."""
        return cls(x0, y0, pixel_size, cell_pixels, height // cell_pixels, width // cell_pixels, epsg)

    @property
    def n_cells(self) -> int:
        return self.rows * self.cols

    def cell_bounds(self, cells: np.ndarray | int) -> np.ndarray:
        """[n, 4] (xmin, ymin, xmax, ymax) of cells."""
        cells = np.atleast_1d(cells)
        size = self.cell_pixels * self.pixel_size
        r, c = np.divmod(cells, self.cols)
        xmin = self.x0 + c * size
        ymax = self.y0 - r * size
        return np.stack([xmin, ymax - size, xmin + size, ymax], axis=1)

    def cell_offsets(self, cells: np.ndarray | int) -> np.ndarray:
        """[n, 2] (column, row) pixel offsets of cells' upper-left pixels."""
        r, c = np.divmod(np.atleast_1d(cells), self.cols)
        return np.stack([c * self.cell_pixels, r * self.cell_pixels], axis=1)


def block_counts_to_cells(block_counts: np.ndarray, grid: PatchGrid, block_pixels: int) -> np.ndarray:
    """Sum per-block pixel counts [..., blocks_y, blocks_x] into per-cell counts [..., cells]."""
    if grid.cell_pixels % block_pixels:
        raise DecloudInputError(f"cell size {grid.cell_pixels} is not a multiple of the block size {block_pixels}")
    k = grid.cell_pixels // block_pixels
    need_y, need_x = grid.rows * k, grid.cols * k
    if block_counts.shape[-2] < need_y or block_counts.shape[-1] < need_x:
        raise DecloudInputError(f"block counts of shape {block_counts.shape[-2:]} do not cover a grid of "
                                f"{grid.rows}x{grid.cols} cells of {k}x{k} blocks")
    b = block_counts[..., :need_y, :need_x]
    b = b.reshape(*b.shape[:-2], grid.rows, k, grid.cols, k).sum(axis=(-3, -1), dtype=np.int64)
    return b.reshape(*b.shape[:-2], grid.n_cells)


@dataclass
class TileIndex:
    tile: str
    grid: PatchGrid
    s2_hours: np.ndarray
    cloud_percent: np.ndarray
    valid: np.ndarray
    s1_hours: dict[str, np.ndarray] = field(default_factory=dict)
    s1_valid: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for orbit in ORBITS:
            self.s1_hours.setdefault(orbit, np.zeros(0, dtype=np.int64))
            self.s1_valid.setdefault(orbit, np.zeros((self.grid.n_cells, 0), dtype=bool))
        self._nearest: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------------ building
    @classmethod
    def empty(cls, tile: str, grid: PatchGrid) -> TileIndex:
        return cls(tile, grid, np.zeros(0, dtype=np.int64), np.zeros((grid.n_cells, 0), dtype=np.float32),
                   np.zeros((grid.n_cells, 0), dtype=bool))

    def add_s2(self, hours: np.ndarray, cloud_blocks: np.ndarray, nodata_blocks: np.ndarray, *,
               block_pixels: int = 64) -> None:
        """Add S2 dates from per-block cloud and nodata pixel counts [dates, blocks_y, blocks_x].

        Dates already in the index are replaced (a re-processed product)."""
        hours = np.asarray(hours, dtype=np.int64)
        if cloud_blocks.shape != nodata_blocks.shape or cloud_blocks.shape[0] != hours.size:
            raise DecloudInputError(f"S2 block counts: {hours.size} dates, cloud counts {cloud_blocks.shape}, "
                                    f"nodata counts {nodata_blocks.shape}")
        cell_area = self.grid.cell_pixels**2
        cloud = block_counts_to_cells(cloud_blocks, self.grid, block_pixels).T * (100.0 / cell_area)
        cloud = cloud.astype(np.float32)
        valid = block_counts_to_cells(nodata_blocks, self.grid, block_pixels).T == 0
        keep = ~np.isin(self.s2_hours, hours)
        self.s2_hours, (self.cloud_percent, self.valid) = _merge_sorted(
            self.s2_hours[keep], [self.cloud_percent[:, keep], self.valid[:, keep]], hours, [cloud, valid])
        self._nearest.clear()

    def add_s1(self, orbit: Direction, hours: np.ndarray, nodata_blocks: np.ndarray, *, block_pixels: int = 64) -> None:
        """Add S1 dates of one orbit direction from per-block nodata counts [dates, blocks_y, blocks_x]."""
        if orbit not in ORBITS:
            raise DecloudInputError(f"orbit must be one of {ORBITS}, got {orbit!r}")
        hours = np.asarray(hours, dtype=np.int64)
        valid = block_counts_to_cells(nodata_blocks, self.grid, block_pixels).T == 0
        keep = ~np.isin(self.s1_hours[orbit], hours)
        self.s1_hours[orbit], (self.s1_valid[orbit],) = _merge_sorted(
            self.s1_hours[orbit][keep], [self.s1_valid[orbit][:, keep]], hours, [valid])
        self._nearest.clear()

    # ------------------------------------------------------------------ derived
    def nearest_s1(self, orbit: Orbit) -> tuple[np.ndarray, np.ndarray]:
        """For each (cell, S2 date): index of the nearest valid S1 date of ``orbit`` (-1: none) and the gap
        in hours (inf: none). ``orbit`` may be "any"; then the index is into :meth:`s1_all_hours`."""
        if orbit not in self._nearest:
            if orbit == "any":
                times = self.s1_all_hours()
                valid = np.concatenate([self.s1_valid[o] for o in ORBITS], axis=1)[:, np.argsort(
                    np.concatenate([self.s1_hours[o] for o in ORBITS]), kind="stable")]
            else:
                times, valid = self.s1_hours[orbit], self.s1_valid[orbit]
            self._nearest[orbit] = _nearest_valid(self.s2_hours, times, valid)
        return self._nearest[orbit]

    def s1_all_hours(self) -> np.ndarray:
        return np.sort(np.concatenate([self.s1_hours[o] for o in ORBITS]), kind="stable")

    def s1_hours_for(self, orbit: Orbit) -> np.ndarray:
        return self.s1_all_hours() if orbit == "any" else self.s1_hours[orbit]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the index atomically (:func:`decloud.atomic.atomic_output`)."""
        path = Path(path)
        g = self.grid
        with atomic_output(path) as tmp, open(tmp, "wb") as f:  # a file object: numpy adds no ".npz" to it
            np.savez_compressed(
                f, tile=np.array(self.tile),
                grid=np.array([g.x0, g.y0, g.pixel_size, g.cell_pixels, g.rows, g.cols, g.epsg], dtype=np.float64),
                s2_hours=self.s2_hours, cloud_percent=self.cloud_percent, valid=self.valid,
                **{f"s1_hours_{o}": self.s1_hours[o] for o in ORBITS},
                **{f"s1_valid_{o}": self.s1_valid[o] for o in ORBITS},
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> TileIndex:
        try:
            with np.load(path) as z:
                x0, y0, px, cp, rows, cols, epsg = z["grid"].tolist()
                grid = PatchGrid(x0, y0, px, int(cp), int(rows), int(cols), int(epsg))
                return cls(str(z["tile"]), grid, z["s2_hours"], z["cloud_percent"], z["valid"],
                           {o: z[f"s1_hours_{o}"] for o in ORBITS}, {o: z[f"s1_valid_{o}"] for o in ORBITS})
        except (OSError, KeyError, ValueError) as e:
            raise DecloudInputError(f"{path}: not a Decloud patch index ({e})") from e


def _merge_sorted(old_hours, old_arrays, new_hours, new_arrays):
    """Concatenate along dates and sort by time (arrays are [cells, dates])."""
    hours = np.concatenate([old_hours, new_hours])
    order = np.argsort(hours, kind="stable")
    arrays = [np.concatenate([a, b], axis=1)[:, order] for a, b in zip(old_arrays, new_arrays)]
    return hours[order], arrays


def _nearest_valid(targets: np.ndarray, times: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest valid time of ``times`` (sorted, [E]) for each target (sorted, [D]) and cell (valid [C, E])."""
    cells = valid.shape[0]
    if times.size == 0:
        return np.full((cells, targets.size), -1, np.int32), np.full((cells, targets.size), np.inf, np.float32)
    idx = np.arange(times.size)
    last = np.maximum.accumulate(np.where(valid, idx, -1), axis=1)  # last valid index <= j
    nxt = np.minimum.accumulate(np.where(valid, idx, times.size)[:, ::-1], axis=1)[:, ::-1]  # first valid >= j
    pos = np.searchsorted(times, targets, side="right")  # times[pos-1] <= target < times[pos]
    before = np.where(pos > 0, last[:, np.maximum(pos - 1, 0)], -1)
    after = np.where(pos < times.size, nxt[:, np.minimum(pos, times.size - 1)], times.size)
    gap_before = np.where(before >= 0, targets - times[np.maximum(before, 0)], np.inf)
    gap_after = np.where(after < times.size, times[np.minimum(after, times.size - 1)] - targets, np.inf)
    use_after = gap_after < gap_before
    nearest = np.where(use_after, after, before).astype(np.int32)
    gap = np.minimum(gap_before, gap_after).astype(np.float32)
    nearest[~np.isfinite(gap)] = -1
    return nearest, gap


@dataclass(frozen=True)
class TileSelection:
    """The prepared folders of one tile (:func:`select_tile`) and those of other tiles, left out."""

    tile: str
    s2: list[Path]
    s1: list[Path]
    left_out: dict[str, list[Path]]  # tile -> folders

    def note(self) -> str | None:
        """One line on the folders left out, or None."""
        if not self.left_out:
            return None
        n = sum(len(v) for v in self.left_out.values())
        return f"left out {n} folder(s) of other tiles ({', '.join(sorted(self.left_out))}): not of tile {self.tile}"


def select_tile(s2_folders: Sequence[Path], s1_folders: Sequence[Path] = (), tile: str | None = None
                ) -> TileSelection:
    """The folders of one tile, by the tile rule of :mod:`decloud.prepare.common`: ``tile`` if given (its folders,
    the others left out), else the one tile of the S2 folders (several: an error listing them). S1 folders given
    but none of that tile is an error (the S1 would never be found: the tile names must agree)."""
    from .original import expand  # noqa: PLC0415
    from .prepare.common import check_tile_name, prepared_tile  # noqa: PLC0415

    s2_folders, s1_folders = expand(s2_folders), expand(s1_folders)  # the original Decloud's products: their views
    s2 = [(Path(f), prepared_tile(Path(f))) for f in s2_folders]
    s1 = [(Path(f), prepared_tile(Path(f))) for f in s1_folders]
    s2_tiles = sorted({t for _, t in s2})
    if tile is not None:
        tile = check_tile_name(tile)
        if tile not in s2_tiles:
            raise DecloudInputError(f"--tile {tile}: no prepared S2 folder of that tile among the {len(s2)} given "
                                    f"(their tiles: {', '.join(s2_tiles)}); prepare them with decloud prepare-s2 "
                                    f"--tile {tile}")
    elif len(s2_tiles) > 1:
        raise DecloudInputError(f"the S2 folders are of {len(s2_tiles)} tiles ({', '.join(s2_tiles)}): an index is "
                                "of one tile, give --tile")
    elif s2_tiles:
        tile = s2_tiles[0]
    else:
        raise DecloudInputError("no prepared S2 folder to index")
    if s1 and not any(t == tile for _, t in s1):
        s1_tiles = sorted({t for _, t in s1})
        raise DecloudInputError(f"no S1 folder of tile {tile} among the {len(s1)} given (their tiles: "
                                f"{', '.join(s1_tiles)}): S2 and S1 must be prepared under one tile name (e.g. "
                                f"decloud prepare-s2 --tile {s1_tiles[0]} for GeoTIFF stacks, or the S1 with that "
                                f"of the S2)")
    left: dict[str, list[Path]] = {}
    for f, t in s2 + s1:
        if t != tile:
            left.setdefault(t, []).append(f)
    return TileSelection(tile, [f for f, t in s2 if t == tile], [f for f, t in s1 if t == tile], left)


def index_prepared(out_path: str | Path, s2_folders: Sequence[Path], s1_folders: Sequence[Path] = (), *,
                   cell_pixels: int = 256, tile: str | None = None) -> TileIndex:
    """Build or update the index of one tile from prepared S2 and S1 folders (their ``blocks.npz`` and
    ``done.json``), or the original Decloud's products (:mod:`decloud.original`). The tile is ``tile`` or that of
    the folders (:func:`select_tile`: folders of other tiles are left out); an existing index at ``out_path`` must
    be of that tile. Dates already in it are skipped (built once, updated when new dates arrive)."""
    import json  # noqa: PLC0415

    from .original import expand  # noqa: PLC0415
    from .raster import geotransform  # noqa: PLC0415

    out_path = Path(out_path)
    s2_folders, s1_folders = expand(s2_folders), expand(s1_folders)  # the original Decloud's products: their views
    if not s2_folders:
        raise DecloudInputError(f"{out_path}: no prepared S2 folder to index")

    def marker(folder: Path) -> dict:
        try:
            return json.loads((Path(folder) / "done.json").read_text())
        except (OSError, ValueError) as e:
            raise DecloudInputError(f"{folder}: not a finished preparation output (no done.json)") from e

    for folder in [*s2_folders, *s1_folders]:
        marker(folder)
    chosen = select_tile(s2_folders, s1_folders, tile)
    s2_folders, s1_folders = chosen.s2, chosen.s1
    if out_path.exists():
        index = TileIndex.load(out_path)
        if index.tile != chosen.tile:
            raise DecloudInputError(f"{out_path}: an index of tile {index.tile}, not {chosen.tile}: give another --out "
                                    "(one index per tile), or remove it to rebuild it")
    else:
        first = Path(s2_folders[0])
        x0, dx, _, y0, _, _ = geotransform(first / "s2_10m.tif")
        from osgeo import gdal  # noqa: PLC0415

        ds = gdal.Open(str(first / "s2_10m.tif"))
        grid = PatchGrid.for_tile(x0, y0, width=ds.RasterXSize, height=ds.RasterYSize, pixel_size=dx,
                                  cell_pixels=cell_pixels)
        if grid.n_cells == 0:
            side = min(ds.RasterXSize, ds.RasterYSize) // 64 * 64
            fix = (f"give a smaller --cell-pixels (a multiple of 64, at most {side})" if side else
                   "an index needs images of 64 x 64 px at least")
            raise DecloudInputError(f"{first}: its images ({ds.RasterXSize} x {ds.RasterYSize} px) are smaller than "
                                    f"one cell of {cell_pixels} px: {fix}")
        index = TileIndex.empty(chosen.tile, grid)

    known = set(index.s2_hours.tolist())
    new_hours, clouds, nodatas = [], [], []
    for folder in s2_folders:
        h = to_hours(datetime.fromisoformat(marker(folder)["acquired"]))
        if h in known:
            continue
        with np.load(Path(folder) / "blocks.npz") as z:
            clouds.append(z["cloud"])
            nodatas.append(z["nodata"])
            block = int(z["block_pixels"])
        new_hours.append(h)
        known.add(h)
    if new_hours:
        index.add_s2(np.array(new_hours), np.stack(clouds), np.stack(nodatas), block_pixels=block)

    for orbit in ORBITS:
        known = set(index.s1_hours[orbit].tolist())
        hours, nodatas = [], []
        for folder in s1_folders:
            m = marker(folder)
            h = to_hours(datetime.fromisoformat(m["acquired"]))
            if m["orbit_direction"] != orbit or h in known:
                continue
            with np.load(Path(folder) / "blocks.npz") as z:
                nodatas.append(z["nodata"])
                block = int(z["block_pixels"])
            hours.append(h)
            known.add(h)
        if hours:
            index.add_s1(orbit, np.array(hours), np.stack(nodatas), block_pixels=block)
    index.save(out_path)
    return index

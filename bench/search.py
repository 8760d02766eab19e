"""Benchmark: patch index build and OS2 sample search on a simulated archive, vs the straightforward way.

Simulated archive (default): 10 tiles x 4 years, 90 S2 dates per tile and year (3600 in all) and 127-128 S1
dates per tile and year, alternately ascending and descending (5100 in all), over 10980 x 10980 tiles
with per-64-pixel-block cloud and nodata counts (as the preparation stage writes them) and a 256-pixel
patch grid (42 x 42 cells per tile). Clouds are smooth random fields with a random cover per date; a
third of the dates cover only part of the tile (swath edges).

Figures (`name: value`):
  index_build_s       per-block counts -> per-cell index (cloud %, validity, S1 dates), saved to disk
  os2_search_s        OS2 search over every cell and date of every tile (vectorised)
  build_plus_search_s the two
  samples             (cell, t) pairs that fit OS2
  straightforward_search_s  the same search done as Decloud does it, an R-tree per cell queried in
                      Python loops, timed on a sample of cells and scaled to all cells
  speedup             straightforward_search_s / os2_search_s
  same_results        1 if both ways give the same (cell, t) pairs on the sampled cells
  peak_rss_mb         this process

    python bench/search.py            # full archive
    python bench/search.py --quick    # 3 tiles, under a minute
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from decloud.layouts import load_layout
from decloud.patch_index import PatchGrid, TileIndex, to_hours
from decloud.search import search

BLOCK = 64
BLOCKS = -(-10980 // BLOCK)  # 172 blocks per side, the last one partial
START = to_hours(datetime(2019, 1, 1))


def simulate_tile(rng: np.random.Generator, years: int):
    """Per-block cloud and nodata counts of one tile's S2 and S1 dates."""
    n_s2, n_s1 = 90 * years, int(127.5 * years)
    s2_hours = np.sort(START + rng.integers(0, years * 365 * 24, n_s2))
    s1_hours = np.sort(START + rng.integers(0, years * 365 * 24, n_s1))
    cover = rng.beta(0.5, 0.7, n_s2)
    coarse = rng.random((n_s2, 12, 12))
    field = np.kron(coarse, np.ones((15, 15)))[:, :BLOCKS, :BLOCKS]  # smooth-ish cloud field
    cloud = np.where(field < cover[:, None, None], BLOCK * BLOCK, 0).astype(np.int32)

    def swath(n):
        nodata = np.zeros((n, BLOCKS, BLOCKS), dtype=np.int32)
        partial = rng.random(n) < 1 / 3
        edges = rng.integers(BLOCKS // 4, 3 * BLOCKS // 4, n)
        for d in np.flatnonzero(partial):
            nodata[d, :, edges[d]:] = BLOCK * BLOCK
        return nodata

    return s2_hours, cloud, swath(n_s2), s1_hours, swath(n_s1)


def build_index(tile: str, grid: PatchGrid, data) -> TileIndex:
    s2_hours, cloud, s2_nodata, s1_hours, s1_nodata = data
    index = TileIndex.empty(tile, grid)
    index.add_s2(s2_hours, cloud, s2_nodata, block_pixels=BLOCK)
    ascending = np.arange(s1_hours.size) % 2 == 0
    index.add_s1("ascending", s1_hours[ascending], s1_nodata[ascending], block_pixels=BLOCK)
    index.add_s1("descending", s1_hours[~ascending], s1_nodata[~ascending], block_pixels=BLOCK)
    return index


def straightforward_search(index: TileIndex, layout, cells: np.ndarray) -> set[tuple[int, int]]:
    """Decloud's way: per cell, an R-tree over (time, cloud %, S1 gap) of its valid dates, one query per
    acquisition and candidate reference date, in Python loops."""
    from rtree import index as rtree_index  # noqa: PLC0415 (the straightforward way only)

    props = rtree_index.Property()
    props.dimension = 3
    found = set()
    hours = index.s2_hours.astype(float)
    gaps = {a.name: index.nearest_s1(a.s1.orbit)[1] if a.s1 else None for a in layout.acquisitions}
    origin = layout.origin
    others = [a for a in layout.acquisitions if not a.is_origin]
    for cell in cells:
        trees = {}
        for acq in layout.acquisitions:
            gap = gaps[acq.name][cell] if gaps[acq.name] is not None else np.zeros(hours.size)
            tree = rtree_index.Index(properties=props)
            for d in np.flatnonzero(index.valid[cell]):
                p = (hours[d], float(index.cloud_percent[cell, d]), float(min(gap[d], 1e9)))
                tree.insert(int(d), p + p)
            trees[acq.name] = tree

        def query(acq, lo, hi, trees=trees):  # this cell's trees
            s2 = acq.s2
            max_gap = acq.max_s1s2_gap_hours if acq.s1 else 1e9
            return list(trees[acq.name].intersection((lo, s2.min_cloud_percent, 0, hi, s2.max_cloud_percent, max_gap)))

        for t in query(origin, hours[0], hours[-1]):
            if all(any(d != t for d in query(a, hours[t] + a.window_hours[0], hours[t] + a.window_hours[1]))
                   for a in others):
                found.add((int(cell), int(t)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 tiles instead of 10, fewer sampled cells")
    args = parser.parse_args()
    tiles, years = (3, 4) if args.quick else (10, 4)
    sampled_cells = 20 if args.quick else 60
    layout = load_layout("os2")
    rng = np.random.default_rng(0)
    grid = PatchGrid.for_tile(600000.0, 5000000.0, cell_pixels=256)

    build_s = search_s = 0.0
    samples = 0
    straight_s = 0.0
    straight_cells = 0
    same = True
    with tempfile.TemporaryDirectory(prefix="decloud-bench-") as tmp:
        for k in range(tiles):
            data = simulate_tile(rng, years)
            start = time.perf_counter()
            build_index(f"T{k:02d}", grid, data).save(Path(tmp) / f"T{k:02d}.npz")
            build_s += time.perf_counter() - start
            del data

            start = time.perf_counter()
            index = TileIndex.load(Path(tmp) / f"T{k:02d}.npz")
            result = search(index, layout)
            search_s += time.perf_counter() - start
            samples += len(result)

            if k == 0:  # the straightforward way on a sample of cells of the first tile
                cells = np.random.default_rng(1).choice(grid.n_cells, sampled_cells, replace=False)
                start = time.perf_counter()
                expected = straightforward_search(index, layout, cells)
                straight_s = (time.perf_counter() - start) / sampled_cells
                straight_cells = sampled_cells
                mine = {(int(c), int(t)) for c, t in zip(result.cells, result.origins) if c in set(cells.tolist())}
                same = mine == expected
            print(f"tile_{k:02d}_samples: {len(result)}", flush=True)

    total_cells = tiles * grid.n_cells
    straight_total = straight_s * total_cells
    print(f"tiles: {tiles}")
    print(f"s2_dates: {tiles * 90 * years}")
    print(f"s1_dates: {tiles * int(127.5 * years)}")
    print(f"cells: {total_cells}")
    print(f"index_build_s: {build_s:.2f}")
    print(f"os2_search_s: {search_s:.2f}")
    print(f"build_plus_search_s: {build_s + search_s:.2f}")
    print(f"samples: {samples}")
    print(f"straightforward_cells_timed: {straight_cells}")
    print(f"straightforward_search_s: {straight_total:.1f}")
    print(f"speedup: {straight_total / search_s:.1f}")
    print(f"same_results: {int(same)}")
    print(f"peak_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()

"""Sample search: every (patch cell, reference date t) of a tile whose acquisitions fit a layout, and the
candidate dates of each acquisition. Vectorised over cells and dates: an acquisition's constraints give a
mask [cells, dates]; its window relative to each t is a range of the sorted dates (the same for every
cell), so the number of candidates is a difference of cumulative sums. Tuples are drawn from there.

Conventions: a window [start, end] in hours is closed; no acquisition of a sample is on the date of t;
an acquisition that needs S1 uses the nearest valid S1 date of its orbit direction, of either direction when the
layout names none (within max_s1s2_gap_hours of its S2 date). A lower cloud bound written
``"random.randint(a, b)"`` is drawn per (cell, t) and acquisition (:func:`cloud_floors`, keyed by ``seed``): each
value v in a..b gives its own window counts, and each (cell, t) takes those of its draw.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Literal
from zlib import crc32

import numpy as np

from .errors import DecloudInputError
from .layouts import Acquisition, AcquisitionsLayout, shipped_layouts
from .patch_index import PatchGrid, TileIndex, from_hours

Strategy = Literal["random", "constant", "season"]


@dataclass(frozen=True)
class Sample:
    """One sample: a cell of a tile and, per acquisition, its S2 time (and S1 time where needed), in hours."""

    tile: str
    cell: int
    s2_hours: Mapping[str, int]
    s1_hours: Mapping[str, int | None]


CONSTRAINTS = ("valid", "cloud", "s1")


def constraint_masks(acq: Acquisition, cloud_percent: np.ndarray, valid: np.ndarray,
                     s1_gap_hours: np.ndarray | None) -> dict[str, np.ndarray]:
    """The rule of one acquisition of a layout, constraint by constraint (:data:`CONSTRAINTS`), each mask
    cumulative (it includes the ones before it). The one rule of ``decloud search`` (per patch cell and S2 date
    of an index) and ``decloud timeseries`` (per prepared S2 date):

    valid  the S2 image has data there (search: no nodata pixel in the cell; timeseries: some valid pixel);
    cloud  its cloud percent is within the acquisition's range, the layout's tolerance applied to the extremes
           (:meth:`decloud.layouts.S2Requirement.cloud_range`);
    s1     when the acquisition names S1: a valid S1 of its orbit (of either when it names none) within
           ``max_s1s2_gap_hours`` of the S2 date
           (``s1_gap_hours``: the gap to the nearest one, inf where there is none; None: no S1 at all).
    """
    ok = np.asarray(valid, dtype=bool).copy()
    masks = {"valid": ok.copy()}
    if acq.s2 is not None:
        low, high = acq.s2.cloud_range
        ok &= (cloud_percent >= low) & (cloud_percent <= high)
    masks["cloud"] = ok.copy()
    if acq.s1 is not None:
        limit = acq.max_s1s2_gap_hours if acq.max_s1s2_gap_hours is not None else np.inf
        ok &= False if s1_gap_hours is None else np.asarray(s1_gap_hours) <= limit
    masks["s1"] = ok
    return masks


def describe_constraint(acq: Acquisition, name: str) -> str:
    """A constraint of :func:`constraint_masks` in words, for messages."""
    if name == "valid":
        return "valid (no nodata)"
    if name == "cloud":
        return acq.s2.describe() if acq.s2 is not None else "any cloud cover"
    if acq.s1 is None:
        return "no S1 needed"
    gap = f"{acq.max_s1s2_gap_hours:g} h" if acq.max_s1s2_gap_hours is not None else "any gap"
    orbit = "" if acq.s1.orbit == "any" else f"{acq.s1.orbit} "
    return f"{orbit}S1 within {gap}"


def acquisition_masks(index: TileIndex, acq: Acquisition) -> dict[str, np.ndarray]:
    """:func:`constraint_masks` of an acquisition over an index: [cells, dates] each."""
    gap = index.nearest_s1(acq.s1.orbit)[1] if acq.s1 is not None else None
    return constraint_masks(acq, index.cloud_percent, index.valid, gap)


def acquisition_mask(index: TileIndex, acq: Acquisition) -> np.ndarray:
    """[cells, dates]: the S2 dates of each cell that meet the acquisition's own constraints."""
    return acquisition_masks(index, acq)["s1"]


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (uint64 arrays, wrapping)."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def cloud_floors(index: TileIndex, acq: Acquisition, seed: int = 0) -> np.ndarray | None:
    """[cells, dates] the lower cloud percent that each (cell, t) applies to acquisition ``acq`` when its
    ``min_cloud_percent`` is ``random.randint(a, b)`` (None otherwise): v drawn uniformly in a..b, then the
    range rule of :meth:`decloud.layouts.S2Requirement.cloud_range_from`. A draw depends only on (seed, tile,
    acquisition name, cell, date of t): the same search gives the same draws, whatever cells are searched and
    whatever dates are added to the index later."""
    if acq.s2 is None or acq.s2.min_cloud_draw is None:
        return None
    a, b = acq.s2.min_cloud_draw
    with np.errstate(over="ignore"):
        h = np.full((index.grid.n_cells, index.s2_hours.size), np.uint64(seed & 0xFFFFFFFFFFFFFFFF), np.uint64)
        for key in (crc32(index.tile.encode()), crc32(acq.name.encode())):
            h = _mix(h ^ np.uint64(key))
        h = _mix(h ^ np.arange(index.grid.n_cells, dtype=np.uint64)[:, None])
        h = _mix(h ^ index.s2_hours.astype(np.int64).view(np.uint64)[None, :])
    drawn = a + (h % np.uint64(b - a + 1)).astype(np.int64)
    floors = np.array([acq.s2.cloud_range_from(v)[0] for v in range(a, b + 1)], dtype=np.float64)
    return floors[drawn - a]


def _window_counts(hours: np.ndarray, window: tuple[float, float], mask: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, n): the range of sorted dates in the window of each origin date, and per (cell, origin) the
    number of dates of ``mask`` in it, the origin's own date left out."""
    start, end = window
    lo = np.searchsorted(hours, hours + start, side="left")
    hi = np.searchsorted(hours, hours + end, side="right")
    counts = np.concatenate([np.zeros((mask.shape[0], 1), np.int32), np.cumsum(mask, axis=1, dtype=np.int32)], 1)
    n = counts[:, hi] - counts[:, lo]
    if start <= 0 <= end:  # the date of t itself is never a candidate
        n = n - mask
    return lo, hi, n


@dataclass
class SearchResult:
    index: TileIndex
    layout: AcquisitionsLayout
    cells: np.ndarray  # [n] cell of each sample
    origins: np.ndarray  # [n] date index of t for each sample
    masks: dict[str, np.ndarray]  # acquisition -> [cells, dates]
    windows: dict[str, tuple[np.ndarray, np.ndarray]]  # acquisition -> (lo [dates], hi [dates]) per origin
    floors: dict[str, np.ndarray] = field(default_factory=dict)  # drawn lower cloud % [cells, origin dates]

    def __len__(self) -> int:
        return int(self.cells.size)

    def candidates(self, k: int, name: str) -> np.ndarray:
        """Date indices of acquisition ``name`` for sample k (the origin's own date for the origin)."""
        cell, t = int(self.cells[k]), int(self.origins[k])
        if name == self.layout.origin.name:
            return np.array([t])
        lo, hi = self.windows[name]
        dates = np.arange(lo[t], hi[t])
        keep = self.masks[name][cell, dates]
        if name in self.floors:
            keep &= self.index.cloud_percent[cell, dates] >= self.floors[name][cell, t]
        dates = dates[keep]
        return dates[dates != t]

    def _sample(self, k: int, chosen: dict[str, int]) -> Sample:
        cell = int(self.cells[k])
        s1: dict[str, int | None] = {}
        for acq in self.layout.acquisitions:
            if acq.s1 is None:
                s1[acq.name] = None
                continue
            nearest, _ = self.index.nearest_s1(acq.s1.orbit)
            s1[acq.name] = int(self.index.s1_hours_for(acq.s1.orbit)[nearest[cell, chosen[acq.name]]])
        return Sample(self.index.tile, cell, {n: int(self.index.s2_hours[d]) for n, d in chosen.items()}, s1)

    def tuples(self) -> Iterator[Sample]:
        """Every combination of candidates, sample by sample (for small archives and tests)."""
        names = self.layout.names
        for k in range(len(self)):
            for dates in product(*(self.candidates(k, n) for n in names)):
                if len(set(dates)) == len(dates):
                    yield self._sample(k, dict(zip(names, map(int, dates))))

    def draw(self, *, strategy: Strategy = "constant", per_cell: int = 1, total: int | None = None,
             seed: int = 0) -> list[Sample]:
        """Bounded, reproducible combinations: one random candidate per acquisition for each chosen (cell, t).

        random: ``total`` (cell, t) pairs drawn uniformly over the tile; constant: at most ``per_cell`` pairs
        per cell; season: at most ``per_cell`` per cell, taken round-robin over the seasons of t (DJF, MAM,
        JJA, SON) so that no season dominates.
        """
        rng = np.random.default_rng(seed)
        if strategy == "random":
            if total is None:
                raise DecloudInputError("strategy 'random' needs total=")
            chosen = rng.permutation(len(self))[:total]
        elif strategy in ("constant", "season"):
            chosen = self._per_cell(rng, per_cell, seasonal=strategy == "season")
        else:
            raise DecloudInputError(f"unknown strategy {strategy!r} (random, constant, season)")
        samples = []
        for k in np.sort(chosen):
            picks: dict[str, int] = {}
            for name in self.layout.names:
                options = [d for d in self.candidates(int(k), name) if d not in picks.values()]
                if not options:
                    break
                picks[name] = int(rng.choice(options))
            else:
                samples.append(self._sample(int(k), picks))
        return samples

    def _per_cell(self, rng: np.random.Generator, per_cell: int, *, seasonal: bool) -> np.ndarray:
        order = rng.permutation(len(self))
        cells = self.cells[order]
        keys = cells.astype(np.int64)
        if seasonal:
            months = np.array([from_hours(h).month for h in self.index.s2_hours])
            season = (months[self.origins[order]] % 12) // 3
            # rank within (cell, season), then interleave seasons by that rank
            rank_key = keys * 4 + season
        else:
            rank_key = keys
        sort = np.argsort(rank_key, kind="stable")
        sorted_keys = rank_key[sort]
        starts = np.searchsorted(sorted_keys, sorted_keys, side="left")
        rank = np.empty_like(sort)
        rank[sort] = np.arange(sort.size) - starts
        # order by (cell, rank, random) and keep the first per_cell of each cell
        final = np.lexsort((rank, keys))
        cell_sorted = keys[final]
        first = np.searchsorted(cell_sorted, cell_sorted, side="left")
        keep = final[(np.arange(final.size) - first) < per_cell]
        return order[keep]


def search(index: TileIndex, layout: AcquisitionsLayout, *, cells: np.ndarray | None = None,
           seed: int = 0) -> SearchResult:
    """All (cell, t) of ``index`` (restricted to ``cells`` if given) whose acquisitions all have a candidate.
    ``seed`` keys the lower cloud bounds drawn for ``random.randint`` thresholds (:func:`cloud_floors`)."""
    hours = index.s2_hours
    masks = {a.name: acquisition_mask(index, a) for a in layout.acquisitions}
    floors = {a.name: f for a in layout.acquisitions if (f := cloud_floors(index, a, seed)) is not None}
    good = masks[layout.origin.name].copy()
    if layout.origin.name in floors:  # t's own cloud cover against its draw
        good &= index.cloud_percent >= floors[layout.origin.name]
    windows = {}
    for acq in layout.acquisitions:
        if acq.is_origin:
            continue
        if acq.name in floors:  # per value v of the draw, the counts with the bound v; each (cell, t) takes its own
            floor = floors[acq.name]
            n = np.zeros(good.shape, dtype=np.int32)
            for v in np.unique(floor):
                lo, hi, n_v = _window_counts(hours, acq.window_hours, masks[acq.name] & (index.cloud_percent >= v))
                n = np.where(floor == v, n_v, n)
        else:
            lo, hi, n = _window_counts(hours, acq.window_hours, masks[acq.name])
        windows[acq.name] = (lo, hi)
        good &= n > 0
    if cells is not None:
        good &= _cell_mask(good.shape[0], cells)[:, None]
    sample_cells, origins = np.nonzero(good)
    return SearchResult(index, layout, sample_cells, origins, masks, windows, floors)


def _cell_mask(n_cells: int, cells) -> np.ndarray:
    keep = np.zeros(n_cells, dtype=bool)
    keep[np.asarray(cells, dtype=np.int64)] = True
    return keep


@dataclass(frozen=True)
class AcquisitionCounts:
    """How many candidates each constraint of one acquisition kept: (label, count) in order."""

    name: str
    steps: tuple[tuple[str, int], ...]

    @property
    def empty_at(self) -> str | None:
        """The first constraint that kept nothing (None: some candidate is left)."""
        return next((label for label, n in self.steps if n == 0), None)


def explain(index: TileIndex, layout: AcquisitionsLayout, *, cells: np.ndarray | None = None
            ) -> list[AcquisitionCounts]:
    """Per acquisition of ``layout``, how many candidates each constraint kept, in the order of the rule
    (:func:`constraint_masks`): (cell, date) pairs of the index, then valid, cloud, S1; for an acquisition that
    is not the origin, last, the (cell, t) pairs whose t fits the origin and that have a candidate in its window.
    What ``decloud search`` prints when nothing fits."""
    keep = _cell_mask(index.grid.n_cells, cells)[:, None] if cells is not None else np.ones((index.grid.n_cells, 1),
                                                                                             dtype=bool)
    per_acq = {a.name: acquisition_masks(index, a) for a in layout.acquisitions}
    origin_ok = per_acq[layout.origin.name]["s1"] & keep
    out = []
    total = int(keep.sum()) * index.s2_hours.size
    for acq in layout.acquisitions:
        masks = per_acq[acq.name]
        steps = [("(cell, date) pairs", total)]
        steps += [(describe_constraint(acq, c), int((masks[c] & keep).sum())) for c in CONSTRAINTS
                  if c != "s1" or acq.s1 is not None]
        if not acq.is_origin:
            _, _, n = _window_counts(index.s2_hours, acq.window_hours, masks["s1"])
            start, end = acq.window_hours
            steps.append((f"in [{start:+g} h, {end:+g} h] of a t that fits {layout.origin.name}",
                          int(((n > 0) & origin_ok).sum())))
        out.append(AcquisitionCounts(acq.name, tuple(steps)))
    return out


def explain_message(index: TileIndex, layout: AcquisitionsLayout, *, cells: np.ndarray | None = None,
                    source: str | None = None) -> str:
    """Why no (cell, t) of ``index`` fits ``layout``: the first constraint that emptied an acquisition, a hint,
    and per acquisition the counts of :func:`explain` (one line each)."""
    counts = explain(index, layout, cells=cells)
    where = f"{source} (tile {index.tile})" if source else f"tile {index.tile}"
    n_s1 = sum(v.size for v in index.s1_hours.values())
    head = (f"no (cell, t) pair of {where}: {index.grid.n_cells} cells x {index.s2_hours.size} S2 dates, "
            f"{n_s1} S1 dates, fits layout {layout.name}")
    culprit = next((c for c in counts if c.empty_at is not None), None)
    if culprit is not None:
        at = culprit.empty_at or ""
        head += f": {culprit.name} is emptied by \"{at}\""
        acq = layout[culprit.name]
        if acq.s1 is not None and at == describe_constraint(acq, "s1"):
            s2_only = f"{layout.name}-s2" if f"{layout.name}-s2" in shipped_layouts() else "os2-s2"
            head += (" (the index has no S1: index prepared S1 with decloud index --s1, or use an S2-only layout "
                     f"such as {s2_only})" if n_s1 == 0 else
                     " (index the S1 acquired near these S2 dates, or raise max_s1s2_gap_hours)")
        elif at == describe_constraint(acq, "cloud"):
            head += " (no date has that cloud cover: raise the layout's cloud_tolerance_percent or thresholds)"
        elif at.startswith("in ["):
            head += " (no date in that window: the series is too short or too sparse for it)"
    else:
        head += " (each acquisition has candidates, but never all at once for one (cell, t))"
    lines = [head + "; candidates kept per constraint:"]
    for c in counts:
        lines.append(f"  {c.name}: " + " -> ".join(f"{label} {n}" for label, n in c.steps))
    return "\n".join(lines)


BBox = Sequence[float]  # (xmin, ymin, xmax, ymax) in the grid's CRS


def split_cells(grid: PatchGrid, rois: Mapping[str, Sequence[BBox]]) -> dict[str, np.ndarray]:
    """Assign cells to geographic splits (e.g. train/valid/test) with an R-tree over the cells.

    A cell goes to the split whose ROIs it intersects; a cell that intersects ROIs of two splits goes to
    none, so that no patch is shared by two splits (cells never overlap one another).
    """
    from rtree import index as rtree_index  # noqa: PLC0415

    tree = rtree_index.Index(((int(c), tuple(b), None) for c, b in
                              enumerate(grid.cell_bounds(np.arange(grid.n_cells)))))
    owner = np.full(grid.n_cells, -1, dtype=np.int64)
    names = list(rois)
    for s, name in enumerate(names):
        hits: set[int] = set()
        for box in rois[name]:
            xmin, ymin, xmax, ymax = box
            hits.update(c for c in tree.intersection((xmin, ymin, xmax, ymax))
                        if _strictly_overlaps(grid.cell_bounds(c)[0], box))
        hits_arr = np.fromiter(hits, dtype=np.int64, count=len(hits))
        conflict = owner[hits_arr] >= 0
        owner[hits_arr[conflict]] = -2
        fresh = hits_arr[~conflict]
        owner[fresh] = s
    return {name: np.flatnonzero(owner == s) for s, name in enumerate(names)}


def _strictly_overlaps(a: np.ndarray, b: BBox) -> bool:
    """Open-interval overlap: touching edges do not count."""
    return bool(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])

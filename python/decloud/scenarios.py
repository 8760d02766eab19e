"""Real-cloud scenarios on folders of dated Sentinel-2 stacks: the protocol of the quality benchmark and the
source of the training examples of the gap-filling-residual network (``gfnet``).

A folder holds ``S2_L2A_YYYYMMDD_B2B3B4B8.tif`` (4 bands, reflectance x 10000, uint16 or int16) with, per date,
``S2_L2A_YYYYMMDD_SCL.tif`` (Sen2Cor classes) and/or ``S2_L2A_YYYYMMDD_CLM.tif`` (1 cloud, 0 clear, 255 nodata).
``load_series`` reads it into memory in Decloud's encoding (int16, -10000 nodata) with one cloud mask per date.

A pixel is nodata only where the product says so: all four bands at 0 (the stacks' nodata), SCL class 0 or CLM
255. One band at 0 is a dark pixel, kept (bolzano-west's B2 is 0 on 21 % of a date, mostly vegetation).

The scenario protocol (``../shared/QUALITY.md``): a reference date T with (almost) no cloud; its nearest clear dates
before and after (within ``window_days``) as t-1 and t+1; a cloudy date C whose real cloudy pixels are pasted on T
(real cloud and shadow radiometry, real shapes). The input t is that composite, its cloud mask C's mask (plus T's
own few cloudy pixels); methods are scored against T on the pasted pixels only (``Scene.score``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np

from .errors import DecloudInputError
from .products import SCL_CLOUD_CLASSES

NODATA = -10000
# A date its mask calls clear but whose blue band (B2, x 10000) is brighter than each of the adjacent clear dates
# by more than this, in median over the pixels clear in both, is a cloud the mask missed (no ground change brightens
# a whole scene's blue by 0.1 in days): never a reference, a neighbour or a target. Over the four real sets it
# flags one date: worldcereal-belgium-a 2018-09-23 (+0.55, a thick cloud SCL classes as snow); the next largest
# there is +0.05.
MISSED_CLOUD_BLUE = 1000
MaskSource = Literal["auto", "scl", "clm", "union"]
_STACK = re.compile(r"^S2_L2A_(?P<date>\d{8})_B2B3B4B8\.tif$")


@dataclass(frozen=True)
class Series:
    """One set of dated images in memory: ``reflectance`` [D, H, W, 4] int16 (-10000 nodata), ``cloud`` [D, H, W]."""

    name: str
    dates: tuple[date, ...]
    reflectance: np.ndarray
    cloud: np.ndarray
    mask_source: str
    geotransform: tuple[float, ...]
    projection: str

    @property
    def valid(self) -> np.ndarray:
        return np.any(self.reflectance != NODATA, axis=-1)

    def cloud_fraction(self) -> np.ndarray:
        """Per date, the cloudy share of its valid pixels (1.0 for a date without valid pixel)."""
        valid = self.valid
        counts = valid.sum(axis=(1, 2))
        return np.where(counts > 0, (self.cloud & valid).sum(axis=(1, 2)) / np.maximum(counts, 1), 1.0)

    def crop(self, rows: slice = slice(None), cols: slice = slice(None)) -> Series:
        gt = list(self.geotransform)
        r0, c0 = rows.start or 0, cols.start or 0
        gt[0] += c0 * gt[1]
        gt[3] += r0 * gt[5]
        return Series(self.name, self.dates, self.reflectance[:, rows, cols], self.cloud[:, rows, cols],
                      self.mask_source, tuple(gt), self.projection)

    def timestamp(self, index: int) -> int:
        """Seconds since 1970-01-01 UTC of date ``index`` (the day's start: stacks carry no time)."""
        d = self.dates[index]
        return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp())


def _read(path: Path) -> tuple[np.ndarray, tuple[float, ...], str]:
    from osgeo import gdal  # noqa: PLC0415

    gdal.UseExceptions()
    try:
        ds = gdal.Open(str(path))
    except RuntimeError as e:
        raise DecloudInputError(f"{path}: not readable by GDAL ({e})") from e
    array = np.stack([ds.GetRasterBand(b + 1).ReadAsArray() for b in range(ds.RasterCount)], axis=-1)
    return array, ds.GetGeoTransform(), ds.GetProjection()


def load_series(folder: str | Path, *, mask: MaskSource = "auto", name: str | None = None) -> Series:
    """Read every dated stack of ``folder`` (see the module doc). ``mask``: which cloud mask makes ``cloud``
    (``auto``: SCL where present, else CLM; ``union``: a pixel is cloudy when either says so)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DecloudInputError(f"{folder}: no such folder of S2 stacks")
    stacks = sorted((datetime.strptime(m["date"], "%Y%m%d").date(), folder / m.group(0))
                    for m in (_STACK.match(p.name) for p in folder.iterdir()) if m)
    if not stacks:
        raise DecloudInputError(f"{folder}: no S2_L2A_YYYYMMDD_B2B3B4B8.tif stack")
    dates, images, clouds = [], [], []
    gt0: tuple[float, ...] = ()
    proj0, shape0 = "", None
    used = mask
    for d, path in stacks:
        stem = path.name[: -len("B2B3B4B8.tif")]
        scl_path, clm_path = folder / f"{stem}SCL.tif", folder / f"{stem}CLM.tif"
        source = mask
        if mask == "auto":
            source = "scl" if scl_path.exists() else "clm"
        used = source
        needed = {"scl": [scl_path], "clm": [clm_path], "union": [scl_path, clm_path]}[source]
        missing = [p for p in needed if not p.exists()]
        if missing:
            raise DecloudInputError(f"{path}: no cloud mask {missing[0].name} beside it (mask source {source!r})")
        raw, gt, proj = _read(path)
        if raw.shape[-1] != 4:
            raise DecloudInputError(f"{path}: {raw.shape[-1]} bands, expected 4 (B2 B3 B4 B8)")
        if shape0 is None:
            gt0, proj0, shape0 = gt, proj, raw.shape
        elif raw.shape != shape0 or not np.allclose(gt, gt0):
            raise DecloudInputError(f"{path}: on another grid than {stacks[0][1].name}")
        nodata = np.all(raw == 0, axis=-1)
        cloud = np.zeros(raw.shape[:2], bool)
        if source in ("scl", "union"):
            scl = _read(scl_path)[0][..., 0]
            nodata |= scl == 0
            cloud |= np.isin(scl, SCL_CLOUD_CLASSES)
        if source in ("clm", "union"):
            clm = _read(clm_path)[0][..., 0]
            nodata |= clm == 255
            cloud |= clm == 1
        refl = np.clip(raw.astype(np.int32), 0, 32767).astype(np.int16)
        refl[nodata] = NODATA
        dates.append(d)
        images.append(refl)
        clouds.append(cloud & ~nodata)
    return Series(name or folder.name, tuple(dates), np.stack(images), np.stack(clouds), used, tuple(gt0), proj0)


@dataclass(frozen=True)
class Scenario:
    """Indices into a series: reference T, pasted cloudy date C, neighbours before / after T."""

    reference: int
    cloudy: int
    before: int
    after: int

    def label(self, series: Series) -> str:
        d = series.dates
        return (f"{series.name} T={d[self.reference]} C={d[self.cloudy]} "
                f"t-1={d[self.before]} t+1={d[self.after]}")


@dataclass
class Scene:
    """The arrays of one scenario: inputs (t with pasted clouds, its mask, t-1, t+1, their timestamps), the
    reference T and the pixels to score."""

    t: np.ndarray
    cloud: np.ndarray      # bool [H, W]: the cloud mask given with t (C's pasted clouds and T's own clouds)
    tm1: np.ndarray
    tp1: np.ndarray
    timestamps: dict[str, int]
    reference: np.ndarray
    scored: np.ndarray     # bool [H, W]: pasted pixels where T is clear and valid
    label: str = ""
    extra: dict = field(default_factory=dict)


def build_scene(series: Series, sc: Scenario) -> Scene:
    """Paste C's real cloudy pixels on T (where both have data)."""
    ref = series.reflectance[sc.reference]
    ref_valid = np.any(ref != NODATA, axis=-1)
    c_valid = np.any(series.reflectance[sc.cloudy] != NODATA, axis=-1)
    pasted = series.cloud[sc.cloudy] & c_valid & ref_valid
    t = ref.copy()
    t[pasted] = series.reflectance[sc.cloudy][pasted]
    cloud = pasted | series.cloud[sc.reference]
    scored = pasted & ~series.cloud[sc.reference]
    stamps = {"t": series.timestamp(sc.reference), "tm1": series.timestamp(sc.before),
              "tp1": series.timestamp(sc.after)}
    return Scene(t, cloud, series.reflectance[sc.before], series.reflectance[sc.after], stamps, ref, scored,
                 sc.label(series))


def missed_cloud_gaps(blue: Sequence[np.ndarray], usable: Sequence[np.ndarray], *,
                      min_pixels: int = 100) -> dict[int, float]:
    """The rule of ``MISSED_CLOUD_BLUE`` on dates in time order that their masks call clear: ``blue`` (B2 x
    10000) and ``usable`` (valid and clear) per date, on one grid. Returns {position: how much brighter than
    the nearer-in-brightness adjacent date, in median} for the missed clouds: brighter than each adjacent date
    (previous and next, at least one compared on ``min_pixels`` common usable pixels) by more than the
    threshold. Two adjacent missed clouds hide each other; one is what the real sets have."""
    missed = {}
    for k in range(len(blue)):
        gaps = []
        for j in (k - 1, k + 1):
            if 0 <= j < len(blue) and blue[j].shape == blue[k].shape:
                both = usable[k] & usable[j]
                if both.sum() >= min_pixels:
                    gaps.append(float(np.median(blue[k][both].astype(np.int32) - blue[j][both])))
        if gaps and min(gaps) > MISSED_CLOUD_BLUE:
            missed[k] = min(gaps)
    return missed


def missed_clouds(series: Series, candidates: Sequence[int], *, min_pixels: int = 100) -> set[int]:
    """The dates of ``candidates`` (indices of dates their masks call clear) that are clouds the mask missed
    (``missed_cloud_gaps`` among them in time order)."""
    order = sorted(set(candidates), key=lambda i: series.dates[i])
    usable = series.valid & ~series.cloud
    gaps = missed_cloud_gaps([series.reflectance[i, ..., 0] for i in order], [usable[i] for i in order],
                             min_pixels=min_pixels)
    return {order[k] for k in gaps}


def clear_dates(series: Series, *, clear_max: float = 0.02, dates: Sequence[date] | None = None) -> list[int]:
    """The dates with a cloudy share <= ``clear_max`` (of those in ``dates``), less the clouds their masks missed
    (``missed_clouds``, judged among all the dates under ``clear_max``)."""
    frac = series.cloud_fraction()
    clear = [i for i in range(len(series.dates)) if frac[i] <= clear_max]
    missed = missed_clouds(series, clear)
    return [i for i in clear if i not in missed and (dates is None or series.dates[i] in dates)]


def plan_scenarios(series: Series, *, clear_max: float = 0.02, cloudy_min: float = 0.05, full_min: float = 0.9,
                   window_days: int = 30, partly_per_reference: int = 2, full_per_reference: int = 1,
                   references: Sequence[date] | None = None, max_references: int | None = None,
                   cloudy: Sequence[date] | None = None) -> list[Scenario]:
    """The scenarios of the protocol: every clear reference (or those of ``references``) with a clear date on
    each side within ``window_days``; per reference, ``partly_per_reference`` partly cloudy dates C (spread over
    the cloud fractions, median first) and ``full_per_reference`` fully cloudy ones (>= ``full_min``), the
    nearest to T first. Deterministic. ``max_references`` keeps that many references, spread over time;
    ``cloudy`` restricts the dates C to those."""
    frac = series.cloud_fraction()
    clear = clear_dates(series, clear_max=clear_max)
    days = np.array([d.toordinal() for d in series.dates])
    refs = [i for i in clear if references is None or series.dates[i] in references]
    plans = []
    for r in refs:
        before = [i for i in clear if 0 < days[r] - days[i] <= window_days]
        after = [i for i in clear if 0 < days[i] - days[r] <= window_days]
        if before and after:
            plans.append((r, max(before), min(after)))
    if max_references is not None and len(plans) > max_references:
        keep = np.unique(np.linspace(0, len(plans) - 1, max_references).round().astype(int))
        plans = [plans[k] for k in keep]
    allowed = [i for i in range(len(frac)) if cloudy is None or series.dates[i] in cloudy]
    partly = [i for i in allowed if cloudy_min <= frac[i] < full_min]
    full = [i for i in allowed if frac[i] >= full_min and series.valid[i].any()]
    out = []
    for r, b, a in plans:
        chosen: list[int] = []
        if partly and partly_per_reference:
            by_frac = sorted(partly, key=lambda i: (frac[i], i))
            picks = np.linspace(0, len(by_frac) - 1, partly_per_reference + 2)[1:-1] if len(by_frac) > 1 else [0]
            for p in picks:
                i = by_frac[int(round(p))]
                if i not in chosen:
                    chosen.append(i)
        chosen += sorted(full, key=lambda i: (abs(days[i] - days[r]), i))[:full_per_reference]
        out += [Scenario(r, c, b, a) for c in chosen]
    return out


def scenes(series: Series, scenarios: Sequence[Scenario]) -> Iterator[Scene]:
    for sc in scenarios:
        yield build_scene(series, sc)


# ---- numpy references of the classical methods (the apps are checked against the gap-filling one) ----

def linear_gapfill(tm1: np.ndarray, tp1: np.ndarray, stamps: Mapping[str, float]) -> np.ndarray:
    """Linear in time between t-1 and t+1, per pixel; a date without data gives way to the other; float32."""
    w = (stamps["t"] - stamps["tm1"]) / max(stamps["tp1"] - stamps["tm1"], 1)
    vb, va = np.any(tm1 != NODATA, -1, keepdims=True), np.any(tp1 != NODATA, -1, keepdims=True)
    mix = (1 - w) * tm1.astype(np.float32) + w * tp1.astype(np.float32)
    return np.where(vb & va, mix, np.where(vb, tm1, np.where(va, tp1, NODATA))).astype(np.float32)


def nearest_copy(scene: Scene) -> np.ndarray:
    """The neighbour nearest in time (t-1 on a tie); the other where it has no data."""
    before = scene.timestamps["t"] - scene.timestamps["tm1"] <= scene.timestamps["tp1"] - scene.timestamps["t"]
    first, second = (scene.tm1, scene.tp1) if before else (scene.tp1, scene.tm1)
    valid = np.any(first != NODATA, -1, keepdims=True)
    return np.where(valid, first, second).astype(np.float32)


def gapfill_local_bias(scene: Scene, *, window: int = 101, margin: int = 2) -> np.ndarray:
    """The gap-filling plus a local bias: the mean of (t - gap-filling) over the clear pixels of t within a
    ``window``-pixel square (clear pixels closer than ``margin`` to a cloud left out, cloud edges being
    often missed by masks); no correction where the window holds no clear pixel."""
    from scipy import ndimage  # noqa: PLC0415

    gf = linear_gapfill(scene.tm1, scene.tp1, scene.timestamps)
    near_cloud = ndimage.binary_dilation(scene.cloud, iterations=margin) if margin else scene.cloud
    ok = (~near_cloud & np.all(scene.t != NODATA, -1) & np.all(gf != NODATA, -1)).astype(np.float64)
    count = ndimage.uniform_filter(ok, window, mode="constant")
    out = gf.copy()
    for b in range(gf.shape[-1]):
        diff = np.where(ok > 0, scene.t[..., b] - gf[..., b], 0.0)
        bias = ndimage.uniform_filter(diff, window, mode="constant") / np.maximum(count, 1e-12)
        out[..., b] = np.where((count > 0) & (gf[..., b] != NODATA), gf[..., b] + bias, gf[..., b])
    return out


# ---- splits and training examples ----

@dataclass(frozen=True)
class Split:
    """Which part of a set is for training and which for testing: a spatial split (rows) where the set is large
    enough, a temporal one (reference dates) otherwise. Dates given are reference dates T; a temporal split
    also keeps every input of a training example (neighbours, pasted clouds) inside the training period."""

    kind: Literal["spatial", "temporal"]
    mask: MaskSource = "auto"
    train_rows: tuple[int, int] | None = None
    test_rows: tuple[int, int] | None = None
    test_from: date | None = None  # temporal: T on or after this day is a test reference

    def train(self, series: Series) -> tuple[Series, Callable[[date], bool]]:
        if self.kind == "spatial":
            r0, r1 = self.train_rows or (0, series.reflectance.shape[1])
            return series.crop(slice(r0, r1)), lambda d: True
        return series, lambda d: self.test_from is None or d < self.test_from

    def test(self, series: Series) -> tuple[Series, Callable[[date], bool]]:
        if self.kind == "spatial":
            r0, r1 = self.test_rows or (0, series.reflectance.shape[1])
            return series.crop(slice(r0, r1)), lambda d: True
        return series, lambda d: self.test_from is not None and d >= self.test_from

    def describe(self) -> dict:
        out: dict = {"kind": self.kind, "mask": self.mask}
        if self.kind == "spatial":
            out.update(train_rows=list(self.train_rows or ()), test_rows=list(self.test_rows or ()))
        else:
            out["test_references_from"] = self.test_from.isoformat() if self.test_from else None
        return out


# The splits of the real sets of ../shared/data (see its README: which mask to trust, sizes). The demo crop and
# every reported score come from the test parts.
SPLITS: dict[str, Split] = {
    "bolzano-west": Split("spatial", "scl", train_rows=(0, 448), test_rows=(480, 705)),
    "greenearthnet-portugal": Split("temporal", "union", test_from=date(2021, 8, 10)),
    "greenearthnet-sweden": Split("temporal", "scl", test_from=date(2021, 5, 25)),
    "worldcereal-belgium-a": Split("temporal", "scl", test_from=date(2018, 6, 15)),
}


def find_sets(data: str | Path) -> list[Path]:
    """The sets of a data folder (``../shared/data`` or any other): its sub-folders that hold at least one
    ``S2_L2A_YYYYMMDD_B2B3B4B8.tif`` stack, the real sets of :data:`SPLITS` first (in that order), then the
    others by name. The benchmarks score every one of them: a known set on its test part, another whole (no
    model of the project was trained on it). Empty when ``data`` is not a folder or holds no set."""
    data = Path(data)
    if not data.is_dir():
        return []
    found = [p for p in data.iterdir() if p.is_dir() and any(_STACK.match(f.name) for f in p.iterdir())]
    order = {name: k for k, name in enumerate(SPLITS)}
    return sorted(found, key=lambda p: (order.get(p.name, len(order)), p.name))


def test_scenarios(series: Series, split: Split, **options) -> tuple[Series, list[Scenario]]:
    """The protocol's scenarios on the test part of ``series`` (temporal splits: the pasted clouds too come from
    the test period, so that no pixel of a scenario was a training target or a pasted cloud in training)."""
    part, is_test = split.test(series)
    refs = [d for d in part.dates if is_test(d)]
    return part, plan_scenarios(part, references=refs, cloudy=refs if split.kind == "temporal" else None,
                                **options)


def validation_scenarios(series: Series, split: Split, **options) -> tuple[Series, list[Scenario]]:
    """The protocol's scenarios on the TRAINING part of ``series`` (references, neighbours and pasted clouds all
    from it): for choosing among checkpoints or options without looking at the test part."""
    part, in_train = split.train(series)
    days = [d for d in part.dates if in_train(d)]
    return part, plan_scenarios(part, references=days, cloudy=days if split.kind == "temporal" else None,
                                **options)


_DIHEDRAL = [(k, f) for k in range(4) for f in (False, True)]


def _dihedral(a: np.ndarray, k: int, flip: bool) -> np.ndarray:
    a = np.rot90(a, k, axes=(0, 1))
    return np.ascontiguousarray(a[:, ::-1] if flip else a)


def _holes(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Realistic holes: scattered defective pixels, a cluster, or a swath edge."""
    h, w = shape
    kind = rng.integers(3)
    if kind == 0:
        return rng.random(shape) < rng.uniform(0.02, 0.25)
    if kind == 1:
        mask = np.zeros(shape, bool)
        for _ in range(rng.integers(1, 4)):
            r, c, s = rng.integers(h), rng.integers(w), rng.integers(2, max(3, h // 6))
            mask[max(0, r - s):r + s, max(0, c - s):c + s] = True
        return mask
    rows, cols = np.mgrid[0:h, 0:w]
    angle = rng.uniform(0, np.pi)
    d = np.cos(angle) * (rows - h / 2) + np.sin(angle) * (cols - w / 2)
    return d > rng.uniform(-0.3, 0.45) * max(h, w)


def _patch_fits(series: Series, patch: int) -> tuple[int, int]:
    """The series' (rows, cols); an input error when patches of ``patch`` pixels do not fit."""
    h, w = series.reflectance.shape[1:3]
    if h < patch or w < patch:
        raise DecloudInputError(f"{series.name}: {h}x{w} pixels, smaller than patches of {patch}")
    return h, w


def _random_window(h: int, w: int, patch: int, rng: np.random.Generator) -> tuple[slice, slice]:
    """A random ``patch`` x ``patch`` window of an h x w image (rows drawn first, then columns)."""
    y, x = rng.integers(h - patch + 1), rng.integers(w - patch + 1)
    return slice(y, y + patch), slice(x, x + patch)


def training_examples(series: Series, split: Split, *, patch: int, count: int, seed: int = 0,
                      clear_max: float = 0.05, neighbour_max: float = 0.05, cloudy_min: float = 0.03,
                      window_days: int = 45, holes: float = 0.15, min_pasted: float = 0.02,
                      hidden_clouds: float = 0.15, s1: np.ndarray | None = None) -> Iterator[dict]:
    """``count`` training examples from the training part of ``series`` (records for ``decloud train``):
    a clear T, random clear neighbours within ``window_days`` (the nearest half of the time), the real cloudy
    pixels of a random cloudy date pasted on T under their real mask, a random crop and a dihedral transform;
    with probability ``holes``, nodata holes in t-1, t+1 or t; with probability ``hidden_clouds``, the real
    clouds of another date pasted on t-1 or t+1 WITHOUT telling (masks miss clouds: a "clear" neighbour may be
    a cloud, e.g. worldcereal-belgium-a 2018-09-23, 1 % cloudy for SCL, fully cloudy in fact). ``s1``
    (``load_s1_for``): adds s1_t, s1_tm1, s1_tp1. The target is T on the pixels to reconstruct
    (pasted or hole, T clear) and -10000 elsewhere (the masked loss ignores them)."""
    part, in_train = split.train(series)
    rng = np.random.default_rng(seed)
    frac = part.cloud_fraction()
    days = np.array([d.toordinal() for d in part.dates])
    usable = [i for i in range(len(part.dates)) if in_train(part.dates[i])]
    missed = missed_clouds(part, [i for i in usable if frac[i] <= max(clear_max, neighbour_max)])
    refs = [i for i in usable if frac[i] <= clear_max and i not in missed]
    neigh = [i for i in usable if frac[i] <= neighbour_max and i not in missed]
    cloudy = [i for i in usable if frac[i] >= cloudy_min]
    plans = []
    for r in refs:
        before = [i for i in neigh if 0 < days[r] - days[i] <= window_days]
        after = [i for i in neigh if 0 < days[i] - days[r] <= window_days]
        if before and after:
            plans.append((r, before, after))
    if not plans or not cloudy:
        raise DecloudInputError(f"{series.name}: no training scenario (clear references with clear neighbours "
                                f"within {window_days} days: {len(plans)}, cloudy dates: {len(cloudy)})")
    h, w = _patch_fits(part, patch)
    valid = part.valid
    made = 0
    while made < count:
        r, before, after = plans[rng.integers(len(plans))]
        b = max(before) if rng.random() < 0.5 else before[rng.integers(len(before))]
        a = min(after) if rng.random() < 0.5 else after[rng.integers(len(after))]
        c = cloudy[rng.integers(len(cloudy))]
        if c in (r, b, a):
            continue
        win = _random_window(h, w, patch, rng)
        ref = part.reflectance[r][win]
        ref_ok = valid[r][win] & ~part.cloud[r][win]
        pasted = part.cloud[c][win] & valid[c][win] & valid[r][win]
        if pasted.mean() < min_pasted:
            continue
        t = ref.copy()
        t[pasted] = part.reflectance[c][win][pasted]
        tm1, tp1 = part.reflectance[b][win].copy(), part.reflectance[a][win].copy()
        cloud = pasted | part.cloud[r][win]
        todo = pasted.copy()
        if rng.random() < hidden_clouds:
            other = cloudy[rng.integers(len(cloudy))]
            hidden = part.cloud[other][win] & valid[other][win]
            victim = (tm1, tp1)[rng.integers(2)]
            victim[hidden & (victim[..., 0] != NODATA)] = part.reflectance[other][win][
                hidden & (victim[..., 0] != NODATA)]
        if rng.random() < holes:
            which = rng.integers(3)
            hole = _holes((patch, patch), rng)
            (tm1, tp1, t)[which][hole] = NODATA
            if which == 2:
                todo |= hole
        target = np.where((todo & ref_ok)[..., None], ref, NODATA).astype(np.int16)
        k, flip = _DIHEDRAL[rng.integers(8)]
        sar = {} if s1 is None else {f"s1_{name}": _dihedral(s1[i][win], k, flip)
                                     for name, i in (("t", r), ("tm1", b), ("tp1", a))}
        yield {**sar, "s2_t": _dihedral(t, k, flip), "s2_tm1": _dihedral(tm1, k, flip),
               "s2_tp1": _dihedral(tp1, k, flip),
               "cloud_t": _dihedral(cloud[..., None].astype(np.uint8), k, flip),
               "s2_target": _dihedral(target, k, flip),
               "s2_timestamp_t": part.timestamp(r), "s2_timestamp_tm1": part.timestamp(b),
               "s2_timestamp_tp1": part.timestamp(a)}
        made += 1


# ---- Sentinel-1 beside the S2 stacks (worldcereal-belgium-a) ----

_S1 = re.compile(r"^S1_(?P<date>\d{8})_VV\.tif$")


def load_s1_for(series: Series, folder: str | Path, *, max_gap_days: int = 3) -> np.ndarray:
    """Per S2 date of ``series``, the nearest S1 image of ``folder`` (``S1_YYYYMMDD_VV.tif`` + ``_VH.tif``, linear
    sigma0, any pixel size that divides the S2 grid's extent) within ``max_gap_days``, on the S2 grid (nearest
    neighbour) in Decloud's uint16 log stretch (0 = nodata); [D, H, W, 2] uint16, all 0 for a date without one."""
    from .prepare.s1 import stretch  # noqa: PLC0415

    folder = Path(folder)
    found = sorted((datetime.strptime(m["date"], "%Y%m%d").date(), folder / m.group(0))
                   for m in (_S1.match(p.name) for p in folder.iterdir()) if m)
    if not found:
        raise DecloudInputError(f"{folder}: no S1_YYYYMMDD_VV.tif image")
    h, w = series.reflectance.shape[1:3]
    out = np.zeros((len(series.dates), h, w, 2), np.uint16)
    days = np.array([d.toordinal() for d, _ in found])
    for i, d in enumerate(series.dates):
        gaps = np.abs(days - d.toordinal())
        k = int(np.argmin(gaps))
        if gaps[k] > max_gap_days:
            continue
        vv_path = found[k][1]
        bands = []
        for path in (vv_path, vv_path.with_name(vv_path.name.replace("_VV.tif", "_VH.tif"))):
            if not path.exists():
                raise DecloudInputError(f"{path}: missing (the VH beside {vv_path.name})")
            a = _read(path)[0][..., 0]
            fy, fx = h // a.shape[0], w // a.shape[1]
            if fy * a.shape[0] != h or fx * a.shape[1] != w:
                raise DecloudInputError(f"{path}: {a.shape[1]}x{a.shape[0]} pixels do not divide the S2 grid {w}x{h}")
            bands.append(stretch(np.repeat(np.repeat(a, fy, 0), fx, 1)))
        out[i] = np.stack(bands, -1)
    return out


# ---- monthly syntheses (issue 16): a clear date of a period withheld as the reference ----

@dataclass(frozen=True)
class _Dated:
    """One date of a series as :func:`decloud.synthesis.pick_dates` sees it."""

    index: int
    when: datetime
    cloud_percent: float
    nodata_percent: float


@dataclass(frozen=True)
class SynthesisCase:
    """A synthesis scenario: the period, its withheld reference date and the dates picked by the original Decloud's
    rule among the others (indices, in the rule's order, repeats included: what a network of N dates is fed)."""

    period: object  # decloud.synthesis.Period
    reference: int
    inputs: tuple[int, ...]

    @property
    def unique(self) -> list[int]:
        """The picked dates, each once (what a composite uses)."""
        return list(dict.fromkeys(self.inputs))


def synthesis_cases(series: Series, in_part: Callable[[date], bool], *, clear_max: float = 0.02,
                    clearish_max: float = 0.10, min_clearish: int = 3, images: int = 6,
                    per_period: int | None = None) -> list[SynthesisCase]:
    """The synthesis protocol of ``bench/synthesis.py`` on the dates of ``series`` for which ``in_part`` holds:
    every calendar month with at least ``min_clearish`` dates of cloudy share <= ``clearish_max``; each date of
    the month with share <= ``clear_max`` in turn is the reference (the nearest to the 15th first; the first
    ``per_period`` of them), withheld; the inputs are the month's dates picked among the OTHER dates of the part
    (:func:`decloud.synthesis.pick_dates`, ``images`` of them). A cloud its mask missed (``missed_clouds``
    among the dates of 5 % cloud or less) is never a reference and is picked as fully cloudy, as ``decloud
    synthesis`` picks it."""
    from .synthesis import MISSED_CLOUD_CLEAR_PERCENT, MONTH_WINDOW_DAYS, periods, pick_dates  # noqa: PLC0415

    frac = series.cloud_fraction()
    valid = series.valid
    nodata_pct = 100 * (1 - valid.mean(axis=(1, 2)))
    # a cloud its mask missed: never a reference, and picked as fully cloudy (as decloud synthesis picks it)
    missed = missed_clouds(series, [i for i, d in enumerate(series.dates)
                                    if in_part(d) and 100 * frac[i] <= MISSED_CLOUD_CLEAR_PERCENT])
    obs = [_Dated(i, datetime(d.year, d.month, d.day, tzinfo=timezone.utc),
                  100.0 if i in missed else 100 * float(frac[i]), float(nodata_pct[i]))
           for i, d in enumerate(series.dates) if in_part(d)]
    days = [series.dates[o.index] for o in obs]
    cases: list[SynthesisCase] = []
    if not days:
        return cases
    for p in periods(min(days), max(days), "month"):
        in_month = [o.index for o in obs if p.start <= series.dates[o.index] < p.end]
        if sum(frac[i] <= clearish_max for i in in_month) < min_clearish:
            continue
        refs = sorted((i for i in in_month if frac[i] <= clear_max and valid[i].any() and i not in missed),
                      key=lambda i: (abs((series.dates[i] - p.middle).days), i))
        for ref in refs[:per_period] if per_period else refs:
            picked = pick_dates([o for o in obs if o.index != ref], p.middle, window_days=MONTH_WINDOW_DAYS,
                                images=images)
            if picked:
                cases.append(SynthesisCase(p, ref, tuple(o.index for o in picked)))
    return cases


def synthesis_examples(series: Series, split: Split, *, patch: int, count: int, seed: int = 0,
                       images: int = 6, clear_max: float = 0.05, min_clearish: int = 2, fewer: float = 0.3,
                       hidden_clouds: float = 0.15, holes: float = 0.15, min_target: float = 0.1) -> Iterator[dict]:
    """``count`` training examples of a synthesis network (``synthnet``) from the TRAINING part of ``series``:
    a :func:`synthesis_cases` case (reference withheld, ``images`` dates picked by the rule among the others of
    the training part), its inputs ``s2_d0`` ... with their cloudy pixels as nodata (how ``decloud synthesis``
    feeds such a network), a random crop and a dihedral transform. Augmentations: with probability ``fewer``, only
    a random subset of the picked dates (the least cloudy repeated in front, as the rule does when fewer exist);
    ``hidden_clouds``: the real clouds of another date pasted on one input WITHOUT masking them (masks miss
    clouds); ``holes``: nodata holes in one input. The target ``s2_target`` is the reference on its clear pixels
    where some input has data, -10000 elsewhere (the masked loss ignores those)."""
    part, in_train = split.train(series)
    rng = np.random.default_rng(seed)
    frac = part.cloud_fraction()
    cases = synthesis_cases(part, in_train, clear_max=clear_max, min_clearish=min_clearish, images=images)
    usable = [i for i in range(len(part.dates)) if in_train(part.dates[i])]
    cloudy = [i for i in usable if frac[i] >= 0.03]
    if not cases:
        raise DecloudInputError(f"{series.name}: no synthesis case in the training part (months with "
                                f"{min_clearish} dates under 10 % clouds and a reference under {clear_max:.0%})")
    h, w = _patch_fits(part, patch)
    valid = part.valid
    made = 0
    while made < count:
        case = cases[rng.integers(len(cases))]
        inputs = list(case.inputs)
        unique = case.unique
        if rng.random() < fewer and len(unique) > 1:
            keep = sorted(rng.choice(len(unique), rng.integers(1, len(unique)), replace=False))
            unique = [unique[k] for k in keep]
            inputs = [unique[0]] * (images - len(unique)) + unique
        win = _random_window(h, w, patch, rng)
        stack = {}
        for i in unique:
            img = part.reflectance[i][win].copy()
            img[part.cloud[i][win]] = NODATA
            stack[i] = img
        if cloudy and rng.random() < hidden_clouds:
            other = cloudy[rng.integers(len(cloudy))]
            victim = stack[unique[rng.integers(len(unique))]]
            hidden = part.cloud[other][win] & valid[other][win] & (victim[..., 0] != NODATA)
            victim[hidden] = part.reflectance[other][win][hidden]
        if rng.random() < holes:
            victim = stack[unique[rng.integers(len(unique))]]
            victim[_holes((patch, patch), rng)] = NODATA
        any_input = np.zeros((patch, patch), bool)
        for img in stack.values():
            any_input |= np.any(img != NODATA, axis=-1)
        ref_ok = valid[case.reference][win] & ~part.cloud[case.reference][win] & any_input
        if ref_ok.mean() < min_target:
            continue
        target = np.where(ref_ok[..., None], part.reflectance[case.reference][win], NODATA).astype(np.int16)
        k, flip = _DIHEDRAL[rng.integers(8)]
        yield {**{f"s2_d{n}": _dihedral(stack[i], k, flip) for n, i in enumerate(inputs)},
               "s2_target": _dihedral(target, k, flip)}
        made += 1

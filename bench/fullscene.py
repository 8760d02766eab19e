"""Benchmark (issues 6 and 13): a full Sentinel-2 tile through DecloudInfer with the shipped default model, and
DecloudGapFilling against its I/O floor and against the same algorithm in numpy.

The scene (full run: 10980 x 10980 px, a whole S2 tile; --quick: 1024 x 1024): a mosaic of real images, the
test part of ../shared/data/bolzano-west (rows 480-705 of its 705 x 448 px; never trained on) mirrored
(reflected at every edge, so no seam) until it covers the scene, for the dates 2022-06-02, -15, -17, -20 and
-22, each with its real cloud mask (SCL classes 3, 8, 9, 10), int16 x 10000 with nodata -10000 on the grid of
that part (UTM 32N, 10 m). It is written once into a cache folder under the work folder (--work-dir, default
~/.cache/decloud-bench; fullscene-mosaic-<px>-v1/, with scene.json saying what it is made of) and reused.
Without ../shared/data the scene is generated instead (decloud.synthetic.s2_like land with smooth bright clouds,
the earlier scene of this benchmark), and the output says so. DecloudInfer takes t = 06-17 (96 % cloudy in that
part), t-1 = 06-15 and t+1 = 06-20; DecloudGapFilling takes 06-02 (33 % cloudy), 06-15, 06-20 and 06-22 (all
cloudy) with their masks, t = 06-17.

DecloudInfer, end to end in a child process (`otbcli_DecloudInfer -s2.t -s2.tm1 -s2.tp1 -out -ram 256`,
reading the GeoTIFFs, writing the output GeoTIFF, default model, tile, padding and GDAL settings):
  full_tile_min      minutes for the full tile: MEASURED on the 10980 x 10980 scene in the full run; with
                     --quick extrapolated from mpx_s on the 1024-pixel scene (the output says which)
  mpx_s              output megapixels per second of wall time, on the scene
  infer_cpu_s_<px>   the app's CPU seconds (user + system) on each scene, and infer_cpu_per_core_s_<px> the same
                     over the cores (other work on a shared host lengthens these too, through the shared caches and
                     cores: 384 to 259 s for the same 10980-px run within a day; compare runs side by side)
  halo_waste         pixels computed per output pixel (tiles computed with a margin), as the app logs it (a
                     network padding inside its graph would add to it: cards give the network's own multiple,
                     decloud.networks.spatial_multiple, so that there is none; gfnet-v5's card said 32 until
                     2026-12-03, and its 480-px tiles, 1.2985 here, were computed on 576 px: 1.4558; the
                     tiles the image ends in are computed on what is left of it since 2026-12-03 evening,
                     decloud::LastTile: a 10980-px tile 1.3319 -> 1.2787);
                     halo_waste_check recomputes it from the logged tile size and padding, halo_waste_streamed
                     counts the tiles each block written by OTB's streaming needs (more if blocks cut tiles)
  peak_rss_mb        peak RSS of the app process (VmHWM, from getrusage(RUSAGE_CHILDREN) in a small fresh
                     child that launches it), the larger of the scene and of a smaller or larger one (full run:
                     5490 and 10980 px, the first also warms the caches; --quick: 1024 and 2048): it must stay
                     flat as the scene grows. The apps bound GDAL's block cache by their -ram budget (256 MB by
                     default) unless GDAL_CACHEMAX is set (GDAL's own default, 5 % of the machine's RAM, is
                     gdal_cachemax_default_mb as OTB logs it at start-up); peak_rss_mb_<px>_gdal_cachemax_128 is
                     the other run again with GDAL_CACHEMAX=128
  halo_waste_full_tile  the waste on a 10980-pixel tile, with the tile side the app would choose there
DecloudGapFilling (4 dates with cloud masks, t = 06-17) on the scene, each from files to a file:
  gapfilling_vs_io_floor  DecloudGapFilling's seconds / its I/O floor's seconds, the best of 3 runs each
                     (2 with --quick), interleaved. The I/O floor is the same application, same command, inputs
                     and output with DECLOUD_GAPFILLING_IO_FLOOR=1: its pipeline reads every image and mask (same
                     readers, same streaming blocks, same -ram), and writes the same output (same size, int16,
                     same creation options, band names and metadata), but its filter copies il #1 instead of
                     computing (no per-pixel work); what is left above 1 is the gap-filling's computation.
                     gapfilling_vs_io_floor_cpu: the same with CPU seconds (user + system, the best of each),
                     steadier than wall time on a shared machine
  gapfilling_identical  1 if the app's output equals numpy's (decloud.gapfilling.gapfill_series, the app's
                     reference: GDAL reads, vectorised computation in strips, GDAL write of the same tiled,
                     compressed GeoTIFF), pixel for pixel
  gapfilling_vs_numpy   numpy seconds / DecloudGapFilling seconds (above 1: the app is faster)

Targets (issues 6 and 13), printed as comments next to the figures: full tile <= 3 min on 2 cores, halo waste
<= 1.3, peak RSS <= 2 GB, gap-filling <= 1.25 x its I/O floor.

    python bench/fullscene.py            # 10980 x 10980 (and 5490) scene, full tile measured (15-25 minutes
                                         # on 2 cores; the mosaic is written on the first run, a few minutes)
    python bench/fullscene.py --quick    # 1024 x 1024 scene (and 2048 for the peak RSS), under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from decloud import raster, synthetic
from decloud.gapfilling import gapfill_series
from decloud.otbenv import app_environment, otbcli

S2_NODATA = -10000
DEM_NODATA = -32768.0
EPSG = 32632
ORIGIN = (600000.0, 5200020.0)  # upper-left corner of T32TPS, UTM 32N (the generated scene)
BLOCK = 1024  # synthetic.s2_like draws a dozen fields per call: the land is built from blocks of this size
FULL_TILE = 10980  # pixels per side of a Sentinel-2 tile at 10 m
TARGET = "2022-06-17"
INFER_TM1, INFER_TP1 = "2022-06-15", "2022-06-20"
# Date: (cloud cover, swath edge) of the generated scene. The mosaic takes each date's real clouds.
DATES = {"2022-06-02": (0.35, True), INFER_TM1: (0.2, False), TARGET: (0.5, False),
         INFER_TP1: (0.25, False), "2022-06-22": (0.35, False)}
GAPFILLING_DATES = ("2022-06-02", INFER_TM1, INFER_TP1, "2022-06-22")
TARGETS = {"full_tile_min": 3.0, "halo_waste": 1.3, "peak_rss_mb": 2048.0, "gapfilling_vs_io_floor": 1.25}
REAL_SET = "bolzano-west"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MOSAIC_VERSION = 1  # bump when the mosaic's recipe changes (the cache folder's name)

# Runs a command (its output to a log file) and reports its wall time and peak RSS. A fresh, small child is
# needed: a child's ru_maxrss also counts the RSS of the process it was forked from, here this large one.
LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[1], "wb") as log:
    rc = subprocess.call(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - start, "peak_rss_kb": usage.ru_maxrss,
                  "cpu_s": usage.ru_utime + usage.ru_stime}))
"""


def run_app(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run an OTB app in a child process; returns (seconds, peak RSS in MB, its log)."""
    result, text = run_app_usage(cmd, log, env)
    return result["seconds"], result["peak_rss_kb"] / 1024, text


def run_app_usage(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[dict, str]:
    """Run an OTB app in a child process; returns ({seconds, peak_rss_kb, cpu_s (user + system)}, its log)."""
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, str(log), *cmd], capture_output=True, text=True,
                          env=env or app_environment())
    text = log.read_text(errors="replace") if log.exists() else ""
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"launcher failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd[:1])} failed (exit {result['rc']}):\n{text[-3000:]}")
    return result, text


# ---------------------------------------------------------------------------------------------- the scene


def smooth_field(rng: np.random.Generator, rows: int, cols: int, cell: int) -> np.ndarray:
    """A smooth random field in [0, 1]: uniform noise on a grid of `cell` pixels, smoothstep-interpolated."""
    coarse = rng.random((rows // cell + 2, cols // cell + 2)).astype("float32")

    def weights(n):
        pos = (np.arange(n, dtype="float32") + 0.5) / cell
        i = pos.astype(int)
        f = pos - i
        return i, f * f * (3 - 2 * f)

    iy, fy = weights(rows)
    ix, fx = weights(cols)
    along_y = coarse[iy] * (1 - fy)[:, None] + coarse[iy + 1] * fy[:, None]  # [rows, grid cols]
    return along_y[:, ix] * (1 - fx) + along_y[:, ix + 1] * fx


def land(size: int, seed: int) -> np.ndarray:
    """[size, size, 4] float32 reflectance x 10000, the cloud-free land, from s2_like blocks."""
    out = np.empty((size, size, 4), dtype="float32")
    block = min(BLOCK, size)
    for k, (r, c) in enumerate((r, c) for r in range(0, size, block) for c in range(0, size, block)):
        h, w = min(block, size - r), min(block, size - c)
        out[r:r + h, c:c + w] = synthetic.s2_like(h, w, seed=seed * 1000 + k, clouds=False)
    return out


def acquisition(ground: np.ndarray, rng: np.random.Generator, cover: float, swath_edge: bool):
    """One date: (int16 image with clouds and nodata, uint8 cloud mask, 1 = cloudy)."""
    size = ground.shape[0]
    gains = rng.uniform(0.95, 1.05, 4).astype("float32")
    image = ground * gains + rng.standard_normal(ground.shape, dtype="float32") * 30
    field = smooth_field(rng, size, size, cell=max(32, size // 16))
    threshold = np.quantile(field[::8, ::8], 1 - cover)
    opacity = np.clip((field - threshold) / 0.08, 0, 1)
    image = image * (1 - opacity[:, :, None]) + 8000 * opacity[:, :, None]
    image = np.clip(image, 1, 10000).astype(np.int16)
    mask = (opacity > 0.2).astype(np.uint8)
    if swath_edge:  # the orbit's swath ends in the last quarter of the scene: no data there
        image[:, 3 * size // 4:] = S2_NODATA
    return image, mask


def write_scene(folder: Path, size: int, seed: int = 1) -> dict[str, Path]:
    """Writes the scene's dated images, cloud masks and DEM; returns their paths by name."""
    rng = np.random.default_rng(seed)
    ground = land(size, seed)
    geo = {"origin": ORIGIN, "epsg": EPSG}
    paths = {}
    for date, (cover, swath_edge) in DATES.items():
        image, mask = acquisition(ground, rng, cover, swath_edge)
        paths[date] = raster.write_geotiff(folder / f"s2_{date}.tif", image, spacing=(10.0, -10.0),
                                           nodata=S2_NODATA, **geo)
        paths[f"mask_{date}"] = raster.write_geotiff(folder / f"clouds_{date}.tif", mask,
                                                     spacing=(10.0, -10.0), **geo)
    # The scene has a DEM (20 m grid, float32 metres as prepare-dem writes it). The default model,
    # msop-bolzano-west, takes no DEM (its card names s2.t, s2.tm1, s2.tp1 only): it is written, and passed to
    # DecloudInfer only for a model (--model) whose card takes one.
    dem = 200 + 2500 * smooth_field(rng, size // 2, size // 2, cell=max(16, size // 32))
    paths["dem"] = raster.write_geotiff(folder / "dem_20m.tif", dem.astype("float32"), spacing=(20.0, -20.0),
                                        nodata=DEM_NODATA, **geo)
    return paths


def mirrored(n: int, size: int) -> np.ndarray:
    """Indices 0..size-1 into an axis of n pixels, reflected at each edge: 0 1 .. n-1 n-1 .. 1 0 0 1 .."""
    i = np.arange(size) % (2 * n)
    return np.where(i < n, i, 2 * n - 1 - i)


def write_mosaic(folder: Path, size: int) -> dict[str, Path]:
    """The test part of the real set, mirrored to size x size, each date with its real cloud mask."""
    from decloud.scenarios import SPLITS, load_series  # noqa: PLC0415

    split = SPLITS[REAL_SET]
    part, _ = split.test(load_series(DATA / REAL_SET, mask=split.mask, name=REAL_SET))
    rows, cols = part.reflectance.shape[1:3]
    ri, ci = mirrored(rows, size), mirrored(cols, size)
    gt = part.geotransform
    geo = {"origin": (gt[0], gt[3]), "spacing": (gt[1], gt[5]), "projection": part.projection}
    index = {d.isoformat(): k for k, d in enumerate(part.dates)}
    paths = {}
    for date in DATES:
        k = index[date]
        image = part.reflectance[k][ri][:, ci]
        paths[date] = raster.write_geotiff(folder / f"s2_{date}.tif", image, nodata=S2_NODATA, **geo)
        del image
        mask = part.cloud[k][ri][:, ci].astype(np.uint8)
        paths[f"mask_{date}"] = raster.write_geotiff(folder / f"clouds_{date}.tif", mask, **geo)
    cloudy = {d: round(float(part.cloud_fraction()[index[d]]), 3) for d in DATES}
    made_of = (f"{REAL_SET} test part (rows {split.test_rows[0]}-{split.test_rows[1]}: {rows} x {cols} px, "
               f"mask {split.mask}) mirrored to {size} x {size} ({size / rows:.1f} x {size / cols:.1f} copies)")
    (folder / "scene.json").write_text(json.dumps({"made_of": made_of, "cloudy_share": cloudy,
                                                   "paths": {k: v.name for k, v in paths.items()}}, indent=1))
    return paths


def scene(work: Path, size: int, roles: set[str]) -> tuple[dict[str, Path], str, bool]:
    """The scene of `size` px: (paths by name, what it is made of, whether it came from the cache)."""
    if not (DATA / REAL_SET).is_dir():
        folder = work / f"fullscene-generated-{size}"
        folder.mkdir(parents=True, exist_ok=True)
        return write_scene(folder, size), (f"generated ({DATA / REAL_SET} absent): synthetic s2_like land "
                                           f"with smooth clouds, {size} x {size} px"), False
    folder = work / f"fullscene-mosaic-{size}-v{MOSAIC_VERSION}"
    info = folder / "scene.json"
    cached = info.exists()
    if not cached:
        folder.mkdir(parents=True, exist_ok=True)
        write_mosaic(folder, size)
    facts = json.loads(info.read_text())
    paths = {k: folder / v for k, v in facts["paths"].items()}
    if "dem" in roles and "dem" not in paths:  # the real set has no DEM: a smooth one, for a --model that takes it
        rng = np.random.default_rng(size)
        dem = 200 + 2500 * smooth_field(rng, size // 2, size // 2, cell=max(16, size // 32))
        gt = raster.geotransform(paths[TARGET])
        paths["dem"] = raster.write_geotiff(folder / "dem_20m.tif", dem.astype("float32"), origin=(gt[0], gt[3]),
                                            spacing=(20.0, -20.0), nodata=DEM_NODATA,
                                            projection=raster_projection(paths[TARGET]))
    return paths, facts["made_of"], cached


def raster_projection(path: Path) -> str:
    from osgeo import gdal  # noqa: PLC0415

    return gdal.Open(str(path)).GetProjection()


# ----------------------------------------------------------------------------------------------- inference


def model_card(model: Path | None) -> tuple[dict, Path | None]:
    """The card of --model, or of the app's default model (installed in this environment)."""
    from decloud.infer import DEFAULT_MODEL_NAME as default  # noqa: PLC0415

    candidates = [model] if model else [Path(sys.prefix) / "share" / "decloud" / "models" / default,
                                        Path(__file__).resolve().parents[1] / "models" / default]
    for folder in candidates:
        if (folder / "card.json").exists():
            return json.loads((folder / "card.json").read_text()), folder
    raise SystemExit(f"no model card in {', '.join(map(str, candidates))}")


def infer_command(paths: dict[str, Path], out: Path, roles: set[str], model: Path | None) -> list[str]:
    dates = {"s2_timestamp_t": TARGET, "s2_timestamp_tm1": INFER_TM1, "s2_timestamp_tp1": INFER_TP1}
    unknown = roles - {"s2_t", "s2_tm1", "s2_tp1", "dem", "cloud_t", *dates}
    if unknown:
        raise SystemExit(f"the model takes {sorted(unknown)}: this benchmark has S2 at t, t-1, t+1 (with the "
                         "cloud mask of t and the dates) and a DEM")
    cmd = [*otbcli("DecloudInfer"), "-s2.t", str(paths[TARGET]), "-s2.tm1", str(paths[INFER_TM1]),
           "-s2.tp1", str(paths[INFER_TP1]), "-out", str(out), "-ram", "256"]
    if "cloud_t" in roles:  # models that take the mask (the default gfnet); it also keeps t's clear pixels
        cmd += ["-mask", str(paths[f"mask_{TARGET}"])]
    for role, day in dates.items():
        if role in roles:
            cmd += [f"-date.{role.rsplit('_', 1)[1]}", day]
    if "dem" in roles:
        cmd += ["-dem", str(paths["dem"])]
    if model:
        cmd += ["-model", str(model)]
    return cmd


TILES_LINE = re.compile(r"Tiles of (\d+)x(\d+) output pixels, each computed with a margin of (\d+) pixels: "
                        r"([0-9.eE+-]+) pixels computed per output pixel")
BLOCKS_LINE = re.compile(r"will be written in (\d+) blocks of (\d+)x(\d+) pixels")
CACHE_LINE = re.compile(r"GDAL maximum cache size is (\d+) MB")


def tile_sides(size: int, tile: int, multiple: int) -> list[int]:
    """The output sides of the tiles that cover `size` pixels from 0: whole tiles, the last one what is left rounded
    up to `multiple` (decloud::LastTile: the app computes it on that side only)."""
    multiple = max(1, multiple)
    return [min(tile, -(-min(tile, size - start) // multiple) * multiple) for start in range(0, size, tile)]


def cover(size: int, tile: int, multiple: int, padding: int) -> int:
    """Pixels computed along one side (decloud::CoverCost): every tile's side plus its two margins."""
    return sum(side + 2 * padding for side in tile_sides(size, tile, multiple))


def streamed_cover(size: int, block: int, tile: int, multiple: int, padding: int) -> int:
    """Pixels computed along one side when OTB streams blocks of `block` pixels (from 0): each block computes the
    tiles it needs (a tile a block boundary cuts, twice)."""
    sides = tile_sides(size, tile, multiple)
    return sum(sides[k] + 2 * padding for b in range(0, size, block)
               for k in range(b // tile, (min(b + block, size) - 1) // tile + 1))


# The reference is C++: decloud::BestTile in src/otbDecloudTiling.cxx (tested by test/otbDecloudTilingTest.cxx).
def best_tile(size: int, target: int, multiple: int, padding: int) -> int:
    """DecloudInfer's choice of tile side (a multiple of `multiple`, at most `target`) for `size` pixels."""
    multiple = max(1, multiple)
    largest = max(multiple, min(target, -(-size // multiple) * multiple) // multiple * multiple)
    return min(range(largest, multiple - 1, -multiple), key=lambda t: (cover(size, t, multiple, padding), -t))


def halo(log: str, rows: int, cols: int, multiple: int) -> dict[str, float]:
    """Halo waste as logged, recomputed from the logged tiles and padding (and the card's spatial `multiple`, which
    sizes the last tiles), and counted per streamed block."""
    m = TILES_LINE.search(log)
    if not m:
        raise SystemExit(f"DecloudInfer logged no 'Tiles of WxH output pixels ...' line:\n{log[-2000:]}")
    w, h, p, logged = int(m[1]), int(m[2]), int(m[3]), float(m[4])
    computed = cover(cols, w, multiple, p) * cover(rows, h, multiple, p)
    blocks = BLOCKS_LINE.search(log)
    bw, bh = (int(blocks[2]), int(blocks[3])) if blocks else (cols, rows)
    streamed = streamed_cover(cols, bw, w, multiple, p) * streamed_cover(rows, bh, h, multiple, p)
    return {"tile_w_px": w, "tile_h_px": h, "padding_px": p, "logged": logged,
            "check": computed / (rows * cols), "streamed": streamed / (rows * cols),
            "block_w_px": bw, "block_h_px": bh}


# ------------------------------------------------------------------------------------------------ gap-filling


def seconds_of(date: str) -> float:
    return datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()


def numpy_gapfilling_file(paths: list[Path], masks: list[Path], dates: list[str], date: str, out: Path,
                          strip: int = 512) -> Path:
    """From files to a file: GDAL reads, gap-filling in strips of rows, GDAL write (tiled, DEFLATE)."""
    images = [raster.read_array(p) for p in paths]
    clouds = [raster.read_array(m)[:, :, 0] for m in masks]
    seconds = [seconds_of(d) for d in dates]
    result = np.empty_like(images[0])
    for r in range(0, result.shape[0], strip):
        result[r:r + strip] = gapfill_series([im[r:r + strip] for im in images],
                                             [m[r:r + strip] for m in clouds], seconds, seconds_of(date),
                                             nodata=S2_NODATA)
    return raster.write_geotiff(out, result, origin=tuple(raster.geotransform(paths[0])[i] for i in (0, 3)),
                                spacing=(10.0, -10.0), epsg=EPSG, nodata=S2_NODATA)


# ------------------------------------------------------------------------------------------------------ main


def target_comment(name: str, value: float, unit: str, extra: str = "") -> None:
    limit = TARGETS[name]
    print(f"# target: {name} <= {limit:g}{unit}{extra}: {'met' if value <= limit else 'NOT met'}", flush=True)


def load_figures() -> str:
    """nproc and the load average, for the record (the machine may be shared)."""
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "unknown"
    return f"{os.cpu_count()} CPUs, load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1024 x 1024 scene, peak RSS at 1024 and 2048")
    parser.add_argument("--model", type=Path, help="another model folder (default: the app's default model)")
    parser.add_argument("--work-dir", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                        / "decloud-bench", help="where the scenes are cached and the outputs written "
                        "(default: ~/.cache/decloud-bench)")
    args = parser.parse_args()
    # (scene, other scene): the timed scene and the one for the peak RSS (and the warm-up: it runs first).
    size, other = (1024, 2048) if args.quick else (FULL_TILE, FULL_TILE // 2)
    repeats = 2 if args.quick else 3  # gap-filling and I/O floor runs, interleaved: the best of
    card, _ = model_card(args.model)
    roles = {spec.get("role", key) for key, spec in card["inputs"].items()}
    cores = len(os.sched_getaffinity(0))

    if args.quick:
        print(f"# --quick: {size} x {size} scene, peak RSS at {size} and {other} px, full_tile_min extrapolated "
              f"(the full run measures it on a {FULL_TILE} x {FULL_TILE} scene)", flush=True)
    print(f"# at start: {load_figures()}", flush=True)
    print(f"cpu_cores: {cores}", flush=True)
    print(f"model: {card.get('name', '?')}", flush=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fullscene-", dir=args.work_dir) as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        paths, made_of, cached = scene(args.work_dir, size, roles)
        other_paths, _, other_cached = scene(args.work_dir, other, roles)
        print(f"# scene: {made_of}; {'read from' if cached else 'written to'} {paths[TARGET].parent}", flush=True)
        print(f"scene_px: {size}", flush=True)
        print(f"scene_cached: {int(cached and other_cached)}", flush=True)
        print(f"scene_generation_s: {time.perf_counter() - start:.1f}", flush=True)

        # DecloudInfer on the other scene (peak RSS must not grow with the scene), then on the scene: the first
        # run also warms the caches (libraries, TensorFlow) that the timed scene run would pay.
        runs = {}
        for s, p in ((other, other_paths), (size, paths)):
            usage, log = run_app_usage(infer_command(p, tmp / f"infer_{s}.tif", roles, args.model),
                                       tmp / f"infer_{s}.log")
            seconds, rss = usage["seconds"], usage["peak_rss_kb"] / 1024
            rows, cols = raster_size(tmp / f"infer_{s}.tif")
            runs[s] = (rows * cols / 1e6 / seconds, rss, log, rows, cols, seconds)
            print(f"infer_s_{s}: {seconds:.1f}", flush=True)
            # the CPU seconds (user + system), and over the cores: near infer_s when the app keeps them busy (other
            # work on the host lengthens both)
            print(f"infer_cpu_s_{s}: {usage['cpu_s']:.1f}", flush=True)
            print(f"infer_cpu_per_core_s_{s}: {usage['cpu_s'] / cores:.1f}", flush=True)
            print(f"mpx_s_{s}: {runs[s][0]:.3f}", flush=True)
            print(f"peak_rss_mb_{s}: {rss:.0f}", flush=True)
            (tmp / f"infer_{s}.tif").unlink()
        cache = CACHE_LINE.search(runs[size][2])
        print(f"gdal_cachemax_default_mb: {cache[1] if cache else 'unknown'}", flush=True)
        # The other run again with GDAL's block cache bounded further: how much of the peak is that cache.
        _, rss_cache, _ = run_app(infer_command(other_paths, tmp / "infer_cache.tif", roles, args.model),
                                  tmp / "infer_cache.log", env=app_environment({"GDAL_CACHEMAX": "128"}))
        print(f"peak_rss_mb_{other}_gdal_cachemax_128: {rss_cache:.0f}", flush=True)
        (tmp / "infer_cache.tif").unlink()

        mpx_s, _, log, rows, cols, infer_s = runs[size]
        multiple = int(card.get("spatial_multiple", 1))
        h = halo(log, rows, cols, multiple)
        full = best_tile(FULL_TILE, 512, multiple, h["padding_px"])
        full_waste = (cover(FULL_TILE, full, multiple, h["padding_px"]) / FULL_TILE) ** 2

        # DecloudGapFilling vs its I/O floor (the same command with DECLOUD_GAPFILLING_IO_FLOOR=1: same reads,
        # streaming and write, no computation), interleaved, the best of `repeats` each; then numpy.
        gf = [paths[d] for d in GAPFILLING_DATES]
        gf_masks = [paths[f"mask_{d}"] for d in GAPFILLING_DATES]

        def gf_command(out: Path) -> list[str]:
            return [*otbcli("DecloudGapFilling"), "-il", *map(str, gf), "-masks", *map(str, gf_masks),
                    "-dates", *GAPFILLING_DATES, "-date", TARGET, "-out", str(out), "-ram", "256"]

        otb_s, floor_s, gf_rss, floor_rss = float("inf"), float("inf"), 0.0, 0.0
        otb_cpu, floor_cpu = float("inf"), float("inf")
        for _ in range(repeats):
            usage, _ = run_app_usage(gf_command(tmp / "gf_otb.tif"), tmp / "gf_otb.log")
            otb_s, gf_rss = min(otb_s, usage["seconds"]), max(gf_rss, usage["peak_rss_kb"] / 1024)
            otb_cpu = min(otb_cpu, usage["cpu_s"])
            usage, floor_log = run_app_usage(gf_command(tmp / "gf_floor.tif"), tmp / "gf_floor.log",
                                             env=app_environment({"DECLOUD_GAPFILLING_IO_FLOOR": "1"}))
            if "I/O floor" not in floor_log:
                raise SystemExit(f"DecloudGapFilling ignored DECLOUD_GAPFILLING_IO_FLOOR=1:\n{floor_log[-2000:]}")
            floor_s, floor_rss = min(floor_s, usage["seconds"]), max(floor_rss, usage["peak_rss_kb"] / 1024)
            floor_cpu = min(floor_cpu, usage["cpu_s"])
        same_output = raster_size(tmp / "gf_floor.tif") == raster_size(tmp / "gf_otb.tif")
        (tmp / "gf_floor.tif").unlink()
        begin = time.perf_counter()
        numpy_gapfilling_file(gf, gf_masks, list(GAPFILLING_DATES), TARGET, tmp / "gf_numpy.tif")
        numpy_s = time.perf_counter() - begin
        otb_out, numpy_out = raster.read_array(tmp / "gf_otb.tif"), raster.read_array(tmp / "gf_numpy.tif")
        same_shape = otb_out.shape == numpy_out.shape
        differing = int(np.any(otb_out != numpy_out, axis=-1).sum()) if same_shape else -1
        identical = same_shape and differing == 0
        gf_mpx = otb_out.shape[0] * otb_out.shape[1] / 1e6
        nodata_share = float(np.mean(np.all(otb_out == S2_NODATA, axis=-1)))
        del otb_out, numpy_out

    print(f"tile_w_px: {h['tile_w_px']}")
    print(f"tile_h_px: {h['tile_h_px']}")
    print(f"padding_px: {h['padding_px']}")
    print(f"stream_block_px: {h['block_w_px']}x{h['block_h_px']}")
    print(f"halo_waste_check: {h['check']:.4f}")
    print(f"halo_waste_streamed: {h['streamed']:.4f}")
    print(f"halo_waste_agrees: {int(abs(h['check'] - h['logged']) <= 1e-4 * h['check'])}")
    print(f"halo_waste_full_tile: {full_waste:.4f}")
    print(f"full_tile_tile_px: {full}")
    print(f"gapfilling_dates: {len(GAPFILLING_DATES)}")
    print(f"gapfilling_s: {otb_s:.2f}")
    print(f"io_floor_s: {floor_s:.2f}")
    print(f"io_floor_same_output_size: {int(same_output)}")
    print(f"gapfilling_cpu_s: {otb_cpu:.2f}")
    print(f"io_floor_cpu_s: {floor_cpu:.2f}")
    print(f"gapfilling_vs_io_floor_cpu: {otb_cpu / floor_cpu:.3f}")
    print(f"io_floor_peak_rss_mb: {floor_rss:.0f}")
    print(f"numpy_s: {numpy_s:.2f}")
    print(f"gapfilling_mpx_s: {gf_mpx / otb_s:.3f}")
    print(f"numpy_mpx_s: {gf_mpx / numpy_s:.3f}")
    print(f"gapfilling_peak_rss_mb: {gf_rss:.0f}")
    print(f"gapfilling_nodata_share: {nodata_share:.4f}")
    print(f"gapfilling_differing_px: {differing}")
    print(f"gapfilling_identical: {int(identical)}")
    print(f"gapfilling_vs_numpy: {numpy_s / otb_s:.2f}")
    ratio = otb_s / floor_s
    print(f"gapfilling_vs_io_floor: {ratio:.3f}")
    target_comment("gapfilling_vs_io_floor", ratio, "", f" (best of {repeats} each, {size} px scene)")
    if ratio < 1:
        print("# gapfilling_vs_io_floor below 1: wall-time noise (the gap-filling does the floor's work and more); "
              "see gapfilling_vs_io_floor_cpu")
    print(f"mpx_s: {mpx_s:.3f}")
    measured = size == FULL_TILE
    full_tile_min = infer_s / 60 if measured else FULL_TILE * FULL_TILE / 1e6 / mpx_s / 60
    print(f"full_tile_measured: {int(measured)}")
    print(f"full_tile_min: {full_tile_min:.2f}")
    how = "measured on the 10980 x 10980 scene" if measured else f"extrapolated from the {size} px scene"
    target_comment("full_tile_min", full_tile_min, " min", f" on 2 cores (this run: {cores} cores, {how})")
    print(f"halo_waste: {h['logged']:.4f}")
    target_comment("halo_waste", h["logged"], "")
    peak = max(runs[size][1], runs[other][1])
    print(f"peak_rss_mb: {peak:.0f}")
    target_comment("peak_rss_mb", peak, " MB",
                   f" (max of {other} and {size} px, GDAL cache bounded by the apps to -ram)")
    print(f"# at end: {load_figures()}")


def raster_size(path: Path) -> tuple[int, int]:
    """(rows, columns) of a raster, without reading it."""
    from osgeo import gdal  # noqa: PLC0415

    ds = gdal.Open(str(path))
    return ds.RasterYSize, ds.RasterXSize


if __name__ == "__main__":
    main()

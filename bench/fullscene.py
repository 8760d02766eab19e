"""Benchmark (issue 6): a full scene through DecloudInfer with the shipped default model, and
DecloudGapFilling vs the same algorithm in numpy.

Generated scene (Sentinel-2-like, UTM 32N, 10 m, int16 x 10000 with nodata -10000): the land of
decloud.synthetic.s2_like, built from 1024-pixel blocks, seen on dates 2022-06-05, -10, -15, -20 and -25
with per-date radiometry, noise and smooth bright clouds (their cloud masks written too), plus a DEM on the
20 m grid (the default model takes no DEM: it is passed only to a --model whose card takes one).
DecloudInfer takes t = 06-15 (the cloudy date), t-1 = 06-10 and t+1 = 06-20.

DecloudInfer, end to end in a child process (`otbcli_DecloudInfer -s2.t -s2.tm1 -s2.tp1 -out -ram 256`,
reading the GeoTIFFs, writing the output GeoTIFF, default model, tile, padding and GDAL settings):
  mpx_s              output megapixels per second of wall time, on the scene (4096 x 4096)
  full_tile_min      a full S2 tile (10980 x 10980) at that rate, in minutes (extrapolated)
  halo_waste         pixels computed per output pixel (tiles computed with a margin), as the app logs it;
                     halo_waste_check recomputes it from the logged tile size and padding, halo_waste_streamed
                     counts the tiles each block written by OTB's streaming needs (more if blocks cut tiles)
  peak_rss_mb        peak RSS of the app process (VmHWM, from getrusage(RUSAGE_CHILDREN) in a small fresh
                     child that launches it), the larger of the scene and of a scene twice as wide (8192 x
                     8192, 2 x 2 copies of the first): it must stay flat as the scene grows. The apps bound
                     GDAL's block cache by their -ram budget (256 MB by default) unless GDAL_CACHEMAX is set
                     (GDAL's own default, 5 % of the machine's RAM, is gdal_cachemax_default_mb as OTB logs it
                     at start-up); peak_rss_mb_<8192>_gdal_cachemax_128 is the large run with GDAL_CACHEMAX=128
  halo_waste_full_tile  the waste on a 10980-pixel tile, with the tile side the app would choose there
DecloudGapFilling (4 dates with cloud masks, t = 06-15) vs numpy (decloud.gapfilling.gapfill_series, the
app's reference), same files, same run, each from files to a file (numpy: GDAL reads, vectorised computation,
GDAL write of the same tiled, compressed GeoTIFF):
  gapfilling_identical  1 if the two outputs are equal, pixel for pixel
  gapfilling_vs_numpy   numpy seconds / DecloudGapFilling seconds (above 1: the app is faster)

Targets (issue 6), printed as comments next to the figures: full tile <= 10 min on 2 cores, halo waste <= 1.3,
peak RSS <= 2 GB.

    python bench/fullscene.py            # 4096 x 4096 scene, peak RSS at 4096 and 8192 (a few minutes)
    python bench/fullscene.py --quick    # 1024 x 1024 scene, peak RSS at 1024 and 2048, under a minute
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

from decloud import raster, synthetic  # noqa: E402
from decloud.gapfilling import gapfill_series  # noqa: E402
from decloud.otbenv import app_environment, otbcli  # noqa: E402

S2_NODATA = -10000
DEM_NODATA = -32768.0
EPSG = 32632
ORIGIN = (600000.0, 5200020.0)  # upper-left corner of T32TPS, UTM 32N
BLOCK = 1024  # synthetic.s2_like draws a dozen fields per call: the land is built from blocks of this size
FULL_TILE = 10980  # pixels per side of a Sentinel-2 tile at 10 m
TARGET = "2022-06-15"
# Date: (cloud cover, swath edge). 06-15 is the cloudy image t; 06-10 and 06-20 are t-1 and t+1.
DATES = {"2022-06-05": (0.35, True), "2022-06-10": (0.2, False), TARGET: (0.5, False),
         "2022-06-20": (0.25, False), "2022-06-25": (0.35, False)}
GAPFILLING_DATES = ("2022-06-05", "2022-06-10", "2022-06-20", "2022-06-25")
TARGETS = {"full_tile_min": 10.0, "halo_waste": 1.3, "peak_rss_mb": 2048.0}

# Runs a command (its output to a log file) and reports its wall time and peak RSS. A fresh, small child is
# needed: a child's ru_maxrss also counts the RSS of the process it was forked from, here this large one.
LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[1], "wb") as log:
    rc = subprocess.call(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - start,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_app(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run an OTB app in a child process; returns (seconds, peak RSS in MB, its log)."""
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, str(log), *cmd], capture_output=True, text=True,
                          env=env or app_environment())
    text = log.read_text(errors="replace") if log.exists() else ""
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"launcher failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd[:1])} failed (exit {result['rc']}):\n{text[-3000:]}")
    return result["seconds"], result["peak_rss_kb"] / 1024, text


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


def tiled_copies(paths: dict[str, Path], names, folder: Path, factor: int) -> dict[str, Path]:
    """factor x factor copies of images side by side (a larger scene, same content)."""
    out = {}
    for name in names:
        array = raster.read_array(paths[name])
        out[name] = raster.write_geotiff(folder / paths[name].name, np.tile(array, (factor, factor, 1)),
                                         origin=ORIGIN, spacing=(10.0, -10.0), epsg=EPSG, nodata=S2_NODATA)
    return out


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
    dates = {"s2_timestamp_t": TARGET, "s2_timestamp_tm1": "2022-06-10", "s2_timestamp_tp1": "2022-06-20"}
    unknown = roles - {"s2_t", "s2_tm1", "s2_tp1", "dem", "cloud_t", *dates}
    if unknown:
        raise SystemExit(f"the model takes {sorted(unknown)}: this benchmark has S2 at t, t-1, t+1 (with the "
                         "cloud mask of t and the dates) and a DEM")
    cmd = [*otbcli("DecloudInfer"), "-s2.t", str(paths[TARGET]), "-s2.tm1", str(paths["2022-06-10"]),
           "-s2.tp1", str(paths["2022-06-20"]), "-out", str(out), "-ram", "256"]
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


def tiles_per_block(size: int, block: int, tile: int) -> int:
    """Tiles (a grid of `tile` from 0) that the blocks of `block` pixels (from 0) of [0, size) need."""
    return sum((min(b + block, size) - 1) // tile - b // tile + 1 for b in range(0, size, block))


def best_tile(size: int, target: int, multiple: int, padding: int) -> int:
    """DecloudInfer's choice of tile side (a multiple of `multiple`, at most `target`) for `size` pixels."""
    largest = max(multiple, min(target, -(-size // multiple) * multiple) // multiple * multiple)
    return min(range(largest, multiple - 1, -multiple), key=lambda t: (-(-size // t) * (t + 2 * padding), -t))


def halo(log: str, rows: int, cols: int) -> dict[str, float]:
    """Halo waste as logged, recomputed from the logged tiles and padding, and counted per streamed block."""
    m = TILES_LINE.search(log)
    if not m:
        raise SystemExit(f"DecloudInfer logged no 'Tiles of WxH output pixels ...' line:\n{log[-2000:]}")
    w, h, p, logged = int(m[1]), int(m[2]), int(m[3]), float(m[4])
    computed = -(-cols // w) * (w + 2 * p) * -(-rows // h) * (h + 2 * p)
    blocks = BLOCKS_LINE.search(log)
    bw, bh = (int(blocks[2]), int(blocks[3])) if blocks else (cols, rows)
    streamed = tiles_per_block(cols, bw, w) * tiles_per_block(rows, bh, h) * (w + 2 * p) * (h + 2 * p)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1024 x 1024 scene, peak RSS at 1024 and 2048")
    parser.add_argument("--model", type=Path, help="another model folder (default: the app's default model)")
    args = parser.parse_args()
    size = 1024 if args.quick else 4096
    big = 2 * size
    repeats = 1 if args.quick else 2  # gap-filling runs (short): the best of
    card, _ = model_card(args.model)
    roles = {spec.get("role", key) for key, spec in card["inputs"].items()}
    cores = len(os.sched_getaffinity(0))

    if args.quick:
        print(f"# --quick: {size} x {size} scene, peak RSS at {size} and {big} px "
              "(the full run: 4096 x 4096, peak RSS at 4096 and 8192)", flush=True)
    print(f"cpu_cores: {cores}", flush=True)
    print(f"model: {card.get('name', '?')}", flush=True)
    with tempfile.TemporaryDirectory(prefix="decloud-bench-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        paths = write_scene(tmp / "scene", size)
        infer_inputs = [TARGET, "2022-06-10", "2022-06-20"]
        big_paths = {**paths, **tiled_copies(paths, infer_inputs, tmp / "big", 2)}
        if "dem" in roles:
            big_paths["dem"] = tiled_copies(paths, ["dem"], tmp / "big", 2)["dem"]
        print(f"scene_px: {size}", flush=True)
        print(f"scene_generation_s: {time.perf_counter() - start:.1f}", flush=True)

        # DecloudInfer on the scene twice as wide (peak RSS must not grow with it), then on the scene: the
        # first run also warms the caches (libraries, TensorFlow) that the timed scene run would pay.
        runs = {}
        for s, p in ((big, big_paths), (size, paths)):
            seconds, rss, log = run_app(infer_command(p, tmp / f"infer_{s}.tif", roles, args.model),
                                        tmp / f"infer_{s}.log")
            rows, cols = raster.read_array(tmp / f"infer_{s}.tif").shape[:2]
            runs[s] = (rows * cols / 1e6 / seconds, rss, log, rows, cols)
            print(f"infer_s_{s}: {seconds:.1f}", flush=True)
            print(f"mpx_s_{s}: {runs[s][0]:.3f}", flush=True)
            print(f"peak_rss_mb_{s}: {rss:.0f}", flush=True)
            (tmp / f"infer_{s}.tif").unlink()
        cache = CACHE_LINE.search(runs[size][2])
        print(f"gdal_cachemax_default_mb: {cache[1] if cache else 'unknown'}", flush=True)
        # The same large run with GDAL's block cache bounded further: how much of the peak is that cache.
        _, rss_cache, _ = run_app(infer_command(big_paths, tmp / "infer_cache.tif", roles, args.model),
                                  tmp / "infer_cache.log", env=app_environment({"GDAL_CACHEMAX": "128"}))
        print(f"peak_rss_mb_{big}_gdal_cachemax_128: {rss_cache:.0f}", flush=True)
        (tmp / "infer_cache.tif").unlink()

        mpx_s, _, log, rows, cols = runs[size]
        h = halo(log, rows, cols)
        multiple = int(card.get("spatial_multiple", 1))
        full = best_tile(FULL_TILE, 512, multiple, h["padding_px"])
        full_waste = (-(-FULL_TILE // full) * (full + 2 * h["padding_px"]) / FULL_TILE) ** 2

        # DecloudGapFilling vs numpy, same files, from files to a file, the best of `repeats` runs each.
        gf = [paths[d] for d in GAPFILLING_DATES]
        gf_masks = [paths[f"mask_{d}"] for d in GAPFILLING_DATES]
        cmd = [*otbcli("DecloudGapFilling"), "-il", *map(str, gf), "-masks", *map(str, gf_masks),
               "-dates", *GAPFILLING_DATES, "-date", TARGET, "-out", str(tmp / "gf_otb.tif"), "-ram", "256"]
        otb_s, numpy_s, gf_rss = float("inf"), float("inf"), 0.0
        for _ in range(repeats):
            seconds, rss, _ = run_app(cmd, tmp / "gf_otb.log")
            otb_s, gf_rss = min(otb_s, seconds), max(gf_rss, rss)
            begin = time.perf_counter()
            numpy_gapfilling_file(gf, gf_masks, list(GAPFILLING_DATES), TARGET, tmp / "gf_numpy.tif")
            numpy_s = min(numpy_s, time.perf_counter() - begin)
        otb_out, numpy_out = raster.read_array(tmp / "gf_otb.tif"), raster.read_array(tmp / "gf_numpy.tif")
        same_shape = otb_out.shape == numpy_out.shape
        differing = int(np.any(otb_out != numpy_out, axis=-1).sum()) if same_shape else -1
        identical = same_shape and differing == 0
        gf_mpx = otb_out.shape[0] * otb_out.shape[1] / 1e6
        nodata_share = float(np.mean(np.all(otb_out == S2_NODATA, axis=-1)))

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
    print(f"numpy_s: {numpy_s:.2f}")
    print(f"gapfilling_mpx_s: {gf_mpx / otb_s:.3f}")
    print(f"numpy_mpx_s: {gf_mpx / numpy_s:.3f}")
    print(f"gapfilling_peak_rss_mb: {gf_rss:.0f}")
    print(f"gapfilling_nodata_share: {nodata_share:.4f}")
    print(f"gapfilling_differing_px: {differing}")
    print(f"gapfilling_identical: {int(identical)}")
    print(f"gapfilling_vs_numpy: {numpy_s / otb_s:.2f}")
    print(f"mpx_s: {mpx_s:.3f}")
    full_tile_min = FULL_TILE * FULL_TILE / 1e6 / mpx_s / 60
    print(f"full_tile_min: {full_tile_min:.2f}")
    target_comment("full_tile_min", full_tile_min, " min",
                   f" on 2 cores (this run: {cores} cores, {size} px scene)")
    print(f"halo_waste: {h['logged']:.4f}")
    target_comment("halo_waste", h["logged"], "")
    peak = max(runs[size][1], runs[big][1])
    print(f"peak_rss_mb: {peak:.0f}")
    target_comment("peak_rss_mb", peak, " MB", f" (max of {size} and {big} px, GDAL cache bounded by the apps to -ram)")


if __name__ == "__main__":
    main()

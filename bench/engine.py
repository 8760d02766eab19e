"""Benchmark: TensorflowModelServe end to end vs the bare TensorFlow forward pass of the same SavedModel.

On a generated multi-band image, for a Decloud-sized U-Net (5 stride-2 levels, widths 64..512, ~16.5 M
parameters) and a small variant (widths 16..128):
  - bare TensorFlow: the SavedModel's serving function called in Python on every tile of the image
    (tiles of the size the app uses, inputs already in memory, after a warm-up tile);
  - the app: otbcli_TensorflowModelServe reading the GeoTIFF and writing the output GeoTIFF, same tiles (each
    run a whole process: start, TensorFlow and model loading, graph optimisation);
  - the two side by side, interleaved: rounds of one bare pass then one app run (3 rounds for the small model,
    2 for the large one, 1 with --quick), each side the best of its rounds, so that both see the same minutes of
    a shared host; `<model>_round_ratios` gives each round's own ratio;
  - peak RSS of the app process, at two image sizes (it must stay flat as the image grows), with
    GDAL_CACHEMAX=128 (GDAL's block cache otherwise grows to 5 % of the machine's RAM).

Prints `name: value` lines: engine_mpx_s, bare_tf_mpx_s, ratio (engine / bare, for the big model) and
peak_rss_mb (the app, largest image), plus the same figures per model and image size, and per model where the
app's time goes: `<model>_marginal_ratio` (its time per pixel between the two sizes, against bare TensorFlow's)
and `<model>_fixed_seconds` (what each run pays whatever the size: process, TensorFlow runtime, model loading,
graph optimisation at the first tile; the bare side's warm-up leaves it out).
Then the start-up a command-line run of the shipped default model pays (`otbcli_DecloudInfer`, gfnet-v5, on a
256 x 256 scene: mostly loading the model and optimising its graph), with the apps' serving graph optimisation and
with TensorFlow's own (DECLOUD_GRAPH_OPTIMISATION=tensorflow), interleaved, the median of 3 runs each:
`default_model_run_s`, `default_model_run_tensorflow_graph_s`, and whether their outputs are identical.

    python bench/engine.py            # 4096 x 4096 image (several minutes on 2 cores)
    python bench/engine.py --quick    # 1024 x 1024, under a minute
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from decloud import raster, synthetic
from decloud.otbenv import app_environment, module_app_dir, otbcli
from decloud.testing import toymodels

BIG = (64, 128, 256, 512, 512, 512)
SMALL = (16, 32, 64, 128, 128, 128)
# GDAL's block cache defaults to 5 % of the RAM and grows with what is read: bound it as a user would.
GDAL_CACHEMAX_MB = 128


class BareTensorflow:
    """The SavedModel's serving function called in Python on every tile of an in-memory image (after a warm-up
    tile, which optimises the graph); each ``pass_mpx_s()`` is one timed pass over all the tiles."""

    def __init__(self, model_dir: Path, image: np.ndarray, tile: int):
        import tensorflow as tf  # noqa: PLC0415 (the bare side only: the apps load their own)

        self.fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
        rows, cols = image.shape[0] // tile * tile, image.shape[1] // tile * tile
        self.pixels = rows * cols
        self.tiles = [tf.constant(image[None, r:r + tile, c:c + tile])
                      for r in range(0, rows, tile) for c in range(0, cols, tile)]
        self.fn(x=self.tiles[0])  # warm-up (graph optimisation)

    def pass_mpx_s(self) -> float:
        start = time.perf_counter()
        for t in self.tiles:
            self.fn(x=t)["output_0"].numpy()
        return self.pixels / (time.perf_counter() - start) / 1e6


def app_run(model_dir: Path, image_path: Path, out: Path, tile: int) -> tuple[float, float, float]:
    """Run the app in a child process; returns (Mpixel/s of the whole run, seconds, peak RSS MB of the app).

    The peak RSS is the app process's own VmHWM, polled from /proc (a fork's ru_maxrss would include the
    RSS of this Python process at fork time).
    """
    cmd = [
        "otbApplicationLauncherCommandLine", "TensorflowModelServe", str(module_app_dir()),
        "-source1.il", str(image_path), "-source1.rfieldx", str(tile), "-source1.rfieldy", str(tile),
        "-model.dir", str(model_dir), "-model.fullyconv", "1", "-output.efieldx", str(tile),
        "-output.efieldy", str(tile), "-optim.tilesizex", str(tile), "-optim.tilesizey", str(tile),
        "-out", str(out), "-ram", "256",
    ]
    env = app_environment({"GDAL_CACHEMAX": str(GDAL_CACHEMAX_MB)})
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak_kb = 0
    status_file = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status_file.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        error = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"TensorflowModelServe failed: {error[-2000:]}")
    size = raster.read_array(out).shape
    return size[0] * size[1] / seconds / 1e6, seconds, peak_kb / 1024


def default_model_runs(tmp: Path, rounds: int = 3) -> dict[str, object]:
    """Median seconds of otbcli_DecloudInfer with the default model per graph optimisation, and identical outputs."""
    size, nodata = 256, -10000
    paths = {}
    for i, name in enumerate(("t", "tm1", "tp1")):
        array = np.rint(synthetic.s2_like(size, size, seed=10 + i)).astype(np.int16)
        paths[name] = raster.write_geotiff(tmp / f"s2_{name}.tif", array, origin=(0.0, 0.0), spacing=(10.0, -10.0),
                                           nodata=nodata)
    y, x = np.mgrid[0:size, 0:size]
    cloud = (np.hypot(x - 128, y - 128) < 60).astype(np.uint8)
    mask = raster.write_geotiff(tmp / "cloud_t.tif", cloud, origin=(0.0, 0.0), spacing=(10.0, -10.0))
    seconds: dict[str, list[float]] = {"serving": [], "tensorflow": []}
    for _ in range(rounds):
        for mode in seconds:
            out = tmp / f"default_{mode}.tif"
            cmd = [*otbcli("DecloudInfer"), "-s2.t", str(paths["t"]), "-s2.tm1", str(paths["tm1"]),
                   "-s2.tp1", str(paths["tp1"]), "-mask", str(mask), "-date.t", "2022-06-17",
                   "-date.tm1", "2022-06-12", "-date.tp1", "2022-06-22", "-out", str(out)]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  env=app_environment({"DECLOUD_GRAPH_OPTIMISATION": mode}))
            seconds[mode].append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(f"DecloudInfer failed: {(proc.stdout + proc.stderr)[-2000:]}")
    same = np.array_equal(raster.read_array(tmp / "default_serving.tif"),
                          raster.read_array(tmp / "default_tensorflow.tif"))
    return {"default_model_run_s": f"{np.median(seconds['serving']):.2f}",
            "default_model_run_tensorflow_graph_s": f"{np.median(seconds['tensorflow']):.2f}",
            "default_model_graph_identical": int(same)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1024 x 1024 image, under a minute")
    parser.add_argument("--tile", type=int, default=256, help="tile size (default 256)")
    args = parser.parse_args()
    size = 1024 if args.quick else 4096
    tile = args.tile

    with tempfile.TemporaryDirectory(prefix="decloud-bench-") as folder:
        tmp = Path(folder)
        sizes = [size // 2, size]
        images = {}
        for s in sizes:
            array = synthetic.s2_like(s, s, seed=1)
            images[s] = (raster.write_geotiff(tmp / f"image_{s}.tif", array, origin=(0.0, 0.0), spacing=(10.0, -10.0)),
                         array)
        results: dict[tuple[str, int], tuple[float, float, float]] = {}  # (mpx_s, peak RSS, seconds)
        bare_mpx_s: dict[str, float] = {}
        for name, widths in (("unet", BIG), ("unet_small", SMALL)):
            model = toymodels.build_keras_unet(widths=widths)
            print(f"{name}_parameters: {model.count_params()}", flush=True)
            model_dir = tmp / name
            model.export(str(model_dir), verbose=False)
            bare_tf = BareTensorflow(model_dir, images[size][1], tile)
            # The two sides side by side: each round one bare pass, then one app run at the full size; each side
            # is the best of its rounds (a shared machine's noise hits one run or another, and drifts over
            # minutes: interleaved, both sides see the same minutes). Each app run pays the whole fixed cost
            # (process, TensorFlow, model). The app once more at half the size, for the split below.
            rounds = 1 if args.quick else (3 if name == "unet_small" else 2)
            runs, bares = [], []
            for _ in range(rounds):
                bares.append(bare_tf.pass_mpx_s())
                runs.append(app_run(model_dir, images[size][0], tmp / f"out_{name}_{size}.tif", tile))
            bare = max(bares)
            del bare_tf
            print(f"{name}_bare_tf_mpx_s: {bare:.3f}", flush=True)
            print(f"{name}_round_ratios: {' '.join(f'{r[0] / b:.3f}' for r, b in zip(runs, bares))}", flush=True)
            by_size = {size: runs, sizes[0]: [app_run(model_dir, images[sizes[0]][0],
                                                      tmp / f"out_{name}_{sizes[0]}.tif", tile)]}
            for s in sizes:
                mpx, seconds, _ = max(by_size[s], key=lambda r: r[0])
                rss = max(r[2] for r in by_size[s])  # the peak over all of them
                print(f"{name}_engine_{s}px_mpx_s: {mpx:.3f}", flush=True)
                print(f"{name}_engine_{s}px_seconds: {seconds:.1f}", flush=True)
                print(f"{name}_peak_rss_{s}px_mb: {rss:.0f}", flush=True)
                results[(name, s)] = (mpx, rss, seconds)
            bare_mpx_s[name] = bare
            # Where the app's time goes: the two sizes give its time per pixel (the marginal throughput, against
            # bare TensorFlow's) and its fixed cost per run (process, TensorFlow runtime, model, graph
            # optimisation at the first tile), which the bare side's warm-up leaves out.
            pixels = [s * s / 1e6 for s in sizes]
            times = [results[(name, s)][2] for s in sizes]
            if times[1] > times[0]:
                marginal = (pixels[1] - pixels[0]) / (times[1] - times[0])
                print(f"{name}_marginal_ratio: {marginal / bare:.3f}", flush=True)
                print(f"{name}_fixed_seconds: {times[1] - pixels[1] / marginal:.2f}", flush=True)
        engine, rss, _ = results[("unet", size)]
        print(f"engine_mpx_s: {engine:.3f}")
        print(f"bare_tf_mpx_s: {bare_mpx_s['unet']:.3f}")
        print(f"ratio: {engine / bare_mpx_s['unet']:.3f}")
        print(f"small_ratio: {results[('unet_small', size)][0] / bare_mpx_s['unet_small']:.3f}")
        print(f"peak_rss_mb: {rss:.0f}")
        print(f"peak_rss_growth_mb: {rss - results[('unet', sizes[0])][1]:.0f}")
        print(f"gdal_cachemax_mb: {GDAL_CACHEMAX_MB}")
        for key, value in default_model_runs(tmp, rounds=1 if args.quick else 3).items():
            print(f"{key}: {value}", flush=True)


if __name__ == "__main__":
    main()

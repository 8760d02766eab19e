"""Benchmark: decloud timeseries as Dask tasks (decloud.distributed) on this machine.

A generated series (S2 GeoTIFF stacks, prepared as users do, a short layout so that every inner date has its
t-1 and t+1) is processed with the shipped model:
  - sequentially in this process (no Dask, TensorFlow with its own thread count),
  - on a LocalCluster of 1 worker, then of 2 workers, each worker running one task at a time with 1 thread
    (``--threads-per-worker 1``). Clusters are started and warmed (each worker has run DecloudInfer once)
    before the timed run: the figures are the processing of the series, not the start.
The per-task overhead of the Dask path is measured on many tiny tasks: ``run_task`` on dates whose output
exists (a stat and a report entry), called directly vs through ``run_tasks`` on the running 2-worker cluster.

Figures (`name: value`):
  cores                  os.cpu_count() (the 2-worker figures are bounded by it: 2 cores -> at most ~2x)
  dates                  dates processed in each run
  pixels                 side of the generated images
  cluster_start_s        a 2-worker LocalCluster started and warmed
  direct_ms_per_task     the tiny task called in this process
  dask_ms_per_task       the tiny tasks through Dask (wall time / tasks, 2 workers)
  overhead_ms_per_task   dask_ms_per_task - direct_ms_per_task
  sequential_s           the series in this process
  workers_1_s            the series on 1 worker x 1 thread
  workers_2_s            the series on 2 workers x 1 thread
  speedup_2_workers      workers_1_s / workers_2_s
  identical              1 if the outputs of the 1-worker and 2-worker runs are identical, else 0 (both with 1
                         TensorFlow thread per task: how the series is spread over workers must not change a pixel)
  thread_differing_share share of the output pixels (any band) where the sequential run (TensorFlow's own thread
                         count) differs from the 1-thread runs: the default model's per-tile statistics are
                         reductions whose float rounding depends on the thread count
  thread_max_diff        the largest such difference (int16 output units)

    python bench/distributed.py            # 18 dates of 256 x 256 pixels, 2000 tiny tasks
    python bench/distributed.py --quick    # 10 dates of 128 x 128 pixels, 300 tiny tasks, under a minute
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is named like Dask's package: its folder must not come first on the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT / "python"))

import numpy as np  # noqa: E402
from decloud.distributed import ClusterOptions, local_cluster, run_tasks  # noqa: E402
from decloud.infer import default_model  # noqa: E402
from decloud.timeseries import find_prepared, plan_timeseries, run_task, run_timeseries  # noqa: E402


def make_series(folder: Path, dates: int, size: int) -> Path:
    from decloud.prepare import prepare_s2  # noqa: PLC0415
    from decloud.testing.synthetic_products import make_stack  # noqa: PLC0415

    for k in range(dates):
        product = make_stack(folder / "products", when=datetime(2022, 6, 1) + timedelta(days=3 * k), size=size, seed=k)
        prepare_s2(product.path, folder / "prepared")
    layout = json.loads((ROOT / "python/decloud/layouts/os2-s2.json").read_text())
    layout["tm1"].update(timeframe_start_hours=-100, timeframe_end_hours=-1)
    layout["tp1"].update(timeframe_start_hours=1, timeframe_end_hours=100)
    (folder / "short.json").write_text(json.dumps(layout))
    return folder


def warm(task, options: dict, scratch: str) -> None:
    """Run one date in this worker (loads OTB, the app, TensorFlow's library and the model once)."""
    import dataclasses  # noqa: PLC0415

    run_task(dataclasses.replace(task, output=f"{scratch}/warm_{os.getpid()}.tif"), options)


def timed_series(series: Path, out: Path, options: dict, workers: int) -> tuple[float, float]:
    """(start + warm-up seconds, series seconds) on a LocalCluster of ``workers`` x 1 thread."""
    from distributed import Client  # noqa: PLC0415

    tasks, _ = plan_timeseries(find_prepared([series / "prepared"]), out, layout=series / "short.json")
    began = time.perf_counter()
    with local_cluster(ClusterOptions(workers=workers, threads_per_worker=1)) as cluster, Client(cluster) as client:
        scratch = out.with_name(out.name + "_warm")
        scratch.mkdir()
        client.run(warm, tasks[0], {**options, "threads": 1}, str(scratch))
        started = time.perf_counter() - began
        began = time.perf_counter()
        run_timeseries(tasks, out, options=options, progress=False, client=client,
                       cluster=ClusterOptions(workers=workers, threads_per_worker=1))
        return started, time.perf_counter() - began


def overhead(series: Path, out: Path, options: dict, n: int) -> tuple[float, float]:
    """(direct, Dask) milliseconds per tiny task: run_task on dates whose output exists."""
    from distributed import Client  # noqa: PLC0415

    tasks, _ = plan_timeseries(find_prepared([series / "prepared"]), out, layout=series / "short.json")
    items = [tasks[k % len(tasks)] for k in range(n)]
    function = functools.partial(run_task, options=options)
    began = time.perf_counter()
    for item in items:
        function(item)
    direct = (time.perf_counter() - began) / n * 1000
    with local_cluster(ClusterOptions(workers=2, threads_per_worker=1)) as cluster, Client(cluster) as client:
        run_tasks(function, items[:20], client=client, progress=False)  # imports done in the workers
        began = time.perf_counter()
        entries = run_tasks(function, items, client=client, progress=False)
        dask = (time.perf_counter() - began) / n * 1000
    assert {e["status"] for e in entries} == {"exists"}
    return direct, dask


def same_outputs(folders: list[Path]) -> bool:
    from decloud.raster import read_array  # noqa: PLC0415

    names = sorted(p.name for p in folders[0].glob("*_decloud.tif"))
    if not names or any(sorted(p.name for p in f.glob("*_decloud.tif")) != names for f in folders[1:]):
        return False
    return all(np.array_equal(read_array(folders[0] / n), read_array(f / n)) for n in names for f in folders[1:])


def output_differences(a: Path, b: Path) -> tuple[float, int]:
    """(share of the pixels that differ in any band, largest difference) between the outputs of two folders."""
    from decloud.raster import read_array  # noqa: PLC0415

    differing, pixels, largest = 0, 0, 0
    for path in sorted(a.glob("*_decloud.tif")):
        x, y = read_array(path).astype(np.int64), read_array(b / path.name).astype(np.int64)
        diff = np.abs(x - y)
        differing += int(np.any(diff > 0, axis=-1).sum())
        pixels += diff.shape[0] * diff.shape[1]
        largest = max(largest, int(diff.max()))
    return differing / max(pixels, 1), largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    dates, size, tiny = (10, 128, 300) if args.quick else (18, 256, 2000)
    options = {"model": str(default_model()), "tile": 256, "padding": 32}
    print(f"cores: {os.cpu_count()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        series = make_series(tmp / "series", dates, size)
        tasks, _ = plan_timeseries(find_prepared([series / "prepared"]), tmp / "sequential",
                                   layout=series / "short.json")
        print(f"dates: {len(tasks)}")
        print(f"pixels: {size}", flush=True)
        began = time.perf_counter()
        run_timeseries(tasks, tmp / "sequential", options=options, progress=False)
        sequential = time.perf_counter() - began
        _, one = timed_series(series, tmp / "workers_1", options, 1)
        start, two = timed_series(series, tmp / "workers_2", options, 2)
        print(f"cluster_start_s: {start:.2f}")
        direct, dask = overhead(series, tmp / "sequential", options, tiny)
        print(f"direct_ms_per_task: {direct:.3f}")
        print(f"dask_ms_per_task: {dask:.3f}")
        print(f"overhead_ms_per_task: {dask - direct:.3f}")
        print(f"sequential_s: {sequential:.2f}")
        print(f"workers_1_s: {one:.2f}")
        print(f"workers_2_s: {two:.2f}")
        print(f"speedup_2_workers: {one / two:.2f}")
        print(f"identical: {int(same_outputs([tmp / 'workers_1', tmp / 'workers_2']))}")
        share, largest = output_differences(tmp / "sequential", tmp / "workers_1")
        print(f"thread_differing_share: {share:.6f}")
        print(f"thread_max_diff: {largest}")


if __name__ == "__main__":
    main()

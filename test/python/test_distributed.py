"""Dask on loopback: a series on 2 local workers equals the sequential run, a worker killed in the middle of a run,
datasets over several tiles, and the Slurm / PBS job configuration (a job script run here, without Slurm)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from decloud.distributed import ClusterOptions, jobqueue_cluster, local_cluster, run_tasks
from decloud.errors import DecloudError
from decloud.otbenv import app_environment
from decloud.prepare import prepare_s2
from decloud.raster import geotransform, read_array
from decloud.testing import synthetic_products as sp
from decloud.timeseries import find_prepared, plan_timeseries, run_timeseries

DAYS = (1, 4, 7, 10, 13, 16, 19, 22)
OPTIONS = {"tile": 64, "padding": 16}


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Eight generated S2 dates, prepared, with a short layout (six dates to process), and the run of the series on
    one worker (the reference)."""
    d = tmp_path_factory.mktemp("series")
    for k, day in enumerate(DAYS):
        prepare_s2(sp.make_stack(d / "products", when=datetime(2022, 6, day), size=96, seed=k).path, d / "prepared")
    layout = json.loads((Path(__file__).resolve().parents[2] / "python/decloud/layouts/os2-s2.json").read_text())
    layout["tm1"].update(timeframe_start_hours=-100, timeframe_end_hours=-1)
    layout["tp1"].update(timeframe_start_hours=1, timeframe_end_hours=100)
    (d / "short.json").write_text(json.dumps(layout))
    tasks, _ = plan_timeseries(find_prepared([d / "prepared"]), d / "sequential", layout=d / "short.json")
    assert len(tasks) == 6
    # The reference: one worker process, one thread per task, as the runs below (the default model's per-tile
    # statistics are float reductions whose rounding depends on TensorFlow's thread count, and in this process
    # TensorFlow's thread pool is the one of the first session: bench/distributed.py, thread_differing_share)
    run_timeseries(tasks, d / "sequential", options=OPTIONS, progress=False,
                   cluster=ClusterOptions(workers=1, threads_per_worker=1))
    return d


def plan(series: Path, out: Path):
    return plan_timeseries(find_prepared([series / "prepared"]), out, layout=series / "short.json")


def assert_same_as_sequential(series: Path, out: Path) -> None:
    expected = sorted(p.name for p in (series / "sequential").glob("*_decloud.tif"))
    assert sorted(p.name for p in out.glob("*_decloud.tif")) == expected
    for name in expected:
        assert np.array_equal(read_array(out / name), read_array(series / "sequential" / name)), name
        assert geotransform(out / name) == geotransform(series / "sequential" / name)
    assert not [p for p in out.iterdir() if ".part" in p.name]


@pytest.mark.slow
def test_two_local_workers_give_the_sequential_outputs(series, tmp_path):
    tasks, skipped = plan(series, tmp_path)
    cluster = ClusterOptions(workers=2, threads_per_worker=1)
    entries = run_timeseries(tasks, tmp_path, skipped=skipped, options=OPTIONS, progress=False, cluster=cluster)
    assert_same_as_sequential(series, tmp_path)
    ran = entries[len(skipped):]
    assert [e["output"] for e in ran] == [t.output for t in tasks] and {e["status"] for e in ran} == {"done"}
    workers = {e["worker"] for e in ran}
    assert len(workers) == 2 and f":{os.getpid()}" not in " ".join(workers)  # two worker processes, not this one
    report = json.loads((tmp_path / "run_report.json").read_text())
    assert report["cluster"]["workers"] == 2 and report["options"]["threads"] == 1
    assert [e["status"] for e in report["tasks"]] == ["skipped"] * len(skipped) + ["done"] * 6
    assert all(e["duration_s"] > 0 and e["inputs"]["s2_t"] for e in report["tasks"][len(skipped):])
    # a second run finds every date done, without starting a cluster
    began = time.perf_counter()
    again = run_timeseries(tasks, tmp_path, options=OPTIONS, progress=False, cluster=cluster)
    assert {e["status"] for e in again} == {"exists"} and time.perf_counter() - began < 5


def test_local_workers_get_their_threads_before_importing_anything():
    with local_cluster(ClusterOptions(workers=2, threads_per_worker=1)) as cluster:
        from distributed import Client  # noqa: PLC0415

        with Client(cluster) as client:
            info = client.scheduler_info(n_workers=-1)["workers"].values()
            assert [w["nthreads"] for w in info] == [1, 1]  # one task at a time per worker
            env = client.run(lambda: {k: os.environ.get(k) for k in (
                "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")})
            assert all(v == {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
                             "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1"} for v in env.values())
            loaded = client.run(lambda: [m for m in ("tensorflow", "otbApplication") if m in sys.modules])
            assert all(v == [] for v in loaded.values())


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_a_run(series, tmp_path):
    """SIGKILL a worker that is running a date: Dask runs its task again on a worker (the nanny restarts the
    killed one); the run completes and every output is complete and identical to the sequential run."""
    from distributed import Client  # noqa: PLC0415

    tasks, skipped = plan(series, tmp_path)
    outcome: dict = {}
    with local_cluster(ClusterOptions(workers=2, threads_per_worker=1)) as cluster, Client(cluster) as client:
        def run():
            try:
                outcome["entries"] = run_timeseries(tasks, tmp_path, options=OPTIONS, progress=False, client=client)
            except BaseException as e:  # noqa: BLE001 - reported by the test
                outcome["error"] = e

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.time() + 120
        while time.time() < deadline and not list(tmp_path.glob("*_decloud.tif")):
            time.sleep(0.02)
        busy = [w for w, keys in client.processing().items() if keys]
        assert busy, "no worker is running a task"
        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
        done_at_kill = len(list(tmp_path.glob("*_decloud.tif")))
        os.kill(pid, signal.SIGKILL)
        thread.join(timeout=180)
        assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert 1 <= done_at_kill < len(tasks), "the kill should land in the middle of the run"
    entries = outcome["entries"]
    # a date the killed worker had written but not yet reported is found done when its task runs again
    assert len(entries) == len(tasks) and {e["status"] for e in entries} <= {"done", "exists"}
    assert_same_as_sequential(series, tmp_path)


def _fails_on_odd(n: int) -> dict:
    if n % 2:
        raise ValueError(f"odd {n}")
    return {"task": f"n{n}", "output": n}


@pytest.mark.parametrize("workers", [0, 2])
def test_failures_are_reported_and_raised_after_the_others_end(tmp_path, workers):
    with pytest.raises(DecloudError, match=r"2 of 4 tasks failed .*run_report.json\); first: n1: ValueError: odd 1"):
        run_tasks(_fails_on_odd, range(4), options=ClusterOptions(workers=workers), report_dir=tmp_path,
                  progress=False, label=lambda n: f"n{n}")
    report = json.loads((tmp_path / "run_report.json").read_text())
    assert [e["status"] for e in report["tasks"]] == ["done", "failed", "done", "failed"]
    assert report["tasks"][3]["error"] == "ValueError: odd 3"


@pytest.mark.slow
def test_prepare_s2_products_as_tasks(tmp_path):
    """decloud prepare-s2 on 2 workers: the folders of the one-process run; a re-run finds them all done."""
    products = [str(sp.make_theia(tmp_path / "in", when=datetime(2022, 6, d, 10, 30), seed=d, size=64).path)
                for d in (1, 11, 21)]
    for name, workers in (("one", "0"), ("dask", "2"), ("dask", "2")):
        proc = subprocess.run([sys.executable, "-m", "decloud.cli", "prepare-s2", *products, "--out-dir",
                               str(tmp_path / name), "--workers", workers, "-q"], capture_output=True, text=True,
                              env=app_environment(), timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads((tmp_path / name / "run_report_prepare-s2.json").read_text())
        assert len(report["tasks"]) == 3 and all(e["output"] and e["worker"] for e in report["tasks"])
    assert [e["status"] for e in report["tasks"]] == ["exists"] * 3  # the second Dask run
    folders = sorted(p.name for p in (tmp_path / "one").glob("S2_*"))
    assert len(folders) == 3 and sorted(p.name for p in (tmp_path / "dask").glob("S2_*")) == folders
    for folder in folders:
        for image in ("s2_10m.tif", "s2_20m.tif", "cloud.tif", "nodata.tif"):
            assert np.array_equal(read_array(tmp_path / "one" / folder / image),
                                  read_array(tmp_path / "dask" / folder / image)), (folder, image)


@pytest.mark.slow
def test_dataset_over_two_tiles_as_tasks(tmp_path):
    """decloud dataset on 2 workers (one task per tile) gives the records of the one-process run."""
    from decloud.dataset import read_dataset  # noqa: PLC0415
    from decloud.patch_index import index_prepared  # noqa: PLC0415

    prep = tmp_path / "prep"
    for tile in ("32TPS", "32TPR"):
        folders = [prepare_s2(sp.make_theia(tmp_path / "in", tile=tile, when=datetime(2022, 6, d, 10, 30),
                                            seed=d + len(tile) * ord(tile[-1]), size=128).path, prep).folder
                   for d in (1, 11, 21)]
        index_prepared(tmp_path / f"{tile}.npz", folders, [], cell_pixels=64, tile=tile)
    s2 = {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100}
    (tmp_path / "layout.json").write_text(json.dumps({
        "t": {"acquisition": {"s2": s2}, "timeframe_origin": True},
        "target": {"acquisition": {"s2": s2}, "timeframe_start_hours": -300, "timeframe_end_hours": 300}}))
    common = [sys.executable, "-m", "decloud.cli", "dataset", "--index", str(tmp_path / "32TPS.npz"),
              str(tmp_path / "32TPR.npz"), "--prepared", str(prep), "--layout", str(tmp_path / "layout.json"),
              "--per-cell", "2", "--shard-size", "3", "-q"]
    for name, extra in (("one", ["--workers", "0"]), ("dask", ["--workers", "2"])):
        proc = subprocess.run(common + ["--out-dir", str(tmp_path / name)] + extra, capture_output=True, text=True,
                              env=app_environment(), timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    shards = sorted(p.name for p in (tmp_path / "dask" / "train").glob("*.tfrecord"))
    assert shards[0] == "train_32TPR_00000.tfrecord" and shards[-1].startswith("train_32TPS_")
    # the same files whatever the number of workers (decloud.dataset.build_dataset)
    assert sorted(p.name for p in (tmp_path / "one" / "train").glob("*.tfrecord")) == shards

    def records(folder):
        out = {}
        for r in read_dataset(folder).as_numpy_iterator():
            key = (int(r["s2_timestamp_t"]), int(r["s2_timestamp_target"]), r["s2_t"].tobytes())
            out[key] = {k: v.tobytes() if hasattr(v, "tobytes") else v for k, v in r.items()}
        return out

    one, dask = records(tmp_path / "one" / "train"), records(tmp_path / "dask" / "train")
    assert len(one) > 4 and one == dask
    for name in ("shapes_and_types.json",):
        assert (tmp_path / "one/train" / name).read_text() == (tmp_path / "dask/train" / name).read_text()
    footprints = [json.loads((tmp_path / n / "train/footprints.geojson").read_text())["features"]
                  for n in ("one", "dask")]
    key = lambda f: (f["properties"]["tile"], f["properties"]["cell"])  # noqa: E731
    assert sorted(map(key, footprints[0])) == sorted(map(key, footprints[1]))
    report = json.loads((tmp_path / "dask" / "run_report.json").read_text())
    assert sorted(e["task"] for e in report["tasks"]) == ["dataset train 32TPR", "dataset train 32TPS"]
    # re-run: both tiles are found done
    proc = subprocess.run(common + ["--out-dir", str(tmp_path / "dask"), "--workers", "2"], capture_output=True,
                          text=True, env=app_environment(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "dask" / "run_report.json").read_text())
    assert {e["status"] for e in report["tasks"]} == {"exists"} and records(tmp_path / "dask" / "train") == one


def test_slurm_and_pbs_job_scripts():
    options = dict(workers=4, threads_per_worker=4, processes_per_job=2, queue="batch", account="proj42",
                   walltime="01:30:00", job_memory="16GB", job_extra=("--exclusive",))
    with jobqueue_cluster(ClusterOptions(cluster="slurm", **options)) as cluster:
        script = cluster.job_script()
        assert not cluster.workers  # nothing submitted
    for line in ("#SBATCH -J decloud", "#SBATCH -p batch", "#SBATCH -A proj42", "#SBATCH -n 1",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --mem=15G", "#SBATCH -t 01:30:00", "#SBATCH --exclusive",
                 "export TF_NUM_INTRAOP_THREADS=4", "export ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=4",
                 "export OMP_NUM_THREADS=4"):
        assert line in script.splitlines(), (line, script)
    command = script.splitlines()[-1]
    assert command.startswith(sys.executable) and "--nthreads 1" in command and "--nworkers 2" in command

    with jobqueue_cluster(ClusterOptions(cluster="pbs", **options)) as cluster:
        script = cluster.job_script()
    for line in ("#PBS -N decloud", "#PBS -q batch", "#PBS -A proj42", "#PBS -l select=1:ncpus=8:mem=15GB",
                 "#PBS -l walltime=01:30:00", "#PBS --exclusive", "export TF_NUM_INTRAOP_THREADS=4"):
        assert line in script.splitlines(), (line, script)

    with pytest.raises(DecloudError, match="--job-memory"):
        jobqueue_cluster(ClusterOptions(cluster="slurm", workers=1))


def _threads_here() -> dict:
    return {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "GDAL_NUM_THREADS")}


@pytest.mark.slow
def test_a_slurm_job_script_run_here_gives_workers_with_their_threads(tmp_path):
    """The job script of --cluster slurm, run by bash instead of sbatch: its workers join the scheduler with one
    task at a time and the thread variables (OMP_NUM_THREADS too, despite Dask's nanny default of 1)."""
    from distributed import Client  # noqa: PLC0415

    options = ClusterOptions(cluster="slurm", workers=2, threads_per_worker=3, processes_per_job=2,
                             job_memory="2GB", local_directory=str(tmp_path))
    with jobqueue_cluster(options) as cluster, Client(cluster) as client:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}  # the workers import this module's functions
        job = subprocess.Popen(["bash", "-c", cluster.job_script()], start_new_session=True, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client.wait_for_workers(2, timeout=60)
            info = client.scheduler_info(n_workers=-1)["workers"].values()
            assert [w["nthreads"] for w in info] == [1, 1]
            env = client.run(_threads_here)
            assert list(env.values()) == [{"OMP_NUM_THREADS": "3", "TF_NUM_INTRAOP_THREADS": "3",
                                           "GDAL_NUM_THREADS": "3"}] * 2
            entries = run_tasks(_fails_on_odd, [0, 2, 4], client=client, options=options, progress=False,
                                label=lambda n: f"n{n}")
            assert [e["output"] for e in entries] == [0, 2, 4]
        finally:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()


def test_build_dataset_is_a_library_function(tmp_path):
    """The dataset stage called as a function (decloud.dataset.build_dataset), in this process (workers=0): its
    result names each split's samples, tiles and shards (<split>_<tile>_NNNNN), a re-run finds the tile done, and
    a missing index is one error naming it."""
    from decloud.dataset import build_dataset, read_dataset  # noqa: PLC0415
    from decloud.errors import DecloudInputError  # noqa: PLC0415
    from decloud.patch_index import index_prepared  # noqa: PLC0415

    prep = tmp_path / "prep"
    folders = [prepare_s2(sp.make_theia(tmp_path / "in", tile="32TPS", when=datetime(2022, 6, d, 10, 30), seed=d,
                                        size=128).path, prep).folder for d in (1, 11)]
    index_prepared(tmp_path / "32TPS.npz", folders, [], cell_pixels=64, tile="32TPS")
    s2 = {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100}
    layout = tmp_path / "layout.json"
    layout.write_text(json.dumps({
        "t": {"acquisition": {"s2": s2}, "timeframe_origin": True},
        "target": {"acquisition": {"s2": s2}, "timeframe_start_hours": -300, "timeframe_end_hours": 300}}))
    options = ClusterOptions(workers=0)
    result = build_dataset([tmp_path / "32TPS.npz"], prep, layout, tmp_path / "ds", shard_size=2, cluster=options,
                           progress=False)
    train = result["train"]
    assert train.samples > 0 and train.tiles == ("32TPS",) and not train.empty_because
    assert [p.name for p in train.shards][0] == "train_32TPS_00000.tfrecord" and all(p.exists() for p in train.shards)
    assert sum(1 for _ in read_dataset(tmp_path / "ds" / "train")) == train.samples
    build_dataset([tmp_path / "32TPS.npz"], prep, layout, tmp_path / "ds", shard_size=2, cluster=options,
                  progress=False)
    report = json.loads((tmp_path / "ds" / "run_report.json").read_text())
    assert [e["status"] for e in report["tasks"]] == ["exists"]
    with pytest.raises(DecloudInputError, match="index .*nothere.npz: no such file"):
        build_dataset([tmp_path / "nothere.npz"], prep, layout, tmp_path / "ds2", cluster=options)

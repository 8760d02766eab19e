"""Never lose or fake data (issue 12, the Python side), as users run the ``decloud`` command, on generated GeoTIFFs.

Each test asserts the exit status, the one-line message, that the inputs are unchanged (checksums) and what is,
or is not, at the output path: a full disk (a file-size limit, and a small tmpfs where one can be mounted),
SIGINT / SIGTERM / kill -9 in the middle of a write, an output that is an input (also through links), two
concurrent time-series runs on one folder, and the command-line mistakes of the issue.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import MSOP_MODEL
from decloud import atomic
from decloud.errors import DecloudInputError, DecloudIOError
from decloud.otbenv import app_environment
from decloud.prepare import prepare_s2
from decloud.raster import read_array, write_geotiff
from decloud.synthetic import s2_like
from decloud.testing.synthetic_products import make_stack

ORIGIN = (674990.0, 5154960.0)
NODATA = -10000
# Small tiles with a wide margin, one thread, a tiny memory budget: a 256 x 256 write lasts seconds, in many blocks.
SLOW = ["--tile", "16", "--padding", "32", "--ram", "1", "--threads", "1"]
DAYS = (1, 4, 7, 10, 13, 16)


# ----------------------------------------------------------------------------------------------- helpers


def decloud(*args, limit_bytes: int | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the decloud command; ``limit_bytes``: no file may grow beyond it (a full disk, SIGXFSZ ignored)."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "decloud.cli", *map(str, args)], capture_output=True, text=True,
                          env=app_environment(), timeout=timeout, preexec_fn=limit if limit_bytes else None)


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "decloud.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=app_environment())


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("decloud ")]


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def checksums(paths) -> dict[str, str]:
    return {str(p): digest(p) for p in paths}


def temporaries(folder: Path, suffix: str = "") -> list[Path]:
    return [p for p in folder.iterdir() if ".part" in p.name and p.name.endswith(suffix)] if folder.exists() else []


def wait_for(condition, timeout: float = 120, what: str = "") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


def write_s2(path: Path, seed: int, size: int) -> Path:
    return write_geotiff(path, np.rint(s2_like(size, size, seed=seed)).astype(np.int16), origin=ORIGIN,
                         spacing=(10.0, -10.0), nodata=NODATA)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Three dates of 448 x 448 pixels (large enough that a signal lands mid-write on a fast machine), and a finished
    output of them (the previous good result)."""
    d = tmp_path_factory.mktemp("scene")
    paths = {name: write_s2(d / f"{name}.tif", k + 1, 448) for k, name in enumerate(("t", "tm1", "tp1"))}
    good = d / "good.tif"
    run = decloud("infer", good, *role_args(paths))
    assert run.returncode == 0, run.stderr
    return paths, good


def role_args(paths: dict) -> list:
    # The model the safety mechanics are written against (the default gfnet-v5 also needs a mask and dates).
    return ["--model", MSOP_MODEL, "--s2-t", paths["t"], "--s2-tm1", paths["tm1"], "--s2-tp1", paths["tp1"]]


@pytest.fixture
def previous(scene, tmp_path) -> Path:
    """An output folder holding a previous good output at ``out.tif``."""
    out = tmp_path / "out" / "out.tif"
    out.parent.mkdir()
    shutil.copyfile(scene[1], out)
    return out


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Six generated S2 products, prepared, and a layout whose windows give four dates with t-1 and t+1."""
    d = tmp_path_factory.mktemp("series")
    for k, day in enumerate(DAYS):
        prepare_s2(make_stack(d / "products", when=datetime(2022, 6, day), size=96, seed=k).path, d / "prepared")
    layout = json.loads((Path(__file__).resolve().parents[2] / "python/decloud/layouts/os2-s2.json").read_text())
    layout["tm1"].update(timeframe_start_hours=-100, timeframe_end_hours=-1)
    layout["tp1"].update(timeframe_start_hours=1, timeframe_end_hours=100)
    (d / "short.json").write_text(json.dumps(layout))
    return d


def series_inputs(series: Path) -> list[Path]:
    return sorted(p for p in (series / "prepared").rglob("*") if p.is_file())


def timeseries_args(series: Path, out_dir: Path, *extra) -> list:
    return ["timeseries", series / "prepared", "--layout", series / "short.json", "--out-dir", out_dir, "-q",
            "--workers", "0", *extra]


# ----------------------------------------------------------------------------------------------- the helper itself


def test_atomic_output_keeps_the_previous_file_on_any_failure(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    for error in (ValueError("boom"), KeyboardInterrupt(), SystemExit(3)):
        with pytest.raises(type(error)):
            with atomic.atomic_output(target) as tmp:
                assert tmp.parent == tmp_path and tmp != target
                tmp.write_text("half")
                raise error
        assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    with atomic.atomic_output(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    # two writers (two runs) never share a temporary path
    assert atomic.temporary_path(target) != atomic.temporary_path(target)
    assert str(os.getpid()) in atomic.temporary_path(target).name


def test_a_dead_process_temporary_and_lock_are_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".x.tif.{atomic.host_tag()}-{dead.pid}-0123abcd.part.tif"
    stale.write_bytes(b"partial")
    (tmp_path / atomic.LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename,
                                                         "command": "decloud timeseries"}))
    with atomic.folder_lock(tmp_path, "test"):
        assert not stale.exists()
        holder = json.loads((tmp_path / atomic.LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["command"] == "test"
        with atomic.folder_lock(tmp_path, "nested"):  # the same process may nest its locks
            pass
        other = subprocess.run([sys.executable, "-c", "from decloud.atomic import folder_lock\n"
                                f"with folder_lock({str(tmp_path)!r}): pass"], capture_output=True, text=True)
        assert other.returncode == 1
        holder = f"in use by test (pid {os.getpid()} on {os.uname().nodename}"
        assert f"DecloudBusyError: {tmp_path}: {holder}" in other.stderr
    assert not (tmp_path / atomic.LOCK_NAME).exists()


# ----------------------------------------------------------------------------------------------- decloud infer


def test_disk_full_keeps_the_previous_output(scene, previous):
    paths, _ = scene
    before = checksums([*paths.values(), previous])
    run = decloud("infer", previous, *role_args(paths), limit_bytes=100_000)
    assert run.returncode == 2, run.stderr
    assert errors(run.stderr) == [f"decloud infer: error: {previous}: writing failed: File too large"]
    assert "Traceback" not in run.stderr
    assert checksums([*paths.values(), previous]) == before  # the previous good output is still there
    assert sorted(p.name for p in previous.parent.iterdir()) == ["out.tif"]


def test_disk_full_on_a_small_tmpfs(scene, tmp_path):
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    paths, good = scene
    mnt = tmp_path / "small"
    mnt.mkdir()
    size = (good.stat().st_size // 4096 + 16) * 4096  # room for the previous output and a bit more
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        out = mnt / "out.tif"
        shutil.copyfile(good, out)
        before = checksums([*paths.values(), out])
        run = decloud("infer", out, *role_args(paths))
        assert run.returncode == 2, run.stderr
        assert errors(run.stderr) == [f"decloud infer: error: {out}: writing failed: No space left on device"]
        assert checksums([*paths.values(), out]) == before
        assert sorted(p.name for p in mnt.iterdir()) == ["out.tif"]
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_failure_in_a_later_tile_keeps_the_previous_output(scene, previous, tmp_path):
    """An input whose last tiles cannot be read (a truncated file): the first tiles are fine, a later one fails."""
    from osgeo import gdal  # noqa: PLC0415

    paths, _ = scene
    broken = tmp_path / "t_truncated.tif"
    gdal.Translate(str(broken), str(paths["t"]), creationOptions=["TILED=YES", "BLOCKXSIZE=64", "BLOCKYSIZE=64",
                                                                  "COMPRESS=DEFLATE"])
    os.truncate(broken, int(broken.stat().st_size * 0.7))
    before = checksums([*paths.values(), broken, previous])
    run = decloud("infer", previous, *role_args({**paths, "t": broken}), "--tile", 64, "--ram", 1)
    assert run.returncode == 2, run.stderr
    [line] = errors(run.stderr)
    assert line.startswith(f"decloud infer: error: {previous}: writing failed: Error while reading image (GDAL "
                           f"format) '{broken}': Cannot read "), line
    assert "Traceback" not in run.stderr and "ERROR 1" not in run.stderr
    assert checksums([*paths.values(), broken, previous]) == before
    assert sorted(p.name for p in previous.parent.iterdir()) == ["out.tif"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_write_stops_cleanly(scene, previous, sig):
    paths, _ = scene
    before = checksums([*paths.values(), previous])
    proc = start("infer", previous, *role_args(paths), *SLOW)
    wait_for(lambda: temporaries(previous.parent) or proc.poll() is not None, what="the temporary output")
    time.sleep(0.5)
    assert proc.poll() is None, "the write ended before the signal"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr
    assert errors(stderr) == [f"decloud infer: interrupted by {signal.Signals(sig).name}: no partial output was "
                              "left (temporary files removed); run the same command again to finish"]
    assert "DirectorMethodException" not in stderr and "Traceback" not in stderr
    assert checksums([*paths.values(), previous]) == before
    assert sorted(p.name for p in previous.parent.iterdir()) == ["out.tif"]


@pytest.mark.slow
def test_sigint_at_any_moment_never_aborts(scene, tmp_path):
    """Ctrl-C while the app is being set up (OTB's Python log callback runs in the main thread), or writing."""
    paths, _ = scene
    out = tmp_path / "o.tif"
    for delay in (1.5, 3.0):
        proc = start("infer", out, *role_args(paths), *SLOW)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode in (0, 130), stderr
        assert "DirectorMethodException" not in stderr and "Traceback" not in stderr
        assert not temporaries(tmp_path)
        if proc.returncode == 130:
            assert not out.exists()


@pytest.mark.slow
def test_kill9_mid_write_leaves_nothing_partial_and_a_rerun_cleans_up(scene, tmp_path):
    paths, good = scene
    out = tmp_path / "out.tif"
    before = checksums(paths.values())
    proc = start("infer", out, *role_args(paths), *SLOW)
    wait_for(lambda: temporaries(tmp_path) or proc.poll() is not None, what="the temporary output")
    time.sleep(0.5)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # nothing at the output path, only the killed run's temporary file beside it
    assert len(temporaries(tmp_path)) == 1
    run = decloud("infer", out, *role_args(paths))
    assert run.returncode == 0, run.stderr
    assert not temporaries(tmp_path)  # the dead run's temporary file is removed by the next write
    assert np.array_equal(read_array(out), read_array(good))
    assert checksums(paths.values()) == before


@pytest.mark.parametrize("how", ["same path", "symbolic link", "hard link"])
def test_output_equal_to_an_input_is_refused(scene, tmp_path, how):
    paths, _ = scene
    inputs = {k: tmp_path / f"{k}.tif" for k in paths}
    for k, p in paths.items():
        shutil.copyfile(p, inputs[k])
    out = {"same path": inputs["tm1"], "symbolic link": tmp_path / "link.tif", "hard link": tmp_path / "hard.tif"}[how]
    if how == "symbolic link":
        out.symlink_to(inputs["tm1"])
    elif how == "hard link":
        os.link(inputs["tm1"], out)
    before = checksums(inputs.values())
    run = decloud("infer", out, *role_args(inputs))
    assert run.returncode == 2, run.stderr
    assert errors(run.stderr) == [f"decloud infer: error: {out}: this output is the input s2_tm1 ({inputs['tm1']}); "
                                  "writing it would destroy that input: choose another output path"]
    assert checksums(inputs.values()) == before
    assert not temporaries(tmp_path)
    from decloud.infer import infer  # noqa: PLC0415

    with pytest.raises(DecloudInputError, match="is the input s2_tm1"):
        infer(out, {"s2_t": inputs["t"], "s2_tm1": [inputs["tp1"], inputs["tm1"]], "s2_tp1": inputs["tp1"]})


def test_infer_mistakes_are_one_line(scene, tmp_path):
    paths, _ = scene
    before = checksums(paths.values())
    run = decloud("infer", tmp_path / "o.tif", *role_args(paths), "--bbox", 0, 0, 10, 10)
    assert run.returncode == 2 and len(errors(run.stderr)) == 1 and "Traceback" not in run.stderr, run.stderr
    assert errors(run.stderr)[0].startswith(f"decloud infer: error: --bbox 0 0 10 10 is outside s2_t ({paths['t']})")
    run = decloud("infer", tmp_path / "o?x.tif", *role_args(paths))
    assert run.returncode == 2, run.stderr
    assert errors(run.stderr) == [f"decloud infer: error: {tmp_path / 'o?x.tif'}: an output path cannot contain '?' "
                                  "(OTB reads what follows as extended filename options and would write another "
                                  "file)"]
    assert list(tmp_path.iterdir()) == [] and checksums(paths.values()) == before


def test_write_app_names_a_gdal_error_and_keeps_the_previous_file(scene, tmp_path):
    """In-process: an app whose write fails is a DecloudIOError and the target keeps its content."""
    from decloud.infer import decloud_app, write_atomically  # noqa: PLC0415

    paths, good = scene
    out = tmp_path / "out.tif"
    shutil.copyfile(good, out)
    app = decloud_app({"s2_t": paths["t"], "s2_tm1": paths["tm1"], "s2_tp1": paths["tp1"]}, model=MSOP_MODEL)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, hard))
    try:
        with pytest.raises(DecloudIOError, match=rf"^{out}: writing failed: File too large$"):
            write_atomically(app, out, pixel_type="int16")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert digest(out) == digest(good) and sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


# ----------------------------------------------------------------------------------------------- decloud timeseries


@pytest.mark.slow
def test_two_concurrent_timeseries_runs(series, tmp_path):
    out = tmp_path / "series"
    before = checksums(series_inputs(series))
    first = start(*timeseries_args(series, out, *SLOW))
    wait_for(lambda: (out / atomic.LOCK_NAME).exists() or first.poll() is not None, what="the first run's lock")
    wait_for(lambda: (out / atomic.LOCK_NAME).read_text().strip(), what="the lock's holder")
    holder = json.loads((out / atomic.LOCK_NAME).read_text())
    second = decloud(*timeseries_args(series, out))
    assert first.poll() is None, "the first run should still be running"
    assert second.returncode == 2, second.stderr
    assert errors(second.stderr) == [
        f"decloud timeseries: error: {out}: in use by decloud timeseries (pid {first.pid} on {os.uname().nodename}, "
        f"since {holder['started']}); wait for it to end or stop it (lock file {out / atomic.LOCK_NAME})"]
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    report = json.loads((out / "run_report.json").read_text())
    assert [t["status"] for t in report["tasks"] if t["status"] != "skipped"] == ["done"] * 4
    assert len(list(out.glob("*_decloud.tif"))) == 4
    for p in out.glob("*_decloud.tif"):
        atomic.verify_raster(p)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no lock, no temporary left
    assert checksums(series_inputs(series)) == before


# Slow (two runs of four dates each in subprocesses, about 50 s): the fast lane checks a full disk under the
# timeseries command in test_timeseries_report_write_failure_is_one_line, under infer in
# test_disk_full_keeps_the_previous_output, and failed tasks reported as failed (not done) in
# test_distributed.py::test_failures_are_reported_and_raised_after_the_others_end.
@pytest.mark.slow
def test_timeseries_disk_full_does_not_mark_the_date_done(series, tmp_path):
    out = tmp_path / "series"
    before = checksums(series_inputs(series))
    run = decloud(*timeseries_args(series, out), limit_bytes=20_000)
    assert run.returncode == 2, run.stderr
    assert errors(run.stderr) == [f"decloud timeseries: error: 4 of 4 dates failed (see {out / 'run_report.json'}); "
                                  f"first: decloud 2022-06-04T00:00:00+00:00: "
                                  f"{out / 'S2_NOTILE_20220604T000000_decloud.tif'}: writing failed: File too large"]
    report = json.loads((out / "run_report.json").read_text())
    assert [t["status"] for t in report["tasks"] if t["status"] != "skipped"] == ["failed"] * 4
    assert not list(out.glob("*_decloud.tif")) and not temporaries(out)
    rerun = decloud(*timeseries_args(series, out))  # the disk has room again: every date is redone
    assert rerun.returncode == 0, rerun.stderr
    assert "4 date(s) processed, 0 already done" in rerun.stdout
    assert checksums(series_inputs(series)) == before


def test_timeseries_report_write_failure_is_one_line(series, tmp_path):
    out = tmp_path / "series"
    run = decloud(*timeseries_args(series, out), limit_bytes=600)  # the report is larger than that
    assert run.returncode == 2, run.stderr
    assert errors(run.stderr) == [f"decloud timeseries: error: {out / 'run_report.json'}: cannot write the run report: "
                                  "File too large"]
    assert not (out / "run_report.json").exists() and not temporaries(out)
    assert not (out / atomic.LOCK_NAME).exists()


@pytest.mark.slow
def test_timeseries_sigint_then_rerun_finishes(series, tmp_path):
    out, clean = tmp_path / "series", tmp_path / "clean"
    options = ["--tile", "16", "--padding", "32", "--ram", "1", "--threads", "1"]
    assert decloud(*timeseries_args(series, clean, *options)).returncode == 0
    proc = start(*timeseries_args(series, out, *options))
    wait_for(lambda: list(out.glob("*_decloud.tif")) or proc.poll() is not None, what="a first date")
    wait_for(lambda: temporaries(out, ".tif") or proc.poll() is not None, what="the next date's write")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "DirectorMethodException" not in stderr and "Traceback" not in stderr
    done = sorted(p.name for p in out.glob("*_decloud.tif"))
    assert 1 <= len(done) < 4 and not temporaries(out) and not (out / atomic.LOCK_NAME).exists()
    rerun = decloud(*timeseries_args(series, out, *options))
    assert rerun.returncode == 0, rerun.stderr
    assert f"{4 - len(done)} date(s) processed, {len(done)} already done" in rerun.stdout
    for p in clean.glob("*_decloud.tif"):
        assert np.array_equal(read_array(out / p.name), read_array(p)), p.name


def test_timeseries_output_that_is_an_input_is_refused(series, tmp_path):
    out = tmp_path / "series"
    out.mkdir()
    victim = next((series / "prepared").glob("S2_*20220601*")) / "s2_10m.tif"
    (out / "S2_NOTILE_20220607T000000_decloud.tif").symlink_to(victim)
    before = checksums(series_inputs(series))
    run = decloud(*timeseries_args(series, out))
    assert run.returncode == 2, run.stderr
    assert errors(run.stderr) == [f"decloud timeseries: error: {out / 'S2_NOTILE_20220607T000000_decloud.tif'}: this "
                                  f"output is the input s2_tm1 of 2022-06-04 ({victim}); writing it would destroy that "
                                  "input: choose another output path"]
    assert checksums(series_inputs(series)) == before
    assert sorted(p.name for p in out.iterdir()) == ["S2_NOTILE_20220607T000000_decloud.tif"]


def test_timeseries_start_after_end_names_both(series, tmp_path):
    run = decloud(*timeseries_args(series, tmp_path / "s", "--start", "2022-06-10", "--end", "2022-06-05"))
    assert run.returncode == 2, run.stderr
    assert errors(run.stderr) == ["decloud timeseries: error: --start 2022-06-10 is after --end 2022-06-05: no date "
                                  "can be in that range"]
    run = decloud(*timeseries_args(series, tmp_path / "s", "--start", "2023-01-01"))
    assert run.returncode == 2 and errors(run.stderr) == [
        "decloud timeseries: error: no prepared S2 date between --start 2023-01-01 and --end (last): the prepared S2 "
        "dates run from 2022-06-01 to 2022-06-16"], run.stderr
    assert not (tmp_path / "s").exists()


# ----------------------------------------------------------------------------------------------- other commands


def test_missing_inputs_are_one_line(tmp_path):
    from decloud.networks import MODELS  # noqa: PLC0415

    cases = [
        (["index", "--out", tmp_path / "i.npz", "--s2", tmp_path / "nope"],
         f"--s2 {tmp_path / 'nope'}: no such folder"),
        (["train", "gapfilling", "--dataset", tmp_path / "nods", "--out-dir", tmp_path / "tr"],
         f"--dataset {tmp_path / 'nods'}: no such folder"),
        (["train", "nonet", "--dataset", tmp_path / "nods", "--out-dir", tmp_path / "tr"],
         f"'nonet' is not a network of the registry: {', '.join(sorted(MODELS))}"),
        (["evaluate", "--records", tmp_path / "nore", "--out-dir", tmp_path / "ev"],
         f"--records {tmp_path / 'nore'}: no such folder"),
        (["dataset", "--index", tmp_path / "x.npz", "--prepared", tmp_path, "--layout", "os2", "--out-dir",
          tmp_path / "ds"], f"--index {tmp_path / 'x.npz'}: no such file"),
    ]
    for args, message in cases:
        run = decloud(*args)
        assert run.returncode == 2, run.stderr
        assert errors(run.stderr) == [f"decloud {args[0]}: error: {message}"] and "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []  # no output folder was made


def test_qgis_setup_keeps_the_permissions_of_an_existing_runtime_folder(tmp_path):
    runtime = tmp_path / "q" / "runtime"
    runtime.mkdir(parents=True)
    runtime.chmod(0o755)
    run = decloud("qgis-setup", tmp_path / "q")
    assert run.returncode == 0, run.stderr
    assert (runtime.stat().st_mode & 0o777) == 0o755
    assert errors(run.stderr) == [f"decloud qgis-setup: note: {runtime} exists with permissions 0755: left as they are "
                                  f"(Qt wants 0700 for XDG_RUNTIME_DIR and may warn; chmod 700 {runtime} to quiet it)"]
    fresh = tmp_path / "q2"
    assert decloud("qgis-setup", fresh).returncode == 0
    assert ((fresh / "runtime").stat().st_mode & 0o777) == 0o700


def test_output_done_redoes_a_missing_or_truncated_output(tmp_path, caplog):
    """atomic.output_done, what timeseries and synthesis resume by: a complete raster is done; a missing one is
    not; a truncated one (a kill past the rename cannot make one, a copy or a disk can) is not, and says why."""
    good = write_s2(tmp_path / "good.tif", seed=1, size=256)
    assert atomic.output_done(good)
    assert not atomic.output_done(tmp_path / "missing.tif")
    broken = tmp_path / "broken.tif"
    shutil.copy(good, broken)
    os.truncate(broken, int(broken.stat().st_size * 0.6))
    with caplog.at_level("WARNING"):
        assert not atomic.output_done(broken, "redoing that date")
    assert "broken.tif" in caplog.text and "redoing that date" in caplog.text

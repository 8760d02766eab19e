"""The C++ apps never lose or fake data (issue 12), run as users run them (otbcli, OTB's launcher as QGIS does).

Each case checks the exit status, the one FATAL line, that the inputs are unchanged (checksums) and what is, or
is not, at the output path: a full disk (a file-size limit), SIGINT / SIGTERM / SIGKILL mid-write, an input that
fails in a later tile, an output that is an input, and the small refusals (dates, masks, OTB_TF_NSOURCES, '?').
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ORIGIN, AppRun, covering_product, fast_and_slow, run_app
from decloud.otbenv import app_environment, module_app_dir, otbcli
from decloud.raster import read_array, write_geotiff
from osgeo import gdal

NODATA = -10000
GAPFILLING_MODEL = Path(__file__).resolve().parents[2] / "models" / "gapfilling"
BIG = 3000  # pixels a side: a write long enough to interrupt (tens of strips)
TEMPORARY = re.compile(r"^\.out\.\d+\.(tmp|cog)\.tif$")


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def digests(paths) -> dict[str, str]:
    return {str(p): digest(p) for p in paths}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def s2(rows: int, cols: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3000, (rows, cols, 4)).astype(np.int16)


def write_s2(path: Path, array: np.ndarray) -> Path:
    return write_geotiff(path, array, origin=ORIGIN, spacing=(10.0, -10.0), nodata=NODATA)


def old_output(path: Path) -> str:
    """A good GeoTIFF already at the output path (a previous run's); returns its checksum."""
    write_s2(path, s2(16, 16, 99))
    return digest(path)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    mask = (np.random.default_rng(5).random((64, 80)) < 0.3).astype(np.uint8)
    return {
        "t": write_s2(d / "t.tif", s2(64, 80, 1)),
        "tm1": write_s2(d / "tm1.tif", s2(64, 80, 2)),
        "tp1": write_s2(d / "tp1.tif", s2(64, 80, 3)),
        "mask": write_geotiff(d / "cloud.tif", mask, origin=ORIGIN, spacing=(10.0, -10.0)),
        "mask_small": write_geotiff(d / "cloud_small.tif", mask[:50, :60], origin=ORIGIN, spacing=(10.0, -10.0)),
    }


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    return {"tm1": write_s2(d / "tm1.tif", s2(BIG, BIG, 11)), "tp1": write_s2(d / "tp1.tif", s2(BIG, BIG, 12))}


def gapfilling_params(images, out, **extra):
    return {"il": [images["tm1"], images["tp1"]], "dates": ["2022-06-01", "2022-06-11"], "date": "2022-06-05",
            "out": out, **extra}


def infer_params(images, out, **extra):
    return {"model": GAPFILLING_MODEL, "s2.tm1": images["tm1"], "s2.tp1": images["tp1"], "date.t": "2022-06-05",
            "date.tm1": "2022-06-01", "date.tp1": "2022-06-11", "tile": 256, "out": out, **extra}


PARAMS = {"DecloudGapFilling": gapfilling_params, "DecloudInfer": infer_params}


def command(app: str, params: dict, *, launcher: bool = False) -> list[str]:
    """otbcli_<App> (a shell wrapper), or OTB's launcher itself (what QGIS runs)."""
    args = ["otbApplicationLauncherCommandLine", app, str(module_app_dir())] if launcher else otbcli(app)
    for key, value in params.items():
        args.append(f"-{key}")
        args.extend(str(v) for v in value) if isinstance(value, (list, tuple)) else args.append(str(value))
    return args


def assert_one_fatal(run: AppRun, *fragments: str) -> str:
    lines = run.fatal_lines()
    assert len(lines) == 1, run.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def wait_group_gone(pgid: int, timeout: float = 60) -> None:
    """Every process of the group has ended (the shell wrapper may end before the launcher it started)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process group {pgid} still alive after {timeout} s")


def run_and_signal(args: list[str], folder: Path, sig: int) -> AppRun:
    """Start the app, wait until it writes its temporary output, then send `sig` to its process group (Ctrl-C)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=app_environment(), start_new_session=True)
    end = time.monotonic() + 120
    while not [p for p in folder.iterdir() if TEMPORARY.match(p.name) and p.stat().st_size > 0]:
        assert proc.poll() is None, "the app ended before it wrote anything:\n" + proc.communicate()[0]
        assert time.monotonic() < end, "no temporary output appeared"
        time.sleep(0.01)
    time.sleep(0.3)
    assert proc.poll() is None, "the write ended before the signal: make the image larger"
    os.killpg(proc.pid, sig)
    output = proc.communicate(timeout=120)[0]
    wait_group_gone(proc.pid)
    return AppRun(proc.returncode, output)


# --- a full disk ------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("app", ["DecloudGapFilling", "DecloudInfer"])
def test_full_disk_keeps_the_previous_output(big, tmp_path, app):
    out = tmp_path / "out.tif"
    previous = old_output(out)
    inputs = digests(big.values())

    def file_size_limit():  # a disk that fills after 4 MB of output
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))

    proc = subprocess.run(command(app, PARAMS[app](big, out)), capture_output=True, text=True,
                          env=app_environment(), preexec_fn=file_size_limit, timeout=300)
    run = AppRun(proc.returncode, proc.stdout + proc.stderr)
    assert run.returncode == 1, run.output
    assert_one_fatal(run, f"out: {out} was not written", "the file already there is unchanged", "File too large")
    assert digest(out) == previous
    assert leftovers(tmp_path) == []
    assert digests(big.values()) == inputs


# --- signals mid-write --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("app", ["DecloudGapFilling", "DecloudInfer"])
@pytest.mark.parametrize("with_old", [False, True], ids=["new", "old-in-place"])
def test_sigint_mid_write_removes_the_temporary_file(big, tmp_path, app, with_old):
    out = tmp_path / "out.tif"
    previous = old_output(out) if with_old else None
    inputs = digests(big.values())
    run = run_and_signal(command(app, PARAMS[app](big, out, ram=16)), tmp_path, signal.SIGINT)
    # The otbcli_<App> shell wrapper dies of the SIGINT too; the launcher itself exits 130 (see below).
    assert run.returncode in (130, -signal.SIGINT), run.output
    assert_one_fatal(run, f"{app}: interrupted by SIGINT", "nothing was written at the output path")
    assert leftovers(tmp_path) == []
    assert (digest(out) == previous) if with_old else not out.exists()
    assert digests(big.values()) == inputs


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_launcher_exit_status_on_signals(big, tmp_path, sig, status):
    """OTB's launcher, as QGIS runs it: 130 on SIGINT, 143 on SIGTERM, and the previous output intact."""
    out = tmp_path / "out.tif"
    previous = old_output(out)
    run = run_and_signal(command("DecloudGapFilling", gapfilling_params(big, out, ram=16), launcher=True),
                         tmp_path, sig)
    assert run.returncode == status, run.output
    assert_one_fatal(run, f"interrupted by {signal.Signals(sig).name}")
    assert leftovers(tmp_path) == []
    assert digest(out) == previous


@pytest.mark.slow
@pytest.mark.parametrize("app", ["DecloudGapFilling", "DecloudInfer"])
@pytest.mark.parametrize("with_old", [False, True], ids=["new", "old-in-place"])
def test_kill9_mid_write_leaves_at_most_a_temporary_file(big, tmp_path, app, with_old):
    out = tmp_path / "out.tif"
    previous = old_output(out) if with_old else None
    inputs = digests(big.values())
    run = run_and_signal(command(app, PARAMS[app](big, out, ram=16)), tmp_path, signal.SIGKILL)
    assert run.returncode == -signal.SIGKILL
    assert (digest(out) == previous) if with_old else not out.exists()
    # What a killed run leaves: its temporary file beside the output (documented as deletable), nothing else.
    assert all(TEMPORARY.match(name) for name in leftovers(tmp_path)), leftovers(tmp_path)
    assert digests(big.values()) == inputs


# --- an input that fails in a later tile -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def truncated(big, tmp_path_factory):
    """tp1 as a GeoTIFF whose header and first tiles read well and whose end is cut off."""
    path = tmp_path_factory.mktemp("truncated") / "tp1_truncated.tif"
    gdal.Translate(str(path), str(big["tp1"]), format="COG", creationOptions=["COMPRESS=NONE", "OVERVIEWS=NONE"])
    os.truncate(path, int(path.stat().st_size * 0.6))
    ds = gdal.Open(str(path))
    assert ds.RasterXSize == BIG and ds.ReadAsArray(0, 0, 256, 256) is not None  # opens, first tile reads
    ds = None
    return {"tm1": big["tm1"], "tp1": path}


@pytest.mark.slow
@pytest.mark.parametrize("app", ["DecloudGapFilling", "DecloudInfer"])
def test_failure_in_a_later_tile_keeps_the_previous_output(truncated, tmp_path, app):
    out = tmp_path / "out.tif"
    previous = old_output(out)
    inputs = digests(truncated.values())
    run = run_app(app, PARAMS[app](truncated, out, ram=16))
    assert run.returncode == 1, run.output
    line = assert_one_fatal(run, f"out: {out} was not written", "the file already there is unchanged")
    assert "tp1_truncated.tif" in line or "Cannot read" in line, line
    assert digest(out) == previous
    assert leftovers(tmp_path) == []
    assert digests(truncated.values()) == inputs


# --- outputs that are inputs -------------------------------------------------------------------------------------


def link(kind: str, target: Path, path: Path) -> Path:
    if kind == "symlink":
        path.symlink_to(target)
    elif kind == "hardlink":
        os.link(target, path)
    else:
        return target
    return path


# One rule (the output is an input: refused before anything runs, the inputs unchanged). The fast lane runs one case
# per app, each kind of link once, an image and a mask key: DecloudInfer s2.tm1 by a symbolic link, DecloudGapFilling
# masks #1 by a hard link, TensorflowModelServe source1.il by its own path (and ctest's
# tuDecloudGapFillingOutputIsInput: il #2 by its path); the full suite runs all eighteen pairs.
@pytest.mark.parametrize(
    ("app", "key", "kind"),
    covering_product([("DecloudInfer", "s2.tm1"), ("DecloudInfer", "s2.tp1"), ("DecloudInfer", "mask"),
                      ("DecloudGapFilling", "il #2"), ("DecloudGapFilling", "masks #1"),
                      ("TensorflowModelServe", "source1.il")], ["same", "symlink", "hardlink"],
                     fast=["DecloudInfer-s2.tm1-symlink", "DecloudGapFilling-masks #1-hardlink",
                           "TensorflowModelServe-source1.il-same"]))
def test_output_that_is_an_input_is_refused(small, models, tmp_path, app, key, kind):
    image = {"s2.tm1": small["tm1"], "s2.tp1": small["tp1"], "mask": small["mask"], "il #2": small["tp1"],
             "masks #1": small["mask"], "source1.il": small["t"]}[key]
    inputs = digests(small.values())
    out = link(kind, image, tmp_path / "out.tif")
    if app == "DecloudInfer":
        params = infer_params(small, out, mask=small["mask"])
    elif app == "DecloudGapFilling":
        params = gapfilling_params(small, out, masks=[small["mask"], small["mask"]])
    else:
        params = {"source1.il": small["t"], "source1.rfieldx": 5, "source1.rfieldy": 5, "model.dir": models["conv"],
                  "model.fullyconv": 1, "output.names": "y", "out": out}
    run = run_app(app, params)
    assert run.returncode == 1, run.output
    assert_one_fatal(run, f"out: the output {out} is the input {key} ({image})", "choose another output file")
    assert digests(small.values()) == inputs
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if kind == "same" else ["out.tif"])


def test_two_outputs_on_one_file_are_refused(small, tmp_path):
    out = tmp_path / "out.tif"
    run = run_app("DecloudInfer", infer_params(small, out, out20m=tmp_path / "." / "out.tif"))
    assert run.returncode == 1, run.output
    assert_one_fatal(run, "out20m: the output", "is also the output out")
    assert list(tmp_path.iterdir()) == []


def test_patches_extraction_refuses_to_overwrite_a_source(small, tmp_path):
    source = tmp_path / "p_1.tif"
    source.write_bytes(Path(small["t"]).read_bytes())
    before = digest(source)
    x, y = ORIGIN
    run = run_app("DecloudPatchesExtraction", {"il": source, "patchsize": 16, "pos": f"{x + 100},{y - 100}",
                                               "outprefix": tmp_path / "p"})
    assert run.returncode == 1, run.output
    assert_one_fatal(run, f"is the input il ({source})")
    assert digest(source) == before


def test_patches_extraction_writes_atomically(small, tmp_path):
    x, y = ORIGIN
    run = run_app("DecloudPatchesExtraction", {"il": [small["t"], small["tm1"]], "patchsize": 16,
                                               "pos": [f"{x + 100},{y - 100}", f"{x + 300},{y - 200}"],
                                               "outprefix": tmp_path / "p"})
    assert run.returncode == 0, run.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p_1.tif", "p_2.tif"]
    assert read_array(tmp_path / "p_1.tif").shape[:2] == (32, 16)


# --- successful runs and names -----------------------------------------------------------------------------------


# The fast lane runs the COG output (written, then converted: two temporary files); the plain GeoTIFF's atomic write
# is in the fast lane through test_extended_filename_stays_with_the_output. The full suite runs both.
@pytest.mark.parametrize("cog", fast_and_slow([0, 1], [1]))
def test_success_replaces_the_output_and_leaves_no_temporary_file(small, tmp_path, cog):
    out = tmp_path / "out.tif"
    previous = old_output(out)
    run = run_app("DecloudGapFilling", gapfilling_params(small, out, cog=cog))
    assert run.returncode == 0, run.output
    assert digest(out) != previous and read_array(out).shape == (64, 80, 4)
    assert leftovers(tmp_path) == []
    layout = gdal.Info(str(out), format="json")["metadata"].get("IMAGE_STRUCTURE", {}).get("LAYOUT")
    assert (layout == "COG") == bool(cog)


def test_question_mark_that_is_not_an_extended_filename_is_refused(small, tmp_path):
    out = tmp_path / "a?b.tif"
    run = run_app("DecloudGapFilling", gapfilling_params(small, out))
    assert run.returncode == 1, run.output
    assert_one_fatal(run, f"out: '{out}' has a '?' that does not start OTB extended-filename options")
    assert list(tmp_path.iterdir()) == []


def test_extended_filename_stays_with_the_output(small, tmp_path):
    out = tmp_path / "out.tif"
    run = run_app("DecloudGapFilling", gapfilling_params(small, f"{out}?&gdal:co:COMPRESS=LZW"))
    assert run.returncode == 0, run.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]
    assert gdal.Info(str(out), format="json")["metadata"]["IMAGE_STRUCTURE"]["COMPRESSION"] == "LZW"


# --- small refusals ----------------------------------------------------------------------------------------------


# One date parser for both apps. The fast lane runs one case per app: a 29 February of a common year in
# DecloudGapFilling's -dates, an hour 24 in DecloudInfer's -date.t (and ctest's tuDecloudGapFillingImpossibleDate:
# 2022-02-30 in -date); all sixteen pairs run in the full suite.
@pytest.mark.parametrize(
    ("date", "app", "key"),
    covering_product(["2022-02-30", "2021-02-29", "2022-04-31", "2022-06-05T24:00:00"],
                     [("DecloudGapFilling", "date"), ("DecloudGapFilling", "dates"), ("DecloudInfer", "date.t"),
                      ("DecloudInfer", "date.tm1")],
                     fast=["2021-02-29-DecloudGapFilling-dates", "2022-06-05T24:00:00-DecloudInfer-date.t"]))
def test_impossible_date_is_refused(small, tmp_path, app, key, date):
    out = tmp_path / "out.tif"
    params = PARAMS[app](small, out)
    params[key] = [date, "2022-06-11"] if key == "dates" else date
    run = run_app(app, params)
    assert run.returncode == 1, run.output
    assert_one_fatal(run, f"{key}: '{date}' is not a valid date")
    assert not out.exists()


def test_leap_day_is_a_date(small, tmp_path):
    run = run_app("DecloudGapFilling", {**gapfilling_params(small, tmp_path / "out.tif"), "date": "2024-02-29"})
    assert run.returncode == 0, run.output


def test_mask_smaller_than_its_image_is_refused(small, tmp_path):
    out = tmp_path / "out.tif"
    run = run_app("DecloudGapFilling", gapfilling_params(small, out, masks=[small["mask_small"], small["mask"]]))
    assert run.returncode == 1, run.output
    assert_one_fatal(run, "masks #1", "60x50", "il #1", "80x64")
    assert not out.exists()


# One parser (decloud's OTB_TF_NSOURCES reading in TensorflowModelServe): the fast lane runs a trailing garbage and a
# non-positive count; the full suite all seven values.
@pytest.mark.parametrize("value", fast_and_slow(["3abc", "abc", "0", "-1", " 2", "1.5", ""], ["3abc", "0"]))
def test_bad_nsources_is_refused(small, models, tmp_path, value):
    out = tmp_path / "out.tif"
    run = run_app("TensorflowModelServe", {"source1.il": small["t"], "source1.rfieldx": 5, "source1.rfieldy": 5,
                                           "model.dir": models["conv"], "model.fullyconv": 1, "output.names": "y",
                                           "out": out}, {"OTB_TF_NSOURCES": value})
    assert run.returncode == 1, run.output
    assert_one_fatal(run, f"OTB_TF_NSOURCES='{value}' is not a number of sources")
    assert not out.exists()


def test_good_nsources_still_works(small, models, tmp_path):
    out = tmp_path / "out.tif"
    run = run_app("TensorflowModelServe", {"source1.il": small["t"], "source1.rfieldx": 5, "source1.rfieldy": 5,
                                           "model.dir": models["conv"], "model.fullyconv": 1, "output.names": "y",
                                           "out": out}, {"OTB_TF_NSOURCES": "1"})
    assert run.returncode == 0, run.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


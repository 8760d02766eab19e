"""decloud benchmark and bench/quality.py: scenarios found, apps scored as numpy says, outputs, CLI errors.

Generated data: a folder of 5 dated 64 x 64 S2 stacks with Sen2Cor SCL layers (clear dates, one partly cloudy
date with SCL 8/9 clouds, one fully cloudy date), run through the real apps (DecloudInfer with the shipped
model, DecloudGapFilling). One test on a real set of ../shared/data, skipped where it is absent.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from decloud import benchmark
from decloud import scenarios as sc_module  # not `import test_scenarios`: pytest would collect it
from decloud.cli import main
from decloud.errors import OTBAppError
from decloud.infer import DEFAULT_MODEL_NAME
from decloud.raster import read_array
from decloud.scenarios import NODATA, SPLITS, build_scene, linear_gapfill, load_series, plan_scenarios
from decloud.synthetic import s2_like

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
DATES = ("20220601", "20220606", "20220611", "20220616", "20220621")
ORIGIN = (674990.0, 5154960.0)
SIZE = 64


def write_tif(path: Path, array: np.ndarray, gdal_type: int) -> None:
    from osgeo import gdal, osr  # noqa: PLC0415

    gdal.UseExceptions()
    data = array if array.ndim == 3 else array[:, :, None]
    rows, cols, bands = data.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, bands, gdal_type)
    ds.SetGeoTransform((ORIGIN[0], 10.0, 0.0, ORIGIN[1], 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(data.shape[2]):
        ds.GetRasterBand(b + 1).WriteArray(data[:, :, b])
        if gdal_type == gdal.GDT_UInt16:
            ds.GetRasterBand(b + 1).SetNoDataValue(0)
    ds = None


def make_series(folder: Path) -> Path:
    """Clear 06-01, 06-11, 06-21; 06-06 partly cloudy (SCL 9 core, 8 rim, about a third); 06-16 fully cloudy.
    The landscape brightens with time (so t-1 and t+1 differ) and 06-01 has a small hole (all bands 0)."""
    from osgeo import gdal  # noqa: PLC0415

    folder.mkdir(parents=True)
    base = s2_like(SIZE, SIZE, seed=3, clouds=False)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    disc = np.hypot(x - 40, y - 24)
    for k, d in enumerate(DATES):
        image = base * (1 + 0.04 * k) + rng.normal(0, 30, base.shape)
        scl = np.full((SIZE, SIZE), 4, np.uint8)  # vegetation
        if d == "20220606":
            scl[disc < 17] = 8
            scl[disc < 12] = 9
        elif d == "20220616":
            scl[:] = 9
            scl[:4, :4] = 8
        cloud = np.isin(scl, (8, 9))
        image[cloud] = 6500 + rng.normal(0, 300, (int(cloud.sum()), 4))
        image = np.clip(np.rint(image), 1, 10000).astype(np.uint16)
        if d == "20220601":
            image[30:33, 38:41] = 0  # nodata in t-1 under the pasted clouds
        write_tif(folder / f"S2_L2A_{d}_B2B3B4B8.tif", image, gdal.GDT_UInt16)
        write_tif(folder / f"S2_L2A_{d}_SCL.tif", scl, gdal.GDT_Byte)
    return folder


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return make_series(tmp_path_factory.mktemp("bench") / "tiny-set")


@pytest.fixture(scope="module")
def report(generated, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return benchmark.run_benchmark([generated], out=out, progress=False), out


def rows_of(out: Path) -> list[dict]:
    with open(out / "scenarios.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_finds_the_expected_scenarios(report):
    result, out = report
    model = result.models[0].label
    assert model == DEFAULT_MODEL_NAME and not result.models[0].skip
    rows = rows_of(out)
    pairs = {(r["T"], r["C"], r["t-1"], r["t+1"]) for r in rows}
    assert pairs == {("2022-06-11", "2022-06-06", "2022-06-01", "2022-06-21"),
                     ("2022-06-11", "2022-06-16", "2022-06-01", "2022-06-21")}
    assert {r["set"] for r in rows} == {"tiny-set"}
    assert len(rows) == 2 * 4
    assert [r["method"] for r in rows[:4]] == [model, "gapfilling-app", "nearest-copy", "gapfill-local-bias"]
    shares = {r["C"]: float(r["cloudy_share"]) for r in rows}
    assert 0.1 < shares["2022-06-06"] < 0.5 and shares["2022-06-16"] == 1.0
    for r in rows:
        assert r["error"] == "", r
        assert 0 < float(r["coverage"]) <= 1 and math.isfinite(float(r["psnr"])), r
        assert float(r["psnr"]) > 15 and 0 < float(r["ssim"]) <= 1
        assert float(r["sam"]) >= 0 and float(r["mae"]) > 0
        if r["method"] in ("gapfilling-app", "nearest-copy"):
            assert float(r["coverage"]) == 1.0  # the other neighbour fills t-1's hole
    assert result.summary["scenarios"] == 2


@pytest.mark.slow
def test_gapfilling_app_scores_equal_numpy(report, generated):
    """DecloudGapFilling's output, read back from the work folder, is scenarios.linear_gapfill rounded (the
    app writes int16), and its scores are numpy's on the same pixels within that rounding."""
    _, out = report
    series = load_series(generated, mask="auto")
    scenarios = plan_scenarios(series)
    assert len(scenarios) == 2
    rows = {(r["C"], r["method"]): r for r in rows_of(out)}
    for sc in scenarios:
        scene = build_scene(series, sc)
        d = series.dates
        app = read_array(out / "work" / "tiny-set" / f"T{d[sc.reference]:%Y%m%d}_C{d[sc.cloudy]:%Y%m%d}"
                                  / "gapfilling-app.tif")
        expected = linear_gapfill(scene.tm1, scene.tp1, scene.timestamps)
        assert np.array_equal(app == NODATA, expected == NODATA)
        assert np.abs(app[scene.scored].astype(np.float64) - expected[scene.scored]).max() <= 0.5 + 1e-3
        numpy_scores = benchmark.score(expected, scene)
        row = rows[(d[sc.cloudy].isoformat(), "gapfilling-app")]
        assert float(row["psnr"]) == pytest.approx(numpy_scores["psnr"], abs=0.02)
        assert float(row["ssim"]) == pytest.approx(numpy_scores["ssim"], abs=1e-3)
        assert float(row["sam"]) == pytest.approx(numpy_scores["sam"], abs=1e-3)
        assert float(row["mae"]) == pytest.approx(numpy_scores["mae"], abs=1e-4)
        assert int(row["pixels"]) == numpy_scores["pixels"] == int(scene.scored.sum())


@pytest.mark.slow
def test_outputs_exist_and_agree(report):
    _, out = report
    for name in ("scenarios.csv", "summary.md", "summary.json", "psnr.png", "quicklook_tiny-set.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*part*"))
    summary = json.loads((out / "summary.json").read_text())
    s = summary["sets"]["tiny-set"]
    assert s["scenarios"] == 2 and s["split"]["part"] == "whole folder" and s["mask"] == "scl"
    rows = [r for r in rows_of(out) if r["method"] == "gapfilling-app"]
    mean = np.mean([float(r["psnr"]) for r in rows])
    assert s["methods"]["gapfilling-app"]["psnr"] == pytest.approx(mean, abs=1e-5)
    gain = s["gain_over_gapfilling"][DEFAULT_MODEL_NAME]
    assert gain["wins"] + gain["losses"] <= 2 and math.isfinite(gain["gain_db"])
    md = (out / "summary.md").read_text()
    assert f"| tiny-set (2) | {DEFAULT_MODEL_NAME} |" in md and "gain dB" in md
    quicklook = read_array(out / "quicklook_tiny-set.png")
    # t | gap-filling | model | reference, 8-pixel gaps, each under its title
    from decloud.raster import TITLE_HEIGHT  # noqa: PLC0415

    assert quicklook.shape[0] == TITLE_HEIGHT + SIZE and quicklook.shape[1] == 4 * SIZE + 3 * 8


def test_score_excludes_nodata_and_counts_coverage():
    rng = np.random.default_rng(1)
    reference = rng.integers(500, 3000, (16, 16, 4)).astype(np.int16)
    scored = np.zeros((16, 16), bool)
    scored[4:12, 4:12] = True
    estimate = reference + np.int16(100)
    estimate[4:8, 4:12] = NODATA  # half of the scored pixels
    from decloud.scenarios import Scene  # noqa: PLC0415

    scene = Scene(reference, scored, reference, reference, {"t": 1, "tm1": 0, "tp1": 2}, reference, scored)
    s = benchmark.score(estimate, scene)
    assert s["coverage"] == 0.5 and s["pixels"] == 32
    assert s["psnr"] == pytest.approx(40.0) and s["mae"] == pytest.approx(0.01)


def test_gapfilling_app_failure_is_an_otb_app_error(tmp_path):
    missing = tmp_path / "missing.tif"
    with pytest.raises(OTBAppError, match=r"^DecloudGapFilling: .*missing\.tif") as raised:
        benchmark.run_gapfilling_app({"tm1": missing, "tp1": missing},
                                     {"tm1": "2022-06-01", "tp1": "2022-06-11", "t": "2022-06-05"}, tmp_path / "o.tif")
    assert raised.value.__cause__ is not None  # pyotb's own error, chained
    assert not (tmp_path / "o.tif").exists()


def test_model_with_a_role_it_cannot_feed_is_skipped(generated, tmp_path):
    model = tmp_path / "ssop-s1"
    model.mkdir()
    (model / "card.json").write_text(json.dumps({"format": 1, "name": "ssop-s1", "inputs": {
        "s2_t": {"role": "s2_t"}, "s1_t": {"role": "s1_t", "sensor": "S1"}}}))
    result = benchmark.run_benchmark([generated], models=[model], out=tmp_path / "out", max_references=1,
                                     progress=False)
    assert "s1_t" in result.summary["skipped"]["ssop-s1"]
    assert result.summary["methods"] == list(benchmark.BASELINES)
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "Model ssop-s1 skipped: its card names input role(s) s1_t" in md
    assert (tmp_path / "out" / "quicklook_tiny-set.png").is_file()


def test_cli_missing_or_empty_folder_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["benchmark", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"decloud benchmark: error: {tmp_path / 'nope'}: no such folder of S2 stacks"]
    (tmp_path / "empty").mkdir()
    assert main(["benchmark", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no S2_L2A_YYYYMMDD_B2B3B4B8.tif stack" in err[0]


@pytest.mark.parametrize("bench", ["quality.py", "tiling.py"])
def test_real_data_bench_without_data_says_so_and_exits_2(tmp_path, bench):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / bench), "--quick", "--data",
                           str(tmp_path / "absent")], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "real data is absent" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "greenearthnet-sweden").is_dir(),
                    reason=f"real data not available ({SHARED / 'greenearthnet-sweden'} is absent)")
def test_real_set_uses_its_test_split(tmp_path):
    folder = SHARED / "greenearthnet-sweden"
    split = SPLITS["greenearthnet-sweden"]
    result = benchmark.run_benchmark([folder], out=tmp_path, max_references=1, progress=False)
    series = load_series(folder, mask=split.mask)
    part, scenarios = sc_module.test_scenarios(series, split, max_references=1)
    rows = rows_of(tmp_path)
    got = {(r["T"], r["C"]) for r in rows}
    assert got == {(part.dates[s.reference].isoformat(), part.dates[s.cloudy].isoformat()) for s in scenarios}
    assert all(date.fromisoformat(t) >= split.test_from for t, _ in got)
    assert result.summary["sets"]["greenearthnet-sweden"]["mask"] == "scl"
    for sc in scenarios:
        scene = build_scene(part, sc)
        row = next(r for r in rows
                   if r["method"] == "gapfilling-app" and r["C"] == part.dates[sc.cloudy].isoformat())
        assert float(row["psnr"]) == pytest.approx(
            benchmark.score(linear_gapfill(scene.tm1, scene.tp1, scene.timestamps), scene)["psnr"], abs=0.02)
    model_rows = [r for r in rows if r["method"] == result.models[0].label]
    assert model_rows and all(r["error"] == "" and float(r["coverage"]) > 0.9 for r in model_rows)


def _clear_series(offsets: list[int]) -> sc_module.Series:
    """Five clear dates, 5 days apart, of one landscape plus ``offsets`` (x 10000) on every band."""
    base = s2_like(SIZE, SIZE, seed=4, clouds=False).astype(np.int32)
    days = tuple(date(2022, 6, 1 + 5 * k) for k in range(len(offsets)))
    refl = np.stack([np.clip(base + o, 1, 32767) for o in offsets]).astype(np.int16)
    return sc_module.Series("clear", days, refl, np.zeros(refl.shape[:3], bool), "scl", (0, 10, 0, 0, 0, -10), "")


def test_a_clear_date_much_brighter_than_its_neighbours_is_a_missed_cloud_never_used():
    # 06-11 is 0.3 brighter than both neighbours (a cloud its mask calls clear), 06-16 0.05 (haze, a real change)
    series = _clear_series([0, 0, 3000, 500, 500])
    assert sc_module.missed_clouds(series, range(5)) == {2}
    assert sc_module.clear_dates(series) == [0, 1, 3, 4]
    used = {i for s in plan_scenarios(series, cloudy_min=0.0) for i in (s.reference, s.before, s.after)}
    assert 2 not in used and used
    # a brightening that stays (a real change of the ground, or snow) is not flagged: it is like its next date
    assert sc_module.missed_clouds(_clear_series([0, 0, 3000, 3000, 3000]), range(5)) == set()


@pytest.mark.slow
def test_only_belgium_2018_09_23_is_a_missed_cloud_in_the_real_sets():
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (the real sets of ../shared/data)")
    found = {}
    for name, split in SPLITS.items():
        series = load_series(SHARED / name, mask=split.mask)
        clear = np.flatnonzero(series.cloud_fraction() <= 0.05)
        found[name] = sorted(series.dates[i].isoformat() for i in sc_module.missed_clouds(series, clear))
    assert found == {"bolzano-west": [], "greenearthnet-portugal": [], "greenearthnet-sweden": [],
                     "worldcereal-belgium-a": ["2018-09-23"]}


def test_find_sets_lists_folders_of_stacks_known_sets_first(tmp_path, generated):
    for name in ("zz-other", "worldcereal-belgium-a", "bolzano-west", "aa-other"):
        (tmp_path / name).mkdir()
        shutil.copy(next(generated.glob("S2_L2A_*_B2B3B4B8.tif")), tmp_path / name)
    (tmp_path / "notes").mkdir()  # no stack: not a set
    (tmp_path / "notes" / "README.md").write_text("not a set")
    (tmp_path / "loose.tif").write_bytes(b"")
    assert [p.name for p in sc_module.find_sets(tmp_path)] == [
        "bolzano-west", "worldcereal-belgium-a", "aa-other", "zz-other"]
    assert sc_module.find_sets(tmp_path / "absent") == []


def test_benchmark_sets_says_which_real_sets_are_absent(tmp_path, generated, capsys):
    from decloud.benchmark import benchmark_sets  # noqa: PLC0415

    for name in ("bolzano-west", "other"):
        (tmp_path / name).mkdir()
        shutil.copy(next(generated.glob("S2_L2A_*_B2B3B4B8.tif")), tmp_path / name)
    assert [p.name for p in benchmark_sets(tmp_path, "quality")] == ["bolzano-west", "other"]
    assert capsys.readouterr().err == (f"quality: greenearthnet-portugal, greenearthnet-sweden, worldcereal-belgium-a "
                                       f"absent from {tmp_path}: scored on the sets there\n")
    assert benchmark_sets(tmp_path / "absent", "synthesis") == []
    err = capsys.readouterr().err
    assert err.startswith("synthesis: the real data is absent") and len(err.splitlines()) == 1


@pytest.mark.slow
def test_quality_bench_scores_every_set_of_the_data_folder(tmp_path, generated):
    """Sets the project does not know are scored whole; one that cannot be scored is left out with its reason."""
    data = tmp_path / "data"
    shutil.copytree(generated, data / "other-region")
    (data / "one-date").mkdir()
    for f in generated.glob("S2_L2A_20220601_*.tif"):
        shutil.copy(f, data / "one-date")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "quality.py"), "--quick", "--data", str(data)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(": ", 1) for line in proc.stdout.strip().splitlines())
    assert set(k for k in lines if k.startswith("gain_db_")) == {"gain_db_other_region"}
    assert math.isfinite(float(lines["min_gain_db"])) and float(lines["coverage"]) > 0.9
    assert "quality: set one-date left out: " in proc.stderr and "no scenario" in proc.stderr
    assert "bolzano-west, greenearthnet-portugal" in proc.stderr

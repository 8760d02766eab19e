"""QGIS support: the module's apps through the real headless QGIS OTB provider (qgis_process).

`./dev.sh test` installs QGIS (qgis, python3-qgis, qgis-providers); the QGIS tests skip only where
/usr/bin/qgis_process.bin is absent.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from decloud import qgis, raster, synthetic
from decloud.cli import main as decloud_main
from decloud.errors import DecloudInputError

DECLOUD_APPS = ("TensorflowModelServe", "DecloudPatchesExtraction", "DecloudInfer", "DecloudGapFilling")
ORIGIN = (674990.0, 5154960.0)

requires_qgis = pytest.mark.skipif(
    not qgis.QGIS_PROCESS.exists(),
    reason=f"{qgis.QGIS_PROCESS} is absent: QGIS is not installed (./dev.sh test installs qgis, "
    "python3-qgis, qgis-providers)")


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> qgis.QgisSetup:
    return qgis.setup(tmp_path_factory.mktemp("qgis"))


def qgis_process(setup: qgis.QgisSetup, *args: str, timeout: float = 120) -> dict:
    """Run qgis_process.bin --json; it exits 0 even when an OTB app fails, so callers check the log."""
    proc = subprocess.run([str(qgis.QGIS_PROCESS), "--json", *args], check=False, capture_output=True,
                          text=True, env=setup.environment(), timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"qgis_process printed no JSON:\n{proc.stdout}\n{proc.stderr}")


def test_otb_folder_layout(setup):
    otb = setup.otb_folder
    assert (otb / "bin" / "otbApplicationLauncherCommandLine").resolve() == qgis.SYSTEM_LAUNCHER.resolve()
    index = (otb / "description" / "algs.txt").read_text().splitlines()
    assert len(index) == len(set(index)) == len(setup.apps)
    for app in DECLOUD_APPS:
        assert f"Decloud|{app}" in index
        descriptor = (otb / "description" / f"{app}.txt").read_text().splitlines()
        assert descriptor[0].split("|")[0] == app and descriptor[2] == "Decloud"
        assert (otb / "applications" / f"otbapp_{app}.so").is_file()
    assert setup.apps[:len(DECLOUD_APPS)] == list(DECLOUD_APPS)
    assert "BandMath" in setup.apps  # Debian's own apps stay available
    ini = setup.profile.read_text()
    assert "otbprovider=true" in ini
    assert f"Configuration\\OTB_FOLDER={otb}\n" in ini
    assert f"Configuration\\OTB_APP_FOLDER={setup.app_folder}\n" in ini


def test_otb_folder_refuses_foreign_folder_and_refreshes_its_own(setup, tmp_path):
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(DecloudInputError, match="not made by decloud"):
        qgis.prepare_otb_folder(tmp_path)
    with pytest.raises(DecloudInputError, match="spaces"):
        qgis.prepare_otb_folder(tmp_path / "with space")
    assert qgis.prepare_otb_folder(setup.otb_folder) == setup.apps  # re-run: same result, no duplicates


def test_cli_prints_the_two_settings(tmp_path, capsys):
    assert decloud_main(["qgis-setup", str(tmp_path / "q")]) == 0
    out = capsys.readouterr().out
    assert f"OTB folder:             {tmp_path / 'q' / 'otb'}\n" in out
    assert f"OTB application folder: {tmp_path / 'q' / 'otb' / 'applications'}\n" in out


@requires_qgis
def test_qgis_lists_the_decloud_apps(setup):
    listing = qgis_process(setup, "list")
    otb = listing["providers"].get("otb")
    assert otb and otb["is_active"], f"OTB provider not loaded: {sorted(listing['providers'])}"
    algorithms = otb["algorithms"]
    for app in DECLOUD_APPS:
        assert f"otb:{app}" in algorithms, sorted(algorithms)
        assert algorithms[f"otb:{app}"]["group"] == "Decloud"
    assert "otb:BandMath" in algorithms


@requires_qgis
def test_qgis_runs_decloud_infer(setup, tmp_path):
    inputs = {}
    for seed, key in enumerate(("s2.t", "s2.tm1", "s2.tp1")):
        array = np.round(synthetic.s2_like(96, 96, seed=seed)).astype("int16")
        inputs[key] = raster.write_geotiff(tmp_path / f"{key}.tif", array, origin=ORIGIN,
                                           spacing=(10.0, -10.0), epsg=32632, nodata=-10000)
    # What the shipped default model's card asks for beyond the images: the cloud mask of t and the dates.
    from decloud.infer import required_roles  # noqa: PLC0415

    roles = required_roles()
    extra = {}
    if roles["masks"]:
        mask = np.zeros((96, 96), np.uint8)
        mask[20:60, 30:70] = 1
        extra["mask"] = raster.write_geotiff(tmp_path / "mask.tif", mask, origin=ORIGIN, spacing=(10.0, -10.0),
                                             epsg=32632)
    days = {"s2_timestamp_tm1": "2022-06-12", "s2_timestamp_t": "2022-06-17", "s2_timestamp_tp1": "2022-06-22"}
    extra.update({f"date.{r.rsplit('_', 1)[1]}": days[r] for r in roles["dates"]})
    out = tmp_path / "out.tif"
    result = qgis_process(setup, "run", "otb:DecloudInfer", "--",
                          *(f"{k}={v}" for k, v in {**inputs, **extra}.items()), f"out={out}")
    log = result["log"]
    failures = [line for line in log["errors"] if "(FATAL)" in line or "ERROR" in line]
    assert not failures, "\n".join(log["errors"] + log["info"])
    assert result["results"]["out"] == str(out)
    assert out.exists(), "\n".join(log["errors"] + log["info"])

    from osgeo import gdal, osr  # noqa: PLC0415

    gdal.UseExceptions()
    ds, ref = gdal.Open(str(out)), gdal.Open(str(inputs["s2.t"]))
    assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (96, 96, 4)
    assert {ds.GetRasterBand(b + 1).DataType for b in range(4)} == {gdal.GDT_Int16}
    assert ds.GetGeoTransform() == pytest.approx(ref.GetGeoTransform())
    assert osr.SpatialReference(wkt=ds.GetProjection()).IsSame(osr.SpatialReference(wkt=ref.GetProjection()))
    values = raster.read_array(out)
    assert (values != -10000).any()

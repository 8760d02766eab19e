"""The demo end to end, the decloud command, and the apps chained in memory with pyotb."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from conftest import MSOP_MODEL, write_image
from decloud import raster
from decloud.demo import run_demo
from decloud.infer import decloud_app, infer
from decloud.otbenv import app_environment, pyotb
from decloud.testing import toymodels


def box_filter_valid(image: np.ndarray, kernel: int) -> np.ndarray:
    """Mean over every kernel x kernel window ('valid'), per band, via cumulative sums."""
    c = np.cumsum(np.cumsum(np.pad(image.astype("float64"), ((1, 0), (1, 0), (0, 0))), 0), 1)
    k = kernel
    return ((c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / k**2).astype("float32")


def test_demo_writes_geotiffs_quicklook_and_metrics(tmp_path):
    result = run_demo(tmp_path, scene="generated", size=160)
    for path in (result.network, result.gapfilling, result.quicklook, result.metrics):
        assert path.exists()
    assert result.quicklook.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    network = raster.read_array(result.network)
    assert network.shape == (160, 160, 4)
    cloudy_input = result.scores["cloudy input"]
    assert result.scores["gap-filling"].psnr > cloudy_input.psnr + 10  # the clouds are gone
    assert result.scores["network"].psnr > cloudy_input.psnr + 10
    assert "| network |" in result.metrics.read_text()
    assert not list(tmp_path.glob(".*part*"))


def test_decloud_command_runs_the_demo(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "decloud.cli", "demo", "--out-dir", str(tmp_path), "--generated",
                           "--size", "128"],
                          capture_output=True, text=True, env=app_environment(), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| gap-filling |" in proc.stdout and "quick-look" in proc.stdout


def test_demo_on_the_real_images_shipped_with_the_package(tmp_path):
    """The default demo: real clouds on a real date of the model's test split; the network beats the
    gap-filling on the cloudy pixels (PSNR, SAM) and leaves no cloud on them."""
    result = run_demo(tmp_path)
    net, gf, cloudy = (result.scores[k] for k in ("network", "gap-filling", "cloudy input"))
    assert "never trained on" in result.table
    assert gf.psnr > cloudy.psnr + 3
    assert net.psnr > gf.psnr
    assert net.sam < gf.sam


def test_decloud_infer_chained_in_memory_with_pyotb(tmp_path):
    """ExtractROI -> DecloudInfer -> BandMath, in memory, equals the same steps through files."""
    otb = pyotb()
    rng = np.random.default_rng(3)
    paths = {}
    for k, role in enumerate(("s2_t", "s2_tm1", "s2_tp1")):
        array = np.clip(rng.normal(1500 + 300 * k, 200, (100, 120, 4)), 1, 9000).astype(np.int16)
        paths[role] = raster.write_geotiff(tmp_path / f"{role}.tif", array, origin=(674990.0, 5154960.0),
                                           spacing=(10.0, -10.0), nodata=-10000)
    crop = {"startx": 10, "starty": 5, "sizex": 96, "sizey": 80}
    cropped = {role: otb.ExtractROI({"in": str(p), **crop}) for role, p in paths.items()}
    decloud = decloud_app(cropped, model=MSOP_MODEL, tile=64, padding=16)
    ndvi = otb.BandMath({"il": [decloud], "exp": "(im1b4 - im1b3) / (im1b4 + im1b3)"})
    in_memory = ndvi.to_numpy()[:, :, 0]

    on_disk = {}
    for role, p in paths.items():
        otb.ExtractROI({"in": str(p), **crop}).write(str(tmp_path / f"crop_{role}.tif"), pixel_type="int16")
        on_disk[role] = tmp_path / f"crop_{role}.tif"
    written = raster.read_array(infer(tmp_path / "decloud.tif", on_disk, model=MSOP_MODEL, tile=64, padding=16))
    written = written.astype(np.float64)
    expected = (written[:, :, 3] - written[:, :, 2]) / (written[:, :, 3] + written[:, :, 2])
    assert in_memory.shape == (80, 96)
    np.testing.assert_allclose(in_memory, expected, rtol=1e-5, atol=1e-6)


def test_pyotb_chain_in_memory(tmp_path, models):
    """BandMathX -> TensorflowModelServe, in memory, read back as numpy (as a pyotb user would)."""
    rng = np.random.default_rng(9)
    array = rng.uniform(0, 100, (70, 70, 4)).astype("float32")
    path = write_image(tmp_path / "in.tif", array)
    otb = pyotb()
    doubled = otb.BandMathX({"il": [str(path)], "exp": "im1 * 2"})
    serve = otb.TensorflowModelServe(
        {"source1.il": [doubled], "source1.rfieldx": 20, "source1.rfieldy": 20, "model.dir": str(models["conv"]),
         "model.fullyconv": True, "output.names": ["y"], "output.efieldx": 16, "output.efieldy": 16},
        n_sources=1,
    )
    result = serve.to_numpy()
    expected = toymodels.run_saved_model(models["conv"], x=(array * 2)[None])["y"][0]
    assert result.shape == (64, 64, 2)
    np.testing.assert_allclose(result, expected[:64, :64], rtol=1e-5, atol=1e-3)


def test_box_filter_reference():
    a = np.arange(2 * 6 * 7, dtype="float32").reshape(6, 7, 2)
    ref = np.stack([[a[r:r + 3, c:c + 3].mean(axis=(0, 1)) for c in range(5)] for r in range(4)])
    np.testing.assert_allclose(box_filter_valid(a, 3), ref, rtol=1e-6)

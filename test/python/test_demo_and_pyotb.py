"""The demo end to end, the decloud command, and TensorflowModelServe chained in memory with pyotb."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from decloud import raster, toymodels
from decloud.demo import box_filter_valid, run_demo
from decloud.otbenv import app_environment, pyotb
from conftest import write_image


def test_demo_writes_geotiff_and_quicklook_matching_closed_form(tmp_path):
    result = run_demo(tmp_path, size=200, tile=64)
    assert result.output.exists() and result.quicklook.exists()
    assert result.quicklook.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.max_abs_error < 1e-2
    assert raster.read_array(result.output).shape == (192, 192, 4)  # 200 - 4 = 196, truncated to 64 multiples
    assert not list(tmp_path.glob(".*part*"))


def test_decloud_command_runs_the_demo(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "decloud.cli", "demo", "--out-dir", str(tmp_path), "--size", "128"],
                          capture_output=True, text=True, env=app_environment(), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "max |output - closed-form box filter|" in proc.stdout


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

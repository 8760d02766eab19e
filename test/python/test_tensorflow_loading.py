"""When TensorFlow is loaded: only by the apps that run a network, only when they run one (include/otbTensorflowCAPI.h).

Loading libtensorflow_cc the usual way (linked) cost every app process about 1 s of CPU in the dynamic linker, even
`-help` and the gap-filling; now the gap-filling apps never load it and DecloudInfer / TensorflowModelServe load it
(RTLD_DEEPBIND) on the first model. These tests watch the dynamic linker itself (LD_DEBUG=files), and check that an
app run in process before Python imports tensorflow, and after it, gives the CLI's pixels.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MSOP_MODEL
from decloud import raster
from decloud.otbenv import app_environment

NO_NETWORK_APPS = ("DecloudGapFilling", "DecloudComposite", "DecloudTimeSeriesPreProcessor",
                   "DecloudPatchesExtraction")


def loaded_libraries(args: list[str]) -> str:
    """The dynamic linker's log of the files it loads while running `args` (LD_DEBUG=files)."""
    proc = subprocess.run(args, capture_output=True, text=True, env=app_environment({"LD_DEBUG": "files"}),
                          timeout=300)
    return proc.stderr


@pytest.mark.parametrize("app", [*NO_NETWORK_APPS, "DecloudInfer", "TensorflowModelServe"])
def test_help_does_not_load_tensorflow(app):
    log = loaded_libraries([f"otbcli_{app}", "-help"])
    assert f"otbapp_{app}" in log  # the app itself was loaded, and the log is the linker's
    assert "libtensorflow" not in log, app


def write_inputs(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(5)
    paths = {}
    for k, role in enumerate(("t", "tm1", "tp1")):
        array = np.clip(rng.normal(1500 + 300 * k, 200, (48, 64, 4)), 1, 9000).astype(np.int16)
        paths[role] = raster.write_geotiff(folder / f"{role}.tif", array, origin=(674990.0, 5154960.0),
                                           spacing=(10.0, -10.0), nodata=-10000)
    return paths


IN_PROCESS = """
import sys
{first}
import otbApplication
app = otbApplication.Registry.CreateApplication("DecloudInfer")
app.SetParameterString("model", sys.argv[1])
app.SetParameterString("s2.t", sys.argv[2])
app.SetParameterStringList("s2.tm1", [sys.argv[3]])
app.SetParameterStringList("s2.tp1", [sys.argv[4]])
app.SetParameterString("out", sys.argv[5])
app.ExecuteAndWriteOutput()
import tensorflow as tf
assert float(tf.reduce_sum(tf.ones((3, 3)))) == 9.0
print("tensorflow works after the app")
"""


# Slow (three processes importing TensorFlow, 13 s); the fast lane has the help case above and an in-process chain
# after tensorflow is imported (test_demo_and_pyotb.py::test_decloud_infer_chained_in_memory_with_pyotb).
@pytest.mark.slow
def test_decloud_infer_loads_tensorflow_when_it_runs_a_model_in_and_out_of_process(tmp_path):
    """The CLI run loads TensorFlow (once: the model's); in a Python process, an app run before `import tensorflow`
    and one after it share one TensorFlow and write the CLI's pixels."""
    paths = write_inputs(tmp_path)
    cli = tmp_path / "cli.tif"
    log = loaded_libraries(["otbcli_DecloudInfer", "-model", str(MSOP_MODEL), "-s2.t", str(paths["t"]),
                            "-s2.tm1", str(paths["tm1"]), "-s2.tp1", str(paths["tp1"]), "-out", str(cli)])
    assert cli.exists(), log[-3000:]
    assert "file=" in log and "libtensorflow_cc.so.2" in log
    expected = raster.read_array(cli)
    for first in ("", "import tensorflow"):
        out = tmp_path / f"in_process_{'after' if first else 'before'}.tif"
        proc = subprocess.run([sys.executable, "-c", IN_PROCESS.format(first=first), str(MSOP_MODEL),
                               *(str(paths[r]) for r in ("t", "tm1", "tp1")), str(out)],
                              capture_output=True, text=True, env=app_environment(), timeout=300)
        assert proc.returncode == 0 and "tensorflow works after the app" in proc.stdout, proc.stderr[-3000:]
        np.testing.assert_array_equal(raster.read_array(out), expected)

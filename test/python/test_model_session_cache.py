"""The sessions the apps keep for their process (src/otbDecloudModelSession.cxx, DECLOUD_MODEL_CACHE): a process that
runs TensorflowModelServe or DecloudInfer again on one model (pyotb, decloud timeseries, a Dask worker) loads it once;
a model written again in place is loaded again; outputs never depend on the cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import write_image
from decloud.otbenv import app_environment
from decloud.testing import toymodels

KEPT = "(its session kept from an earlier run in this process)"

# Runs TensorflowModelServe in this one process (pyotb) on model.dir, once per step: "run" (the app on the image),
# "swap" (the other model's saved_model.pb written over the model's, in place); prints one JSON line per run.
SCRIPT = textwrap.dedent("""
    import json, shutil, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from decloud.otbenv import pyotb
    model, other, image = sys.argv[2:5]
    otb = pyotb()
    for step in sys.argv[5:]:
        if step == "swap":
            with open(other + "/saved_model.pb", "rb") as src, open(model + "/saved_model.pb", "r+b") as dst:
                dst.truncate(0)
                dst.write(src.read())
            continue
        app = otb.TensorflowModelServe(
            {"source1.il": [image], "source1.rfieldx": 20, "source1.rfieldy": 20, "model.dir": model,
             "model.fullyconv": True, "output.names": ["y"], "output.efieldx": 16, "output.efieldy": 16},
            n_sources=1)
        out = app.to_numpy()
        print(json.dumps({"sum": float(np.sum(out.astype("float64")))}), flush=True)
""")


def run_steps(tmp_path: Path, model: Path, other: Path, image: Path, steps: list[str], **env) -> tuple[list, str]:
    script = tmp_path / "steps.py"
    script.write_text(SCRIPT)
    python_dir = Path(__file__).resolve().parents[2] / "python"
    proc = subprocess.run([sys.executable, str(script), str(python_dir), str(model), str(other), str(image), *steps],
                          capture_output=True, text=True, timeout=300,
                          env=app_environment({"OTB_LOGGER_LEVEL": "INFO", **env}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    sums = [json.loads(line)["sum"] for line in proc.stdout.splitlines() if line.startswith("{")]
    return sums, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    a = toymodels.conv_model(root / "a", kernel=5, seed=0)
    b = toymodels.conv_model(root / "b", kernel=5, seed=1)
    rng = np.random.default_rng(3)
    image = write_image(root / "in.tif", rng.uniform(0, 100, (70, 70, 4)).astype("float32"))
    return a, b, image


def model_copy(tmp_path: Path, model: Path, name: str = "model") -> Path:
    copy = tmp_path / name
    shutil.copytree(model, copy)
    return copy


def test_a_second_run_reuses_the_session_and_gives_the_same_output(setup, tmp_path):
    a, b, image = setup
    sums, log = run_steps(tmp_path, model_copy(tmp_path, a), b, image, ["run", "run", "run"])
    assert sums[0] == sums[1] == sums[2]
    assert log.count(KEPT) == 2, log[-3000:]
    # the same outputs without the cache (DECLOUD_MODEL_CACHE=0: every run loads the model)
    fresh, log = run_steps(tmp_path, model_copy(tmp_path, a, "again"), b, image, ["run", "run"],
                           DECLOUD_MODEL_CACHE="0")
    assert fresh == sums[:2]
    assert KEPT not in log


def test_a_model_written_again_in_place_is_loaded_again(setup, tmp_path):
    a, b, image = setup
    sums, log = run_steps(tmp_path, model_copy(tmp_path, a), b, image, ["run", "swap", "run", "run"])
    alone, _ = run_steps(tmp_path, model_copy(tmp_path, b, "b"), b, image, ["run"])
    assert sums[1] != sums[0] and sums[1] == alone[0], (sums, alone)  # the new model's output, not the old session's
    assert sums[2] == sums[1]
    assert log.count(KEPT) == 1, log[-3000:]  # the swap loads it again; the run after it keeps that session


def test_a_bad_decloud_model_cache_is_one_clear_line(setup, tmp_path):
    a, _, image = setup
    proc = subprocess.run(
        ["otbcli_TensorflowModelServe", "-source1.il", str(image), "-source1.rfieldx", "20", "-source1.rfieldy", "20",
         "-model.dir", str(a), "-model.fullyconv", "1", "-output.efieldx", "16", "-output.efieldy", "16",
         "-out", str(tmp_path / "out.tif")],
        capture_output=True, text=True, timeout=120,
        env=app_environment({"DECLOUD_MODEL_CACHE": "two", "OTB_TF_NSOURCES": "1"}))
    assert proc.returncode != 0
    assert "model.dir: DECLOUD_MODEL_CACHE='two' is not a number of models to keep" in proc.stderr + proc.stdout
    assert os.listdir(tmp_path) == []

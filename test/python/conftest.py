"""Shared fixtures: the TensorflowModelServe app run as users run it (otbcli), generated models and images."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from decloud import raster
from decloud.testing import toymodels
from decloud.otbenv import app_environment, otbcli

# The paper-family model shipped for comparison (msop_unet, no holes in the graph): the app mechanics tests
# (validity erosion, crops, bad inputs) are written against its card.
MSOP_MODEL = Path(__file__).resolve().parents[2] / "models" / "msop-bolzano-west"

ORIGIN = (674990.0, 5154960.0)


@dataclass
class AppRun:
    returncode: int
    output: str  # stdout + stderr

    def fatal_lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if "(FATAL)" in line]


def run_app(name: str, params: dict[str, object], env: dict[str, str] | None = None) -> AppRun:
    """Run one of the module's applications through its otbcli launcher, as users do."""
    args = otbcli(name)
    for key, value in params.items():
        args.append(f"-{key}")
        if isinstance(value, (list, tuple)):
            args.extend(str(v) for v in value)
        else:
            args.append(str(value))
    proc = subprocess.run(args, capture_output=True, text=True, env=app_environment(env), timeout=300)
    return AppRun(proc.returncode, proc.stdout + proc.stderr)


def run_serve(params: dict[str, object], *, n_sources: int = 1) -> AppRun:
    """Run TensorflowModelServe through its otbcli launcher, OTBTF style (OTB_TF_NSOURCES)."""
    return run_app("TensorflowModelServe", params, {"OTB_TF_NSOURCES": str(n_sources)})


def write_image(path: Path, array: np.ndarray, *, spacing: float = 10.0, origin=ORIGIN) -> Path:
    return raster.write_geotiff(path, array, origin=origin, spacing=(spacing, -spacing))


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "conv": toymodels.conv_model(root / "conv", kernel=5, extra_output=True),
        "patch": toymodels.patch_model(root / "patch", patch=5),
        "two_sources": toymodels.two_source_patch_model(root / "two", patch1=8, patch2=4),
    }


@pytest.fixture(scope="session")
def image4(tmp_path_factory) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(7)
    array = rng.uniform(0, 100, (90, 100, 4)).astype("float32")
    return write_image(tmp_path_factory.mktemp("img") / "image4.tif", array), array

"""Shared fixtures: the TensorflowModelServe app run as users run it (otbcli), generated models and images."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from decloud import raster
from decloud.otbenv import app_environment, otbcli
from decloud.testing import toymodels

# The paper-family model shipped for comparison (msop_unet, no holes in the graph): the app mechanics tests
# (validity erosion, crops, bad inputs) are written against its card.
MSOP_MODEL = Path(__file__).resolve().parents[2] / "models" / "msop-bolzano-west"

ORIGIN = (674990.0, 5154960.0)


def covering_product(first, second, *, fast=None):
    """The cross product of two parameter lists for ``pytest.mark.parametrize``, as pytest.params.

    The fast lane (``-m "not slow"``) runs a covering diagonal: the i-th value of the longer list with the
    (i mod n)-th value of the shorter one, so every value of each list still runs there; the other pairs are marked
    slow and run in the full suite (CI). A value that is a tuple gives several arguments; ids are joined with '-'.
    ``fast``: the ids of the pairs that stay in the fast lane instead of the diagonal (a smaller choice, said in a
    comment at the test).
    """
    def flat(value):
        return value if isinstance(value, tuple) else (value,)

    def ident(value):
        return "-".join(str(v) for v in flat(value))

    longer_first = len(first) >= len(second)
    params = []
    for i, a in enumerate(first):
        for j, b in enumerate(second):
            k, n, m = (i, j, len(second)) if longer_first else (j, i, len(first))
            name = f"{ident(a)}-{ident(b)}"
            keep = n == k % m if fast is None else name in fast
            params.append(pytest.param(*flat(a), *flat(b), id=name, marks=() if keep else pytest.mark.slow))
    if fast is not None:
        unknown = set(fast) - {p.id for p in params}
        assert not unknown, f"covering_product: no pair {sorted(unknown)}"
    return params


def fast_and_slow(values, fast, *, ids=None):
    """``values`` for ``pytest.mark.parametrize`` with those not in ``fast`` marked slow (run by the full suite)."""
    unknown = [v for v in fast if v not in values]
    assert not unknown, f"fast_and_slow: {unknown} not among the values"
    return [pytest.param(v, marks=() if v in fast else pytest.mark.slow,
                         **({"id": ids[k]} if ids else {})) for k, v in enumerate(values)]


def fast_cases(cases, fast):
    """Cases of a several-argument ``pytest.mark.parametrize`` (tuples) with those not in ``fast`` marked slow (run
    by the full suite); ids are the arguments joined with '-'."""
    unknown = [c for c in fast if c not in cases]
    assert not unknown, f"fast_cases: {unknown} not among the cases"
    return [pytest.param(*c, id="-".join(str(v) for v in c), marks=() if c in fast else pytest.mark.slow)
            for c in cases]


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
def toy_fill_model(tmp_path_factory) -> Path:
    """test_infer_mask_role.py's per-pixel toy that takes the cloud mask and fills holes from t too, exported with
    its card ("holes": "model"). Read only: test_infer_mask_role.py and test_holes.py share one build."""
    from test_infer_mask_role import export_with_card, toy_model  # noqa: PLC0415 - a test module, imported late

    return export_with_card(toy_model(True), tmp_path_factory.mktemp("toy_fill") / "toy_gf")


@pytest.fixture(scope="session")
def image4(tmp_path_factory) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(7)
    array = rng.uniform(0, 100, (90, 100, 4)).astype("float32")
    return write_image(tmp_path_factory.mktemp("img") / "image4.tif", array), array

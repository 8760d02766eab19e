"""dev.sh's build step: a compile error stops the set-up with the compiler's message; nothing is installed.

The step (``build_module``) is run on a tiny CMake project standing in for the module (dev.sh is sourced, its
variables pointed at a temporary tree), so that the test takes seconds instead of a full module build."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEV_SH = Path(__file__).resolve().parents[2] / "dev.sh"

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("g++") is None,
                                reason="cmake and g++ are needed (./dev.sh installs them)")

CMAKE = """cmake_minimum_required(VERSION 3.16)
project(tiny CXX)
add_executable(tiny main.cxx)
install(TARGETS tiny DESTINATION bin)
"""


def _build(root: Path) -> subprocess.CompletedProcess:
    script = (f'source "{DEV_SH}"; ROOT="{root}"; BUILD="{root}/build"; VENV="{root}/venv"; JOBS=1; '
              "build_module; echo BUILD-STEP-PASSED")
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_compile_error_stops_the_setup_with_the_compilers_message(tmp_path):
    (tmp_path / "CMakeLists.txt").write_text(CMAKE)
    (tmp_path / "main.cxx").write_text("int main() { return 0; }\n")
    first = _build(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "BUILD-STEP-PASSED" in first.stdout
    installed = tmp_path / "venv" / "bin" / "tiny"
    assert installed.exists()
    before = installed.read_bytes()

    (tmp_path / "main.cxx").write_text("int main() { return 0 }  // missing semicolon\n")
    broken = _build(tmp_path)
    assert broken.returncode != 0
    assert "BUILD-STEP-PASSED" not in broken.stdout
    assert "main.cxx" in broken.stderr and "error" in broken.stderr  # the compiler's own message
    assert "the C++ build failed" in broken.stderr
    assert installed.read_bytes() == before  # nothing (stale or new) was installed over the last good build


@pytest.mark.slow
def test_a_changed_prefix_reconfigures(tmp_path):
    (tmp_path / "CMakeLists.txt").write_text(CMAKE)
    (tmp_path / "main.cxx").write_text("int main() { return 0; }\n")
    assert _build(tmp_path).returncode == 0
    script = (f'source "{DEV_SH}"; ROOT="{tmp_path}"; BUILD="{tmp_path}/build"; VENV="{tmp_path}/venv2"; JOBS=1; '
              "build_module")
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "venv2" / "bin" / "tiny").exists()


MODELS_CMAKE = DEV_SH.parent / "cmake" / "DecloudModels.cmake"


def _install_models(root: Path, prefix: Path) -> subprocess.CompletedProcess:
    """Configure and install a project made of the module's model install rules alone."""
    (root / "CMakeLists.txt").write_text(f"cmake_minimum_required(VERSION 3.16)\nproject(models NONE)\n"
                                         f'include("{MODELS_CMAKE}")\n')
    for cmd in (["cmake", "-S", str(root), "-B", str(root / "build")],
                ["cmake", "--install", str(root / "build"), "--prefix", str(prefix)]):
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
    return run


def _model(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "card.json").write_text("{}")


def test_the_install_removes_the_models_it_no_longer_ships_and_keeps_the_users(tmp_path):
    src, prefix = tmp_path / "src", tmp_path / "prefix"
    installed = prefix / "share" / "decloud" / "models"
    _model(src / "models" / "model-a")
    _model(src / "models" / "model-b")
    _model(installed / "gfnet-v1")  # an install from before the manifest, with models dropped since
    (installed / "gfnet-v2" / "assets").mkdir(parents=True)  # (one left as empty folders)
    _install_models(src, prefix)
    assert (installed / ".shipped").read_text().split() == ["model-a", "model-b"]
    assert not (installed / "gfnet-v1").exists() and not (installed / "gfnet-v2").exists()

    _model(installed / "mine")  # a user's own model, put beside the shipped ones
    shutil.rmtree(src / "models" / "model-b")  # the project drops a model
    run = _install_models(src, prefix)
    assert "model-b (a model no longer shipped)" in run.stdout
    assert sorted(p.name for p in installed.iterdir()) == [".shipped", "mine", "model-a"]
    assert (installed / ".shipped").read_text().split() == ["model-a"]

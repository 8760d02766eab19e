"""The benchmarks keep running and keep checking themselves (figures are not asserted: machines are noisy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def figures(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line and " " not in line.split(": ")[0])


def test_search_benchmark_quick_agrees_with_the_straightforward_way():
    proc = subprocess.run([sys.executable, str(BENCH / "search.py"), "--quick"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = figures(proc.stdout)
    assert out["same_results"] == "1"
    assert int(out["samples"]) > 0
    for name in ("index_build_s", "os2_search_s", "straightforward_search_s", "speedup", "peak_rss_mb"):
        float(out[name])


def test_models_benchmark_quick_prints_its_contract():
    proc = subprocess.run([sys.executable, str(BENCH / "models.py"), "--quick"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = figures(proc.stdout)
    for name in ("unet_vs_resnet", "pipeline_vs_step", "ssop_mer_128px_mpx_s", "msop_unet_256px_mpx_s"):
        assert float(out[name]) > 0
    assert out["ssop_unet_parameters"] == "16652164" and out["msop_unet_parameters"] == "29272452"

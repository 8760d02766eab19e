"""bench/fullscene.py (issue 13): its I/O floor (DecloudGapFilling with DECLOUD_GAPFILLING_IO_FLOOR=1), its mosaic,
and its contract in --quick."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ORIGIN, run_app
from decloud.raster import read_array, write_geotiff
from decloud.synthetic import s2_like

BENCH = Path(__file__).resolve().parents[2] / "bench"
NODATA = -10000


def figures(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line and " " not in line.split(": ")[0])


def test_mirrored_indices_reflect_at_each_edge():
    sys.path.insert(0, str(BENCH))
    try:
        from fullscene import mirrored  # noqa: PLC0415
    finally:
        sys.path.remove(str(BENCH))
    assert mirrored(3, 10).tolist() == [0, 1, 2, 2, 1, 0, 0, 1, 2, 2]
    assert mirrored(1, 3).tolist() == [0, 0, 0]


def test_io_floor_mode_copies_il_1_and_reads_the_same_inputs(tmp_path):
    """The floor writes il #1 (not the earliest date: il's order), int16, same size and creation options as the
    gap-filling; a normal run of the same command gap-fills."""
    rng = np.random.default_rng(3)
    images, paths, masks = [], [], []
    for k in range(3):
        image = np.rint(s2_like(40, 56, seed=k, clouds=False)).astype(np.int16)
        image[rng.random((40, 56)) < 0.1] = NODATA
        images.append(image)
        paths.append(write_geotiff(tmp_path / f"s2_{k}.tif", image, origin=ORIGIN, spacing=(10, -10), nodata=NODATA))
        masks.append(write_geotiff(tmp_path / f"cloud_{k}.tif", (rng.random((40, 56)) < 0.3).astype(np.uint8),
                                   origin=ORIGIN, spacing=(10, -10)))
    params = {"il": paths, "masks": masks, "dates": ["2022-06-20", "2022-06-02", "2022-06-25"],
              "date": "2022-06-10"}
    floor = run_app("DecloudGapFilling", {**params, "out": tmp_path / "floor.tif"},
                    {"DECLOUD_GAPFILLING_IO_FLOOR": "1"})
    assert floor.returncode == 0, floor.output
    assert "I/O floor" in floor.output
    normal = run_app("DecloudGapFilling", {**params, "out": tmp_path / "gf.tif"})
    assert normal.returncode == 0 and "I/O floor" not in normal.output
    got, gf = read_array(tmp_path / "floor.tif"), read_array(tmp_path / "gf.tif")
    assert got.dtype == gf.dtype == np.int16 and got.shape == gf.shape
    assert np.array_equal(got, images[0])
    assert not np.array_equal(gf, images[0])
    from osgeo import gdal  # noqa: PLC0415

    meta = [gdal.Open(str(tmp_path / n)).GetMetadata("IMAGE_STRUCTURE") for n in ("floor.tif", "gf.tif")]
    assert meta[0] == meta[1] and meta[0].get("COMPRESSION") == "DEFLATE"


@pytest.mark.slow  # runs the benchmark (about a minute); the floor itself is covered by the test above
def test_fullscene_quick_prints_the_io_floor_contract(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "fullscene.py"), "--quick", "--work-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    out = figures(proc.stdout)
    for name in ("gapfilling_vs_io_floor", "io_floor_s", "gapfilling_s", "full_tile_min", "peak_rss_mb"):
        value = float(out[name])
        assert math.isfinite(value) and value > 0, (name, out[name])
    assert out["io_floor_same_output_size"] == "1"
    assert out["full_tile_measured"] == "0"  # --quick extrapolates; the full run measures
    assert out["gapfilling_identical"] == "1"
    assert "# target: gapfilling_vs_io_floor <= 1.25" in proc.stdout
    assert "# target: full_tile_min <= 3 min" in proc.stdout
    assert "# scene: " in proc.stdout

"""Real Sentinel-2 data (../shared/data/bolzano-west): preparation, index and search. Skipped where absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from decloud.layouts import parse_layout
from decloud.patch_index import from_hours, index_prepared
from decloud.prepare import prepare_s2
from decloud.search import search

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "bolzano-west"
pytestmark = [pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data not available ({SHARED} is absent)"),
              pytest.mark.slow]  # over 20 s

NO_SAR = {
    "tm1": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100}},
            "timeframe_start_hours": -240, "timeframe_end_hours": -24},
    "t": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100}},
          "timeframe_origin": True},
    "target": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 0}},
               "timeframe_start_hours": -72, "timeframe_end_hours": 72},
    "tp1": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100}},
            "timeframe_start_hours": 24, "timeframe_end_hours": 240},
}


def test_bolzano_series_index_and_search(tmp_path):
    folders = [prepare_s2(p, tmp_path / "prep", tile="bolzano").folder
               for p in sorted(SHARED.glob("S2_L2A_*_B2B3B4B8.tif"))]
    assert len(folders) == 12
    index = index_prepared(tmp_path / "bolzano.npz", folders, cell_pixels=64, tile="bolzano")
    assert index.grid.n_cells == (705 // 64) * (448 // 64)
    dates = [from_hours(h).strftime("%m-%d") for h in index.s2_hours]
    cloud = dict(zip(dates, index.cloud_percent.mean(axis=0)))
    assert cloud["06-05"] > 90 and cloud["06-22"] > 90  # fully cloudy dates (data README)
    assert cloud["06-10"] < 10 and cloud["06-30"] < 10  # nearly clear dates
    result = search(index, parse_layout(NO_SAR, name="no-sar", source="test"))
    assert len(result) > 0
    sample = next(iter(result.tuples()))
    used = {name: dates.index(from_hours(h).strftime("%m-%d")) for name, h in sample.s2_hours.items()}
    assert index.cloud_percent[sample.cell, used["target"]] <= 3  # the layouts' default cloud tolerance
    assert np.all(index.valid[sample.cell, list(used.values())])

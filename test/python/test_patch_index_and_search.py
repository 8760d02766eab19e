"""Patch index and sample search on a tiny hand-checked archive."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest
from decloud.layouts import load_layout, shipped_layouts
from decloud.patch_index import PatchGrid, TileIndex, index_prepared, to_hours
from decloud.prepare import prepare_s2
from decloud.search import explain, explain_message, search, split_cells
from decloud.testing import synthetic_products as sp

DAY0 = to_hours(datetime(2022, 6, 1))


def hours(*days):
    return np.array([DAY0 + 24 * d for d in days], dtype=np.int64)


def blocks(values):
    """[dates, cells] pixel counts -> [dates, 1 block row, 2 block columns] (a cell is one 64 px block)."""
    return np.asarray(values, dtype=np.int64)[:, None, :]


@pytest.fixture()
def index():
    grid = PatchGrid(600000.0, 5000000.0, 10.0, 64, rows=1, cols=2)
    idx = TileIndex.empty("T32TPS", grid)
    full = 64 * 64
    # S2 days 0, 10, 20, 30, 40; cloud % per cell: cell 0 [0, 100, 50, 0, 0], cell 1 [0, 0, 100, 0, 0]
    cloud = blocks([[0, 0], [full, 0], [full // 2, full], [0, 0], [0, 0]])
    nodata = blocks([[0, 0], [0, 0], [0, 0], [0, 7], [0, 0]])  # cell 1 has nodata on day 30
    idx.add_s2(hours(0, 10, 20, 30, 40), cloud, nodata)
    # S1 ascending days 1, 11, 21, 41: day 11 invalid for cell 1, day 21 invalid for cell 0
    idx.add_s1("ascending", hours(1, 11, 21, 41), blocks([[0, 0], [0, 5], [3, 0], [0, 0]]))
    idx.add_s1("descending", hours(20), blocks([[0, 0]]))
    return idx


def layout(tmp_path, orbit="ascending"):
    path = tmp_path / f"l_{orbit}.json"
    path.write_text(json.dumps({
        "t": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 50, "max_cloud_percent": 100},
                              "s1": {"type": "S1", "orbit": orbit}},
              "timeframe_origin": True, "max_s1s2_gap_hours": 48},
        "target": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 0}},
                   "timeframe_start_hours": -240, "timeframe_end_hours": 240},
    }))
    return load_layout(path)


def as_tuples(samples):
    return {(s.cell, (s.s2_hours["t"] - DAY0) // 24, (s.s2_hours["target"] - DAY0) // 24,
             (s.s1_hours["t"] - DAY0) // 24) for s in samples}


def test_index_from_block_counts(index):
    np.testing.assert_allclose(index.cloud_percent, [[0, 100, 50, 0, 0], [0, 0, 100, 0, 0]])
    assert index.valid.tolist() == [[True] * 5, [True, True, True, False, True]]
    nearest, gap = index.nearest_s1("ascending")
    assert gap[0].tolist() == [24, 24, 216, 264, 24]  # day 21 is not valid for cell 0: day 41 is nearest to 30
    assert gap[1].tolist() == [24, 216, 24, 216, 24]


def test_search_returns_exactly_the_expected_tuples(index, tmp_path):
    result = search(index, layout(tmp_path))
    assert as_tuples(result.tuples()) == {(0, 10, 0, 11), (1, 20, 10, 21)}


def test_orbit_any_uses_descending_passes_too(index, tmp_path):
    result = search(index, layout(tmp_path, "any"))
    assert as_tuples(result.tuples()) == {(0, 10, 0, 11), (0, 20, 30, 20), (1, 20, 10, 20)}


def test_new_dates_update_the_index_and_persist(index, tmp_path):
    index.add_s2(hours(50), blocks([[0, 64 * 64]]), blocks([[0, 0]]))
    index.add_s1("ascending", hours(51), blocks([[0, 0]]))
    path = index.save(tmp_path / "T32TPS.npz")
    loaded = TileIndex.load(path)
    assert loaded.s2_hours.tolist() == hours(0, 10, 20, 30, 40, 50).tolist()
    np.testing.assert_array_equal(loaded.cloud_percent[:, -1], [0, 100])
    assert as_tuples(search(loaded, layout(tmp_path)).tuples()) == {(0, 10, 0, 11), (1, 20, 10, 21), (1, 50, 40, 51)}
    assert not list(tmp_path.glob(".*part*"))


def test_draw_is_reproducible_and_bounded(index, tmp_path):
    result = search(index, layout(tmp_path, "any"))
    a = result.draw(strategy="constant", per_cell=1, seed=3)
    assert a == result.draw(strategy="constant", per_cell=1, seed=3)
    assert sorted(s.cell for s in a) == [0, 1]
    assert as_tuples(a) <= as_tuples(result.tuples())
    assert len(result.draw(strategy="season", per_cell=5)) == 3
    assert len(result.draw(strategy="random", total=2, seed=1)) == 2


def test_splits_share_no_cell():
    grid = PatchGrid(0.0, 1000.0, 10.0, 10, rows=10, cols=10)  # cells of 100 m
    splits = split_cells(grid, {"train": [(0, 500, 1000, 1000)], "valid": [(0, 0, 550, 500)],
                                "test": [(450, 0, 1000, 500)]})
    assert len(splits["train"]) == 50
    assert not set(splits["valid"]) & set(splits["test"])
    assert 4 not in set(splits["valid"]) | set(splits["test"])  # straddles two splits: dropped
    assert len(splits["valid"]) == 20 and len(splits["test"]) == 20


def test_index_from_prepared_products(tmp_path):
    """Generated THEIA products -> prepare_s2 -> index: cloud % per cell equals the masks' truth."""
    folders = []
    truths = []
    for k, day in enumerate((2, 12)):
        truth = sp.make_theia(tmp_path / "in", when=datetime(2022, 6, day, 10, 30), seed=k, size=128)
        folders.append(prepare_s2(truth.path, tmp_path / "prep").folder)
        truths.append(truth)
    index = index_prepared(tmp_path / "T32TPS.npz", folders[:1], cell_pixels=64)
    assert index.grid.n_cells == 4 and index.s2_hours.size == 1
    index = index_prepared(tmp_path / "T32TPS.npz", folders, cell_pixels=64)  # update with the new date
    assert index.s2_hours.size == 2
    for d, truth in enumerate(truths):
        cells = truth.cloud.reshape(2, 64, 2, 64).sum(axis=(1, 3)).ravel() * 100 / 64**2
        np.testing.assert_allclose(index.cloud_percent[:, d], cells, rtol=1e-6)
        valid = ~truth.nodata.reshape(2, 64, 2, 64).any(axis=(1, 3)).ravel()
        np.testing.assert_array_equal(index.valid[:, d], valid)


def test_an_empty_search_says_which_constraint_emptied_it(index, tmp_path):
    path = tmp_path / "no_s1_near.json"
    data = {"t": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100},
                                  "s1": {"type": "S1", "orbit": "ascending"}},
                  "timeframe_origin": True, "max_s1s2_gap_hours": 12},
            "target": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 0}},
                       "timeframe_start_hours": -240, "timeframe_end_hours": 240}}
    path.write_text(json.dumps(data))
    lay = load_layout(path)
    assert len(search(index, lay)) == 0
    counts = {c.name: c.steps for c in explain(index, lay)}
    # t: 10 (cell, date) pairs, 9 valid, all in 0-100 %, none with an ascending S1 within 12 h (gaps are >= 24 h)
    assert [n for _, n in counts["t"]] == [10, 9, 9, 0]
    # target: 9 valid, 6 clear (<= 3 %), no S1 needed, in the window of a t that fits: none (no t fits)
    assert [n for _, n in counts["target"]] == [10, 9, 6, 0]
    message = explain_message(index, lay, source="T32TPS.npz")
    assert message.splitlines()[0].startswith("no (cell, t) pair of T32TPS.npz (tile T32TPS): 2 cells x 5 S2 dates, "
                                              "5 S1 dates, fits layout no_s1_near: t is emptied by "
                                              "\"ascending S1 within 12 h\"")
    assert "target: (cell, date) pairs 10 -> valid (no nodata) 9 -> cloud 0-3 % (tolerance 3 %) 6" in message

    # an S2-only index searched with a layout that needs S1: the hint names the S2-only layout
    s2_only = TileIndex(index.tile, index.grid, index.s2_hours, index.cloud_percent, index.valid)
    message = explain_message(s2_only, load_layout("ssop"))
    assert "t is emptied by \"S1 within 72 h\" (the index has no S1" in message
    assert "such as ssop-s2" in message
    assert len(search(s2_only, load_layout("os2"))) == 0
    assert len(search(s2_only, load_layout("os2-s2"))) > 0


def test_target_tolerance_lets_speckled_clear_dates_through(tmp_path):
    """Real L2A masks flag a little speckle on clear dates: a 0 % target is met within the layout's tolerance."""
    grid = PatchGrid(600000.0, 5000000.0, 10.0, 64, rows=1, cols=1)
    idx = TileIndex.empty("bolzano", grid)
    full = 64 * 64
    idx.add_s2(hours(0, 5), blocks([[full // 2], [int(0.02 * full)]]), blocks([[0], [0]]))  # 50 %, 2 %
    data = json.loads(shipped_layouts()["ssop-s2"].read_text())
    assert len(search(idx, load_layout("ssop-s2"))) == 1
    data["cloud_tolerance_percent"] = 0
    (tmp_path / "exact.json").write_text(json.dumps(data))
    exact = load_layout(tmp_path / "exact.json")
    assert len(search(idx, exact)) == 0
    assert "target is emptied by \"cloud 0-0 %\"" in explain_message(idx, exact)

"""Issue 15: layout files in the original Decloud's format load unchanged and mean what they meant there.

The files below are written for these tests in the original's format (its keys and values, its formatting: sensor
entries named "S2" / "S1", S1 entries with no orbit, "timeframe_origin": "True" as a string, a window given
end-first, a target with S1, a target window that does not hold t, "random.randint(a, b)" lower cloud bounds, six
acquisitions t0..t5). They are searched on generated indexes, and on a real archive prepared from generated
products whose S1 is all descending: the original never filtered S1 by orbit, so an orbit-less layout finds
samples there.
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest
from decloud.layouts import LayoutError, load_layout
from decloud.patch_index import PatchGrid, TileIndex, index_prepared, to_hours
from decloud.prepare import prepare_s1, prepare_s2
from decloud.search import cloud_floors, explain_message, search
from decloud.testing import synthetic_products as sp

S2 = ('"S2" : {{\n        "type": "S2",\n        "min_cloud_percent": {low},\n'
      '        "max_cloud_percent": {high}\n      }}')
S1 = '"S1" : {\n        "type": "S1"\n      }'


def acquisition(name, low, high, *, s1=True, gap=None, origin=False, window=None):
    sensors = [S2.format(low=json.dumps(low), high=high)] + ([S1] if s1 else [])
    lines = [f'  "{name}" : {{', '    "acquisition" : {', "      " + ",\n      ".join(sensors), "    }"]
    if gap is not None:
        lines[-1] += ","
        lines.append(f'    "max_s1s2_gap_hours" : {gap}')
    if origin:
        lines[-1] += ","
        lines.append('    "timeframe_origin" : "True"')
    if window is not None:
        lines[-1] += ","
        lines += [f'    "timeframe_start_hours" : {window[0]},', f'    "timeframe_end_hours" : {window[1]}']
    return "\n".join(lines + ["  }"])


def layout_text(*acquisitions):
    return "{\n" + ",\n".join(acquisitions) + "\n}\n"


# Each construct of the original's 13 files, in files of the same shapes (values of our own).
FILES = {
    # CRGA OS1: three acquisitions with S2 + S1, all clear, no target
    "AL-OS1-like": layout_text(
        acquisition("tm1", 0, 0, gap=96, window=(-600, -96)),
        acquisition("t", 0, 0, gap=96, origin=True),
        acquisition("tp1", 0, 0, gap=96, window=(96, 600))),
    # CRGA OS2: t at least 1 % cloudy, a clear S2-only target, t-1 / t+1 any cloud cover
    "AL-OS2-like": layout_text(
        acquisition("tm1", 0, 100, gap=48, window=(-480, -120)),
        acquisition("t", 1, 100, gap=48, origin=True),
        acquisition("target", 0, 0, s1=False, window=(-120, 120)),
        acquisition("tp1", 0, 100, gap=48, window=(120, 480))),
    # CRGA OS2 gap-filling: t fully cloudy, a target with S1 (and its gap)
    "AL-OS2-GF-like": layout_text(
        acquisition("tm1", 0, 0, gap=48, window=(-400, -200)),
        acquisition("t", 100, 100, gap=48, origin=True),
        acquisition("target", 0, 0, gap=48, window=(-96, 96)),
        acquisition("tp1", 0, 0, gap=48, window=(200, 400))),
    # Meraner: t and a target only
    "AL-Meraner-like": layout_text(
        acquisition("t", 0, 100, gap=12, origin=True),
        acquisition("target", 0, 0, s1=False, window=(-120, 120))),
    # the original's test layout: windows given end-first (start -240, end -360), 1 % minimum on t-1 / t+1
    "AL-TEST-like": layout_text(
        acquisition("tm1", 1, 100, gap=24, window=(-240, -360)),
        acquisition("t", 0, 100, gap=24, origin=True),
        acquisition("target", 0, 0, s1=False, window=(-240, 240)),
        acquisition("tp1", 1, 100, gap=24, window=(240, 360))),
    # monthly synthesis: six acquisitions, drawn lower bounds, a target window that does not hold t0
    "AL-monthly-like": layout_text(
        acquisition("t0", "random.randint(0, 2)", 100, gap=72, origin=True),
        *(acquisition(f"t{k}", "random.randint(1, 10)" if k % 2 else "random.randint(0, 2)", 100, gap=72,
                      window=(120 * k - 24, 120 * k + 24)) for k in range(1, 6)),
        acquisition("target", 0, 0, s1=False, window=(100, 500))),
}


@pytest.fixture()
def files(tmp_path):
    paths = {}
    for name, text in FILES.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(text)
    return paths


def test_original_format_files_load_with_their_meaning(files):
    os2 = load_layout(files["AL-OS2-like"])
    assert os2.names == ("tm1", "t", "target", "tp1") and os2.origin.name == "t"
    assert (os2["t"].s2_key, os2["t"].s1_key) == ("S2", "S1")
    assert all(os2[n].s1.orbit == "any" for n in ("tm1", "t", "tp1"))  # no orbit key: either direction
    assert os2["target"].s1 is None and os2["target"].max_s1s2_gap_hours is None
    assert os2["t"].s2.cloud_range == (1, 100) and os2["tm1"].window_hours == (-480, -120)
    gf = load_layout(files["AL-OS2-GF-like"])
    assert gf["target"].s1.orbit == "any" and gf["target"].max_s1s2_gap_hours == 48
    assert gf["t"].s2.min_cloud_percent == 100
    test = load_layout(files["AL-TEST-like"])
    assert test["tm1"].window_hours == (-360, -240) and test["tp1"].window_hours == (240, 360)
    monthly = load_layout(files["AL-monthly-like"])
    assert monthly.names == ("t0", "t1", "t2", "t3", "t4", "t5", "target") and monthly.origin.name == "t0"
    assert monthly["t0"].s2.min_cloud_draw == (0, 2) and monthly["t1"].s2.min_cloud_draw == (1, 10)
    assert monthly["t0"].s2.cloud_range == (0, 100)  # without a (cell, t): the lowest draw
    assert monthly["target"].window_hours == (100, 500) and monthly["target"].s2.min_cloud_draw is None
    assert "cloud randint(1, 10)-100 %" == monthly["t1"].s2.describe()
    for name, path in files.items():
        layout = load_layout(path)
        assert layout.needs_s1, name


def test_bad_drawn_bounds_name_the_file_and_key(files, tmp_path):
    for text, why in (("random.uniform(0, 2)", "must be a number or \"random.randint\\(a, b\\)\""),
                      ("random.randint(3, 1)", "0 <= a <= b <= 100"),
                      ("random.randint(0, 200)", "0 <= a <= b <= 100"),
                      ("5", "must be a number or")):
        path = tmp_path / "bad.json"
        path.write_text(FILES["AL-monthly-like"].replace('"random.randint(1, 10)"', json.dumps(text), 1))
        with pytest.raises(LayoutError, match=f"bad.json: \\$.t1.acquisition.S2.min_cloud_percent: .*{why}"):
            load_layout(path)


DAY0 = to_hours(datetime(2022, 3, 1, 10, 30))


def archive(*, days, cells=4, s1_orbits=("descending",), seed=0):
    """An index of ``cells`` cells of 64 px, S2 every ``days`` (cloud % drawn per cell and date, some nodata), S1
    of the given orbit directions six hours after each S2 date (ascending) or five before (descending)."""
    rng = np.random.default_rng(seed)
    grid = PatchGrid(600000.0, 5000000.0, 10.0, 64, rows=1, cols=cells)
    idx = TileIndex.empty("31TCJ", grid)
    full = 64 * 64
    hours = np.array([DAY0 + 24 * d for d in days], dtype=np.int64)
    cloud = rng.choice([0, 0, 0, 0.005, 0.01, 0.02, 0.05, 0.12, 0.3, 0.6, 1.0], size=(hours.size, cells))
    nodata = (rng.random((hours.size, cells)) < 0.1) * 9
    idx.add_s2(hours, np.round(cloud * full)[:, None, :].astype(np.int64), nodata[:, None, :].astype(np.int64))
    for orbit in s1_orbits:
        shift = 6 if orbit == "ascending" else -5
        idx.add_s1(orbit, hours + shift, np.zeros((hours.size, 1, cells), np.int64))
    return idx


def reference_pairs(index, layout, seed):
    """(cell, t) pairs by brute force: every acquisition has a date in its window that meets its rule, with the
    drawn lower bound of that (cell, t), the nearest S1 of either direction, never t's own date."""
    hours = index.s2_hours
    s1 = np.sort(np.concatenate([index.s1_hours["ascending"], index.s1_hours["descending"]]))
    floors = {a.name: cloud_floors(index, a, seed) for a in layout.acquisitions}
    pairs = set()
    for cell in range(index.grid.n_cells):
        for t in range(hours.size):
            ok = True
            for acq in layout.acquisitions:
                low, high = acq.s2.cloud_range
                if floors[acq.name] is not None:
                    low = floors[acq.name][cell, t]
                dates = [t] if acq.is_origin else [d for d in range(hours.size) if d != t and
                                                   acq.window_hours[0] <= hours[d] - hours[t] <= acq.window_hours[1]]
                fits = [d for d in dates if index.valid[cell, d] and low <= index.cloud_percent[cell, d] <= high
                        and (acq.s1 is None or (s1.size and np.abs(s1 - hours[d]).min() <= acq.max_s1s2_gap_hours))]
                if not fits:
                    ok = False
                    break
            if ok:
                pairs.add((cell, t))
    return pairs


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_original_format_layout_searches_a_descending_only_archive(files, name):
    """S1 of one direction only (descending): the orbit-less layouts find samples, each with a descending S1."""
    index = archive(days=range(0, 60), cells=6)
    layout = load_layout(files[name])
    result = search(index, layout, seed=7)
    pairs = set(zip(result.cells.tolist(), result.origins.tolist()))
    assert pairs == reference_pairs(index, layout, 7)
    assert len(result) > 0, explain_message(index, layout)
    samples = result.draw(strategy="constant", per_cell=2, seed=1)
    assert samples
    descending = set(index.s1_hours["descending"].tolist())
    for s in samples:
        assert {h for h in s.s1_hours.values() if h is not None} <= descending
        assert len(set(s.s2_hours.values())) == len(s.s2_hours)  # one date per acquisition

    # the same file saying "orbit": "ascending" finds nothing there, and says why
    text = FILES[name].replace('"type": "S1"', '"type": "S1", "orbit": "ascending"')
    asc = files[name].with_name(f"{name}-asc.json")
    asc.write_text(text)
    ascending = load_layout(asc)
    assert len(search(index, ascending)) == 0
    assert "ascending S1 within" in explain_message(index, ascending)


def test_any_orbit_takes_the_nearest_s1_of_either_direction(files):
    index = archive(days=range(0, 40, 4), cells=2, s1_orbits=("ascending", "descending"))
    layout = load_layout(files["AL-Meraner-like"])  # t: S1 within 12 h
    samples = list(search(index, layout).tuples())
    assert samples
    for s in samples:
        assert s.s1_hours["t"] - s.s2_hours["t"] == -5  # descending 5 h before is nearer than ascending 6 h after


def test_drawn_bounds_are_seeded_uniform_and_stable(files):
    index = archive(days=range(0, 120, 1), cells=8)
    monthly = load_layout(files["AL-monthly-like"])
    t1 = monthly["t1"]
    floors = cloud_floors(index, t1, seed=5)
    assert floors.shape == (8, 120)
    values, counts = np.unique(floors, return_counts=True)
    assert values.tolist() == list(range(1, 11))  # randint(1, 10): both ends included
    assert counts.min() > 0.6 * floors.size / 10 and counts.max() < 1.4 * floors.size / 10
    np.testing.assert_array_equal(floors, cloud_floors(index, t1, seed=5))  # deterministic per seed
    assert not np.array_equal(floors, cloud_floors(index, t1, seed=6))
    assert not np.array_equal(floors, cloud_floors(index, monthly["t3"], seed=5))  # per acquisition
    assert cloud_floors(index, monthly["target"], seed=5) is None

    # a draw depends on (cell, date of t), not on the dates around it: a longer index keeps the earlier draws
    longer = archive(days=range(0, 150, 1), cells=8)
    np.testing.assert_array_equal(cloud_floors(longer, t1, seed=5)[:, :120], floors)

    # the search is the same each time with one seed, and restricting cells keeps their pairs
    a, b = search(index, monthly, seed=5), search(index, monthly, seed=5)
    assert a.cells.tolist() == b.cells.tolist() and a.origins.tolist() == b.origins.tolist()
    assert a.draw(per_cell=3, seed=2) == b.draw(per_cell=3, seed=2)
    part = search(index, monthly, cells=np.array([1, 4]), seed=5)
    full = {(c, t) for c, t in zip(a.cells.tolist(), a.origins.tolist()) if c in (1, 4)}
    assert set(zip(part.cells.tolist(), part.origins.tolist())) == full
    # and the drawn bounds are applied: each chosen candidate meets the draw of its (cell, t)
    floor_t1 = cloud_floors(index, t1, seed=5)
    for s in a.draw(per_cell=20, seed=0):
        t = int(np.searchsorted(index.s2_hours, s.s2_hours["t0"]))
        d = int(np.searchsorted(index.s2_hours, s.s2_hours["t1"]))
        assert index.cloud_percent[s.cell, d] >= floor_t1[s.cell, t]
    # the draws matter: other draws, other pairs; each time the pairs of the brute-force rule
    c = search(index, monthly, seed=6)
    assert set(zip(c.cells.tolist(), c.origins.tolist())) == reference_pairs(index, monthly, 6)
    assert set(zip(c.cells.tolist(), c.origins.tolist())) != set(zip(a.cells.tolist(), a.origins.tolist()))


def test_an_orbit_less_layout_finds_samples_in_a_prepared_descending_only_archive(files, tmp_path):
    """Real products: generated THEIA S2 and S1Tiling descending acquisitions (one with an unknown time,
    ..._txxxxxx), prepared, indexed, searched with an original-format layout."""
    s2, s1 = [], []
    for k, day in enumerate((2, 5, 8, 11)):
        truth = sp.make_theia(tmp_path / "in", when=datetime(2022, 6, day, 10, 30), seed=k, size=128)
        s2.append(prepare_s2(truth.path, tmp_path / "prep").folder)
        vv, _ = sp.make_s1tiling(tmp_path / "s1", when=datetime(2022, 6, day, 5, 51, 7), direction="DES", orbit=8,
                                 seed=k)
        if day == 8:  # as S1Tiling names a product made of two slices
            for path in (vv, vv.with_name(vv.name.replace("_vv_", "_vh_"))):
                path.rename(path.with_name(path.name.replace("t055107", "txxxxxx")))
            vv = vv.with_name(vv.name.replace("t055107", "txxxxxx"))
        s1.append(prepare_s1(vv, tmp_path / "prep").folder)
    assert "S1_32TPS_DES_008_20220608T000000" in [f.name for f in s1]
    index = index_prepared(tmp_path / "32TPS.npz", s2, s1, cell_pixels=64)
    assert index.s1_hours["descending"].size == 4 and index.s1_hours["ascending"].size == 0
    # the generated scenes are cloudy in every cell: a Meraner-like file with a target of any cloud cover
    text = layout_text(acquisition("t", 0, 100, gap=12, origin=True),
                       acquisition("target", 0, 100, s1=False, window=(-120, 120)))
    (tmp_path / "AL-any-target.json").write_text(text)
    layout = load_layout(tmp_path / "AL-any-target.json")
    result = search(index, layout)
    # t needs an S1 within 12 h: descending 05:51 for 10:30 (4.7 h), 00:00 for the date-only one (10.5 h)
    assert sorted({int(t) for t in result.origins}) == [0, 1, 2, 3], explain_message(index, layout)
    assert len(result) == int(index.valid.sum())  # every valid (cell, t): each has a valid neighbour date
    for s in result.tuples():
        assert s.s1_hours["t"] in index.s1_hours["descending"]
    (tmp_path / "asc.json").write_text(text.replace('"type": "S1"', '"type": "S1", "orbit": "ascending"'))
    assert len(search(index, load_layout(tmp_path / "asc.json"))) == 0

"""Acquisitions layouts: the shipped ones load with the paper's windows; bad files name file and key."""

from __future__ import annotations

import json

import pytest
from decloud.layouts import LayoutError, load_layout, shipped_layouts


def test_every_shipped_layout_loads():
    paper = {"ssop", "os1", "os2", "os2-gf"}
    assert set(shipped_layouts()) == paper | {f"{n}-s2" for n in paper} | {"series", "series-s2"}
    for name in shipped_layouts():
        layout = load_layout(name)
        assert layout.origin.name == "t"
        assert layout.needs_s1 == (not name.endswith("-s2")), name


def test_s2_only_variants_keep_the_papers_windows_and_thresholds():
    for name in ("ssop", "os1", "os2", "os2-gf"):
        full, s2 = load_layout(name), load_layout(f"{name}-s2")
        assert full.names == s2.names
        for a, b in zip(full.acquisitions, s2.acquisitions):
            assert (a.window_hours, a.s2, a.is_origin) == (b.window_hours, b.s2, b.is_origin)
            assert b.s1 is None and b.max_s1s2_gap_hours is None
    series = load_layout("series-s2")
    assert series["tm1"].window_hours == (-720, 0) and series["tp1"].window_hours == (0, 720)
    assert load_layout("series")["t"].s1.orbit == "any"


def test_cloud_tolerance_applies_to_the_extremes_only(tmp_path):
    os2 = load_layout("os2")
    assert os2.cloud_tolerance_percent == 3  # the default: real L2A masks flag a few percent on clear dates
    assert os2["target"].s2.max_cloud_percent == 0 and os2["target"].s2.cloud_range == (0, 3)
    assert load_layout("os2-gf")["t"].s2.cloud_range == (97, 100)
    data = json.loads(shipped_layouts()["ssop"].read_text())
    data["t"]["acquisition"]["s2_t"].update(min_cloud_percent=10, max_cloud_percent=50)
    data["cloud_tolerance_percent"] = 0.5
    (tmp_path / "l.json").write_text(json.dumps(data))
    layout = load_layout(tmp_path / "l.json")
    assert layout["t"].s2.cloud_range == (10, 50)  # thresholds other than 0 and 100 are used as written
    assert layout["target"].s2.cloud_range == (0, 0.5)
    data["cloud_tolerance_percent"] = 0
    (tmp_path / "l.json").write_text(json.dumps(data))
    assert load_layout(tmp_path / "l.json")["target"].s2.cloud_range == (0, 0)  # exact, as the original Decloud


def test_paper_windows_and_thresholds():
    os2 = load_layout("os2")
    assert os2.names == ("tm1", "t", "target", "tp1")
    assert os2["tm1"].window_hours == (-720, -240) and os2["tp1"].window_hours == (240, 720)
    assert os2["target"].window_hours == (-240, 240) and os2["target"].s2.max_cloud_percent == 0
    assert all(os2[a].max_s1s2_gap_hours == 72 and os2[a].s1 is not None for a in ("tm1", "t", "tp1"))
    assert os2["t"].s2.max_cloud_percent == 100
    assert load_layout("os1")["t"].s2.max_cloud_percent == 0
    gf = load_layout("os2-gf")
    assert gf["t"].s2.min_cloud_percent == 100 and gf["tm1"].s2.max_cloud_percent == 0
    assert gf["target"].window_hours == (-72, 72)
    ssop = load_layout("ssop")
    assert ssop["target"].window_hours == (-168, 168) and ssop["t"].s1.orbit == "any"


def test_original_decloud_string_booleans_and_reversed_windows_are_accepted(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({
        "t": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 50, "max_cloud_percent": 100}},
              "timeframe_origin": "True"},
        "tm1": {"acquisition": {"s2": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 0}},
                "timeframe_start_hours": -120, "timeframe_end_hours": -360},
    }))
    layout = load_layout(path)
    assert layout.origin.name == "t" and layout["tm1"].window_hours == (-360, -120)


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda d: d["t"].update(color="red"), "$.t.color"),
        (lambda d: d["t"]["acquisition"]["s2_t"].update(max_cloud_percent=120),
         "$.t.acquisition.s2_t.max_cloud_percent"),
        (lambda d: d["t"]["acquisition"]["s2_t"].pop("min_cloud_percent"), "$.t.acquisition.s2_t.min_cloud_percent"),
        (lambda d: d["t"]["acquisition"]["s1_t"].update(type="S3"), "$.t.acquisition.s1_t.type"),
        (lambda d: d["t"].pop("max_s1s2_gap_hours"), "$.t.max_s1s2_gap_hours"),
        (lambda d: d["target"].pop("timeframe_end_hours"), "$.target.timeframe_end_hours"),
        (lambda d: d["target"].update(timeframe_origin=True), "$.target"),
        (lambda d: d["t"].update(timeframe_origin="yes"), "$.t.timeframe_origin"),
        (lambda d: d.update(cloud_tolerance_percent=80), "$.cloud_tolerance_percent: must be within [0, 50]"),
        (lambda d: d.update(cloud_tolerance_percent="3"), "$.cloud_tolerance_percent: must be a number"),
        (lambda d: d.update(target={"acquisition": d["target"]["acquisition"], "timeframe_origin": True}),
         "$: exactly one acquisition must be the timeframe_origin, found 2 (t, target)"),
    ],
)
def test_bad_layout_names_file_and_key(tmp_path, mutate, where):
    data = json.loads(shipped_layouts()["ssop"].read_text())
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LayoutError) as err:
        load_layout(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and where in message


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(LayoutError, match="shipped layouts: os1, os1-s2, os2, os2-gf, os2-gf-s2, os2-s2, series, "
                       "series-s2, ssop, ssop-s2"):
        load_layout(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(LayoutError, match="not valid JSON"):
        load_layout(tmp_path / "x.json")

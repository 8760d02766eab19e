"""Issue 18: one tile rule from prepare to dataset, S2-only layouts, and a search that explains an empty result.

Generated GeoTIFF stacks (named as in ../shared/data: S2_L2A_<date>_B2B3B4B8.tif + SCL) and S1Tiling acquisitions go
through the command line as a user runs it: prepare-s2 --tile -> index -> search -> dataset, with and without S1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from decloud.errors import DecloudInputError
from decloud.layouts import load_layout, shipped_layouts
from decloud.otbenv import app_environment
from decloud.patch_index import TileIndex, index_prepared, select_tile
from decloud.prepare import prepare_s1, prepare_s2
from decloud.search import explain_message, search
from decloud.testing import synthetic_products as sp

DAYS = (1, 4, 7)
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def decloud(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "decloud.cli", *map(str, args)], capture_output=True, text=True,
                          env=app_environment(), timeout=600)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    """Three stacks prepared by the CLI as tile 32TPS, and three S1Tiling acquisitions of 32TPS near them."""
    d = tmp_path_factory.mktemp("naming")
    paths = [sp.make_stack(d / "products", when=datetime(2022, 6, day), size=128, seed=k).path
             for k, day in enumerate(DAYS)]
    proc = decloud("prepare-s2", *paths, "--tile", "32TPS", "--out-dir", d / "prepared", "--workers", "0", "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for k, day in enumerate(DAYS):
        vv, _ = sp.make_s1tiling(d / "s1", when=datetime(2022, 6, day, 17, 5, 12), size=128, seed=k)
        prepare_s1(vv, d / "prepared")
    return d


def test_stacks_prepared_with_a_tile_are_indexed_searched_and_extracted_with_s1(stacks, tmp_path):
    prepared = stacks / "prepared"
    assert sorted(p.name for p in prepared.glob("S2_*")) == [f"S2_32TPS_202206{d:02d}T000000" for d in DAYS]
    proc = decloud("index", "--out", tmp_path / "32TPS.npz", "--tile", "T32TPS", "--cell-pixels", 64,
                   "--s2", *prepared.glob("S2_*"), "--s1", *prepared.glob("S1_*"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tile 32TPS, 4 cells of 64 px, 3 S2 dates, 3 S1 dates" in proc.stdout
    index = TileIndex.load(tmp_path / "32TPS.npz")
    assert index.tile == "32TPS" and index.s1_hours["ascending"].size == 3
    proc = decloud("search", "--index", tmp_path / "32TPS.npz", "--layout", "series", "--out", tmp_path / "s.json",
                   "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    samples = json.loads((tmp_path / "s.json").read_text())["samples"]
    assert samples and all(s["s1"]["t"] is not None and s["tile"] == "32TPS" for s in samples)
    assert {s["s2"]["t"][:10] for s in samples} == {"2022-06-04"}  # the only date with a date before and after
    proc = decloud("dataset", "--index", tmp_path / "32TPS.npz", "--prepared", prepared, "--layout", "series",
                   "--out-dir", tmp_path / "ds", "--workers", "0", "-q")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    assert f"train: {len(samples)} samples" in proc.stdout  # the S1 of each sample found by the tile name
    spec = json.loads(next((tmp_path / "ds").rglob("shapes_and_types.json")).read_text())
    assert {"s1_t", "s1_tm1", "s1_tp1", "s2_t"} <= set(spec)


def test_s2_only_path_and_an_explained_empty_search(stacks, tmp_path):
    prepared = stacks / "prepared"
    proc = decloud("index", "--out", tmp_path / "s2only.npz", "--cell-pixels", 64, "--s2", *prepared.glob("S2_*"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tile 32TPS" in proc.stdout and "0 S1 dates" in proc.stdout
    proc = decloud("search", "--index", tmp_path / "s2only.npz", "--layout", "series", "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"no (cell, t) pair of {tmp_path / 's2only.npz'} (tile 32TPS): 4 cells x 3 S2 dates, "
                               "0 S1 dates, fits layout series: tm1 is emptied by \"S1 within 72 h\" (the index has "
                               "no S1: index prepared S1 with decloud index --s1, or use an S2-only layout such as "
                               "series-s2)")
    assert "  t: (cell, date) pairs 12 -> valid (no nodata) " in proc.stdout
    assert lines[-1] == "0 (cell, t) pairs fit layout series; 0 samples drawn (constant)"
    proc = decloud("search", "--index", tmp_path / "s2only.npz", "--layout", "series-s2", "-q")
    # 3: one cell has nodata (the generated edge)
    assert proc.returncode == 0 and proc.stdout.startswith("3 (cell, t) pairs fit layout series-s2")


def test_the_tile_rule_refuses_mismatches_with_the_fix(stacks, tmp_path):
    prepared = stacks / "prepared"
    stack = sp.make_stack(tmp_path / "in", when=datetime(2022, 6, 10), size=128)
    notile = prepare_s2(stack.path, tmp_path / "prep")  # a stack without --tile: NOTILE, as before
    assert notile.folder.name == "S2_NOTILE_20220610T000000"
    s1 = sorted(prepared.glob("S1_*"))
    with pytest.raises(DecloudInputError, match=r"no S1 folder of tile NOTILE among the 3 given \(their tiles: "
                       r"32TPS\): S2 and S1 must be prepared under one tile name \(e\.g\. decloud prepare-s2 --tile "
                       "32TPS"):
        index_prepared(tmp_path / "a.npz", [notile.folder], s1, cell_pixels=64)
    # NOTILE stays readable: an index of it
    assert index_prepared(tmp_path / "b.npz", [notile.folder], cell_pixels=64, tile="NOTILE").tile == "NOTILE"
    # two tiles given: --tile picks one (the others are left out, said in one line); without it, an error
    s2 = [notile.folder, *prepared.glob("S2_*")]
    with pytest.raises(DecloudInputError, match=r"the S2 folders are of 2 tiles \(32TPS, NOTILE\): an index is of one "
                       "tile, give --tile"):
        select_tile(s2, s1)
    chosen = select_tile(s2, s1, "32TPS")
    assert len(chosen.s2) == 3 and len(chosen.s1) == 3 and chosen.left_out == {"NOTILE": [notile.folder]}
    assert chosen.note() == "left out 1 folder(s) of other tiles (NOTILE): not of tile 32TPS"
    with pytest.raises(DecloudInputError, match=r"--tile bolzano: no prepared S2 folder of that tile among the 4 "
                       r"given \(their tiles: 32TPS, NOTILE\); prepare them with decloud prepare-s2 --tile bolzano"):
        select_tile(s2, s1, "bolzano")
    # an existing index of another tile is not extended with this one
    with pytest.raises(DecloudInputError, match="b.npz: an index of tile NOTILE, not 32TPS"):
        index_prepared(tmp_path / "b.npz", list(prepared.glob("S2_*")), cell_pixels=64)
    proc = decloud("index", "--out", tmp_path / "c.npz", "--tile", "bolzano", "--s2", *s2)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--tile bolzano: no prepared S2" in proc.stderr


# Slow (prepares and indexes the 12 real dates, about 17 s): the fast lane checks stacks prepared with a tile name
# in test_stacks_prepared_with_a_tile_are_indexed_searched_and_extracted_with_s1 and real speckled targets met by the
# default tolerance in test_real_belgium_clear_dates_with_speckle_meet_the_target_tolerance.
@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "bolzano-west").is_dir(), reason=f"real data not available ({SHARED} is absent)")
def test_real_bolzano_stacks_by_name_and_speckled_targets(tmp_path):
    """bolzano-west as the README shows it: prepare-s2 --tile bolzano, index, search with the S2-only layouts; the
    clear dates carry a little SCL speckle, met by the default cloud tolerance."""
    folders = [prepare_s2(p, tmp_path / "prep", tile="bolzano").folder
               for p in sorted((SHARED / "bolzano-west").glob("S2_L2A_*_B2B3B4B8.tif"))]
    index = index_prepared(tmp_path / "bolzano.npz", folders, cell_pixels=64, tile="bolzano")
    assert index.tile == "bolzano" and index.s2_hours.size == 12
    clearish = (index.cloud_percent > 0) & (index.cloud_percent <= 3)
    assert clearish.any()  # speckle: cells neither exactly clear nor cloudy
    assert len(search(index, load_layout("ssop-s2"))) > 0
    assert len(search(index, load_layout("series-s2"))) > 0
    assert np.isin(np.arange(index.s2_hours.size), search(index, load_layout("series-s2")).origins).sum() >= 10


@pytest.mark.skipif(not (SHARED / "worldcereal-belgium-a").is_dir(),
                    reason=f"real data not available ({SHARED / 'worldcereal-belgium-a'} is absent)")
def test_real_belgium_clear_dates_with_speckle_meet_the_target_tolerance(tmp_path):
    """worldcereal-belgium-a: its clearest dates carry 0.2-2.2 % SCL speckle; a 0 % target found nothing, the default
    3 % tolerance finds samples, and an exact layout (tolerance 0) says which constraint emptied it."""
    paths = sorted((SHARED / "worldcereal-belgium-a").glob("S2_L2A_2018*_B2B3B4B8.tif"))[:30]
    folders = [prepare_s2(p, tmp_path / "prep", tile="belgium").folder for p in paths]
    index = index_prepared(tmp_path / "belgium.npz", folders, cell_pixels=64)
    assert index.tile == "belgium"
    speckled = (index.cloud_percent > 0) & (index.cloud_percent <= 3)
    assert speckled.any()
    layout = load_layout("ssop-s2")
    assert len(search(index, layout)) > 0
    data = json.loads(shipped_layouts()["ssop-s2"].read_text())
    data["cloud_tolerance_percent"] = 0
    (tmp_path / "exact.json").write_text(json.dumps(data))
    exact = load_layout(tmp_path / "exact.json")
    if len(search(index, exact)) == 0:
        assert "target" in explain_message(index, exact).splitlines()[0]
    assert len(search(index, exact)) < len(search(index, layout))


def test_dataset_with_nothing_to_sample_says_why(stacks, tmp_path):
    """decloud dataset says which constraint emptied the layout, as search does, instead of a bare 'no sample'."""
    prepared = stacks / "prepared"
    proc = decloud("index", "--out", tmp_path / "s2only.npz", "--cell-pixels", 64, "--s2", *prepared.glob("S2_*"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = decloud("dataset", "--index", tmp_path / "s2only.npz", "--prepared", prepared, "--layout", "series",
                   "--out-dir", tmp_path / "ds", "--workers", "0", "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    at = lines.index("train: no sample")
    assert "emptied by \"S1 within 72 h\"" in lines[at + 1] and "series-s2" in lines[at + 1]

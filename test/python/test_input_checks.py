"""Issue 18 (items 7 and 8), through the apps as users run them (otbcli, decloud infer, Python): masks (a prepared
cloud mask, an SCL refused or mapped with -maskclasses), unprepared S2 inputs refused naming prepare-s2, 20 m
stacks and B8A accepted with a note; outputs carry band names and the acquisition date."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import MSOP_MODEL, ORIGIN, fast_and_slow, run_app
from decloud.errors import DecloudInputError
from decloud.infer import infer
from decloud.otbenv import app_environment
from decloud.raster import read_array, write_geotiff
from decloud.synthetic import s2_like
from osgeo import gdal

NODATA = -10000
ROWS = COLS = 64
SCL_CLOUDS = (3, 8, 9, 10)


def s2(seed):
    return np.rint(s2_like(ROWS, COLS, seed=seed, clouds=False)).astype(np.int16)


def write(path, array, *, nodata=NODATA, spacing=10.0, descriptions=None):
    write_geotiff(path, array, origin=ORIGIN, spacing=(spacing, -spacing), nodata=nodata)
    if descriptions:
        ds = gdal.Open(str(path), gdal.GA_Update)
        for b, d in enumerate(descriptions):
            ds.GetRasterBand(b + 1).SetDescription(d)
        ds = None
    return path


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """t (a cloudy square) named with its date as a stack is, t-1, t+1; the prepared cloud mask of t and the SCL
    it comes from (vegetation 4, water 6, clouds 8 / 9, a shadow 3, nodata 0 in a corner)."""
    d = tmp_path_factory.mktemp("checks")
    t = s2(1)
    t[20:40, 20:40] = 8000
    scl = np.full((ROWS, COLS), 4, np.uint8)
    scl[:, 50:] = 6
    scl[20:40, 20:40] = 9
    scl[22:26, 22:26] = 8
    scl[40:44, 20:40] = 3
    scl[:4, :4] = 0
    cloud = np.isin(scl, SCL_CLOUDS).astype(np.uint8)
    return {"t": write(d / "S2_L2A_20220617_B2B3B4B8.tif", t), "tm1": write(d / "tm1.tif", s2(2)),
            "tp1": write(d / "tp1.tif", s2(3)), "mask": write(d / "cloud.tif", cloud, nodata=None),
            "scl": write(d / "S2_L2A_20220617_SCL.tif", scl, nodata=None), "arrays": {"t": t, "cloud": cloud}}


def params(scene, out, **extra):
    return {"model": MSOP_MODEL, "s2.t": scene["t"], "s2.tm1": scene["tm1"], "s2.tp1": scene["tp1"], "out": out,
            "padding": 16, "tile": 64, **extra}


def refused(run, *words):
    """Non-zero exit, one FATAL line holding every word."""
    assert run.returncode != 0, run.output
    lines = run.fatal_lines()
    assert len(lines) == 1, run.output
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def prepared(scene, tmp_path_factory):
    """The scene through DecloudInfer with the prepared cloud mask: one run, read only, for the mask tests below."""
    out = tmp_path_factory.mktemp("prepared") / "prepared.tif"
    run = run_app("DecloudInfer", params(scene, out, mask=scene["mask"]))
    assert run.returncode == 0, run.output
    return out


def metadata(path):
    ds = gdal.Open(str(path))
    return [ds.GetRasterBand(b + 1).GetDescription() for b in range(ds.RasterCount)], ds.GetMetadata()


# --- masks -------------------------------------------------------------------------------------------------

def test_scl_as_mask_is_refused_with_the_hint(scene, tmp_path):
    out = tmp_path / "out.tif"
    line = refused(run_app("DecloudInfer", params(scene, out, mask=scene["scl"])),
                   f"mask ({scene['scl']}): values up to 9", "SCL", "-maskclasses", "3 8 9 10", "prepare-s2")
    assert "every class but 0 would count as cloudy" in line
    assert not out.exists() and not list(tmp_path.iterdir())


def test_scl_mapped_with_mask_classes_equals_the_prepared_mask(scene, prepared, tmp_path):
    """-maskclasses 3 8 9 10: the SCL works as the prepared cloud mask, bit for bit; clear pixels of t kept."""
    a, b = prepared, tmp_path / "scl.tif"
    run = run_app("DecloudInfer", params(scene, b, mask=scene["scl"], maskclasses=list(SCL_CLOUDS)))
    assert run.returncode == 0, run.output
    assert "classes 3 8 9 10 count as cloudy" in run.output
    got, prepared = read_array(b), read_array(a)
    assert np.array_equal(got, prepared)
    t, cloud = scene["arrays"]["t"], scene["arrays"]["cloud"].astype(bool)
    assert not np.array_equal(got[cloud], t[cloud])  # clouds replaced
    far = np.ones_like(cloud)
    far[8:56, 8:52] = False  # beyond the 10-pixel transition around the clouds (rows 20-43, columns 20-39)
    assert np.array_equal(got[far], t[far])  # clear pixels kept, water (6) and vegetation (4) included


def test_bad_mask_classes(scene, tmp_path):
    refused(run_app("DecloudInfer", params(scene, tmp_path / "o.tif", mask=scene["scl"], maskclasses=["8", "nine"])),
            "maskclasses: 'nine' is not a class value")


def test_binary_masks_stay_accepted(scene, prepared, tmp_path):
    """0 / 1 and 0 / 255 masks (and bit masks over 11) are cloud masks: nonzero is cloudy, as before."""
    m255 = write(tmp_path / "m255.tif", scene["arrays"]["cloud"] * 255, nodata=None)
    a, b = prepared, tmp_path / "b.tif"
    assert run_app("DecloudInfer", params(scene, b, mask=m255)).returncode == 0
    assert np.array_equal(read_array(a), read_array(b))


def test_decloud_infer_mask_classes_option(scene, tmp_path):
    def decloud(*args):
        return subprocess.run([sys.executable, "-m", "decloud.cli", "infer", *map(str, args)], capture_output=True,
                              text=True, env=app_environment(), timeout=300)

    common = ["--model", MSOP_MODEL, "--s2-t", scene["t"], "--s2-tm1", scene["tm1"], "--s2-tp1", scene["tp1"],
              "--tile", 64, "--padding", 16]
    proc = decloud(tmp_path / "a.tif", *common, "--mask", scene["scl"])
    assert proc.returncode != 0 and not (tmp_path / "a.tif").exists()
    assert "values up to 9" in proc.stderr.strip().splitlines()[-1]
    proc = decloud(tmp_path / "b.tif", *common, "--mask", scene["scl"], "--mask-classes", *SCL_CLOUDS)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(DecloudInputError, match="values up to 9.*-maskclasses"):
        infer(tmp_path / "c.tif", {"s2_t": scene["t"], "s2_tm1": scene["tm1"], "s2_tp1": scene["tp1"]},
              model=MSOP_MODEL, mask=scene["scl"], tile=64, padding=16)


# --- unprepared inputs, 20 m, B8A --------------------------------------------------------------------------

# One rule (refused in one line naming the input and decloud prepare-s2): the fast lane runs raw uint16 at t and a
# 0-1 reflectance; the full suite all four (test_gapfilling_refuses_uint16_with_nodata_minus_10000: the other app).
@pytest.mark.parametrize("case", fast_and_slow(["uint16_t", "uint16_candidate", "nodata_0", "reflectance_0_1"],
                                               ["uint16_t", "reflectance_0_1"]))
def test_unprepared_s2_inputs_are_refused(scene, tmp_path, case):
    raw = s2(1).astype(np.int32) + 1000  # digital numbers with the +1000 offset
    key = "s2.t"
    if case == "uint16_t":
        bad = write(tmp_path / "raw.tif", raw.astype(np.uint16), nodata=0)
        words = ["the image is uint16", "raw Sentinel-2 L2A encoding", "+1000 offset"]
    elif case == "uint16_candidate":
        bad = write(tmp_path / "raw.tif", raw.astype(np.uint16), nodata=0)
        key = "s2.tm1"
        words = ["the image is uint16"]
    elif case == "nodata_0":
        bad = write(tmp_path / "raw.tif", raw.astype(np.int16), nodata=0)
        words = ["its nodata value is 0", "raw Sentinel-2 L2A encoding"]
    else:
        bad = write(tmp_path / "raw.tif", (s2(1) / 10000).astype(np.float32), nodata=None)
        words = ["a reflectance in 0-1", "reflectance x 10000"]
    out = tmp_path / "out.tif"
    refused(run_app("DecloudInfer", params(scene, out, **{key: bad})), f"{key} ({bad})", *words, "decloud prepare-s2")
    assert not out.exists()


def test_20m_stack_runs_with_a_note(scene, tmp_path):
    """20 m stacks (GreenEarthNet's) run as they are, and the output says so: the shipped gfnet is trained and
    scored on 20 m sets too."""
    stack = {k: write(tmp_path / f"{k}.tif", s2(s), spacing=20.0) for k, s in (("t", 1), ("tm1", 2), ("tp1", 3))}
    out = tmp_path / "o.tif"
    run = run_app("DecloudInfer", params(scene, out, **{"s2.t": stack["t"], "s2.tm1": stack["tm1"],
                                                         "s2.tp1": stack["tp1"]}))
    assert run.returncode == 0, run.output
    assert "pixels of 20 x 20 m" in run.output
    _names, items = metadata(out)
    assert items["DECLOUD_NOTE"].startswith("pixels of 20 x 20 m")


def test_b8a_as_nir_is_accepted_with_a_note(scene, tmp_path):
    described = {k: write(tmp_path / f"{k}.tif", s2(s), descriptions=["B02", "B03", "B04", "B8A"])
                 for k, s in (("t", 1), ("tm1", 2), ("tp1", 3))}
    out = tmp_path / "o.tif"
    run = run_app("DecloudInfer", params(scene, out, **{"s2.t": described["t"], "s2.tm1": described["tm1"],
                                                         "s2.tp1": described["tp1"]}))
    assert run.returncode == 0, run.output
    assert "NIR band B8A" in run.output
    names, items = metadata(out)
    assert names == ["B2", "B3", "B4", "B8A"]
    assert items["DECLOUD_NOTE"].startswith("NIR band B8A (865 nm) in place of the B8 (842 nm)")


def test_bands_described_in_another_order_are_refused(scene, tmp_path):
    rgb = write(tmp_path / "rgb.tif", s2(1), descriptions=["B4", "B3", "B2", "B8"])
    refused(run_app("DecloudInfer", params(scene, tmp_path / "o.tif", **{"s2.t": rgb})),
            f"s2.t ({rgb}): its bands are described as B4 B3 B2 B8, the model takes B2 B3 B4 B8")


# --- band names and dates in the outputs ------------------------------------------------------------------

def test_outputs_carry_band_names_and_date(scene, tmp_path):
    out, prov = tmp_path / "o.tif", tmp_path / "p.tif"
    run = run_app("DecloudInfer", params(scene, out, mask=scene["mask"], outprov=prov))
    assert run.returncode == 0, run.output
    names, items = metadata(out)
    assert names == ["B2", "B3", "B4", "B8"]
    assert items["ACQUISITION_DATE"] == "2022-06-17"  # from s2.t's name: the model takes no date
    assert items["DECLOUD_MODEL"] == "msop-bolzano-west" and "DECLOUD_NOTE" not in items
    names, items = metadata(prov)
    assert names == ["provenance"] and items["ACQUISITION_DATE"] == "2022-06-17"
    assert items["DECLOUD_PROVENANCE_CLASSES"].startswith("0 nodata, 1 t kept, 2 network")
    # An output used as s2.t passes its date on, whatever its name.
    again = tmp_path / "again.tif"
    assert run_app("DecloudInfer", params(scene, again, **{"s2.t": out})).returncode == 0
    assert metadata(again)[1]["ACQUISITION_DATE"] == "2022-06-17"


def test_python_and_cog_outputs_carry_them_too(scene, tmp_path):
    """The pyotb path (decloud.infer) and the COG conversion keep the names and the date; date.t wins."""
    out = infer(tmp_path / "o.tif", {"s2_t": scene["t"], "s2_tm1": scene["tm1"], "s2_tp1": scene["tp1"]},
                mask=scene["mask"], dates={"s2_timestamp_t": "2022-06-18T10:30:00", "s2_timestamp_tm1": "2022-06-10",
                                           "s2_timestamp_tp1": "2022-06-25"}, tile=64, cog=True)
    names, items = metadata(out)
    assert names == ["B2", "B3", "B4", "B8"] and items["ACQUISITION_DATE"] == "2022-06-18T10:30:00"
    assert items["DECLOUD_MODEL"] == "gfnet-v5"
    cli = tmp_path / "cli.tif"
    run = run_app("DecloudInfer", params(scene, cli, cog=1))
    assert run.returncode == 0, run.output
    assert metadata(cli)[0] == ["B2", "B3", "B4", "B8"]
    assert gdal.Open(str(cli)).GetMetadata("IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_gapfilling_output_carries_band_names_and_date(scene, tmp_path):
    out = tmp_path / "gf.tif"
    run = run_app("DecloudGapFilling", {"il": [scene["tm1"], scene["tp1"]], "dates": ["2022-06-10", "2022-06-24"],
                                        "date": "2022-06-17", "out": out})
    assert run.returncode == 0, run.output
    names, items = metadata(out)
    assert names == ["B2", "B3", "B4", "B8"] and items["ACQUISITION_DATE"] == "2022-06-17"


def test_gapfilling_refuses_uint16_with_nodata_minus_10000(scene, tmp_path):
    raw = [write(tmp_path / f"raw{k}.tif", (s2(k).astype(np.int32) + 1000).astype(np.uint16), nodata=0)
           for k in (2, 3)]
    base = {"il": raw, "dates": ["2022-06-10", "2022-06-24"], "date": "2022-06-17"}
    refused(run_app("DecloudGapFilling", {**base, "out": tmp_path / "a.tif"}),
            f"il #1 ({raw[0]}): the image is uint16, which cannot hold the nodata value -10000", "prepare-s2",
            "-nodata 0")
    # A user who knows the encoding says so: accepted.
    run = run_app("DecloudGapFilling", {**base, "nodata": 0, "out": tmp_path / "b.tif"})
    assert run.returncode == 0, run.output



def test_output_format_without_band_descriptions_is_still_written(scene, tmp_path):
    """A PNG cannot be updated: the band names stay metadata items, with a warning; the output is written."""
    out = tmp_path / "gf.png"
    run = run_app("DecloudGapFilling", {"il": [scene["tm1"], scene["tp1"]], "dates": ["2022-06-10", "2022-06-24"],
                                        "date": "2022-06-17", "out": [out, "uint8"]})
    assert run.returncode == 0, run.output
    assert "has no band descriptions: band names are left as BandName metadata items" in run.output
    assert read_array(out).shape == (ROWS, COLS, 4)

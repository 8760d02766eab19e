"""One error hierarchy (issue 14, item 6): an OTB application's failure is an :class:`OTBAppError` naming the app
(and the parameter or input at fault when known) with pyotb's exception chained, of the class its callers already
catch (an input of the user: a DecloudInputError; a write: a DecloudIOError), and the ``decloud`` command still
prints it as one line (the chained cause only with ``-v``)."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from conftest import MSOP_MODEL, ORIGIN
from decloud.atomic import app_error, write_app
from decloud.errors import (
    DecloudError,
    DecloudInputError,
    DecloudIOError,
    DecloudKeyError,
    OTBAppError,
    OTBAppInputError,
    OTBAppIOError,
)
from decloud.infer import decloud_app
from decloud.otbenv import app_environment, pyotb
from decloud.raster import write_geotiff
from decloud.synthetic import s2_like


def decloud(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "decloud.cli", *map(str, args)], capture_output=True, text=True,
                          env=app_environment(), timeout=300)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """t-1 and t+1 (small generated S2 images), and a t that is no image."""
    d = tmp_path_factory.mktemp("images")
    paths = {name: write_geotiff(d / f"{name}.tif", np.rint(s2_like(32, 32, seed=k)).astype(np.int16),
                                 origin=ORIGIN, spacing=(10.0, -10.0), nodata=-10000)
             for k, name in enumerate(("tm1", "tp1"))}
    (d / "t.tif").write_text("not an image\n")
    return {"t": d / "t.tif", **paths}


def test_the_hierarchy():
    """Each subclass is what its callers catch; none is a RuntimeError (GDAL's, caught by callers as such)."""
    assert issubclass(OTBAppInputError, DecloudInputError) and issubclass(OTBAppInputError, ValueError)
    assert issubclass(OTBAppIOError, DecloudIOError) and issubclass(OTBAppIOError, OSError)
    for cls in (OTBAppError, OTBAppInputError, OTBAppIOError):
        assert issubclass(cls, DecloudError) and issubclass(cls, OTBAppError) and not issubclass(cls, RuntimeError)
        error = cls("s2.t: cannot read it", app="DecloudInfer", key="s2.t")
        copy = pickle.loads(pickle.dumps(error))  # as Dask sends it back from a worker
        assert (type(copy), str(copy), copy.app, copy.key) == (cls, "s2.t: cannot read it", "DecloudInfer", "s2.t")


def test_an_app_failure_names_the_app_and_chains_the_cause(images):
    inputs = {"s2_t": images["t"], "s2_tm1": images["tm1"], "s2_tp1": images["tp1"]}
    with pytest.raises(OTBAppInputError) as raised:
        decloud_app(inputs, model=MSOP_MODEL)
    error = raised.value
    assert error.app == "DecloudInfer" and error.key is None
    assert isinstance(error.__cause__, RuntimeError)
    assert str(error) == app_error(error.__cause__)  # the message is OTB's own line, as before
    assert str(error).startswith("DecloudInfer: ") and str(images["t"]) in str(error)

    # the crop of an input (ExtractROI in memory before the app) names that input's key
    with pytest.raises(OTBAppInputError, match=r"^s2\.t: ") as raised:
        decloud_app(inputs, model=MSOP_MODEL, bbox=(ORIGIN[0], ORIGIN[1] - 100, ORIGIN[0] + 100, ORIGIN[1]))
    assert (raised.value.app, raised.value.key) == ("ExtractROI", "s2.t")
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_an_unknown_date_role_is_a_key_error_naming_the_valid_ones(images):
    with pytest.raises(DecloudKeyError, match=r"^unknown date role 'date_t'; date roles: s2_timestamp_t, "):
        decloud_app({"s2_tm1": images["tm1"]}, model=MSOP_MODEL, dates={"date_t": "2022-06-02"})


def test_a_failed_write_is_an_otb_app_io_error_naming_the_app(images, tmp_path):
    app = pyotb().BandMathX({"il": [str(images["tm1"])], "exp": "im1b1"})
    out = tmp_path / "no such folder" / "out.tif"
    with pytest.raises(OTBAppIOError, match=rf"^{out}: writing failed: ") as raised:
        write_app(app, out, pixel_type="int16")
    assert raised.value.app == "BandMathX" and isinstance(raised.value, DecloudIOError)
    assert not out.parent.exists()


def test_the_cli_prints_an_app_failure_as_one_line(images, tmp_path):
    with pytest.raises(OTBAppError) as raised:
        decloud_app({"s2_t": images["t"], "s2_tm1": images["tm1"], "s2_tp1": images["tp1"]}, model=MSOP_MODEL)
    args = ["infer", tmp_path / "out.tif", "--model", MSOP_MODEL, "--s2-t", images["t"], "--s2-tm1", images["tm1"],
            "--s2-tp1", images["tp1"]]
    run = decloud(*args)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "direct cause" not in run.stderr, run.stderr
    assert [line for line in run.stderr.splitlines() if line.startswith("decloud ")] == \
        [f"decloud infer: error: {raised.value}"]
    assert list(tmp_path.iterdir()) == []

    verbose = decloud("-v", *args)  # -v: the traceback, with pyotb's exception as the cause
    assert verbose.returncode != 0
    assert "The above exception was the direct cause of the following exception" in verbose.stderr
    assert "decloud.errors.OTBAppInputError: DecloudInfer: " in verbose.stderr

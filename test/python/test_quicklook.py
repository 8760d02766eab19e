"""Quick-looks: stretched on valid clear pixels, panels over one extent, a title per panel (real GeoTIFFs and PNGs,
the decloud command with the msop model)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import MSOP_MODEL, ORIGIN
from decloud.errors import DecloudInputError
from decloud.otbenv import app_environment
from decloud.raster import TITLE_HEIGHT, geotransform, read_array, read_like, write_geotiff, write_quicklook
from decloud.synthetic import s2_like
from scipy import ndimage

NODATA = -10000


def landscape(rows=64, cols=80, seed=1):
    """Land reflectances (~300-3000), a nodata corner, a bright cloud (9000) and its mask."""
    image = np.rint(s2_like(rows, cols, seed=seed, clouds=False)).astype(np.int16)
    y, x = np.mgrid[0:rows, 0:cols]
    cloud = np.hypot(x - 50, y - 30) < 15
    image[cloud] = 9000
    image[:20, :20] = NODATA
    return image, cloud


def png(path):
    return read_array(path)


def test_stretch_on_valid_clear_pixels(tmp_path):
    """Nodata and clouds do not take part in the stretch: the land spans the grey levels instead of being a
    nearly white (or black) flat image; nodata is black."""
    image, cloud = landscape()
    rgb = image[:, :, [2, 1, 0]]
    land = ~cloud & (image != NODATA).all(-1)
    clear = png(write_quicklook(tmp_path / "clear.png", [rgb], clear=~cloud))
    assert clear.shape == image.shape[:2] + (3,)
    levels = clear[land]
    assert 60 < levels.mean() < 190 and levels.std() > 30  # spread, not saturated
    assert (clear[cloud] == 255).all()  # the cloud above the stretch: white
    assert (clear[:20, :20] == 0).all()  # nodata: black
    # Without the cloud mask the cloud's pixels take part in the high cut: the land is much darker.
    anyway = png(write_quicklook(tmp_path / "any.png", [rgb]))
    assert anyway[land].mean() < levels.mean() - 100
    # Nodata never does: with it in the percentiles, the low cut would be -10000 and the land nearly white.
    assert (anyway[land] < 128).mean() > 0.9


def test_all_panels_stretched_like_one(tmp_path):
    image, cloud = landscape()
    brighter = np.where(image == NODATA, NODATA, image * 2).astype(np.int16)
    out = png(write_quicklook(tmp_path / "q.png", [image[:, :, :3], brighter[:, :, :3]], gap=4, clear=~cloud))
    cols = image.shape[1]
    assert out.shape == (image.shape[0], 2 * cols + 4, 3)
    first, second = out[:, :cols], out[:, cols + 4:]
    land = ~cloud & (image != NODATA).all(-1)
    assert second[land].mean() > first[land].mean() + 40  # same limits: the brighter panel is brighter
    assert (out[:, cols:cols + 4] == 255).all()  # the gap


def test_titles_are_drawn_above_each_panel(tmp_path):
    image, _ = landscape()
    rgb = image[:, :, :3]
    plain = png(write_quicklook(tmp_path / "plain.png", [rgb, rgb]))
    labelled = png(write_quicklook(tmp_path / "labelled.png", [rgb, rgb], titles=["input", "output"]))
    rows, cols = image.shape[:2]
    assert labelled.shape == (rows + TITLE_HEIGHT, plain.shape[1], 3)
    assert np.array_equal(labelled[TITLE_HEIGHT:], plain)  # the panels are unchanged, below the titles
    for k in range(2):
        strip = labelled[:TITLE_HEIGHT, k * (cols + 8): k * (cols + 8) + cols]
        assert (strip < 128).sum() > 20  # dark text on white
    left = labelled[:TITLE_HEIGHT, :cols]
    right = labelled[:TITLE_HEIGHT, cols + 8:2 * cols + 8]
    assert not np.array_equal(left, right)  # two different titles
    with pytest.raises(DecloudInputError, match="1 titles for 2 panels"):
        write_quicklook(tmp_path / "x.png", [rgb, rgb], titles=["one"])


def test_panels_of_different_extents_are_refused(tmp_path):
    image, _ = landscape()
    with pytest.raises(DecloudInputError, match=r"different sizes \(40x50, 64x80 rows x cols\).*read_like"):
        write_quicklook(tmp_path / "x.png", [image[:, :, :3], image[:40, :50, :3]])
    assert not (tmp_path / "x.png").exists()


def test_read_like_reads_over_the_reference_extent(tmp_path):
    image, _ = landscape()
    src = write_geotiff(tmp_path / "src.tif", image, origin=ORIGIN, spacing=(10.0, -10.0), nodata=NODATA)
    # A reference 30 x 20 pixels from pixel (col 70, row 10): 10 columns beyond the source's right edge.
    ref = write_geotiff(tmp_path / "ref.tif", np.zeros((20, 30), np.uint8),
                        origin=(ORIGIN[0] + 700, ORIGIN[1] - 100), spacing=(10.0, -10.0))
    got = read_like(src, ref)
    assert got.shape == (20, 30, 4) and got.dtype == np.int16
    assert np.array_equal(got[:, :10], image[10:30, 70:80])
    assert (got[:, 10:] == NODATA).all()
    other = write_geotiff(tmp_path / "20m.tif", np.zeros((5, 5), np.uint8), origin=ORIGIN, spacing=(20.0, -20.0))
    with pytest.raises(DecloudInputError, match="not on one grid"):
        read_like(src, other)


def test_decloud_infer_quicklook_with_bbox_shows_one_extent(tmp_path):
    """decloud infer --bbox --quicklook: the input panel is s2.t over the output's (cropped) extent, labelled."""
    rows, cols = 96, 128
    t = np.rint(s2_like(rows, cols, seed=1, clouds=False)).astype(np.int16)
    y, x = np.mgrid[0:rows, 0:cols]
    cloud = (np.hypot(x - 70, y - 50) < 22).astype(np.uint8)
    t[cloud.astype(bool)] = 8000

    def write(name, array, nodata=NODATA):
        return write_geotiff(tmp_path / name, array, origin=ORIGIN, spacing=(10.0, -10.0), nodata=nodata)

    paths = {"t": write("t.tif", t), "mask": write("cloud.tif", cloud, None),
             "tm1": write("tm1.tif", np.rint(s2_like(rows, cols, seed=2, clouds=False)).astype(np.int16)),
             "tp1": write("tp1.tif", np.rint(s2_like(rows, cols, seed=3, clouds=False)).astype(np.int16))}
    x0, y0 = ORIGIN
    bbox = (x0 + 200, y0 - 800, x0 + 1000, y0 - 200)  # columns 20-100, rows 20-80
    out = tmp_path / "out.tif"
    proc = subprocess.run([sys.executable, "-m", "decloud.cli", "infer", str(out), "--model", str(MSOP_MODEL),
                           "--s2-t", str(paths["t"]), "--s2-tm1", str(paths["tm1"]), "--s2-tp1", str(paths["tp1"]),
                           "--mask", str(paths["mask"]), "--bbox", *map(str, bbox), "--quicklook", "--padding", "16",
                           "--tile", "64"], capture_output=True, text=True, env=app_environment(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    quicklook = png(out.with_suffix(".png"))
    gt = geotransform(out)
    col, row = round((gt[0] - x0) / 10), round((y0 - gt[3]) / 10)
    rows_out, cols_out = read_array(out).shape[:2]
    assert (col, row) == (20, 20) and 60 <= rows_out <= 61 and 80 <= cols_out <= 81  # ExtractROI's extent rule
    assert quicklook.shape == (rows_out + TITLE_HEIGHT, 2 * cols_out + 8, 3)
    shown_input = quicklook[TITLE_HEIGHT:, :cols_out]
    # The input panel is s2.t's window under the box: the cloud disc where the mask says, in the same place.
    disc = cloud[row:row + rows_out, col:col + cols_out].astype(bool)
    assert (shown_input[disc] == 255).all()
    assert shown_input[~disc].mean() < 200
    # Clear pixels are kept by the app: the two panels agree there.
    output_panel = quicklook[TITLE_HEIGHT:, cols_out + 8:]
    far = ~ndimage.binary_dilation(disc, np.ones((3, 3), bool), iterations=12)  # beyond the 10-pixel transition
    assert np.array_equal(shown_input[far], output_panel[far])
    assert (quicklook[:TITLE_HEIGHT] < 128).sum() > 40
    assert np.array_equal(read_like(paths["t"], out), t[row:row + rows_out, col:col + cols_out])

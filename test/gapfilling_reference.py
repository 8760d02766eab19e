"""The expected DecloudGapFilling output on the engine fixtures (``python -m decloud.testing.testdata DIR``), in numpy,
with the holes rule: per pixel, the linear gap-filling at 2022-06-13 of the clear dates that have data (2022-06-10 and
2022-06-20, rounded half up); where no date with data is clear, the same over the dates with data (cloudy or not);
nodata only where no date has data.

    python test/gapfilling_reference.py DIR     writes DIR/expected_gapfilling_holes.tif
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from decloud import raster

NODATA = -10000


def main(folder: Path) -> None:
    a, b = (raster.read_array(folder / f"s2_{k}.tif").astype(np.float64) for k in "ab")
    clouds = [raster.read_array(folder / f"cloud_{k}.tif")[:, :, 0] for k in "ab"]
    data_a, data_b = (np.all(x != NODATA, -1) for x in (a, b))
    clear_a, clear_b = data_a & (clouds[0] == 0), data_b & (clouds[1] == 0)
    use_a = np.where(clear_a | clear_b, clear_a, data_a)[:, :, None]
    use_b = np.where(clear_a | clear_b, clear_b, data_b)[:, :, None]
    mixed = np.floor(a + 0.3 * (b - a) + 0.5)  # 2022-06-13 is 3 of the 10 days from a to b
    expected = np.where(use_a & use_b, mixed, np.where(use_a, a, np.where(use_b, b, NODATA))).astype(np.int16)
    origin = raster.geotransform(folder / "s2_a.tif")
    raster.write_geotiff(folder / "expected_gapfilling_holes.tif", expected, origin=(origin[0], origin[3]),
                         spacing=(origin[1], origin[5]), nodata=NODATA)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))

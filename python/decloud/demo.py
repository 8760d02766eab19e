"""The demo: a cloudy Sentinel-2 date cleaned by the shipped network and by the gap-filling, side by side.

Scenes:
- ``real`` (default): real Sentinel-2 images shipped with the package (``demo_data/bolzano-west-south``, a crop of
  the TEST split of the shipped model, never trained on; attribution in ``demo_data/ATTRIBUTION.md``): the real
  clouds (and shadows) of 2022-06-02 pasted on the clear 2022-06-20 under their Sen2Cor mask, t-1 = 2022-06-15 and
  t+1 = 2022-06-25, scored against the real 2022-06-20 on the pasted pixels (the protocol of ``decloud benchmark``).
- ``generated``: a parcelled landscape at t-1, t, t+1 (``synthetic.landscape_series``: crops growing, some
  harvested between t-1 and t), t made cloudy with soft-edged clouds (and mask); any size (tests use it).
- ``series=FOLDER``: any folder of dated stacks (``S2_L2A_YYYYMMDD_B2B3B4B8.tif`` + SCL/CLM), e.g.
  ../shared/data/bolzano-west: the first scenario of the protocol with a partly cloudy date.

Runs, through pyotb and the module's apps: ``DecloudInfer`` (shipped model, cloud mask and dates of t: clear
pixels kept) and ``DecloudGapFilling``; writes their GeoTIFFs, ``quicklook.png`` (cloudy input | gap-filling |
network | reference) and ``metrics.md`` (PSNR / SSIM / SAM on the cloudy pixels).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np

from . import raster, scenarios, synthetic
from .atomic import app_failure
from .errors import DecloudInputError
from .infer import default_model, infer, write_atomically
from .metrics import scores
from .otbenv import pyotb

log = logging.getLogger(__name__)
ORIGIN = (674990.0, 5154960.0)
NODATA = -10000
DEMO_DATA = Path(__file__).resolve().parent / "demo_data" / "bolzano-west-south"
Scene = Literal["real", "generated"]


@dataclass(frozen=True)
class DemoResult:
    scene: str
    network: Path
    gapfilling: Path
    quicklook: Path
    metrics: Path
    table: str
    scores: dict  # name -> metrics.Scores on the cloudy pixels
    seconds: dict  # app -> wall time


def _write(path: Path, array: np.ndarray, nodata=NODATA) -> Path:
    return raster.write_geotiff(path, array, origin=ORIGIN, spacing=(10.0, -10.0), nodata=nodata)


def generated_scene(out_dir: Path, size: int) -> dict:
    """A parcelled landscape at t-1, t, t+1 (crops growing, some harvested before t), clouds on t with their
    mask; the clear t is the reference. int16 GeoTIFFs in Decloud's encoding."""
    series = synthetic.landscape_series(size, seed=42)
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:size, 0:size]
    cover = np.zeros((size, size))
    for _ in range(max(2, size // 100)):
        cx, cy, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(size / 14, size / 7)
        cover = np.maximum(cover, np.clip(1.6 - np.hypot(x - cx, y - cy) / r, 0, 1))
    cloudy = series["t"] * (1 - cover[:, :, None]) + 7000 * cover[:, :, None]
    as_int = lambda a: np.clip(np.rint(a), 1, 10000).astype(np.int16)  # noqa: E731
    mask = cover > 0.02
    paths = {"reference": _write(out_dir / "s2_t_reference.tif", as_int(series["t"])),
             "t": _write(out_dir / "s2_t_cloudy.tif", as_int(cloudy)),
             "mask": _write(out_dir / "cloud_t.tif", mask.astype(np.uint8), nodata=None),
             "tm1": _write(out_dir / "s2_tm1.tif", as_int(series["tm1"])),
             "tp1": _write(out_dir / "s2_tp1.tif", as_int(series["tp1"]))}
    return {"paths": paths, "dates": {"tm1": "2022-06-12", "t": "2022-06-17", "tp1": "2022-06-22"},
            "scored": mask, "label": f"generated {size} x {size} parcelled landscape"}


def _day(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%d")


def series_scene(out_dir: Path, folder: Path, *, reference: str | None = None, cloudy: str | None = None,
                 mask: scenarios.MaskSource = "auto") -> dict:
    """Real clouds of a cloudy date pasted on a clear one (``scenarios.build_scene``); by default the first
    scenario of the protocol whose cloudy date is partly cloudy."""
    series = scenarios.load_series(folder, mask=mask)
    plans = scenarios.plan_scenarios(series, full_per_reference=0)
    if reference or cloudy:
        plans = [p for p in plans if (reference is None or series.dates[p.reference].isoformat() == reference)
                 and (cloudy is None or series.dates[p.cloudy].isoformat() == cloudy)]
    if not plans:
        raise DecloudInputError(f"{folder}: no scenario (a clear date with clear neighbours within 30 days and a "
                                f"partly cloudy date{' matching the dates asked' if reference or cloudy else ''})")
    scene = scenarios.build_scene(series, plans[0])
    gt = series.geotransform

    def write(name: str, array: np.ndarray, nodata=NODATA) -> Path:
        return raster.write_geotiff(out_dir / name, array, origin=(gt[0], gt[3]), spacing=(gt[1], gt[5]),
                                    nodata=nodata, projection=series.projection)

    paths = {"reference": write("s2_t_reference.tif", scene.reference), "t": write("s2_t_cloudy.tif", scene.t),
             "mask": write("cloud_t.tif", scene.cloud.astype(np.uint8), None),
             "tm1": write("s2_tm1.tif", scene.tm1), "tp1": write("s2_tp1.tif", scene.tp1)}
    dates = {k: _day(v) for k, v in scene.timestamps.items()}
    return {"paths": paths, "dates": dates, "scored": scene.scored,
            "label": f"{series.name}: {scene.label.split(' ', 1)[1]} (real clouds of C pasted on the clear T)"}


def run_demo(out_dir: str | Path, *, scene: Scene = "real", size: int = 512, series: str | Path | None = None,
             model: str | Path | None = None) -> DemoResult:
    """Run the demo into ``out_dir`` (created); returns what was written and the scores. ``series``: a folder of
    dated stacks to take the scene from instead (see the module doc)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if series is not None:
        made = series_scene(out_dir, Path(series))
    elif scene == "real":
        made = series_scene(out_dir, DEMO_DATA, reference="2022-06-20", cloudy="2022-06-02", mask="scl")
        made["label"] += "; a crop of the model's test split, never trained on"
    else:
        made = generated_scene(out_dir, size)
    p, dates = made["paths"], made["dates"]
    model_dir = Path(model) if model else default_model()

    seconds = {}
    start = time.perf_counter()
    network = infer(out_dir / "decloud_network.tif", {"s2_t": p["t"], "s2_tm1": p["tm1"], "s2_tp1": p["tp1"]},
                    model=model_dir, mask=p["mask"], dates=_dates_for(model_dir, dates))
    seconds["DecloudInfer"] = time.perf_counter() - start
    start = time.perf_counter()
    try:
        gapfilling_app = pyotb().DecloudGapFilling({"il": [str(p["tm1"]), str(p["tp1"])],
                                                    "dates": [dates["tm1"], dates["tp1"]], "date": dates["t"]})
    except Exception as e:  # pyotb wraps the app's one-line FATAL in a RuntimeError
        raise app_failure(e, "DecloudGapFilling") from e
    gapfilling = write_atomically(gapfilling_app, out_dir / "decloud_gapfilling.tif", pixel_type="int16")
    seconds["DecloudGapFilling"] = time.perf_counter() - start

    arrays = {name: raster.read_array(path) for name, path in
              (("cloudy input", p["t"]), ("gap-filling", gapfilling), ("network", network),
               ("reference", p["reference"]))}
    cloudy = made["scored"]
    results = {name: scores(arrays[name], arrays["reference"], cloudy)
               for name in ("cloudy input", "gap-filling", "network")}
    lines = [f"# Decloud demo: {made['label']}", "", f"Model: {model_dir.name}.", "",
             f"Scores on the {int(cloudy.sum())} cloudy pixels of t (reflectance x 10000; SAM in radians).", "",
             "| image | PSNR (dB) | SSIM | SAM | MSE |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {s.psnr:.2f} | {s.ssim:.4f} | {s.sam:.4f} | {s.mse:.1f} |" for n, s in results.items()]
    lines += ["", "Wall time: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()), ""]
    table = "\n".join(lines)
    metrics = out_dir / "metrics.md"
    metrics.write_text(table)
    names = ("cloudy input", "gap-filling", "network", "reference")
    quicklook = raster.write_quicklook(out_dir / "quicklook.png", [arrays[n][:, :, [2, 1, 0]] for n in names],
                                       titles=names, stretch_from=3)
    log.info("demo written to %s", out_dir)
    return DemoResult(made["label"], network, gapfilling, quicklook, metrics, table, results, seconds)


def _dates_for(model_dir: Path, dates: dict[str, str]) -> dict[str, str]:
    """The dates the model's card asks for (``s2_timestamp_<d>`` roles), from the scene's."""
    from .infer import required_roles  # noqa: PLC0415

    return {r: dates[r.rsplit("_", 1)[1]] for r in required_roles(model_dir)["dates"]}

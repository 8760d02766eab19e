"""Benchmark: holes in the inputs (issue 17): the output is nodata only where no date has data, and holes in a
neighbour move the network's reconstruction no more than they move the gap-filling's.

On real dates (../shared/data/bolzano-west, test part, when present; else the real crop shipped with the package
for the demo, said in the output): the real clouds of 2022-06-02 pasted on the clear 2022-06-20, t-1 = 06-15,
t+1 = 06-25. Runs DecloudInfer (default model, or --model) and DecloudGapFilling on:
  clean     the inputs as they are;
  holes20   20 % scattered nodata pixels in t-1;
  mixed     a swath edge in t-1, clusters of defective pixels in t+1, 10 % scattered pixels in t, and a stripe
            where all three dates are nodata.
Prints ``name: value`` lines:
  excess_nodata_share   (mixed) share of output nodata pixels minus the share of pixels where no date has data
  hole_shift_ratio      mean |network(holes20) - network(clean)| on the cloudy pixels of t, divided by the same
                        change for DecloudGapFilling
  network_shift, gapfilling_shift   those two mean changes (reflectance x 10000)
  mixed_gain_db         network PSNR minus gap-filling PSNR on the scored pixels, mixed case
  network_share, fallback_share   (mixed) shares of the pixels where DecloudInfer's provenance output (-outprov)
                        says network (2) and gap-filling or single-date fallback (3, 4); kept_share (1: clear
                        pixels of t kept) and nodata_share (0) complete them
  source, pixels, seconds

    python bench/robustness.py [--quick] [--model DIR] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OTB_LOGGER_LEVEL", "WARNING")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from decloud import metrics
from decloud.benchmark import Model, run_gapfilling_app, run_model, stdout_to_stderr, write_scene
from decloud.demo import DEMO_DATA
from decloud.infer import default_model
from decloud.scenarios import NODATA, SPLITS, Scenario, Scene, build_scene, load_series

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def scene_and_series(data: Path, quick: bool):
    if (data / "bolzano-west").is_dir():
        series = load_series(data / "bolzano-west", mask="scl")
        part, _ = SPLITS["bolzano-west"].test(series)
        source = "../shared/data/bolzano-west (test part)"
    else:
        part = load_series(DEMO_DATA, mask="scl")
        source = "demo crop shipped with the package (../shared/data absent)"
    if quick:
        part = part.crop(slice(0, 192), slice(0, 256))
    idx = {d.isoformat(): i for i, d in enumerate(part.dates)}
    sc = Scenario(idx["2022-06-20"], idx["2022-06-02"], idx["2022-06-15"], idx["2022-06-25"])
    return part, build_scene(part, sc), source


def with_holes(scene, rng, kind: str):
    s = Scene(scene.t.copy(), scene.cloud.copy(), scene.tm1.copy(), scene.tp1.copy(),
              dict(scene.timestamps), scene.reference, scene.scored.copy(), scene.label)
    h, w = s.t.shape[:2]
    if kind == "holes20":
        s.tm1[rng.random((h, w)) < 0.2] = NODATA
    else:
        rows, cols = np.mgrid[0:h, 0:w]
        s.tm1[cols + 0.3 * rows > 0.8 * w] = NODATA                      # swath edge
        for _ in range(6):                                                # defective clusters
            r, c = rng.integers(h), rng.integers(w)
            s.tp1[max(0, r - 6):r + 6, max(0, c - 9):c + 9] = NODATA
        s.t[rng.random((h, w)) < 0.1] = NODATA                            # scattered
        for a in (s.t, s.tm1, s.tp1):
            a[h // 2:h // 2 + 5] = NODATA                                 # no date has data
    return s


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a 256 x 192 crop")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--data", type=Path, default=DATA)
    args = p.parse_args()
    start = time.perf_counter()
    series, clean, source = scene_and_series(args.data, args.quick)
    from decloud.benchmark import load_models  # noqa: PLC0415

    model: Model = load_models([args.model or default_model()])[0]
    rng = np.random.default_rng(0)
    from datetime import datetime, timezone  # noqa: PLC0415

    dates = {k: datetime.fromtimestamp(v, tz=timezone.utc).strftime("%Y-%m-%d") for k, v in clean.timestamps.items()}
    out = {}
    with tempfile.TemporaryDirectory() as tmp, stdout_to_stderr():
        for name, scene in (("clean", clean), ("holes20", with_holes(clean, rng, "holes20")),
                            ("mixed", with_holes(clean, rng, "mixed"))):
            folder = Path(tmp) / name
            paths = write_scene(folder, scene, series)
            out[name] = (scene, run_model(model, paths, dates, folder / "net.tif"),
                         run_gapfilling_app(paths, dates, folder / "gf.tif"))
            if name == "mixed":  # the provenance of the same run, from the app (-outprov)
                from decloud.infer import infer  # noqa: PLC0415
                from decloud.raster import read_array  # noqa: PLC0415

                roles = {r: paths[r[3:]] for r in ("s2_t", "s2_tm1", "s2_tp1") if r in model.roles}
                infer(folder / "net_prov.tif", roles, model=model.path, mask=paths["mask"],
                      dates={f"s2_timestamp_{d}": dates[d] for d in model.dates}, outprov=folder / "prov.tif")
                provenance = read_array(folder / "prov.tif")[:, :, 0]
    cloudy = clean.cloud & np.all(clean.t != NODATA, -1)
    (_, n0, g0), (_, n1, g1) = out["clean"], out["holes20"]
    ok = cloudy & np.all(n1 != NODATA, -1) & np.all(g1 != NODATA, -1)
    net_shift = float(np.abs(n1[ok].astype(float) - n0[ok]).mean())
    gf_shift = float(np.abs(g1[ok].astype(float) - g0[ok]).mean())
    mixed, nm, gm = out["mixed"]
    no_data_anywhere = np.all(np.stack([np.all(a == NODATA, -1) for a in (mixed.t, mixed.tm1, mixed.tp1)]), 0)
    out_nodata = np.all(nm == NODATA, -1)
    scored = mixed.scored & ~no_data_anywhere
    lines = {
        "excess_nodata_share": float(out_nodata.mean() - no_data_anywhere.mean()),
        "hole_shift_ratio": net_shift / max(gf_shift, 1e-9),
        "network_shift": net_shift,
        "gapfilling_shift": gf_shift,
        "mixed_gain_db": metrics.psnr(nm, mixed.reference, scored) - metrics.psnr(gm, mixed.reference, scored),
        "network_share": float((provenance == 2).mean()),
        "fallback_share": float(np.isin(provenance, (3, 4)).mean()),
        "kept_share": float((provenance == 1).mean()),
        "nodata_share": float((provenance == 0).mean()),
    }
    for k, v in lines.items():
        print(f"{k}: {v:.4f}")
    print(f"model: {model.label}")
    print(f"source: {source}")
    print(f"pixels: {clean.t.shape[0] * clean.t.shape[1]}")
    print(f"seconds: {time.perf_counter() - start:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

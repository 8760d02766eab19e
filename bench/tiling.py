"""Benchmark: how much a model's output depends on how DecloudInfer cuts the scene into tiles.

gfnet's corrections use statistics of each tile (its scene-wide regressions, the analog candidate, the tile's clear
share with ``regimes``), so a large scene cut into tiles is not computed as one piece: neighbouring tiles may
correct a cloud differently (seams). On the test scenarios of the real sets (``decloud.benchmark``'s: real clouds
pasted on a clear date), each model runs through DecloudInfer twice, with ``-tile 1024`` (each scene one tile) and
with ``-tile 128`` (many tiles, as on a large scene), and this prints ``name: value`` lines per model (prefixed by
its folder name, '-' replaced by '_'):

  whole_psnr              mean PSNR on the scored (pasted cloudy) pixels, each scene one tile
  tiled_psnr              the same with 128-pixel tiles
  tiled_minus_whole_db    tiled_psnr - whole_psnr (0: the tiling costs nothing)
  tiling_change_ratio     RMS of (tiled - whole) over RMS of (whole - reference), on the scored pixels, mean over
                          scenarios (0: the tiling changes nothing; 1: it changes the output as much as the error)
  scenarios               scenarios scored (those whose scene is larger than one 128-pixel tile)

    python bench/tiling.py [--model DIR]... [--sets bolzano-west ...] [--max-references N]
    python bench/tiling.py --quick     # bolzano-west, one reference date (under a minute)

Without ``--model``, the shipped default model. Exits with status 2 and one line when the data folder is absent.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OTB_LOGGER_LEVEL", "WARNING")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

import numpy as np
from decloud.benchmark import load_models, plan_set, stdout_to_stderr, write_scene
from decloud.errors import DecloudError
from decloud.metrics import psnr
from decloud.scenarios import build_scene

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = ("bolzano-west", "greenearthnet-portugal", "greenearthnet-sweden")  # belgium-a's 64-pixel scenes: one tile
WHOLE, TILED = 1024, 128


def key(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_")


def run(model, paths: dict, dates: dict, out: Path, tile: int) -> np.ndarray:
    from decloud.infer import infer  # noqa: PLC0415
    from decloud.raster import read_array  # noqa: PLC0415

    inputs = {role: paths[role[3:]] for role in ("s2_t", "s2_tm1", "s2_tp1") if role in model.roles}
    infer(out, inputs, model=model.path, mask=paths["mask"] if model.takes_t else None,
          dates={f"s2_timestamp_{d}": dates[d] for d in model.dates}, tile=tile)
    return read_array(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--model", action="append", default=[], metavar="DIR")
    p.add_argument("--sets", nargs="+", default=list(SETS))
    p.add_argument("--max-references", type=int, default=None, help="fewer scenarios per set")
    p.add_argument("--quick", action="store_true", help="bolzano-west, one reference date")
    args = p.parse_args(argv)
    if args.quick:
        args.sets, args.max_references = ["bolzano-west"], 1
    if not args.data.is_dir():
        print(f"bench/tiling.py: {args.data}: real data is absent (the real sets of ../shared/data)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        models = load_models(args.model or None)
        plans = [plan_set(args.data / name, max_references=args.max_references) for name in args.sets]
    except DecloudError as e:
        print(f"bench/tiling.py: {e}", file=sys.stderr)
        return 2
    scores: dict[str, list[tuple[float, float, float]]] = {m.label: [] for m in models}
    with tempfile.TemporaryDirectory(prefix="decloud-tiling-") as tmp:
        for plan in plans:
            for sc in plan.scenarios:
                scene = build_scene(plan.series, sc)
                if max(scene.t.shape[:2]) <= TILED or not scene.scored.any():
                    continue
                d = plan.series.dates
                dates = {"t": d[sc.reference].isoformat(), "tm1": d[sc.before].isoformat(),
                         "tp1": d[sc.after].isoformat()}
                folder = Path(tmp) / plan.name / f"T{d[sc.reference]:%Y%m%d}_C{d[sc.cloudy]:%Y%m%d}"
                paths = write_scene(folder, scene, plan.series)
                s, ref = scene.scored, scene.reference
                for m in models:
                    with stdout_to_stderr():
                        whole = run(m, paths, dates, folder / f"{m.label}-whole.tif", WHOLE)
                        tiled = run(m, paths, dates, folder / f"{m.label}-tiled.tif", TILED)
                    w, t, r = (a[s].astype(np.float64) for a in (whole, tiled, ref))
                    change = np.sqrt(np.mean((t - w) ** 2)) / max(np.sqrt(np.mean((w - r) ** 2)), 1e-9)
                    scores[m.label].append((psnr(whole, ref, s), psnr(tiled, ref, s), change))
                print(f"{plan.name} {dates['t']} C={d[sc.cloudy]}: done", file=sys.stderr, flush=True)
    for label, rows in scores.items():
        a = np.array(rows)
        prefix = f"{key(label)}_" if args.model else ""
        print(f"{prefix}whole_psnr: {a[:, 0].mean():.3f}")
        print(f"{prefix}tiled_psnr: {a[:, 1].mean():.3f}")
        print(f"{prefix}tiled_minus_whole_db: {a[:, 1].mean() - a[:, 0].mean():.3f}")
        print(f"{prefix}tiling_change_ratio: {a[:, 2].mean():.3f}")
        print(f"{prefix}scenarios: {len(a)}")
    print(f"seconds: {time.perf_counter() - start:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

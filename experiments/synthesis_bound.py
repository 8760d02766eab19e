"""How much can ONE image per month gain over the median composite on issue 16's protocol? (an analysis, issue 16)

``bench/synthesis.py`` scores the synthesis of a month on each clear date of the month in turn (the reference,
withheld from the inputs). Whatever a synthesis does, it is one image for the period; what it can reach is bounded
by images that know the references. On the same cases and pixels as the benchmark's median (the reference's clear
pixels where the median has a value), per reference:

  median        the benchmark's median composite of the picked inputs (the reference withheld)
  mean          the per-pixel mean of the clear observations of the picked inputs
  oracle_loo    the per-pixel mean of the month's OTHER references (the clear dates, each on its clear pixels;
                the median where none): a perfect clear-date average that never sees this reference
  oracle_w      per band, the least-squares weights of the picked inputs fitted ON the reference (where it and
                every input are clear; the cases with 1000 such pixels): what a weighting of the inputs that knew
                the reference's date and sky could reach (an upper bound, not a method)

Prints ``<name>_psnr`` (mean over references, dB) and ``<name>_vs_median_db`` lines, per set too.

    python experiments/synthesis_bound.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from decloud import metrics
from decloud.scenarios import NODATA, SPLITS, find_sets, load_series, synthesis_cases
from decloud.synthesis import median_composite


def masked_mean(images: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """Per-pixel mean of ``images`` [N, H, W, B] where ``clear`` [N, H, W]; NaN where none."""
    w = clear[..., None].astype(np.float64)
    s = (np.where(clear[..., None], images, 0).astype(np.float64)).sum(0)
    n = w.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / n, np.nan)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = p.parse_args(argv)
    rows = []
    for folder in find_sets(args.data):
        split = SPLITS.get(folder.name)
        series = load_series(folder, mask=split.mask if split else "auto")
        part, is_test = split.test(series) if split else (series, lambda d: True)
        cases = synthesis_cases(part, is_test)
        refs_of = defaultdict(list)
        for c in cases:
            refs_of[c.period.name].append(c.reference)
        clear_all = part.valid & ~part.cloud
        for c in cases:
            ref, inputs = c.reference, c.unique
            images = part.reflectance[inputs]
            clouds = part.cloud[inputs]
            med = median_composite(images, clouds)
            clear_in = clear_all[inputs] & np.all(images != NODATA, axis=-1)
            estimates = {"median": med.astype(np.float64)}
            estimates["mean"] = masked_mean(images, clear_in)
            others = [r for r in refs_of[c.period.name] if r != ref]
            loo = masked_mean(part.reflectance[others], clear_all[others]) if others else np.full(med.shape, np.nan)
            estimates["oracle_loo"] = np.where(np.isnan(loo), med, loo)
            reference = part.reflectance[ref]
            common = clear_all[ref] & np.all(med != NODATA, axis=-1)
            if common.sum() < 100:
                continue
            row = {"set": folder.name}
            for name, est in estimates.items():
                est = np.where(np.isnan(est), NODATA, np.floor(est + 0.5)).astype(np.int16)
                row[name] = metrics.psnr(est, reference, common)
            every = clear_in.all(0) & clear_all[ref]
            if every.sum() >= 1000:  # the oracle weighting, on the pixels where all are clear
                x, y = images[:, every].astype(np.float64), reference[every].astype(np.float64)  # [N, P, B], [P, B]
                fit = np.stack([x[:, :, b].T @ np.linalg.lstsq(x[:, :, b].T, y[:, b], rcond=None)[0]
                                for b in range(y.shape[1])], -1)
                q = lambda a: np.floor(a + 0.5).astype(np.int16)[:, None, :]  # noqa: E731
                row["every"] = {"median": metrics.psnr(q(med[every].astype(np.float64)), q(y)),
                                "oracle_w": metrics.psnr(q(fit), q(y))}
            rows.append(row)
    names = ["median", "mean", "oracle_loo"]
    print(f"references: {len(rows)}")
    for n in names:
        v = np.mean([r[n] for r in rows])
        print(f"{n}_psnr: {v:.3f}")
        print(f"{n}_vs_median_db: {v - np.mean([r['median'] for r in rows]):+.3f}")
    every = [r["every"] for r in rows if "every" in r]
    print(f"oracle_w_references: {len(every)}")
    print(f"oracle_w_vs_median_db: {np.mean([e['oracle_w'] - e['median'] for e in every]):+.3f}")
    for s in dict.fromkeys(r["set"] for r in rows):
        mine = [r for r in rows if r["set"] == s]
        print(f"{s}: " + ", ".join(f"{n} {np.mean([r[n] for r in mine]):.2f}" for n in names)
              + f" ({len(mine)} references)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

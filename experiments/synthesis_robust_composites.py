"""Robust composites against the median on the synthesis benchmark's withheld clear dates (issue 16): how much
room there is above the median composite for a per-pixel statistic of the month's clear observations.

    python experiments/synthesis_robust_composites.py

On the test parts' reference dates of ``bench/synthesis.py`` (its cases; scored on the reference's clear pixels
where every composite has a value), the mean PSNR of: the median composite (``decloud.synthesis``), the mean, a
trimmed mean (the lowest and highest dropped from 4 observations on), Huber means around the median (c = 1 and 2
robust sigmas) and the medoid date (the observation whose spectrum is nearest the median). numpy only, a minute
or two. Prints ``<composite>_psnr`` and ``<composite>_vs_median_db`` lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "python"))

from decloud import metrics  # noqa: E402
from decloud.scenarios import NODATA, SPLITS, load_series, synthesis_cases  # noqa: E402
from decloud.synthesis import median_composite  # noqa: E402
from synthesis import DATA, SETS  # noqa: E402

COMPOSITES = ("median", "mean", "trimmed_mean", "huber_1", "huber_2", "medoid")


def composite(images: np.ndarray, clouds: np.ndarray, how: str) -> np.ndarray:
    """One composite of images [N, H, W, C] (their cloudy pixels [N, H, W] left out); nodata where none is clear."""
    if how == "median":
        return median_composite(images, clouds)
    valid = ~clouds & np.all(images != NODATA, -1)
    x = np.where(valid[..., None], images.astype(np.float64), np.nan)
    count = valid.sum(0)
    with np.errstate(all="ignore"):
        if how == "mean":
            out = np.nanmean(x, 0)
        elif how == "trimmed_mean":
            ordered = np.sort(x, 0)  # NaN last
            out = np.zeros(x.shape[1:])
            for k in range(1, x.shape[0] + 1):
                sel = count == k
                lo, hi = (1, k - 1) if k >= 4 else (0, k)
                if sel.any():
                    out[sel] = np.mean(ordered[lo:hi][:, sel], 0)
        elif how.startswith("huber_"):
            med = np.nanmedian(x, 0)
            sigma = np.nanmedian(np.abs(x - med), 0) * 1.4826 + 50.0  # + 0.005 reflectance: no zero scale
            r = np.abs(x - med) / sigma
            w = np.where(np.isnan(x), 0.0, np.minimum(1.0, float(how[6:]) / np.maximum(r, 1e-9)))
            out = np.nansum(w * np.nan_to_num(x), 0) / np.maximum(w.sum(0), 1e-9)
        elif how == "medoid":
            distance = np.nansum((x - np.nanmedian(x, 0)) ** 2, -1)
            distance[~valid] = np.inf
            nearest = np.argmin(distance, 0)[None, ..., None].repeat(x.shape[-1], -1)
            out = np.take_along_axis(np.nan_to_num(x), nearest, 0)[0]
        else:
            raise ValueError(how)
    return np.where(count[..., None] > 0, out, NODATA)


def main() -> int:
    psnr: dict[str, list[float]] = {h: [] for h in COMPOSITES}
    for name in SETS:
        split = SPLITS[name]
        part, is_test = split.test(load_series(DATA / name, mask=split.mask))
        for case in synthesis_cases(part, is_test):
            ref, inputs = case.reference, case.unique
            outs = {h: composite(part.reflectance[inputs], part.cloud[inputs], h) for h in COMPOSITES}
            common = part.valid[ref] & ~part.cloud[ref]
            for out in outs.values():
                common &= np.all(out != NODATA, -1)
            if common.sum() < 100:
                continue
            for h, out in outs.items():
                psnr[h].append(metrics.scores(out, part.reflectance[ref], common).psnr)
    median = np.array(psnr["median"])
    print(f"references: {len(median)}")
    for h in COMPOSITES:
        a = np.array(psnr[h])
        print(f"{h}_psnr: {np.mean(a):.3f}")
        print(f"{h}_vs_median_db: {np.mean(a - median):+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Would more dates than t-1 and t+1 help? Classical temporal fits through four clear dates, against the linear
gap-filling, on the scored pixels of the protocol's scenarios.

    python experiments/more_dates.py [--part validation|test] [--data ../shared/data]

For each scenario (``validation``: the training parts, ``decloud.scenarios.validation_scenarios``; ``test``: the
test parts) whose t-1 and t+1 have a further clear date beyond them within 45 days (t-2, t+2; ``clear_dates``),
and where the four have data on every scored pixel: per pixel and band,
  - ``lin``: the linear gap-filling from t-1 and t+1 (the reference of the gains);
  - ``wls<k>``: the straight line in time through the four dates, weighted 1 / (|days to t| + k), at t (k 5, 15,
    and 999 for an unweighted fit);
  - ``lin_outer``: 3/4 of the gap-filling + 1/4 of the linear interpolation between t-2 and t+2.
Prints, per set and for t partly / fully (>= 90 %) cloudy, the mean gain over ``lin`` (dB) and the worst.
No parameter is learnt: the training parts are where to choose, the test parts where to check.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def psnr(estimate: np.ndarray, reference: np.ndarray) -> float:
    mse = np.mean(((estimate - reference) / 10000.0) ** 2)
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("validation", "test"), default="validation")
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = p.parse_args(argv)
    from decloud.scenarios import SPLITS, build_scene, clear_dates, load_series, test_scenarios, validation_scenarios  # noqa: PLC0415

    choose = validation_scenarios if args.part == "validation" else test_scenarios
    gains: dict[tuple[str, str, str], list[float]] = {}
    for name, split in SPLITS.items():
        if not (args.data / name).is_dir():
            continue
        series, scenarios = choose(load_series(args.data / name, mask=split.mask), split)
        clear = clear_dates(series)
        days = np.array([d.toordinal() for d in series.dates], float)
        for sc in scenarios:
            b2 = [i for i in clear if 0 < days[sc.before] - days[i] <= 45 and i != sc.reference]
            a2 = [i for i in clear if 0 < days[i] - days[sc.after] <= 45 and i != sc.reference]
            if not b2 or not a2:
                continue
            scene = build_scene(series, sc)
            s = scene.scored
            dates = (max(b2), sc.before, sc.after, min(a2))
            x = [series.reflectance[i][s].astype(np.float64) for i in dates]
            if not s.any() or any((v <= -9999.5).any() for v in x):
                continue
            d = days[list(dates)] - days[sc.reference]
            ref = scene.reference[s].astype(np.float64)
            w = -d[1] / (d[2] - d[1])
            lin = (1 - w) * x[1] + w * x[2]
            out = {}
            for k in (5.0, 15.0, 999.0):
                a = np.stack([np.ones(4), d], 1)
                wk = np.diag(1.0 / (np.abs(d) + k)) if k < 999 else np.eye(4)
                coef = np.linalg.solve(a.T @ wk @ a, a.T @ wk)  # the line's (intercept at t, slope) from the 4
                out[f"wls{int(k)}"] = sum(coef[0, j] * x[j] for j in range(4))
            wo = -d[0] / (d[3] - d[0])
            out["lin_outer"] = 0.75 * lin + 0.25 * ((1 - wo) * x[0] + wo * x[3])
            kind = "full" if scene.cloud.mean() >= 0.9 else "partly"
            base = psnr(lin, ref)
            for method, v in out.items():
                gains.setdefault((name, kind, method), []).append(psnr(v, ref) - base)
    print(f"set, t cloudy, method: scenarios, mean gain over the linear gap-filling / worst (dB); {args.part} part")
    for (name, kind, method), g in sorted(gains.items()):
        print(f"{name} {kind} {method}: {len(g)}, {np.mean(g):+.3f} / {np.min(g):+.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

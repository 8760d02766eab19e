"""Would a fill that depends on what each pixel is help where the linear fits fail? Classical estimates of t under
the pasted clouds, against the linear gap-filling, on the scored pixels of the protocol's scenarios.

    python experiments/analog_fits.py [--part validation|test] [--data ../shared/data]

Per scenario, with y = t - gap-filling and z = (t-1, t+1) (8 values per pixel), fitted on t's clear pixels where
both neighbours have data ("clear"), applied under the clouds:
  - ``band``: the scene-wide per-band regression y ~ a + c1 t-1 + c2 t+1 (gfnet's scene-wide candidate);
  - ``cross``: y on all 8 values of z (gfnet's ``cross_band`` candidate);
  - ``class<K>``: z's pixels in K spectral classes (k-means on the clear pixels, z over its standard deviation),
    ``cross`` fitted within each class (shrunk towards the scene-wide fit), each pixel taking its class's fit;
  - ``analog<k>``: the mean y of the k clear pixels whose z is nearest (Euclidean, z over its standard deviation;
    NSPI's similar pixels without its spatial window);
  - ``analog<k>xy``: the same with the pixel's position among the features (one standard deviation per 50 pixels).
Prints, per set and for t partly / fully (>= 90 %) cloudy, the mean gain over the gap-filling (dB) and the worst,
and the scenarios where the gap-filling + scene-wide per-band fit lost most. No parameter is learnt from the
scores: the training parts are where to choose, the test parts where to check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gfnet_common import scored_scenes  # noqa: E402

NODATA = -10000


def psnr(estimate: np.ndarray, reference: np.ndarray) -> float:
    mse = np.mean(((estimate - reference) / 10000.0) ** 2)
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def linear_fit(z: np.ndarray, y: np.ndarray, ridge: float = 1e-3, prior=None, prior_weight: float = 0.0):
    """Least squares y ~ a + z C (reflectance units, ridge on C), optionally shrunk towards ``prior`` (a, C) as if
    ``prior_weight`` pixels followed it. Returns (a, C)."""
    mz, my = z.mean(0), y.mean(0)
    zc, yc = z - mz, y - my
    n = len(z)
    gram = zc.T @ zc / n + ridge * np.eye(z.shape[1])
    rhs = zc.T @ yc / n
    if prior is not None and prior_weight > 0:
        s = prior_weight / n
        gram = gram + s * ridge * 10 * np.eye(z.shape[1])
        rhs = rhs + s * ridge * 10 * prior[1]
    c = np.clip(np.linalg.solve(gram, rhs), -1.5, 1.5)
    return my - mz @ c, c


def kmeans(x: np.ndarray, k: int, iters: int = 10, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iters):
        lab = np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), 1)
        for j in range(k):
            if (lab == j).any():
                centres[j] = x[lab == j].mean(0)
    return centres


def estimates(scene, ks=(4, 8, 16), analogs=(10, 50)) -> dict[str, np.ndarray] | None:
    t, b, a = (x.astype(np.float64) / 10000.0 for x in (scene.t, scene.tm1, scene.tp1))
    vb, va = np.all(scene.tm1 != NODATA, -1), np.all(scene.tp1 != NODATA, -1)
    both = vb & va
    s = scene.scored & both
    if s.sum() < 50:
        return None
    w = (scene.t_ts - scene.b_ts) / max(scene.a_ts - scene.b_ts, 1)
    gf = (1 - w) * b + w * a
    clear = ~scene.cloud & both & np.all(scene.t != NODATA, -1)
    out = {"gapfilling": gf[s]}
    if clear.sum() < 200:
        return {**out, "mask": s}
    z = np.concatenate([b, a], -1)
    y = t - gf
    zc, yc, zs = z[clear], y[clear], z[s]
    sd = zc.std(0) + 1e-3
    # per band
    band = np.zeros_like(gf[s])
    for k in range(gf.shape[-1]):
        ak, ck = linear_fit(np.stack([zc[:, k], zc[:, k + 4]], 1), yc[:, k:k + 1])
        band[:, k] = (ak + np.stack([zs[:, k], zs[:, k + 4]], 1) @ ck)[:, 0]
    out["band"] = gf[s] + band
    a0, c0 = linear_fit(zc, yc)
    out["cross"] = gf[s] + a0 + zs @ c0
    rng = np.random.default_rng(0)
    sample = zc[rng.choice(len(zc), min(len(zc), 20000), replace=False)] / sd
    for k in ks:
        centres = kmeans(sample, k)
        lab_c = np.argmin((((zc / sd)[:, None, :] - centres[None]) ** 2).sum(-1), 1)
        lab_s = np.argmin((((zs / sd)[:, None, :] - centres[None]) ** 2).sum(-1), 1)
        est = gf[s] + a0 + zs @ c0
        for j in range(k):
            inside = lab_c == j
            if inside.sum() < 30 or not (lab_s == j).any():
                continue
            aj, cj = linear_fit(zc[inside], yc[inside], prior=(a0, c0), prior_weight=50)
            est[lab_s == j] = gf[s][lab_s == j] + aj + zs[lab_s == j] @ cj
        out[f"class{k}"] = est
    tree = cKDTree(zc / sd)
    for k in analogs:
        _, idx = tree.query(zs / sd, k=min(k, len(zc)))
        out[f"analog{k}"] = gf[s] + yc[idx].mean(1)
    yy, xx = np.mgrid[0:t.shape[0], 0:t.shape[1]]
    pos = np.stack([yy, xx], -1).astype(np.float64) / 50.0
    treexy = cKDTree(np.concatenate([zc / sd, pos[clear]], 1))
    for k in analogs:
        _, idx = treexy.query(np.concatenate([zs / sd, pos[s]], 1), k=min(k, len(zc)))
        out[f"analog{k}xy"] = gf[s] + yc[idx].mean(1)
    return {**out, "mask": s}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("validation", "test"), default="validation")
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--sets", nargs="*", default=["bolzano-west", "greenearthnet-portugal", "greenearthnet-sweden",
                                                  "worldcereal-belgium-a"])
    args = p.parse_args(argv)
    gains: dict[tuple[str, str, str], list[float]] = {}
    rows = []
    for name, scene in scored_scenes(args.data, args.sets, args.part):
        scene.t_ts, scene.b_ts, scene.a_ts = (scene.timestamps[k] for k in ("t", "tm1", "tp1"))
        est = estimates(scene)
        if est is None:
            continue
        s = est.pop("mask")
        ref = scene.reference[s].astype(np.float64)
        base = psnr(est["gapfilling"] * 10000.0, ref)
        kind = "full" if scene.cloud.mean() >= 0.9 else "partly"
        g = {m: psnr(v * 10000.0, ref) - base for m, v in est.items() if m != "gapfilling"}
        for m, v in g.items():
            gains.setdefault((name, kind, m), []).append(v)
        rows.append((name, scene.label, int(s.sum()), g))
    print(f"set, t cloudy, method: scenarios, mean gain over the linear gap-filling / worst (dB); {args.part} part")
    for (name, kind, method), g in sorted(gains.items()):
        print(f"{name} {kind} {method}: {len(g)}, {np.mean(g):+.3f} / {np.min(g):+.2f}")
    print("scenarios where the per-band fit lost most:")
    for name, label, n, g in sorted(rows, key=lambda r: r[3].get("band", 0))[:8]:
        print(name, label, n, " ".join(f"{m} {v:+.2f}" for m, v in g.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

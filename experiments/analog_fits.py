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
  - ``analog<k>xy``: the same with the pixel's position among the features (one standard deviation per 50 pixels);
  - ``tf_analog``: gfnet's analog candidate (``decloud.networks.analog_fill``); ``tf_analog_resid``: the per-band
    fit plus the analog of its residual (``--light``: only these three).
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
from gfnet_common import scored_scenes

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


def binned(zc: np.ndarray, yc: np.ndarray, zs: np.ndarray, dims: int = 3, width: float = 0.125, levels: int = 5,
           n0: float = 20.0, shift=None) -> np.ndarray:
    """The mean y of the clear pixels in the same bin as each pixel to fill: bins of the first ``dims`` principal
    components of z (in their standard deviations), ``width`` wide at the finest level, twice as wide at each of
    the ``levels`` coarser ones; a bin with n clear pixels is trusted min(n / n0, 1), the rest from the level
    above (the scene's mean at the top): a pyramid in spectral space."""
    mz = zc.mean(0)
    val, vec = np.linalg.eigh(np.cov((zc - mz).T))
    vec = vec[:, ::-1][:, :dims] / np.sqrt(np.maximum(val[::-1][:dims], 1e-12))
    pc, ps = (zc - mz) @ vec, (zs - mz) @ vec
    if shift is not None:
        pc, ps = pc + shift[:dims], ps + shift[:dims]
    est = np.broadcast_to(yc.mean(0), (len(zs), yc.shape[1])).copy()
    for lev in range(levels - 1, -1, -1):
        w = width * 2 ** lev
        kc, ks = np.floor(pc / w).astype(np.int64), np.floor(ps / w).astype(np.int64)
        lo = np.minimum(kc.min(0), ks.min(0))
        span = np.maximum(kc.max(0), ks.max(0)) - lo + 1
        def key(k, span=span, lo=lo):  # this level's
            out = np.zeros(len(k), np.int64)
            for d in range(dims):
                out = out * span[d] + (k[:, d] - lo[d])
            return out
        uc, inv = np.unique(key(kc), return_inverse=True)
        cnt = np.bincount(inv, minlength=len(uc)).astype(np.float64)
        sums = np.stack([np.bincount(inv, yc[:, j], minlength=len(uc)) for j in range(yc.shape[1])], 1)
        pos = np.searchsorted(uc, key(ks))
        pos = np.minimum(pos, len(uc) - 1)
        hit = uc[pos] == key(ks)
        n = np.where(hit, cnt[pos], 0.0)
        mean = np.where(hit[:, None], sums[pos] / np.maximum(cnt[pos], 1)[:, None], 0.0)
        a = np.minimum(n / n0, 1.0)[:, None]
        est = a * mean + (1 - a) * est
    return est


def kernel(zc: np.ndarray, yc: np.ndarray, zs: np.ndarray, anchors: int, h: float, seed: int = 0) -> np.ndarray:
    """Nadaraya-Watson over ``anchors`` clear pixels drawn at random: the mean y of the anchors weighted by
    exp(-|z - z_i|^2 / 2 h^2) (z in its standard deviations); with an anchor's weight at least exp(-18) of the
    nearest's so that far pixels still take their nearest anchors."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(zc), min(anchors, len(zc)), replace=False)
    za, ya = zc[pick], yc[pick]
    d2 = (zs ** 2).sum(1)[:, None] - 2 * zs @ za.T + (za ** 2).sum(1)[None]
    logw = -(d2 - d2.min(1, keepdims=True)) / (2 * h * h)
    w = np.exp(np.maximum(logw, -18.0))
    return (w @ ya) / w.sum(1, keepdims=True)


def estimates(scene, ks=(4, 8, 16), analogs=(10, 50), light: bool = False) -> dict[str, np.ndarray] | None:
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
    band_all = np.zeros_like(gf)
    for k in range(gf.shape[-1]):
        ak, ck = linear_fit(np.stack([zc[:, k], zc[:, k + 4]], 1), yc[:, k:k + 1])
        band_all[..., k] = (ak + np.stack([z[..., k], z[..., k + 4]], -1) @ ck)[..., 0]
    out["band"] = gf[s] + band_all[s]
    from decloud.networks import analog_fill  # noqa: PLC0415

    weight = clear[None, ..., None].astype(np.float32)
    fill = analog_fill(y[None].astype(np.float32), b[None].astype(np.float32), a[None].astype(np.float32),
                       weight).numpy()[0]
    out["tf_analog"] = gf[s] + fill[s]
    # the analog of the per-band fit's residual: the fit, refined by what similar clear pixels did beyond it
    # (where no bin is trusted, the fit itself)
    fill = analog_fill((y - band_all)[None].astype(np.float32), b[None].astype(np.float32),
                       a[None].astype(np.float32), weight).numpy()[0]
    out["tf_analog_resid"] = gf[s] + band_all[s] + fill[s]
    if light:
        return {**out, "mask": s}
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
    for dims, width, n0 in ((4, 0.25, 20.0), (5, 0.25, 20.0), (6, 0.25, 20.0), (5, 0.5, 10.0)):
        out[f"bins{dims}-{width}-{int(n0)}"] = gf[s] + binned(zc / sd, yc, zs / sd, dims, width, 6, n0)
        grids = 4
        shifts = np.random.default_rng(1).uniform(0, 1, (grids, 8)) * width * 32
        out[f"ash{dims}-{width}-{int(n0)}"] = gf[s] + np.mean(
            [binned(zc / sd, yc, zs / sd, dims, width, 6, n0, sh) for sh in shifts], 0)
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
    p.add_argument("--light", action="store_true",
                   help="only the per-band fit, the analog and the analog of the fit's residual (tf_*)")
    args = p.parse_args(argv)
    gains: dict[tuple[str, str, str], list[float]] = {}
    rows = []
    for name, scene in scored_scenes(args.data, args.sets, args.part):
        scene.t_ts, scene.b_ts, scene.a_ts = (scene.timestamps[k] for k in ("t", "tm1", "tp1"))
        est = estimates(scene, light=args.light)
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

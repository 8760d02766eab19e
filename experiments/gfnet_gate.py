"""Is a gfnet's correction worth its risk far from t's clear pixels? The correction gated by the local clear share.

    python experiments/gfnet_gate.py WEIGHTS.weights.h5 [--option k=v] [--part validation|test] [--tau 0.02 ...]

For each scenario (``validation``: the training parts of the real sets, ``decloud.scenarios.validation_scenarios``;
``test``: the test parts), the network's output y, the in-graph gap-filling g and the share s of t's usable clear
pixels (clear, 2 pixels from a cloud, the three dates valid) in the 96 x 96 window around each pixel (the local
fits' window: 3 x 3 cells of 32 pixels). For each ``--tau``: the output g + r + min(1, s / tau) (y - r - g), r
the free residual's part of y, so that the mix of candidate corrections fades out where there is little of t
around to fit them on (tau 0: no gate). (The free residual is left alone: it is a learnt offset, not a fit.) Prints per
set and tau the mean gain over the gap-filling and the worst scenario, on the scored pixels.

Python on whole scenes (Keras, float outputs): for looking into a model, not for claims.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from gfnet_common import GfnetParts, network_options, scene_inputs, scored_scenes, trainable_gfnet
from gfnet_diagnose import SETS, psnr


def window_share(stats: np.ndarray, size: int = 96) -> np.ndarray:
    """The mean of ``stats`` [H, W] over the size x size window around each pixel (windows cut by the edges
    average what they hold): a summed-area table."""
    h, w = stats.shape
    c = np.pad(stats.astype(np.float64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    r = size // 2
    y0, y1 = np.clip(np.arange(h) - r, 0, h), np.clip(np.arange(h) + r + 1, 0, h)
    x0, x1 = np.clip(np.arange(w) - r, 0, w), np.clip(np.arange(w) + r + 1, 0, w)
    total = c[y1][:, x1] - c[y0][:, x1] - c[y1][:, x0] + c[y0][:, x0]
    area = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    return total / area


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", type=Path)
    p.add_argument("--option", action="append", default=[])
    p.add_argument("--part", choices=("validation", "test"), default="validation")
    p.add_argument("--tau", type=float, nargs="+", default=[0.0, 0.01, 0.02, 0.05, 0.1, 0.2])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    args = p.parse_args(argv)
    from scipy.ndimage import maximum_filter  # noqa: PLC0415

    net, trainable = trainable_gfnet(network_options(args.option))
    trainable.load_weights(str(args.weights))
    probe = GfnetParts(net)
    n = probe.candidates
    gains: dict[str, dict[float, list[float]]] = {}
    for name, scene in scored_scenes(args.data, args.sets, args.part):
        s = scene.scored
        x = scene_inputs(scene)
        o = probe.parts(x)

        def run(head_values, o=o, x=x):
            return probe.output(o, head_values, x)

        head_values = o["head"].numpy()
        y = run(head_values)
        no_free = head_values.copy()
        no_free[..., n:] = 0.0
        free = y - run(no_free)  # the free residual's part of the output (the mix's is the rest)
        valid = [np.all(a > -9999.5, axis=-1) for a in (scene.t, scene.tm1, scene.tp1)]
        both = valid[1] & valid[2]
        g = np.where(both[..., None], 0.0, y)  # the gap-filling where both neighbours have data
        stamps = scene.timestamps
        wt = np.clip((stamps["t"] - stamps["tm1"]) / max(stamps["tp1"] - stamps["tm1"], 1.0), 0.0, 1.0)
        g = np.where(both[..., None], (1 - wt) * scene.tm1 + wt * scene.tp1, g)
        near = maximum_filter(scene.cloud | ~valid[0], size=5)
        share = window_share(~near & valid[0] & both)
        ref = scene.reference[s].astype(np.float64)
        p_gf = psnr(g[s], ref)
        by_tau = gains.setdefault(name, {tau: [] for tau in args.tau})
        for tau in args.tau:
            gate = np.ones_like(share) if tau == 0 else np.minimum(1.0, share / tau)
            out = g + free + gate[..., None] * (y - free - g)
            by_tau[tau].append(psnr(out[s], ref) - p_gf)
    print(f"set tau: mean gain over the gap-filling / worst scenario (dB); {args.part} part")
    for name, by_tau in gains.items():
        for tau, values in by_tau.items():
            print(f"{name} {tau}: {np.mean(values):+.3f} / {np.min(values):+.2f}")
    every = {tau: [v for by in gains.values() for v in by[tau]] for tau in args.tau}
    for tau, values in every.items():
        print(f"all {tau}: {np.mean(values):+.3f} / {np.min(values):+.2f} over {len(values)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

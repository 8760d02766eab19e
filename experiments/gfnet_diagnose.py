"""Where a gfnet's correction wins and loses on the test scenarios of the real sets, and why: a diagnostic.

    python experiments/gfnet_diagnose.py WEIGHTS.weights.h5 [--option k=v] [--data ../shared/data] [--worst 3]

For the weights of a gfnet run (``RUN/checkpoints/*.weights.h5`` or an average of them), on every test scenario
of each set's split (``decloud.scenarios.SPLITS``, the scenarios ``bench/quality.py`` scores):
  - per set, the mean PSNR gain over the in-graph gap-filling on the scored pixels: of the network, and of the
    network with its free residual removed (the mix of candidate corrections alone), for all scenarios and for
    those where t is fully cloudy (no clear pixel to learn a local shift from);
  - for the ``--worst`` scenarios of the network: the PSNR of each candidate correction applied alone (the
    gap-filling + it), the mean mix weights and free residual on the scored pixels, and the per-band mean error.

It runs the Keras network in Python on each whole scene (no tiling, float outputs), so its figures are close to,
not equal to, ``bench/quality.py``'s (DecloudInfer, tiles, int16). It is for looking into a model, not for
claims: the benchmark is the measure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from gfnet_common import GfnetParts, network_options, scene_inputs, scored_scenes, trainable_gfnet

SETS = ("bolzano-west", "greenearthnet-portugal", "greenearthnet-sweden", "worldcereal-belgium-a")


def candidate_names(options: dict) -> list[str]:
    """The names of a gfnet's candidate corrections, in the order ``GapFillFeatures`` makes them."""
    names = ["gap-filling + local bias", "t-1 + local bias", "t+1 + local bias", "t itself"]
    if options.get("regression", True):
        names += ["regression (local)", "regression (scene)"]
        names += ["cross-band regression (scene)"] if options.get("cross_band") else []
        names += ["analog (similar clear pixels)"] if options.get("analog") else []
    names += ["selected"] if options.get("selected") else []
    if options.get("regimes"):
        split = names[:4] if options.get("trust_fits") else names
        rest = [f"{x} x trust" for x in names[4:]] if options.get("trust_fits") else []
        names = [f"{x} x c" for x in split] + [f"{x} x (1 - c)" for x in split] + rest
    return names


def psnr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """PSNR (peak 1) of reflectance x 10000 arrays over their pixels."""
    mse = np.mean(((estimate.astype(np.float64) - reference) / 10000.0) ** 2)
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def clear_density(scene, shape: tuple[int, int]) -> np.ndarray:
    """min(1, 4 x the share of t's usable clear pixels (clear, 2 pixels from a cloud, all three dates valid) in
    each 32 x 32 cell), bilinear at ``shape`` (the U-Net head's grid, which covers the padded scene): [1, H, W, 1]."""
    import tensorflow as tf  # noqa: PLC0415

    def valid(a):
        return np.all(a > -9999.5, axis=-1)

    cloudy = scene.cloud | ~valid(scene.t)
    near = tf.nn.max_pool2d(cloudy[None, ..., None].astype("float32"), 5, 1, "SAME").numpy()[0, ..., 0] > 0
    stats = (~near & valid(scene.t) & valid(scene.tm1) & valid(scene.tp1)).astype("float32")
    h, w = stats.shape
    padded = np.pad(stats, ((0, (-h) % 32), (0, (-w) % 32)), mode="symmetric")
    cells = padded.reshape(padded.shape[0] // 32, 32, padded.shape[1] // 32, 32).mean(axis=(1, 3))
    up = tf.image.resize(cells[None, ..., None], shape, "bilinear").numpy()
    return np.minimum(1.0, 4.0 * up)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", type=Path)
    p.add_argument("--option", action="append", default=[], help="network option KEY=VALUE of the run")
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--worst", type=int, default=3, help="scenarios to take apart (default 3)")
    p.add_argument("--unseen", action="append", default=[], choices=SETS, metavar="SET",
                   help="a set the weights never saw in training (experiments/gfnet_all_sets.py --without): all its "
                        "scenarios are scored, not only its split's test part; repeatable")
    p.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), help="the sets to score (default: all)")
    args = p.parse_args(argv)
    options = network_options(args.option)
    net, trainable = trainable_gfnet(options)
    trainable.load_weights(str(args.weights))
    probe = GfnetParts(net)
    n = probe.candidates
    names = candidate_names(options)
    if len(names) != n:
        raise SystemExit(f"gfnet_diagnose: {n} candidates in the network, {len(names)} names for its options")
    rows = []
    for name, scene in scored_scenes(args.data, args.sets, "test", unseen=args.unseen):
        s = scene.scored
        x = scene_inputs(scene)
        o = probe.parts(x)
        h, w = scene.reference.shape[:2]
        ref = scene.reference[s].astype(np.float64)

        def run(head_values, o=o, x=x):
            return probe.output(o, head_values, x)

        head_values = o["head"].numpy()
        y = run(head_values)
        no_free = head_values.copy()
        no_free[..., n:] = 0.0  # tanh(0) = 0: the free residual removed, the mix kept
        gated = head_values.copy()
        # the free residual only where t has clear pixels around (a quarter of a 32-pixel cell or more):
        # atanh(g tanh(v / 0.2)) * 0.2 makes the bounded residual g times what it was
        g = clear_density(scene, gated.shape[1:3])
        gated[..., n:] = 0.2 * np.arctanh(np.clip(g * np.tanh(gated[..., n:] / 0.2), -0.999999, 0.999999))
        base = o["gf"].numpy()[0, :h, :w] * 10000.0
        p_gf = psnr(base[s], ref)
        rows.append({"set": name, "label": scene.label, "full": float((~scene.cloud).mean()) < 0.02,
                     "gain": psnr(y[s], ref) - p_gf, "gain_no_free": psnr(run(no_free)[s], ref) - p_gf,
                     "gain_gated": psnr(run(gated)[s], ref) - p_gf,
                     "gf": p_gf, "scene": scene, "o": o, "y": y, "base": base})
    print("set: scenarios, gain dB over the gap-filling (network / without its free residual / free residual gated "
          "by t's clear pixels around); worst scenario; the same for the scenarios where t is fully cloudy")
    for name in args.sets:
        r = [row for row in rows if row["set"] == name]
        if not r:
            continue
        full = [row for row in r if row["full"]]

        def mean(values):
            return f"{np.mean(values):+.3f}" if values else "nan"

        def line(rs):
            if not rs:
                return "0"
            return (f"{len(rs)}, {mean([q['gain'] for q in rs])} / {mean([q['gain_no_free'] for q in rs])} / "
                    f"{mean([q['gain_gated'] for q in rs])}; worst {min(q['gain'] for q in rs):+.2f} / "
                    f"{min(q['gain_no_free'] for q in rs):+.2f} / {min(q['gain_gated'] for q in rs):+.2f}")

        print(f"{name}{' (unseen)' if name in args.unseen else ''}: {line(r)}; fully cloudy {line(full)}")
    for row in sorted(rows, key=lambda q: q["gain"])[:args.worst]:
        scene, o, s = row["scene"], row["o"], row["scene"].scored
        h, w = scene.reference.shape[:2]
        ref = scene.reference[s].astype(np.float64)
        print(f"\n{row['label']}: scored share {s.mean():.3f}, gap-filling {row['gf']:.2f} dB, "
              f"network {row['gf'] + row['gain']:.2f} dB")
        head_full = o["head"].numpy()
        import tensorflow as tf  # noqa: PLC0415

        head_full = tf.image.resize(head_full, (o["gf"].shape[1], o["gf"].shape[2]), "bilinear").numpy()[0, :h, :w]
        weights = 1.5 * np.tanh(head_full[..., :n] / 1.5)
        free = 0.2 * np.tanh(head_full[..., n:] / 0.2) * 10000.0
        for k, (cname, c) in enumerate(zip(names, GfnetParts.weighed(o), strict=True)):
            alone = row["base"] + c[0, :h, :w] * 10000.0
            print(f"  {cname}: alone {psnr(alone[s], ref):.2f} dB, mean weight {weights[s][:, k].mean():+.3f}")
        print(f"  free residual, mean per band: {np.round(free[s].mean(0), 1)}")
        print(f"  mean error per band: network {np.round((row['y'][s] - ref).mean(0), 1)}, "
              f"gap-filling {np.round((row['base'][s] - ref).mean(0), 1)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does a gfnet's U-Net adapt its mix to the scene? The spread of its mix weights over pixels and scenes.

    python experiments/gfnet_head_spread.py WEIGHTS.weights.h5 [--option k=v] [--scenes 6]

For the first ``--scenes`` test scenarios of portugal and belgium-a (``decloud.scenarios.test_scenarios``), the
mean and the spatial standard deviation of each candidate weight (six for gfnet-v4) (bounded as in the output layer),
then ``max_spatial_std`` (the largest of those standard deviations) and ``between_scene_std`` (the standard
deviation of the scenes' mean weights, largest over the candidates). A U-Net whose head is one constant (what
gfnet-v4's recipe learnt: 0.001 to 0.015) is a fixed blend of the candidates, whatever it sees.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from gfnet_common import GfnetParts, network_options, scene_inputs, scored_scenes, trainable_gfnet

SETS = ("greenearthnet-portugal", "worldcereal-belgium-a")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", type=Path)
    p.add_argument("--option", action="append", default=[])
    p.add_argument("--scenes", type=int, default=6, help="test scenarios per set (default 6)")
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = p.parse_args(argv)
    net, trainable = trainable_gfnet(network_options(args.option))
    trainable.load_weights(str(args.weights))
    probe = GfnetParts(net)
    means, stds = [], []
    for name in SETS:
        for _, scene in itertools.islice(scored_scenes(args.data, [name], "test"), args.scenes):
            x = scene_inputs(scene)
            head = probe.parts(x)["head"]
            n = probe.candidates
            w = 1.5 * np.tanh(head.numpy()[0, ..., :n] / 1.5).reshape(-1, n)
            means.append(w.mean(0))
            stds.append(w.std(0))
            print(f"{scene.label}: mean {np.round(means[-1], 3)} spatial std {np.round(stds[-1], 3)}")
    print(f"max_spatial_std: {np.max(stds):.4f}")
    print(f"between_scene_std: {np.max(np.std(means, axis=0)):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

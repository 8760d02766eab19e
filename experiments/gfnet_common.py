"""What the gfnet experiment scripts share: network options from ``--option KEY=VALUE`` and a gfnet whose
training weights (``.weights.h5`` of ``decloud.train``) can be loaded."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from decloud.cli.options import parse_assignments

DEFAULT_OPTIONS = {"width": 0.25}


def network_options(items: Sequence[str] | None, network: str = "gfnet") -> dict:
    """``["width=0.25", "use_mask=false"]`` -> ``{"width": 0.25, "use_mask": False}`` over the defaults (gfnet's
    width 0.25; none for another network)."""
    values = parse_assignments(list(items or []), "--option", "KEY=VALUE")
    return {**(DEFAULT_OPTIONS if network == "gfnet" else {}),
            **{k: json.loads(v.lower() if v.lower() in ("true", "false") else v) for k, v in values.items()}}


def trainable_gfnet(options: dict, network: str = "gfnet"):
    """(the network (gfnet unless told), the model ``decloud.train`` trains and checkpoints: its inputs to
    ``s2_target`` only)."""
    import keras  # noqa: PLC0415
    from decloud.networks import get_model  # noqa: PLC0415

    net = get_model(network, **options)
    return net, keras.Model(net.inputs, {"s2_target": net.output["s2_target"]})


def scene_inputs(scene) -> dict:
    """The network inputs of one ``decloud.scenarios.Scene`` (a batch of one, float32): t with its pasted clouds,
    its mask, t-1, t+1 and the three timestamps, as a gfnet takes them."""
    import numpy as np  # noqa: PLC0415

    x = {"s2_t": scene.t[None].astype("float32"), "s2_tm1": scene.tm1[None].astype("float32"),
         "s2_tp1": scene.tp1[None].astype("float32"), "cloud_t": scene.cloud[None, ..., None].astype("float32")}
    for k in ("t", "tm1", "tp1"):
        x[f"s2_timestamp_{k}"] = np.array([scene.timestamps[k]], "float32")
    return x


class GfnetParts:
    """A gfnet taken apart at its output layer, to look into a trained one: ``parts(x)`` gives the output layer's
    inputs for a batch (the gap-filling ``gf``, validities, the candidate corrections ``cands``, the U-Net's
    ``head``...), ``output(o, head)`` the network's output [H, W, bands] (float64) from them with another head (the
    free residual or the mix changed)."""

    def __init__(self, net):
        import keras  # noqa: PLC0415

        self.layer = net.get_layer("s2_target_raw")
        args = self.layer._inbound_nodes[0].arguments.args
        gf, vgf, vt, tn, cands, head, _like, both = args[:8]
        mix = args[8] if len(args) > 8 else None  # the candidates' factors per head channel (2026-12-03 on)
        self.candidates = self.layer.candidates  # the head's mix channels (the free residual's follow)
        self.parts = keras.Model(net.inputs, {"gf": gf, "vgf": vgf, "vt": vt, "tn": tn, "cands": list(cands),
                                              "head": head, "both": both, **({"mix": mix} if mix is not None else {})})

    @staticmethod
    def weighed(o: dict) -> list:
        """The candidates as the output layer weighs them, one [B, H, W, bands] array per mix channel of the head:
        each channel's candidate times its factor (``mix``), or the candidates as they are (networks before it)."""
        import numpy as np  # noqa: PLC0415

        cands = [np.asarray(c) for c in o["cands"]]
        if "mix" not in o:
            return cands
        mix = np.asarray(o["mix"])
        return [sum(c * mix[:, r, j, None, None, None] for j, c in enumerate(cands)) for r in range(mix.shape[1])]

    def output(self, o: dict, head, x: dict):
        y = self.layer(o["gf"], o["vgf"], o["vt"], o["tn"], o["cands"], head, x["s2_t"], o["both"], o.get("mix"))
        return y.numpy()[0].astype("float64")


def scored_scenes(data: Path, names, part: str, unseen=()):
    """(set name, scene) for the scenarios of each real set of ``names`` under ``data`` with pixels to score:
    ``part`` "test" (``decloud.scenarios.test_scenarios``) or "validation" (the training parts); a set of
    ``unseen`` is scored on every scenario of its whole series. An absent set is skipped with a line on stderr."""
    import sys  # noqa: PLC0415

    from decloud.scenarios import SPLITS, build_scene, load_series, plan_scenarios, test_scenarios, validation_scenarios  # noqa: PLC0415

    for name in names:
        if not (data / name).is_dir():
            print(f"{name}: absent under {data}, skipped", file=sys.stderr)
            continue
        split = SPLITS[name]
        series = load_series(data / name, mask=split.mask)
        if name in unseen:
            scenarios = plan_scenarios(series)
        else:
            series, scenarios = (test_scenarios if part == "test" else validation_scenarios)(series, split)
        for sc in scenarios:
            scene = build_scene(series, sc)
            if scene.scored.any():
                yield name, scene


def build_set_records(data: Path, work: Path, plan: dict[str, tuple[int, int]], examples: Callable, *, tag: str,
                      describe: dict | None = None) -> list[Path]:
    """One folder of records per real set of ``plan`` (name -> (patch, count)) under ``work/data``:
    ``examples(series, split, patch, count)`` on the set read with its split's mask; a folder with its
    ``done.json`` is complete and kept (the script can be re-run after a kill). Absent sets are skipped."""
    from decloud.dataset import write_examples  # noqa: PLC0415
    from decloud.scenarios import SPLITS, load_series  # noqa: PLC0415

    folders = []
    for name, (patch, count) in plan.items():
        if not (data / name).is_dir():
            print(f"[{tag}] {data / name} is absent: set skipped", file=sys.stderr)
            continue
        out = work / "data" / name
        folders.append(out)
        if (out / "done.json").exists():
            continue
        split = SPLITS[name]
        series = load_series(data / name, mask=split.mask)
        write_examples(out, examples(series, split, patch, count), total=count, quiet=False, shard_size=128)
        (out / "done.json").write_text(json.dumps({"set": name, "patch": patch, "examples": count,
                                                   "split": split.describe(), **(describe or {})}))
    if not folders:
        raise SystemExit(f"[{tag}] no set found under {data}")
    return folders

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

"""What the gfnet experiment scripts share: network options from ``--option KEY=VALUE`` and a gfnet whose
training weights (``.weights.h5`` of ``decloud.train``) can be loaded."""

from __future__ import annotations

import json
from collections.abc import Sequence

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

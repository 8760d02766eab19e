"""Model cards: the JSON file next to an exported SavedModel that makes it self-describing.

``export_model(model, out_dir, ...)`` writes the SavedModel (Keras 3 ``export``, ``serving_default``
signature) and ``out_dir/card.json``::

    {"name": ..., "network": ..., "format": 1,
     "inputs":  {"s2_t": {"role": "s2_t", "sensor": "S2", "bands": ["B2", "B3", "B4", "B8"], "scale": 1,
                          "dtype": "float32", "nodata": -10000}, ...},
     "outputs": {"s2_target": {"sensor": "S2", "bands": [...], "scale": 1}, "s2_target_crop32": {...}, ...},
     "padding": [{"output": "s2_target_crop32", "crop": 32}, ...],
     "normalisation": "inside the graph: S2 / 10000, S1 / 65535, DEM / 1000; outputs x 10000",
     "spatial_multiple": 32, "training": {...}, "metrics": {...}}

Roles are the dataset keys (``s2_t``, ``s1_tm1``, ``dem``, ``s2_20m_t``, ``s2_timestamp_t``, ``cloud_t`` (the cloud
mask of t, 1 = cloudy, ``"kind": "mask"``)...); ``scale`` is the pixel size relative to 10 m. ``"holes": "model"``
says that the graph completes the nodata pixels of its S2 inputs itself (``gfnet``). An output's optional
``"tensor"`` names the SavedModel's own output when it differs from the card's key (``decloud import-model``:
``s2_target_crop64`` is the original Decloud's ``s2_estim_pad64``). ``DecloudInfer`` configures itself from this
card.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .atomic import write_json
from .errors import DecloudInputError
from .products import BANDS_10M, BANDS_20M

FORMAT = 1
NORMALISATION = "inside the graph: S2 / 10000, S1 / 65535, DEM / 1000; outputs x 10000 (S2 int16 encoding)"


def describe_input(key: str, bands: int) -> dict[str, Any]:
    if key.startswith("s2_timestamp") or key.startswith("s1_timestamp"):
        return {"role": key, "sensor": key[:2].upper(), "kind": "timestamp", "unit": "seconds since 1970-01-01 UTC"}
    if key == "cloud_t":
        return {"role": key, "sensor": "S2", "kind": "mask", "bands": ["cloud"], "scale": 1}
    if key.startswith("s2_20m"):
        return {"role": key, "sensor": "S2", "bands": list(BANDS_20M)[:bands], "scale": 2, "nodata": -10000}
    if key.startswith("s2"):
        return {"role": key, "sensor": "S2", "bands": list(BANDS_10M)[:bands], "scale": 1, "nodata": -10000}
    if key.startswith("s1"):
        return {"role": key, "sensor": "S1", "bands": ["VV", "VH"][:bands], "scale": 1, "nodata": 0}
    if key == "dem":
        return {"role": key, "sensor": "DEM", "bands": ["elevation"], "scale": 2, "nodata": -32768}
    raise DecloudInputError(f"input {key!r} has no known role")


def export_model(model, out_dir: str | Path, *, network: str, name: str | None = None,
                 spatial_multiple: int | None = None, training: dict | None = None,
                 metrics: dict | None = None) -> Path:
    """Export ``model`` as a SavedModel with its card; returns the model folder. ``spatial_multiple``: by default
    the network's own (:func:`decloud.networks.spatial_multiple` of ``network`` and ``training``'s options)."""
    out_dir = Path(out_dir)
    model.export(str(out_dir), verbose=False)
    inputs = {t.name.split(":")[0]: describe_input(t.name.split(":")[0], int(t.shape[-1]) if len(t.shape) == 4 else 0)
              for t in model.inputs}
    from .networks import HOLES_IN_GRAPH  # noqa: PLC0415
    from .networks import spatial_multiple as network_multiple  # noqa: PLC0415

    if spatial_multiple is None:
        spatial_multiple = network_multiple(network, (training or {}).get("options"))
    write_card(out_dir, name=name or out_dir.name, network=network, inputs=inputs,
               outputs=list(model.output) if isinstance(model.output, dict) else [], spatial_multiple=spatial_multiple,
               training=training, metrics=metrics, holes_in_graph=network in HOLES_IN_GRAPH)
    return out_dir


def write_card(out_dir: str | Path, *, name: str, network: str, inputs: dict[str, dict[str, Any]],
               outputs: list[str] | dict[str, str], spatial_multiple: int, training: dict | None = None,
               metrics: dict | None = None, holes_in_graph: bool = False,
               normalisation: str = NORMALISATION) -> Path:
    """Write ``out_dir/card.json`` (the one writer of the schema). ``outputs``: the card's output keys
    (``s2_target``, ``s2_target_crop32``...), or a mapping of card key to the SavedModel's own output name when
    they differ (the card's ``"tensor"``, as for the original Decloud's SavedModels)."""
    out_dir = Path(out_dir)
    tensors = outputs if isinstance(outputs, dict) else {key: key for key in outputs}
    described, padding = {}, []
    for key, tensor in tensors.items():
        m = re.match(r"^(?P<base>.+)_crop(?P<crop>\d+)$", key)
        base = m["base"] if m else key
        scale = 2 if "20m" in base else 1
        described[key] = {"sensor": "S2", "bands": list(BANDS_20M if scale == 2 else BANDS_10M), "scale": scale}
        if tensor != key:
            described[key]["tensor"] = tensor
        if m:
            padding.append({"output": key, "crop": int(m["crop"])})
    card = {"format": FORMAT, "name": name, "network": network, "inputs": inputs, "outputs": described,
            "padding": sorted(padding, key=lambda p: (p["output"], p["crop"])), "normalisation": normalisation,
            "spatial_multiple": spatial_multiple, "training": training or {}, "metrics": metrics or {}}
    if holes_in_graph:
        # The graph completes nodata pixels of its S2 inputs itself: nodata out only where no date has data.
        card["holes"] = "model"
    write_json(out_dir / "card.json", card, what="model card")
    return out_dir


def read_card(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / "card.json"
    try:
        card = json.loads(path.read_text())
    except OSError as e:
        raise DecloudInputError(f"{model_dir}: no model card (card.json); export the model with decloud") from e
    except ValueError as e:
        raise DecloudInputError(f"{path}: not valid JSON: {e}") from e
    if card.get("format") != FORMAT:
        raise DecloudInputError(f"{path}: card format {card.get('format')!r}, this Decloud reads format {FORMAT}")
    return card

"""``decloud import-model``: a card for a SavedModel of the original Decloud (github.com/CNES/decloud), so that
``DecloudInfer``, ``decloud infer`` and ``decloud timeseries`` run it like the models trained here.

The original's networks are Keras models whose serving signature takes one float32 input per dataset key, named
as the roles here (``s2_t``, ``s2_tm1``, ``s2_tp1``, ``s1_t``, ``s1_tm1``, ``s1_tp1``, ``dem``: the same stored
encodings, S2 reflectance x 10000, S1 uint16 log stretch of -10..3 in ln, DEM in metres on the 20 m grid,
normalised inside the graph), and gives two kinds of outputs: the estimate ``s2_estim`` at 0-1 scale, and
``s2_estim_pad{32,64,128,256}``: the estimate x 10000, cropped by 32...256 pixels on each side. The original's
processors only ever ran the padded ones; they are exactly what ``DecloudInfer`` runs as ``s2_target_cropN`` (S2
x 10000, a tile computed with N pixels of margin on each side). So the card offers paddings 32, 64, 128 and 256,
each card output naming the original tensor (``"tensor": "s2_estim_pad64"``), and no padding 0: ``s2_estim`` is
left out of the card, so no output scale is needed in the engine.

The signature is checked against the family first (input names, band counts, float inputs, the outputs); a
SavedModel that does not match is one line naming the mismatch. Families whose inputs need roles ``DecloudInfer``
does not have are refused in one line naming them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .card import describe_input, write_card
from .errors import DecloudInputError

PADS = (32, 64, 128, 256)  # the original's constants.PADS
BANDS = {"s2": 4, "s1": 2, "dem": 1}
NORMALISATION = ("original Decloud graph: S2 / 10000, S1 / 65535, DEM x 0.0001 inside; outputs s2_estim_padN "
                 "(reflectance x 10000, cropped by N pixels) used as s2_target_cropN; s2_estim (0-1) not used")


@dataclass(frozen=True)
class Family:
    """An original family: its input placeholders (the roles here) and the base name of its S2 output (None: the
    unnamed last layer of ``meraner_original``, found as the output that has ``_pad32`` ... ``_pad256``)."""

    inputs: tuple[str, ...]
    output: str | None = "s2_estim"
    paper: str = ""
    aliases: tuple[str, ...] = field(default=())


CRGA_OS2 = ("s1_tm1", "s1_t", "s1_tp1", "s2_tm1", "s2_t", "s2_tp1", "dem")
CRGA_OS1 = ("s1_tm1", "s1_t", "s1_tp1", "s2_tm1", "s2_tp1", "dem")
FAMILIES: dict[str, Family] = {
    "crga_os2_unet": Family(CRGA_OS2, paper="CRGA OS2 U-Net (pretrained crga_os2)"),
    "crga_os2_david": Family(CRGA_OS2, paper="CRGA OS2, David's network"),
    "crga_os1_unet": Family(CRGA_OS1, paper="CRGA OS1 U-Net (pretrained crga_os1)"),
    "meraner_unet": Family(("s1_t", "s2_t", "dem"), paper="Meraner U-Net (pretrained merunet)"),
    "meraner_original": Family(("s1_t", "s2_t"), output=None, paper="Meraner's original network (no DEM)"),
}
# Families refused, with what they lack here.
REFUSED: dict[str, str] = {
    "monthly_synthesis_6_s2_images": "six-date roles s2_t0 ... s2_t5 (the monthly synthesis)",
    "monthly_synthesis_6_s2_images_david": "six-date roles s2_t0 ... s2_t5 (the monthly synthesis)",
    "monthly_synthesis_6_s2s1_images": "six-date roles s2_t0 ... s2_t5 and s1_t0 ... s1_t5 (the monthly synthesis)",
    "monthly_synthesis_6_s2s1_images_david": "six-date roles s2_t0 ... s2_t5 and s1_t0 ... s1_t5 (the monthly "
                                             "synthesis)",
    "crga_os2_unet_all_bands": "roles s2_20m_tm1 and s2_20m_tp1 (20 m bands at t-1 and t+1)",
    "crga_os2_david_all_bands": "roles s2_20m_tm1 and s2_20m_tp1 (20 m bands at t-1 and t+1)",
    "crga_os1_unet_all_bands": "roles s2_20m_tm1 and s2_20m_tp1 (20 m bands at t-1 and t+1)",
    "meraner_unet_all_bands": "a 20 m output whose crops (s2_20m_estim_padN, N pixels at 20 m) match the 10 m "
                              "output's paddings, not mapped yet",
    "crga_os1_unet_impostor": "role s1_target (S1 at the target date)",
    "crga_os2_gapfilling": "role s2_timestamp_target (use the gap-filling here: DecloudGapFilling)",
    "crga_os1_gapfilling": "nothing to import: a gap-filling without weights (use DecloudGapFilling here)",
}


@dataclass(frozen=True)
class TensorInfo:
    dtype: str  # numpy name: float32, int16...
    shape: tuple[int | None, ...]


def read_signature(model_dir: str | Path) -> tuple[dict[str, TensorInfo], dict[str, TensorInfo]]:
    """The serving_default signature's inputs and outputs, read from saved_model.pb (no weights loaded)."""
    from tensorflow.core.protobuf import saved_model_pb2  # noqa: PLC0415
    from tensorflow.python.framework import dtypes  # noqa: PLC0415

    path = Path(model_dir) / "saved_model.pb"
    if not path.is_file():
        raise DecloudInputError(f"{model_dir}: holds no saved_model.pb (not a TensorFlow SavedModel)")
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(path.read_bytes())
    except Exception as e:  # noqa: BLE001 - a protobuf DecodeError: the file is not a SavedModel
        raise DecloudInputError(f"{path}: not a SavedModel ({e})") from None
    for graph in proto.meta_graphs:
        if "serve" in graph.meta_info_def.tags and "serving_default" in graph.signature_def:
            sig = graph.signature_def["serving_default"]

            def info(tensors):
                return {k: TensorInfo(dtypes.as_dtype(v.dtype).name,
                                      tuple(None if d.size < 0 else int(d.size) for d in v.tensor_shape.dim))
                        for k, v in tensors.items()}

            return info(sig.inputs), info(sig.outputs)
    raise DecloudInputError(f"{model_dir}: the SavedModel has no 'serve' graph with a serving_default signature")


def _bands(role: str) -> int:
    return BANDS["dem" if role == "dem" else role[:2]]


def check_signature(family_name: str, inputs: dict[str, TensorInfo], outputs: dict[str, TensorInfo]) -> str:
    """Check the signature against the family; returns the base name of its S2 output (``s2_estim``)."""
    family = FAMILIES[family_name]
    expected, got = set(family.inputs), set(inputs)
    if got != expected:
        missing, extra = sorted(expected - got), sorted(got - expected)
        raise DecloudInputError(
            f"the SavedModel's inputs are not those of {family_name}"
            + (f": missing {', '.join(missing)}" if missing else "")
            + (f"{';' if missing else ':'} not in {family_name}: {', '.join(extra)}" if extra else "")
            + f" (the model takes {', '.join(sorted(got))}; {family_name} takes {', '.join(family.inputs)})")
    for role in family.inputs:
        spec = inputs[role]
        if len(spec.shape) != 4 or spec.shape[-1] != _bands(role):
            raise DecloudInputError(f"the SavedModel's input {role} has shape {list(spec.shape)}, {family_name} "
                                    f"takes [batch, rows, cols, {_bands(role)}]")
        if not spec.dtype.startswith("float"):
            raise DecloudInputError(f"the SavedModel's input {role} is {spec.dtype}, {family_name} takes float32")
    # The base name: the family's (s2_estim, the last layer's name, as Keras names a functional model's outputs in
    # its signature), else the one output with every padded version (meraner_original's unnamed last layer).
    bases = sorted(k for k in outputs if all(f"{k}_pad{p}" in outputs for p in PADS))
    base = family.output if family.output in bases or len(bases) != 1 else bases[0]
    if base is None:
        raise DecloudInputError(f"the SavedModel's outputs ({', '.join(sorted(outputs))}) do not hold one estimate "
                                f"with its padded versions <name>_pad{{{','.join(map(str, PADS))}}}, as "
                                f"{family_name}'s do")
    missing = [k for k in [base] + [f"{base}_pad{p}" for p in PADS] if k not in outputs]
    if missing:
        raise DecloudInputError(f"the SavedModel has no output {', '.join(missing)} ({family_name} gives {base} and "
                                f"{base}_pad{{{','.join(map(str, PADS))}}}; the model gives "
                                f"{', '.join(sorted(outputs))})")
    for p in PADS:
        spec = outputs[f"{base}_pad{p}"]
        if len(spec.shape) != 4 or spec.shape[-1] != BANDS["s2"]:
            raise DecloudInputError(f"the SavedModel's output {base}_pad{p} has shape {list(spec.shape)}, "
                                    f"{family_name} gives [batch, rows, cols, 4] (B2 B3 B4 B8)")
    return base


def import_model(model_dir: str | Path, family: str, out_dir: str | Path | None = None) -> Path:
    """Check the original SavedModel in ``model_dir`` against ``family`` and write its card (in ``model_dir``, or in
    ``out_dir`` with a copy of the SavedModel); returns the model folder to give DecloudInfer."""
    if family in REFUSED:
        raise DecloudInputError(f"family {family} cannot run here yet: it needs {REFUSED[family]}, which "
                                "DecloudInfer does not have")
    if family not in FAMILIES:
        raise DecloudInputError(f"unknown family {family!r}; families: {', '.join(sorted(FAMILIES))} (refused for "
                                f"now: {', '.join(sorted(REFUSED))})")
    src = Path(model_dir)
    inputs, outputs = read_signature(src)
    base = check_signature(family, inputs, outputs)
    out = Path(out_dir) if out_dir is not None else src
    if out.resolve() != src.resolve():
        if out.exists() and any(out.iterdir()):
            raise DecloudInputError(f"--out {out}: exists and is not empty")
        shutil.copytree(src, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("card.json"))
    card_inputs = {role: describe_input(role, _bands(role)) for role in FAMILIES[family].inputs}
    card_outputs = {f"s2_target_crop{p}": f"{base}_pad{p}" for p in PADS}
    write_card(out, name=src.resolve().name, network=f"original:{family}", inputs=card_inputs, outputs=card_outputs,
               spatial_multiple=64, normalisation=NORMALISATION,
               training={"source": "original Decloud (github.com/CNES/decloud)", "family": family,
                         "description": FAMILIES[family].paper, "imported_from": str(src.resolve()),
                         "unused_outputs": sorted(set(outputs) - set(card_outputs.values()))})
    return out

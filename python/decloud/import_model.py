"""``decloud import-model``: a card for a SavedModel of the original Decloud (github.com/CNES/decloud), so that
``DecloudInfer``, ``decloud infer`` and ``decloud timeseries`` run it like the models trained here.

The original's networks are Keras models whose serving signature takes one float32 input per dataset key, named as
the roles here (``s2_t``, ``s2_tm1``, ``s2_tp1``, ``s1_t``, ``s1_tm1``, ``s1_tp1``, ``dem``: the same stored
encodings, S2 reflectance x 10000, S1 uint16 log stretch of -10..3 in ln, DEM in metres on the 20 m grid, normalised
inside the graph; ``s1_target``, S1 at the date the network estimates, is the role ``s1_t`` here: its card input
keeps the model's name with ``"role": "s1_t"``), and gives two kinds of outputs: the estimate ``s2_estim`` at 0-1
scale, and ``s2_estim_pad{32,64,128,256}``: the estimate x 10000, cropped by 32...256 pixels on each side. The
original's processors only ever ran the padded ones; they are exactly what ``DecloudInfer`` runs as
``s2_target_cropN`` (S2 x 10000, a tile computed with N pixels of margin on each side). So the card offers paddings
32, 64, 128 and 256, each card output naming the original tensor (``"tensor": "s2_estim_pad64"``), and no padding 0:
``s2_estim`` is left out of the card, so no output scale is needed in the engine.

Families with 20 m bands in and out (the ``_all_bands`` ones; their inputs ``s2_20m_t``, ``s2_20m_tm1``,
``s2_20m_tp1`` and estimate ``s2_20m_estim`` in the original's 20 m band order, B11 B12 B5 B6 B7 B8A) also give
``s2_20m_estim_padN``, cropped by N 20 m pixels: the card's ``s2_20m_target_crop2N`` (crops are counted at 10 m
here), DecloudInfer's ``-out20m``.

The monthly syntheses (``monthly_synthesis_6_*``: six S2 dates ``s2_t0`` ... ``s2_t5``, and six S1 dates
``s1_t0`` ... ``s1_t5`` with the DEM) take their dates as the roles ``s2_d0`` ... ``s2_d5`` and ``s1_d0`` ...
``s1_d5`` here: DecloudInfer's ``-s2.dates`` and ``-s1.dates``, N images in the order of the card's roles.

The signature is checked against the family first (input names, band counts, float inputs, the outputs); a
SavedModel that does not match is one line naming the mismatch. Families whose inputs need roles ``DecloudInfer``
does not have are refused in one line naming them.

``FAMILIES`` is the one description of the original's families (inputs in its order, outputs, what they need):
``decloud.original_families`` builds their networks from it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .atomic import write_json
from .card import describe_input, read_card, write_card
from .errors import DecloudInputError
from .original import s2_writer_order
from .products import BANDS_20M

PADS = (32, 64, 128, 256)  # the original's constants.PADS
BANDS = {"s2": 4, "s2_20m": 6, "s1": 2, "dem": 1}
# The original's input names that are a role here under another name (the card's key stays the model's name, with
# "role": the role; DecloudInfer feeds the input from that role's parameter). s1_target: S1 at the date estimated,
# which is t for DecloudInfer (crga_os1_unet_impostor, crga_os1_unet trained on the OS2 layouts' target).
INPUT_ROLES = {"s1_target": "s1_t"}
# The original's 20 m band order (its prepare script stacked the band files by sorted name): the order of its records'
# s2_20m_* and so of its models' 20 m inputs and 20 m output. Ours (products.BANDS_20M) is B5 B6 B7 B8A B11 B12.
BANDS_20M_ORIGINAL = tuple(s2_writer_order(BANDS_20M))
# The original's normalisation inside the graph (its preprocessing/normalization.py, by key prefix: "s2..." (the
# timestamps s2_timestamp_* too), "s1...", "dem"), and the scale of its padded outputs (estimate x 10000).
INPUT_SCALE = {"s2": 1e-4, "s1": 1 / 65535, "dem": 1e-4}
OUTPUT_SCALE = 10000.0
# Its estimates: name -> (bands, pixel size relative to 10 m). A padded output <name>_padN is the estimate x
# OUTPUT_SCALE cropped by N pixels of its own grid (N 20 m pixels for s2_20m_estim).
OUTPUTS = {"s2_estim": (4, 1), "s2_20m_estim": (6, 2), "s2_all_bands_estim": (10, 1)}
NORMALISATION = ("original Decloud graph: S2 / 10000, S1 / 65535, DEM x 0.0001 inside; outputs s2_estim_padN "
                 "(reflectance x 10000, cropped by N pixels) used as s2_target_cropN; s2_estim (0-1) not used")


@dataclass(frozen=True)
class Family:
    """An original family (a class of its ``decloud/models/``): its input placeholders in its order (the roles
    here, the dataset keys there), the name of its S2 10 m estimate (None: an unnamed last layer, found as the
    output that has ``_pad32`` ... ``_pad256``; ``keras2_name`` is the name Keras 2 gave it in a fresh session),
    whether it also gives the 20 m estimate and the 10-band stack (``s2_20m_estim``, ``s2_all_bands_estim``), for a
    family DecloudInfer cannot run, why (``refused``), and for a synthesis (N dates in, one image out) its N
    (``dates``: its inputs s2_t0 ... and s1_t0 ... are the roles s2_d0 ... and s1_d0 ... here)."""

    inputs: tuple[str, ...]
    output: str | None = "s2_estim"
    paper: str = ""
    with_20m: bool = False
    keras2_name: str = ""
    refused: str = ""
    dates: int = 0


CRGA_OS2 = ("s1_tm1", "s1_t", "s1_tp1", "s2_tm1", "s2_t", "s2_tp1", "dem")
CRGA_OS1 = ("s1_tm1", "s1_t", "s1_tp1", "s2_tm1", "s2_tp1", "dem")
_SIX_S2 = tuple(f"s2_t{k}" for k in range(6))
_SIX_S1 = tuple(f"s1_t{k}" for k in range(6))
FAMILIES: dict[str, Family] = {
    "crga_os2_unet": Family(CRGA_OS2, paper="CRGA OS2 U-Net (pretrained crga_os2)"),
    "crga_os2_david": Family(CRGA_OS2, paper="CRGA OS2, David's network"),
    "crga_os1_unet": Family(CRGA_OS1, paper="CRGA OS1 U-Net (pretrained crga_os1)"),
    "meraner_unet": Family(("s1_t", "s2_t", "dem"), paper="Meraner U-Net (pretrained merunet)"),
    "meraner_original": Family(("s1_t", "s2_t"), output=None, keras2_name="add",
                               paper="Meraner's original network (no DEM)"),
    "meraner_unet_all_bands": Family(("s1_t", "s2_t", "s2_20m_t", "dem"), with_20m=True,
                                     paper="Meraner U-Net, 10 m and 20 m bands in and out"),
    "crga_os2_unet_all_bands": Family(CRGA_OS2[:-1] + ("s2_20m_tm1", "s2_20m_t", "s2_20m_tp1", "dem"),
                                      with_20m=True, paper="CRGA OS2 U-Net, 10 m and 20 m bands in and out"),
    "crga_os2_david_all_bands": Family(CRGA_OS2[:-1] + ("s2_20m_tm1", "s2_20m_t", "s2_20m_tp1", "dem"),
                                       with_20m=True,
                                       paper="CRGA OS2, David's network, 10 m and 20 m bands in and out"),
    "crga_os1_unet_all_bands": Family(CRGA_OS1[:-1] + ("s2_20m_tm1", "s2_20m_tp1", "dem"), with_20m=True,
                                      paper="CRGA OS1 U-Net, 10 m and 20 m bands in and out"),
    "crga_os1_unet_impostor": Family(("s1_tm1", "s1_target", "s1_tp1", "s2_tm1", "s2_tp1", "dem"),
                                     paper="CRGA OS1 U-Net fed S1 at the target date (to compare with OS2)"),
    "crga_os2_gapfilling": Family(("s2_tm1", "s2_tp1", "s2_timestamp_tm1", "s2_timestamp_target",
                                   "s2_timestamp_tp1"), output=None, keras2_name="tf.math.add",
                                  refused="role s2_timestamp_target (use the gap-filling here: DecloudGapFilling)",
                                  paper="linear gap-filling in time (OS2 layouts), no weights"),
    "crga_os1_gapfilling": Family(("s2_tm1", "s2_tp1", "s2_timestamp_tm1", "s2_timestamp_t", "s2_timestamp_tp1"),
                                  output=None, keras2_name="tf.math.add",
                                  refused="nothing to import: a gap-filling without weights (use DecloudGapFilling "
                                          "here)",
                                  paper="linear gap-filling in time (OS1 layouts), no weights"),
    "monthly_synthesis_6_s2_images": Family(_SIX_S2, dates=6, paper="monthly synthesis, 6 S2 dates (pretrained "
                                                                     "monthly synthesis S2)"),
    "monthly_synthesis_6_s2_images_david": Family(_SIX_S2, dates=6,
                                                  paper="monthly synthesis, 6 S2 dates, David's network"),
    "monthly_synthesis_6_s2s1_images": Family(_SIX_S2 + _SIX_S1 + ("dem",), dates=6,
                                              paper="monthly synthesis, 6 S2 and S1 dates (pretrained monthly "
                                                    "synthesis S2/S1)"),
    "monthly_synthesis_6_s2s1_images_david": Family(_SIX_S2 + _SIX_S1 + ("dem",), dates=6,
                                                    paper="monthly synthesis, 6 S2 and S1 dates, David's network"),
}
# Families refused, with what they lack here.
REFUSED: dict[str, str] = {name: f.refused for name, f in FAMILIES.items() if f.refused}
# The synthesis families (N dates in, one image out), their N.
SYNTHESIS: dict[str, int] = {name: f.dates for name, f in FAMILIES.items() if f.dates}


def input_role(family_name: str, name: str) -> str:
    """The role here of a family's input: ``s1_target`` is ``s1_t``; a synthesis's date k (``s2_t<k>``,
    ``s1_t<k>``) is ``s2_d<k>`` / ``s1_d<k>``, the k-th image of DecloudInfer's ``-s2.dates`` / ``-s1.dates``."""
    if FAMILIES[family_name].dates and name[:4] in ("s2_t", "s1_t") and name[4:].isdigit():
        return f"{name[:2]}_d{name[4:]}"
    return INPUT_ROLES.get(name, name)


def input_bands(role: str) -> int:
    """Bands of an original input (0: a timestamp, one value per sample)."""
    if "timestamp" in role:
        return 0
    return BANDS["dem" if role == "dem" else "s2_20m" if role.startswith("s2_20m") else role[:2]]


def input_scale(role: str) -> float:
    """The factor the original's graph scales an input by (its normalisation, by key prefix)."""
    return INPUT_SCALE["dem" if role == "dem" else role[:2]]


def padded(name: str, pad: int) -> str:
    """The original's name of an output cropped by ``pad`` pixels (its constants.padded_tensor_name)."""
    return f"{name}_pad{pad}"


def estimates(family_name: str) -> tuple[str, ...]:
    """The estimates a family gives (each with its padded versions): its S2 10 m estimate's name (the Keras 2 name
    of an unnamed one), then with 20 m ``s2_20m_estim`` and ``s2_all_bands_estim``."""
    family = FAMILIES[family_name]
    first = family.output or family.keras2_name
    return (first, "s2_20m_estim", "s2_all_bands_estim") if family.with_20m else (first,)


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
    except Exception as e:
        raise DecloudInputError(f"{path}: not a SavedModel ({e})") from e
    for graph in proto.meta_graphs:
        if "serve" in graph.meta_info_def.tags and "serving_default" in graph.signature_def:
            sig = graph.signature_def["serving_default"]

            def info(tensors):
                return {k: TensorInfo(dtypes.as_dtype(v.dtype).name,
                                      tuple(None if d.size < 0 else int(d.size) for d in v.tensor_shape.dim))
                        for k, v in tensors.items()}

            return info(sig.inputs), info(sig.outputs)
    raise DecloudInputError(f"{model_dir}: the SavedModel has no 'serve' graph with a serving_default signature")


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
        if len(spec.shape) != 4 or spec.shape[-1] != input_bands(role):
            raise DecloudInputError(f"the SavedModel's input {role} has shape {list(spec.shape)}, {family_name} "
                                    f"takes [batch, rows, cols, {input_bands(role)}]")
        if not spec.dtype.startswith("float"):
            raise DecloudInputError(f"the SavedModel's input {role} is {spec.dtype}, {family_name} takes float32")
    # The base name: the family's (s2_estim, the last layer's name, as Keras names a functional model's outputs in
    # its signature), else the one output with every padded version (meraner_original's unnamed last layer).
    bases = sorted(k for k in outputs if all(padded(k, p) in outputs for p in PADS)
                   and k not in OUTPUTS.keys() - {"s2_estim"})
    base = family.output if family.output in bases or len(bases) != 1 else bases[0]
    if base is None:
        raise DecloudInputError(f"the SavedModel's outputs ({', '.join(sorted(outputs))}) do not hold one estimate "
                                f"with its padded versions <name>_pad{{{','.join(map(str, PADS))}}}, as "
                                f"{family_name}'s do")
    checked = [(base, OUTPUTS["s2_estim"][0])] + ([("s2_20m_estim", OUTPUTS["s2_20m_estim"][0])]
                                                   if family.with_20m else [])
    for name, bands in checked:
        missing = [k for k in [name] + [padded(name, p) for p in PADS] if k not in outputs]
        if missing:
            raise DecloudInputError(f"the SavedModel has no output {', '.join(missing)} ({family_name} gives {name} "
                                    f"and {name}_pad{{{','.join(map(str, PADS))}}}; the model gives "
                                    f"{', '.join(sorted(outputs))})")
        for p in PADS:
            spec = outputs[padded(name, p)]
            if len(spec.shape) != 4 or spec.shape[-1] != bands:
                what = "B2 B3 B4 B8" if bands == 4 else " ".join(BANDS_20M_ORIGINAL)
                raise DecloudInputError(f"the SavedModel's output {padded(name, p)} has shape {list(spec.shape)}, "
                                        f"{family_name} gives [batch, rows, cols, {bands}] ({what})")
    return base


def card_io(family_name: str, base: str) -> tuple[dict[str, dict], dict[str, str]]:
    """The card's inputs (the model's input names, each with its role) and outputs (card key -> the original's
    tensor) of an imported family. The 10 m crops are the original's pads; a 20 m estimate cropped by N 20 m pixels
    is the card's 20 m crop 2N (crops are counted at 10 m here), offered where the 10 m output has that padding too
    (64, 128, 256: DecloudInfer's -out20m runs the same padding as -out). 20 m bands are in the original's order
    (BANDS_20M_ORIGINAL)."""
    family = FAMILIES[family_name]
    inputs = {name: describe_input(name, input_bands(name)) for name in family.inputs}
    for name, described in inputs.items():
        if name.startswith("s2_20m"):
            described["bands"] = list(BANDS_20M_ORIGINAL)
        described["role"] = input_role(family_name, name)
    outputs = {f"s2_target_crop{p}": padded(base, p) for p in PADS}
    if family.with_20m:
        outputs.update({f"s2_20m_target_crop{2 * p}": padded("s2_20m_estim", p) for p in PADS if 2 * p in PADS})
    return inputs, outputs


def import_model(model_dir: str | Path, family: str, out_dir: str | Path | None = None) -> Path:
    """Check the original SavedModel in ``model_dir`` against ``family`` and write its card (in ``model_dir``, or in
    ``out_dir`` with a copy of the SavedModel); returns the model folder to give DecloudInfer."""
    if family in REFUSED:
        raise DecloudInputError(f"family {family} cannot run here yet: it needs {REFUSED[family]}, which "
                                "DecloudInfer does not have")
    if family not in FAMILIES:
        importable = sorted(set(FAMILIES) - set(REFUSED))
        raise DecloudInputError(f"unknown family {family!r}; families: {', '.join(importable)} (refused for "
                                f"now: {', '.join(sorted(REFUSED))})")
    src = Path(model_dir)
    inputs, outputs = read_signature(src)
    base = check_signature(family, inputs, outputs)
    out = Path(out_dir) if out_dir is not None else src
    if out.resolve() != src.resolve():
        if out.exists() and any(out.iterdir()):
            raise DecloudInputError(f"--out {out}: exists and is not empty")
        shutil.copytree(src, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("card.json"))
    card_inputs, card_outputs = card_io(family, base)
    write_card(out, name=src.resolve().name, network=f"original:{family}", inputs=card_inputs, outputs=card_outputs,
               spatial_multiple=64, normalisation=NORMALISATION,
               training={"source": "original Decloud (github.com/CNES/decloud)", "family": family,
                         "description": FAMILIES[family].paper, "imported_from": str(src.resolve()),
                         "unused_outputs": sorted(set(outputs) - set(card_outputs.values()))})
    if FAMILIES[family].with_20m:
        # write_card describes 20 m outputs in our band order; the original's 20 m estimate is in its own
        card = read_card(out)
        for described in card["outputs"].values():
            if described["scale"] == 2:
                described["bands"] = list(BANDS_20M_ORIGINAL)
        write_json(out / "card.json", card, what="model card")
    return out

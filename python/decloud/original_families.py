"""The original Decloud's networks (github.com/CNES/decloud, its ``decloud/models/``), rebuilt with Keras 3 and the
original's serving signature: ``ORIGINAL_FAMILIES[name](width=...)`` gives a Keras model whose SavedModel
(``model.export(dir)``) has the inputs, outputs, scales and, at ``width`` 1, the parameter count of the original's
definition, so that ``decloud import-model DIR --family NAME`` and ``DecloudInfer`` take it as one of the original's.

  crga_os2_unet           U-Net over t-1, t, t+1 (S1 + S2 each, shared encoder: conv 5x5 64, stride-2 convs 128,
                          256, 512, 512, 512; DEM (conv 3x3 64) joined after the first down-sampling), a decoder on
                          the three dates' features stacked at each level (transposed convs 512, 512, 256, 128, 64),
                          conv 5x5 to B2 B3 B4 B8
  crga_os1_unet           the same without S2 at t: S1 alone at t has its own first conv
  crga_os1_unet_impostor  crga_os1_unet fed S1 at the target date (input s1_target)
  crga_os2_david          "David": conv 5x5 64, stride-2 convs 128 and 256 per date, two transposed convs back
  meraner_unet            the U-Net on one date (S1 + S2 at t, DEM)
  meraner_original        Meraner et al. 2020: conv 3x3 256, 16 residual blocks (residual scaling 0.1), conv 3x3,
                          the cloudy S2 added back
  *_all_bands             10 m and 20 m bands in and out: the 20 m bands (conv 3x3 64, then conv 3x3 128 at 20 m)
                          joined at the first down-sampling; a 20 m head (transposed conv 3x3 64 at stride 1, conv
                          3x3 to 6 bands) before the last up-sampling; and the 10-band stack s2_all_bands_estim
                          (the 20 m estimate upsampled x 2 after the 10 m bands)
  crga_os2_gapfilling,    linear in time between t-1 and t+1 (no weights)
  crga_os1_gapfilling
  monthly_synthesis_6_s2_images      the U-Net's encoder on each of 6 S2 dates (shared weights), the decoder on the
                                     six dates' features stacked at each level; one synthesis out
  monthly_synthesis_6_s2s1_images    the same on 6 S2 and 6 S1 dates (S2 and S1 have their own first two convs),
                                     the DEM (as it is, no conv) joined after the first down-sampling
  monthly_synthesis_6_s2_images_david, monthly_synthesis_6_s2s1_images_david   "David" on the 6 (S2, or S2 and S1)
                                     dates: conv 5x5 64, stride-2 convs 128 and 256 per date (DEM through conv 3x3
                                     64 joined after the first down-sampling), two transposed convs back

The facts of each family (input names in the original's order, band counts, 20 m bands and their order, the
normalisation, the output names and pads) are those of :mod:`decloud.import_model` (``FAMILIES``, ``OUTPUTS``,
``INPUT_SCALE``, ``PADS``); the layers are named as the original's (``conv1_relu``, ``conv2_bn_relu``,
``deconv1_bn_relu``, ``s2_estim``...). Inputs: float32 [batch, rows, cols, bands], 20 m inputs and the DEM at half
the rows and columns; timestamps [batch] seconds. Outputs: each estimate at 0-1 (``s2_estim``), and
``<estimate>_padN``: the estimate x 10000 cropped by N pixels of its own grid, N in 32, 64, 128, 256. ``width``
scales every layer width (0.125: a 8..64 U-Net for tests).

These networks are not trained by ``decloud train`` (their outputs are the original's, not ``s2_target``); they
are the original's models to import, or to build SavedModels with its exact signatures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .import_model import FAMILIES, OUTPUT_SCALE, OUTPUTS, PADS, estimates, input_bands, input_scale, padded


def _keras() -> Any:
    import keras  # noqa: PLC0415

    return keras


def _widths(width: float, count: int = 6) -> tuple[int, ...]:
    from .networks import _widths as scaled  # noqa: PLC0415 - networks registers these builders: imported late

    return scaled(width)[:count]


def _inputs(keras, family: str) -> tuple[dict, dict]:
    """The family's inputs (named as its dataset keys) and their normalised versions (the original's scales)."""
    inputs = {}
    for key in FAMILIES[family].inputs:
        bands = input_bands(key)
        inputs[key] = keras.Input((), name=key) if bands == 0 else keras.Input((None, None, bands), name=key)
    norm = {k: keras.layers.Rescaling(input_scale(k), name=f"normalise_{k}")(v) for k, v in inputs.items()}
    return inputs, norm


def _model(keras, family: str, inputs: dict, estimated: list) -> object:
    """The Keras model: each estimate (0-1, in the order of ``estimates(family)``) and its padded versions."""
    outputs = {}
    for name, tensor in zip(estimates(family), estimated):
        outputs[name] = tensor
        scaled = keras.layers.Rescaling(OUTPUT_SCALE, name=f"{name}_x10000")(tensor)
        for p in PADS:
            outputs[padded(name, p)] = keras.layers.Cropping2D(p, name=padded(name, p))(scaled)
    return keras.Model(inputs, outputs, name=family)


def _cat(keras, tensors: list):
    return tensors[0] if len(tensors) == 1 else keras.layers.Concatenate()(tensors)


def _conv(keras, width: int, kernel: int, name: str, stride: int = 1, relu: bool = True):
    return keras.layers.Conv2D(width, kernel, stride, padding="same", activation="relu" if relu else None, name=name)


def _deconv(keras, width: int, name: str, stride: int = 2):
    return keras.layers.Conv2DTranspose(width, 3, stride, padding="same", activation="relu", name=name)


def _all_bands(keras, s2, s2_20m):
    """The 10-band stack at 10 m: the 10 m estimate, then the 20 m one upsampled x 2 (nearest)."""
    up = keras.layers.UpSampling2D(2, name="s2_20m_estim_upsampled")(s2_20m)
    return keras.layers.Concatenate(name="s2_all_bands_estim")([s2, up])


# A date of a U-Net: its first convolution's name, its 10 m inputs, its 20 m input (None: none).
Date = tuple[str, Sequence[str], str | None]


def _unet(family: str, dates: Sequence[Date], width: float, *, twenty: str = ""):
    """The original's U-Nets. ``dates``: per date, its first convolution (``conv1`` for S1 + S2, ``conv1_s1s2`` /
    ``conv1_s1`` in OS1), its 10 m inputs (concatenated, S1 first) and its 20 m input (or None). ``twenty``: how the
    20 m bands join at the first down-sampling: "" (none: the DEM feature is concatenated), "after" (OS2 and Meraner
    all-bands: conv1_20m then conv2_20m at 20 m, concatenated with the 10 m and DEM features), "before" (OS1
    all-bands: the 10 m, conv1_20m and DEM features concatenated, then conv2_20m; S1 at t alone joins nothing)."""
    keras = _keras()
    inputs, norm = _inputs(keras, family)
    w = _widths(width)
    first = {name: _conv(keras, w[0], 5, f"{name}_relu") for name in dict.fromkeys(d[0] for d in dates)}
    conv1_dem = _conv(keras, w[0], 3, "conv1_dem_relu")
    conv1_20m = _conv(keras, w[0], 3, "conv1_20m_relu")  # used with 20 m bands only (else not in the model)
    conv2_20m = _conv(keras, w[1], 3, "conv2_20m_bn_relu")
    down = [_conv(keras, w[k], 3, f"conv{k + 1}_bn_relu", stride=2) for k in range(1, 6)]
    features: list[list] = [[] for _ in range(6)]  # per factor 1, 2, ..., 32: one per date
    for conv1, ten, s20 in dates:
        net = first[conv1](_cat(keras, [norm[k] for k in ten]))
        features[0].append(net)
        net = down[0](net)
        dem = [conv1_dem(norm["dem"])] if "dem" in norm else []
        if twenty == "after":
            net = _cat(keras, [net, conv2_20m(conv1_20m(norm[s20])), *dem])
        elif twenty == "before":
            if s20 is not None:  # S1 alone at t joins nothing
                net = conv2_20m(_cat(keras, [net, conv1_20m(norm[s20]), *dem]))
        else:
            net = _cat(keras, [net, *dem])
        features[1].append(net)
        for k, conv in enumerate(down[1:], start=2):
            net = conv(net)
            features[k].append(net)
    net = _cat(keras, features[5])
    s2_20m = None
    for k, name in ((4, "deconv1"), (3, "deconv2"), (2, "deconv3"), (1, "deconv4"), (0, "deconv5")):
        if k == 0 and twenty:
            net_20m = _deconv(keras, w[0], "deconv5_20m_bn_relu", stride=1)(net)
            s2_20m = _conv(keras, OUTPUTS["s2_20m_estim"][0], 3, "s2_20m_estim", relu=False)(net_20m)
        net = _cat(keras, features[k] + [_deconv(keras, w[k], f"{name}_bn_relu")(net)])
    s2 = _conv(keras, OUTPUTS["s2_estim"][0], 5, "s2_estim", relu=False)(net)
    return _model(keras, family, inputs, [s2] if s2_20m is None else [s2, s2_20m, _all_bands(keras, s2, s2_20m)])


_OS2_DATES: list[Date] = [("conv1", [f"s1_{d}", f"s2_{d}"], f"s2_20m_{d}") for d in ("tm1", "t", "tp1")]


def crga_os2_unet(*, width: float = 1.0):
    return _unet("crga_os2_unet", _OS2_DATES, width)


def crga_os2_unet_all_bands(*, width: float = 1.0):
    return _unet("crga_os2_unet_all_bands", _OS2_DATES, width, twenty="after")


def _os1_dates(s1_t: str) -> list[Date]:
    return [("conv1_s1s2", ["s1_tm1", "s2_tm1"], "s2_20m_tm1"), ("conv1_s1", [s1_t], None),
            ("conv1_s1s2", ["s1_tp1", "s2_tp1"], "s2_20m_tp1")]


def crga_os1_unet(*, width: float = 1.0):
    return _unet("crga_os1_unet", _os1_dates("s1_t"), width)


def crga_os1_unet_impostor(*, width: float = 1.0):
    return _unet("crga_os1_unet_impostor", _os1_dates("s1_target"), width)


def crga_os1_unet_all_bands(*, width: float = 1.0):
    return _unet("crga_os1_unet_all_bands", _os1_dates("s1_t"), width, twenty="before")


def meraner_unet(*, width: float = 1.0):
    return _unet("meraner_unet", [("conv1", ["s1_t", "s2_t"], "s2_20m_t")], width)


def meraner_unet_all_bands(*, width: float = 1.0):
    return _unet("meraner_unet_all_bands", [("conv1", ["s1_t", "s2_t"], "s2_20m_t")], width, twenty="after")


def _david(family: str, width: float, with_20m: bool):
    """David: per date (S1 + S2, shared layers) conv 5x5 64, stride-2 convs 128 and 256 (the DEM, and the 20 m bands
    through conv1_20m and conv2_20m at stride 1, joined after the first down-sampling); the dates' features
    concatenated; transposed convs 128 and 64 back; conv 5x5 to 4 bands, with a ReLU (as the original); with 20 m
    bands, a 20 m head from the first transposed conv (transposed conv 3x3 64 at stride 1, conv 3x3 to 6, ReLU)."""
    keras = _keras()
    inputs, norm = _inputs(keras, family)
    w = _widths(width, 3)
    conv1, conv1_dem = _conv(keras, w[0], 5, "conv1_relu"), _conv(keras, w[0], 3, "conv1_dem_relu")
    conv1_20m, conv2_20m = _conv(keras, w[0], 3, "conv1_20m_relu"), _conv(keras, w[1], 3, "conv2_20m_bn_relu")
    conv2 = _conv(keras, w[1], 3, "conv2_bn_relu", stride=2)
    conv3 = _conv(keras, w[2], 3, "conv3_bn_relu", stride=2)
    features = []
    for d in ("tm1", "t", "tp1"):
        net = conv2(conv1(_cat(keras, [norm[f"s1_{d}"], norm[f"s2_{d}"]])))
        twenty = [conv2_20m(conv1_20m(norm[f"s2_20m_{d}"]))] if with_20m else []
        net = _cat(keras, [net, *twenty, conv1_dem(norm["dem"])])
        features.append(conv3(net))
    net = _deconv(keras, w[1], "deconv1_bn_relu")(_cat(keras, features))
    s2 = _conv(keras, OUTPUTS["s2_estim"][0], 5, "s2_estim")(_deconv(keras, w[0], "deconv2_bn_relu")(net))
    if not with_20m:
        return _model(keras, family, inputs, [s2])
    net_20m = _deconv(keras, w[0], "deconv2_20m_bn_relu", stride=1)(net)
    s2_20m = _conv(keras, OUTPUTS["s2_20m_estim"][0], 3, "s2_20m_estim")(net_20m)
    return _model(keras, family, inputs, [s2, s2_20m, _all_bands(keras, s2, s2_20m)])


def crga_os2_david(*, width: float = 1.0):
    return _david("crga_os2_david", width, False)


def crga_os2_david_all_bands(*, width: float = 1.0):
    return _david("crga_os2_david_all_bands", width, True)


def meraner_original(*, blocks: int = 16, width: int = 256):
    """Meraner et al. 2020 as the original has it: conv 3x3 ``width`` (ReLU) on S1 + S2 at t, ``blocks`` residual
    blocks (conv 3x3 ReLU, conv 3x3, then ReLU(0.1 x that + the block's input)), conv 3x3 to 4 bands, plus the
    cloudy S2; the last layer is an unnamed Add (Keras 2 named it ``add``)."""
    keras = _keras()
    L = keras.layers
    inputs, norm = _inputs(keras, "meraner_original")
    net = _conv(keras, width, 3, "conv1_relu")(L.Concatenate()([norm["s1_t"], norm["s2_t"]]))
    for i in range(blocks):
        r = _conv(keras, width, 3, f"block{i}_conv1_relu")(net)
        r = _conv(keras, width, 3, f"block{i}_conv2_relu", relu=False)(r)
        net = L.ReLU(name=f"block{i}_relu")(L.Add(name=f"block{i}_add")([L.Rescaling(0.1)(r), net]))
    net = _conv(keras, OUTPUTS["s2_estim"][0], 3, "conv2", relu=False)(net)
    s2 = L.Add(name=FAMILIES["meraner_original"].keras2_name)([net, norm["s2_t"]])
    return _model(keras, "meraner_original", inputs, [s2])


def _synthesis_unet(family: str, width: float):
    """The original's monthly-synthesis U-Nets: per stream (each S2 date, then each S1 date, in the family's input
    order) conv 5x5 64 and a stride-2 conv 128 (S2 and S1 streams each their own two, shared over the dates), the
    DEM (normalised, no conv) concatenated after them, then the shared stride-2 convs 256, 512, 512, 512; a decoder
    on every stream's features stacked at each level (transposed convs 512, 512, 256, 128, 64); conv 5x5 to 4 bands.
    Without S1 the two first convs are named ``conv1_relu``, ``conv2_bn_relu`` (as the original's)."""
    keras = _keras()
    inputs, norm = _inputs(keras, family)
    w = _widths(width)
    streams = [k for k in FAMILIES[family].inputs if k != "dem"]
    with_s1 = any(k.startswith("s1") for k in streams)
    first = {sensor: (_conv(keras, w[0], 5, f"conv1_{sensor}_relu" if with_s1 else "conv1_relu"),
                      _conv(keras, w[1], 3, f"conv2_{sensor}_relu" if with_s1 else "conv2_bn_relu", stride=2))
             for sensor in dict.fromkeys(k[:2] for k in streams)}
    down = [_conv(keras, w[k], 3, f"conv{k + 1}_bn_relu", stride=2) for k in range(2, 6)]
    features: list[list] = [[] for _ in range(6)]  # per factor 1, 2, ..., 32: one per stream
    for key in streams:
        conv1, conv2 = first[key[:2]]
        net = conv1(norm[key])
        features[0].append(net)
        net = _cat(keras, [conv2(net), *([norm["dem"]] if "dem" in norm else [])])
        features[1].append(net)
        for k, conv in enumerate(down, start=2):
            net = conv(net)
            features[k].append(net)
    net = _cat(keras, features[5])
    for k, name in ((4, "deconv1"), (3, "deconv2"), (2, "deconv3"), (1, "deconv4"), (0, "deconv5")):
        net = _cat(keras, features[k] + [_deconv(keras, w[k], f"{name}_bn_relu")(net)])
    s2 = _conv(keras, OUTPUTS["s2_estim"][0], 5, "s2_estim", relu=False)(net)
    return _model(keras, family, inputs, [s2])


def _synthesis_david(family: str, width: float):
    """The original's monthly-synthesis "David": per stream (S2 dates, then S1 dates) conv 5x5 64 (``conv1_s2_relu``,
    ``conv1_s1_relu``), the shared stride-2 conv 128, the DEM through conv 3x3 64 joined there (S2 + S1 only), the
    shared stride-2 conv 256; the streams' features concatenated; transposed convs 128 and 64 back; conv 5x5 to 4
    bands with a ReLU (as the original)."""
    keras = _keras()
    inputs, norm = _inputs(keras, family)
    w = _widths(width, 3)
    streams = [k for k in FAMILIES[family].inputs if k != "dem"]
    first = {s: _conv(keras, w[0], 5, f"conv1_{s}_relu") for s in dict.fromkeys(k[:2] for k in streams)}
    conv1_dem = _conv(keras, w[0], 3, "conv1_dem_relu")
    conv2 = _conv(keras, w[1], 3, "conv2_bn_relu", stride=2)
    conv3 = _conv(keras, w[2], 3, "conv3_bn_relu", stride=2)
    features = []
    for key in streams:
        net = conv2(first[key[:2]](norm[key]))
        net = _cat(keras, [net, *([conv1_dem(norm["dem"])] if "dem" in norm else [])])
        features.append(conv3(net))
    net = _deconv(keras, w[1], "deconv1_bn_relu")(_cat(keras, features))
    s2 = _conv(keras, OUTPUTS["s2_estim"][0], 5, "s2_estim")(_deconv(keras, w[0], "deconv2_bn_relu")(net))
    return _model(keras, family, inputs, [s2])


def monthly_synthesis_6_s2_images(*, width: float = 1.0):
    return _synthesis_unet("monthly_synthesis_6_s2_images", width)


def monthly_synthesis_6_s2s1_images(*, width: float = 1.0):
    return _synthesis_unet("monthly_synthesis_6_s2s1_images", width)


def monthly_synthesis_6_s2_images_david(*, width: float = 1.0):
    return _synthesis_david("monthly_synthesis_6_s2_images_david", width)


def monthly_synthesis_6_s2s1_images_david(*, width: float = 1.0):
    return _synthesis_david("monthly_synthesis_6_s2s1_images_david", width)


def _linear_in_time(keras, name):
    """A layer: ``before + (after - before) * (t - t_before) / (t_after - t_before)`` per pixel."""

    class LinearInTime(keras.layers.Layer):
        def call(self, before, after, t_before, t, t_after):
            w = keras.ops.reshape((t - t_before) / (t_after - t_before), (-1, 1, 1, 1))
            return before + (after - before) * w

    return LinearInTime(name=name)


def _gapfilling(family: str):
    """Linear in time between t-1 and t+1, per pixel, on the normalised inputs (the original normalises the
    timestamps too, as keys starting with s2: the ratio of their differences is unchanged)."""
    keras = _keras()
    inputs, norm = _inputs(keras, family)
    before, after, t_before, t, t_after = (norm[k] for k in FAMILIES[family].inputs)
    s2 = _linear_in_time(keras, FAMILIES[family].keras2_name)(before, after, t_before, t, t_after)
    return _model(keras, family, inputs, [s2])


def crga_os2_gapfilling():
    return _gapfilling("crga_os2_gapfilling")


def crga_os1_gapfilling():
    return _gapfilling("crga_os1_gapfilling")


ORIGINAL_FAMILIES: dict[str, Callable] = {
    "crga_os2_unet": crga_os2_unet,
    "crga_os2_david": crga_os2_david,
    "crga_os1_unet": crga_os1_unet,
    "crga_os1_unet_impostor": crga_os1_unet_impostor,
    "meraner_unet": meraner_unet,
    "meraner_original": meraner_original,
    "crga_os2_unet_all_bands": crga_os2_unet_all_bands,
    "crga_os2_david_all_bands": crga_os2_david_all_bands,
    "crga_os1_unet_all_bands": crga_os1_unet_all_bands,
    "meraner_unet_all_bands": meraner_unet_all_bands,
    "crga_os2_gapfilling": crga_os2_gapfilling,
    "crga_os1_gapfilling": crga_os1_gapfilling,
    "monthly_synthesis_6_s2_images": monthly_synthesis_6_s2_images,
    "monthly_synthesis_6_s2_images_david": monthly_synthesis_6_s2_images_david,
    "monthly_synthesis_6_s2s1_images": monthly_synthesis_6_s2s1_images,
    "monthly_synthesis_6_s2s1_images_david": monthly_synthesis_6_s2s1_images_david,
}

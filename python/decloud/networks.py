"""The networks of Cresson et al. 2022, in an explicit registry: ``get_model(name, **options)``.

  gapfilling  (A) per pixel, linear in time between t-1 and t+1 (no weights); a date with nodata at a pixel
              gives way to the other one
  ssop_mer    (B) Meraner et al. 2020: conv 3x3 256, 16 residual blocks of two 3x3 convs of 256 channels with
              residual scaling 0.1, conv 3x3 to the bands, long skip adding the cloudy S2 -- all at 10 m
  ssop_unet   (B) U-Net: conv 5x5 64, stride-2 convs 128, 256, 512, 512, 512 (DEM and 20 m inputs joined
              after the first down-sampling), transposed convs back with skips, conv 5x5 to the bands;
              optional 20 m output before the last up-sampling
  msop_unet   (C) the same encoder shared by t-1, t, t+1; the decoder works on the features of the three
              dates stacked at each level; outputs S2 at t
  gfnet       Decloud's own: (A) + a learned correction. The in-graph linear gap-filling is the base, a U-Net
              sees t, its cloud mask, t-1, t+1, their dates and the clear pixels' relation between them, and
              adds a correction that starts at zero (see ``gfnet``)
  synthnet    Decloud's synthesis network (issue 16): N dates of a period in, one image out; the in-graph median
              of the clear observations plus a learned choice among them that starts at zero (see ``synthnet``)

Inputs are the stored values (the apps feed raw data): S2 int16 reflectance x 10000 (nodata -10000), S1
uint16 log stretch, DEM metres. Normalisation is inside the graph (S2 / 10000, S1 / 65535, DEM / 1000) and so
is the output scaling (x 10000). Outputs: ``s2_target`` (and ``s2_20m_target``) plus centre crops
``s2_target_crop<N>`` that drop N pixels on each side (the padding options against block artefacts).
``width`` scales every U-Net width (0.25: a 16..128 U-Net).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .errors import DecloudKeyError

S2_BANDS, S2_20M_BANDS, S1_BANDS = 4, 6, 2
UNET_WIDTHS = (64, 128, 256, 512, 512, 512)
CROPS = (16, 32, 64)


def _keras():
    import keras  # noqa: PLC0415

    return keras


def _normalise(keras, x, key: str):
    if key.startswith("s1"):
        return x / 65535.0
    if key == "dem":
        return x / 1000.0
    return x / 10000.0


def _outputs(keras, tensors: dict, crops=CROPS) -> dict:
    """Scale the estimates back to reflectance x 10000 and add their centre crops."""
    out = {}
    for key, t in tensors.items():
        scaled = keras.layers.Rescaling(10000.0, name=key)(t)
        out[key] = scaled
        factor = 2 if "20m" in key else 1
        for c in crops:
            out[f"{key}_crop{c}"] = keras.layers.Cropping2D(c // factor, name=f"{key}_crop{c}")(scaled)
    return out


def _inputs(keras, spec: dict[str, tuple[int, int]]) -> dict:
    return {k: keras.Input((None, None, bands), name=k) for k, (bands, _) in spec.items()}


class _UNetEncoder:
    """Layers of the encoder; called once per date (shared weights for msop_unet)."""

    def __init__(self, keras, widths, with_dem: bool, with_20m: bool, kernel: int = 5):
        L = keras.layers
        w = widths
        self.conv1 = L.Conv2D(w[0], kernel, padding="same", activation="relu", name="conv1")
        self.down = [L.Conv2D(w[i], 3, strides=2, padding="same", activation="relu", name=f"conv{i + 1}")
                     for i in range(1, len(w))]
        self.dem = L.Conv2D(w[0], 3, padding="same", activation="relu", name="conv1_dem") if with_dem else None
        self.s20 = L.Conv2D(w[0], 3, padding="same", activation="relu", name="conv1_20m") if with_20m else None
        self.concat = L.Concatenate

    def __call__(self, x, dem=None, s20=None) -> list:
        """Features at factors 1, 2, 4, ... (the deepest last)."""
        feats = [self.conv1(x)]
        net = self.down[0](feats[0])
        extra = [f(v) for f, v in ((self.dem, dem), (self.s20, s20)) if f is not None and v is not None]
        if extra:
            net = self.concat()([net, *extra])
        feats.append(net)
        for conv in self.down[1:]:
            net = conv(net)
            feats.append(net)
        return feats


def _unet_decoder(keras, levels: list[list], widths, out_bands: int, out_20m: bool, zero_init: bool = False,
                  kernel: int = 5) -> dict:
    """levels[k]: the features (one per date) at factor 2**k; the deepest level starts the decoder.
    ``zero_init``: the last convolution starts at zero (a residual branch that starts as nothing)."""
    L = keras.layers
    cat = lambda ts: ts[0] if len(ts) == 1 else L.Concatenate()(ts)  # noqa: E731
    net = cat(levels[-1])
    out = {}
    for k in range(len(levels) - 2, -1, -1):
        net = L.Conv2DTranspose(widths[k], 3, strides=2, padding="same", activation="relu", name=f"deconv{k}")(net)
        net = cat(levels[k] + [net])
        if k == 1 and out_20m:
            out["s2_20m_target"] = L.Conv2D(S2_20M_BANDS, 5, padding="same", name="s2_20m_estimate")(net)
    init = {"kernel_initializer": "zeros"} if zero_init else {}
    out["s2_target"] = L.Conv2D(out_bands, kernel, padding="same", name="s2_estimate", **init)(net)
    return out


def _widths(width: float) -> tuple[int, ...]:
    return tuple(max(4, int(round(w * width))) for w in UNET_WIDTHS)


def ssop_unet(*, with_sar: bool = True, with_dem: bool = True, with_20m: bool = False, width: float = 1.0):
    keras = _keras()
    spec = {"s2_t": (S2_BANDS, 1)}
    if with_sar:
        spec["s1_t"] = (S1_BANDS, 1)
    if with_dem:
        spec["dem"] = (1, 2)
    if with_20m:
        spec["s2_20m_t"] = (S2_20M_BANDS, 2)
    inputs = _inputs(keras, spec)
    norm = {k: _normalise(keras, v, k) for k, v in inputs.items()}
    x = norm["s2_t"] if not with_sar else keras.layers.Concatenate()([norm["s1_t"], norm["s2_t"]])
    widths = _widths(width)
    feats = _UNetEncoder(keras, widths, with_dem, with_20m)(x, norm.get("dem"), norm.get("s2_20m_t"))
    outputs = _outputs(keras, _unet_decoder(keras, [[f] for f in feats], widths, S2_BANDS, with_20m))
    return keras.Model(inputs, outputs, name="ssop_unet")


def msop_unet(*, with_sar: bool = True, with_dem: bool = True, width: float = 1.0):
    keras = _keras()
    dates = ("tm1", "t", "tp1")
    spec = {}
    for d in dates:
        spec[f"s2_{d}"] = (S2_BANDS, 1)
        if with_sar:
            spec[f"s1_{d}"] = (S1_BANDS, 1)
    if with_dem:
        spec["dem"] = (1, 2)
    inputs = _inputs(keras, spec)
    norm = {k: _normalise(keras, v, k) for k, v in inputs.items()}
    widths = _widths(width)
    encoder = _UNetEncoder(keras, widths, with_dem, False)
    per_date = []
    for d in dates:
        x = norm[f"s2_{d}"] if not with_sar else keras.layers.Concatenate()([norm[f"s1_{d}"], norm[f"s2_{d}"]])
        per_date.append(encoder(x, norm.get("dem")))
    levels = [[feats[k] for feats in per_date] for k in range(len(widths))]
    outputs = _outputs(keras, _unet_decoder(keras, levels, widths, S2_BANDS, False))
    return keras.Model(inputs, outputs, name="msop_unet")


def ssop_mer(*, with_sar: bool = True, blocks: int = 16, width: int = 256):
    keras = _keras()
    L = keras.layers
    spec = {"s2_t": (S2_BANDS, 1)}
    if with_sar:
        spec["s1_t"] = (S1_BANDS, 1)
    inputs = _inputs(keras, spec)
    norm = {k: _normalise(keras, v, k) for k, v in inputs.items()}
    x = norm["s2_t"] if not with_sar else L.Concatenate()([norm["s1_t"], norm["s2_t"]])
    net = L.Conv2D(width, 3, padding="same", activation="relu", name="conv_in")(x)
    for b in range(blocks):
        r = L.Conv2D(width, 3, padding="same", activation="relu", name=f"res{b}_a")(net)
        r = L.Conv2D(width, 3, padding="same", name=f"res{b}_b")(r)
        net = L.Add()([net, L.Rescaling(0.1)(r)])
    net = L.Conv2D(S2_BANDS, 3, padding="same", name="conv_out")(net)
    estimate = L.Add(name="long_skip")([net, norm["s2_t"]])
    return keras.Model(inputs, _outputs(keras, {"s2_target": estimate}), name="ssop_mer")


def gapfilling():
    """Linear in time between t-1 and t+1, per pixel; the dates come as [batch] timestamps (seconds)."""
    keras = _keras()
    import tensorflow as tf  # noqa: PLC0415

    inputs = _inputs(keras, {"s2_tm1": (S2_BANDS, 1), "s2_tp1": (S2_BANDS, 1)})
    for d in ("tm1", "t", "tp1"):
        inputs[f"s2_timestamp_{d}"] = keras.Input((), name=f"s2_timestamp_{d}")  # float32 seconds: 128 s steps

    class LinearInTime(keras.layers.Layer):
        def call(self, before, after, t_before, t, t_after):
            w = tf.cast((t - t_before) / tf.maximum(t_after - t_before, 1.0), before.dtype)[:, None, None, None]
            valid_b, valid_a = before > -10000, after > -10000
            mix = (1 - w) * before + w * after
            return tf.where(valid_b & valid_a, mix, tf.where(valid_b, before, tf.where(valid_a, after, -10000.0)))

    out = LinearInTime(name="s2_target")(inputs["s2_tm1"], inputs["s2_tp1"], inputs["s2_timestamp_tm1"],
                                         inputs["s2_timestamp_t"], inputs["s2_timestamp_tp1"])
    return keras.Model(inputs, {"s2_target": out}, name="gapfilling")


DAY_SECONDS = 86400.0
CANDIDATES = 4  # gfnet's candidate corrections without the regressions (see GapFillFeatures)
GFNET_MULTIPLE = 32  # gfnet pads its inputs to a multiple of this x its scale (its pyramid and U-Net's levels)
REGRESSION_CELL = 32  # pixels: the cell of the local regression's statistics (3 x 3 cells: a 96-pixel window)
REGRESSION_RIDGE = 1e-3  # reflectance**2: pulls the regression towards the gap-filling + local bias
SELECT_TEMPERATURE = 0.1  # log10 of the held-out error: 0.1 apart (26 %) is a factor e in the selection's weights
REGRESSION_PRIOR = 0.05  # share of a window: weight of the scene-wide statistics in a window's regression
# gfnet's ``trust_fits``: the fits from t's clear pixels count in full from this share of clear pixels in the tile
# up, in proportion below it (a few clear pixels at a cloud's edge, hazy or shadowed, are no base for a fit).
FIT_TRUST_SHARE = 0.25
# gfnet's ``count_trust``: the fits count in full from this many clear pixels of t in the tile up (one regression
# cell's worth), in proportion below it: a fit's reliability follows the pixels it is fitted on, whatever the tile.
FIT_TRUST_PIXELS = float(REGRESSION_CELL ** 2)
# gfnet's ``gate_free``: the free residual times min(1, FREE_GATE x the share of t's clear pixels in each 32-pixel
# cell), bilinear: a quarter of a cell clear and it is whole; none in a tile without clear pixels.
FREE_GATE = 4.0
# gfnet's analog candidate (``analog_fill``): principal components of (t-1, t+1) binned, finest bin width in their
# standard deviations, levels of doubling widths, clear pixels for a bin to be trusted, shifted grids averaged,
# bits per component of a bin's key
ANALOG_DIMS, ANALOG_WIDTH, ANALOG_LEVELS, ANALOG_COUNT, ANALOG_GRIDS, ANALOG_BITS = 5, 0.5, 6, 10.0, 4, 8


def pixel_sum(x, axis, mean: bool = False):
    """``tf.reduce_sum`` (``mean``: ``reduce_mean``) of ``x`` over ``axis`` (the pixels), summed in float64 and
    returned in ``x``'s dtype. A float32 sum over a tile's pixels rounds differently with the number of threads
    TensorFlow splits it between; summed in float64 the difference stays below a float32 ulp, so the networks'
    output does not depend on the thread count."""
    import tensorflow as tf  # noqa: PLC0415

    x64 = tf.cast(x, tf.float64)
    out = tf.reduce_mean(x64, axis=axis, keepdims=True) if mean else tf.reduce_sum(x64, axis=axis, keepdims=True)
    return tf.cast(out, x.dtype)


def cell_mean(x, k: int):
    """The mean of each k x k cell of ``x`` [B, H, W, C] (H and W multiples of k): tf.nn.avg_pool2d(x, k, k,
    "VALID") as two sums over reshaped axes, 4 to 7 times faster on CPU (TensorFlow's pooling kernel is slow with
    few channels), equal up to the summation order."""
    import tensorflow as tf  # noqa: PLC0415

    if k == 1:
        return x
    b, h, w, c = tf.unstack(tf.shape(x))
    rows = tf.reduce_sum(tf.reshape(x, [b * h // k, k, w, c]), axis=1)
    cells = tf.reduce_sum(tf.reshape(rows, [b * h // k, w // k, k, c]), axis=2)
    return tf.reshape(cells, [b, h // k, w // k, c]) / float(k * k)


def dilate(x, size: int):
    """The maximum over the size x size window centred on each pixel (size odd; outside the image counts as 0,
    so for x >= 0 it equals tf.nn.max_pool2d(x, size, 1, "SAME")): a binary mask grown by size // 2 pixels, as
    maxima of shifted copies, 10 times faster on CPU than TensorFlow's pooling kernel on one plane."""
    import tensorflow as tf  # noqa: PLC0415

    r = size // 2
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    padded = tf.pad(x, [[0, 0], [r, r], [0, 0], [0, 0]])
    rows = padded[:, 0:h]
    for i in range(1, size):
        rows = tf.maximum(rows, padded[:, i:i + h])
    padded = tf.pad(rows, [[0, 0], [0, 0], [r, r], [0, 0]])
    out = padded[:, :, 0:w]
    for i in range(1, size):
        out = tf.maximum(out, padded[:, :, i:i + w])
    return out


def regression_products(y, xb, xa) -> list:
    """The 8 products whose means ``regression_coefficients`` solves from: y, xb, xa, xb^2, xa^2, xb xa, xb y,
    xa y."""
    return [y, xb, xa, xb * xb, xa * xa, xb * xa, xb * y, xa * y]


def cell_moments(prods, weight, cell: int):
    """The weighted sums of ``prods`` [B, H, W, bands] each over the cells of ``cell`` x ``cell`` pixels,
    divided by the cell's area, stacked: [B, h, w, bands, n]. Each weighted product is pooled at full
    resolution, then stacked at the cells' size (stacking the full-resolution products first cost a quarter of
    a tile's time)."""
    import tensorflow as tf  # noqa: PLC0415

    return tf.stack([cell_mean(p * weight, cell) for p in prods], axis=-1)


def regression_coefficients(mom, ridge: float = REGRESSION_RIDGE):
    """Per band, the least-squares fit ``y ~ a + c1 xb + c2 xa`` (slopes with ridge ``ridge``, clipped to
    [-1.5, 1.5]) from the moments [..., 8]: means of y, xb, xa, xb^2, xa^2, xb xa, xb y, xa y. Returns (a, c1, c2)."""
    import tensorflow as tf  # noqa: PLC0415

    my, mb, ma = mom[..., 0], mom[..., 1], mom[..., 2]
    sbb = mom[..., 3] - mb * mb + ridge
    saa = mom[..., 4] - ma * ma + ridge
    sab = mom[..., 5] - mb * ma
    sby = mom[..., 6] - mb * my
    say = mom[..., 7] - ma * my
    det = sbb * saa - sab * sab
    c1 = tf.clip_by_value((saa * sby - sab * say) / det, -1.5, 1.5)
    c2 = tf.clip_by_value((sbb * say - sab * sby) / det, -1.5, 1.5)
    return my - c1 * mb - c2 * ma, c1, c2


def held_out_errors(y, d_b, d_a, xb, xa, weight, cell: int = REGRESSION_CELL, ridge: float = REGRESSION_RIDGE,
                    prior: float = REGRESSION_PRIOR, regression_cells=None):
    """How well each way of filling a cloud explains t's clear pixels it was NOT fitted on: per cell of
    ``cell`` pixels with clear pixels (``weight`` > 0), the mean squared error (mean over the bands) there of
    the estimate fitted on the other 8 cells of its 3 x 3 window (shrunk towards the scene by ``prior``, as
    the candidates are): the gap-filling alone (``y`` = t minus it), the gap-filling + local bias, t-1 + local
    bias (``d_b`` = t minus t-1), t+1 + local bias (``d_a``), the local regression of ``y`` on (``xb``,
    ``xa``), the scene-wide regression. Leave-one-cell-out in closed form from the cells' moments, so it costs
    little; a cloud is filled from around it the same way, so the error held out is the one to expect there.
    Returns (4 + log10 of each error plus 1e-6 (reflectance 0.001) [B, h, w, 6] at the cells' grid, the cells'
    share of clear pixels [B, h, w, 1]). ``y``, ``d_b``, ``d_a``, ``xb``, ``xa``: [B, H, W, bands], ``weight``
    [B, H, W, 1]; H and W multiples of ``cell``. ``regression_cells``: the ``cell_moments`` of the
    ``regression_products`` with the same weight and cell, when the caller has them already (the regressions'
    own), so that they are not computed twice."""
    import tensorflow as tf  # noqa: PLC0415

    if regression_cells is None:
        regression_cells = cell_moments(regression_products(y, xb, xa), weight, cell)
    cells = tf.concat([regression_cells, cell_moments([y * y, d_b, d_b * d_b, d_a, d_a * d_a], weight, cell)],
                      axis=-1)  # [B, h, w, bands, 13]
    wcell = cell_mean(weight, cell)[..., None]  # [B, h, w, 1, 1]
    glob = tf.math.divide_no_nan(pixel_sum(cells, [1, 2], mean=True), pixel_sum(wcell, [1, 2], mean=True))
    shape = tf.shape(cells)

    def window_sum(x):  # the sum over each 3 x 3 window of cells (none outside the image)
        return tf.nn.avg_pool2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), 3, 1, "VALID") * 9.0

    around = tf.reshape(window_sum(tf.reshape(cells, tf.concat([shape[:3], [-1]], 0))), shape) - cells
    waround = window_sum(wcell[..., 0])[..., None] - wcell  # the 8 other cells
    fit = (around / 8.0 + prior * glob) / (waround / 8.0 + prior)  # the moments a hole's fill is made from
    here = tf.math.divide_no_nan(cells, wcell)  # the held-out cell's own moments
    ey, eb, ea, ebb, eaa, eba, eby, eay, eyy, edb, edbb, eda, edaa = tf.unstack(here, 13, axis=-1)

    def regression_error(a, c1, c2):  # E[(y - a - c1 xb - c2 xa)^2] over the cell
        return (eyy + a * a + c1 * c1 * ebb + c2 * c2 * eaa - 2 * a * ey - 2 * c1 * eby - 2 * c2 * eay
                + 2 * a * c1 * eb + 2 * a * c2 * ea + 2 * c1 * c2 * eba)

    def bias_error(m, e1, e2):  # E[(d - m)^2] over the cell, m the mean of d around it
        return e2 - 2 * m * e1 + m * m

    errors = [eyy, bias_error(fit[..., 0], ey, eyy), bias_error(fit[..., 9], edb, edbb),
              bias_error(fit[..., 11], eda, edaa), regression_error(*regression_coefficients(fit, ridge)),
              regression_error(*regression_coefficients(glob, ridge))]
    logs = [tf.math.log(tf.maximum(tf.reduce_mean(err, axis=3), 0.0) + 1e-6) / tf.math.log(10.0) + 4.0
            for err in errors]
    return tf.stack(logs, axis=-1), wcell[..., 0]


def analog_fill(y, xb, xa, weight, dims: int = ANALOG_DIMS, width: float = ANALOG_WIDTH,
                levels: int = ANALOG_LEVELS, count: float = ANALOG_COUNT):
    """The mean of ``y`` (t minus the gap-filling) over t's clear pixels (``weight`` > 0) whose neighbours
    look like the pixel's: what pixels of the same kind did between the dates, for each pixel under a cloud
    (the "similar pixels" of NSPI-like gap-filling, without a spatial window). Like is judged on z = (t-1,
    t+1), all bands, in the clear pixels' principal components (``dims`` of them, each in its standard
    deviations): bins ``width`` wide, then 2, 4... times wider over ``levels`` levels; a bin with n clear
    pixels is trusted min(n / ``count``, 1), the rest comes from the wider bin (the scene's mean above the
    widest). The average over ANALOG_GRIDS grids shifted by fixed fractions of a bin (an averaged shifted
    histogram: no bin edge decides). Per example of the batch (its own statistics); a linear cost in the
    pixels (a nearest-neighbour search is not). 0 where no pixel has weight. Returns the correction
    [B, H, W, bands]."""
    import tensorflow as tf  # noqa: PLC0415

    # The statistics (sums over the tile's pixels) in float64: in float32 their rounding depends on how
    # TensorFlow splits the sums between threads, and the bins turn a rounding difference into another bin (the
    # output depended on the thread count); in float64 the difference stays below what moves a float32 value.
    # The per-pixel work stays in float32.
    f64 = tf.float64
    b_, h_, w_ = tf.shape(y)[0], tf.shape(y)[1], tf.shape(y)[2]
    n = h_ * w_
    z = tf.reshape(tf.concat([xb, xa], -1), [b_, n, -1])  # [B, N, 2 bands]
    yf = tf.reshape(y, [b_, n, -1])
    wf = tf.reshape(weight, [b_, n, 1])
    # The sums over the pixels come from the pixels with weight only (the others add zeros): when they are under
    # half of the pixels (a mostly cloudy tile), their rows are gathered once, and the statistics (for a batch of
    # one, as the apps' tiles are) and each grid's bin sums are made from those alone; the same sums either way.
    weighted = tf.where(tf.reshape(wf, [-1]) > 0)[:, 0]
    few = 2 * tf.size(weighted) < tf.size(wf)

    def rows(v):  # [B, N, C] -> [B * N, C]
        return tf.reshape(v, [b_ * n, -1])

    zk, yk, wk = tf.cond(few, lambda: [tf.gather(rows(v), weighted) for v in (z, yf, wf)],
                         lambda: [rows(v)[:0] for v in (z, yf, wf)])
    zs, ys, ws = tf.cond(few & tf.equal(b_, 1), lambda: [zk[None], yk[None], wk[None]], lambda: [z, yf, wf])
    # The clear pixels' moments with one cast and one product of the pixels' values, then matrix products (sum w z,
    # sum w z z^T, sum w y), instead of centring and scaling every pixel in float64 first: the same statistics (a
    # product of two float32 values is exact in float64; the centred moments lose a digit or two of float64's
    # sixteen).
    z64, w64 = tf.cast(zs, f64), tf.cast(ws, f64)
    zw = z64 * w64
    total = tf.reduce_sum(w64, axis=1, keepdims=True)  # [B, 1, 1]
    inv = tf.math.divide_no_nan(tf.constant(1.0, f64), total)
    centre = tf.reduce_sum(zw, axis=1, keepdims=True) * inv  # [B, 1, 2 bands]
    # the scene's mean of y, above the widest bins
    mean = tf.cast(tf.matmul(w64, tf.cast(ys, f64), transpose_a=True) * inv, y.dtype)  # [B, 1, bands]
    second = tf.matmul(zw, z64, transpose_a=True) * inv - tf.matmul(centre, centre, transpose_a=True)
    sd = tf.sqrt(tf.maximum(tf.linalg.diag_part(second), 0.0))[:, None, :] + 1e-3  # [B, 1, 2 bands]
    cov = second / (tf.transpose(sd, [0, 2, 1]) * sd)  # [B, 8, 8]: of (z - centre) / sd
    val, vec = tf.linalg.eigh(cov + 1e-6 * tf.eye(tf.shape(cov)[-1], dtype=f64))  # ascending
    vec = tf.reverse(vec, [-1])[..., :dims] / tf.sqrt(tf.maximum(tf.reverse(val, [-1])[:, None, :dims], 1e-6))
    # an eigenvector's sign is arbitrary (and may differ between a batch and one example): the one whose
    # component of largest magnitude is positive, so that the bins do not depend on it
    largest = tf.gather(vec, tf.argmax(tf.abs(vec), axis=1), axis=1, batch_dims=1)  # [B, dims, dims]
    sign = tf.where(tf.linalg.diag_part(largest) < 0, tf.constant(-1.0, f64), tf.constant(1.0, f64))
    vec = tf.cast(vec * sign[:, None, :], y.dtype)
    u = (z - tf.cast(centre, y.dtype)) / tf.cast(sd, y.dtype)
    proj = tf.reshape(tf.matmul(u, vec), [-1, dims]) / width  # [B * N, dims]: in finest bins
    radix = 1 << ANALOG_BITS
    # Each bin's key: its cells as the digits of a number in base radix after the example's index (a key space
    # per example). The digits are packed in groups that a float32 matrix product sums exactly (integers below
    # 2**24), the groups then in int64: the key of a float64 product without casting every cell to float64.
    group = 24 // ANALOG_BITS  # digits per group
    starts = list(range(dims - group, 0, -group)) + [0] if dims > group else [0]
    ends = [dims] + starts[:-1]
    digits = tf.constant([[float(radix ** (e - 1 - d)) if s <= d < e else 0.0 for s, e in zip(starts, ends)]
                          for d in range(dims)], proj.dtype)  # [dims, groups]
    place = [radix ** (dims - e) for e in ends]  # each group's place value
    batch = tf.repeat(tf.range(tf.cast(b_, tf.int64)), n) * radix ** dims
    # the rows each grid sums per bin (y times the weight, and the weight: sums of y and counts), all or the few
    values = tf.cond(few, lambda: tf.concat([yk * wk, wk], -1), lambda: rows(tf.concat([yf * wf, wf], -1)))

    def bin_sums(idx, bins):  # [K0, bands + 1]: each bin's sums of y and its count
        return tf.cond(few, lambda: tf.math.unsorted_segment_sum(values, tf.gather(idx, weighted), bins),
                       lambda: tf.math.unsorted_segment_sum(values, idx, bins))

    def pack(cells, example):  # [K, dims] cells (each in [0, radix)) and [K] examples -> [K] keys
        key = example
        for d in range(dims):
            key = key * radix + cells[:, d]
        return key

    ests = []
    for g in range(ANALOG_GRIDS):
        # The finest bins of every pixel; each coarser level halves the cells' indices, so its bins are unions
        # of the finer ones and are made from those (far fewer than the pixels). A fixed shift per grid and
        # dimension, up to 2**(levels - 1) finest bins, offsets every level's edges differently.
        shift = tf.constant([((0.5 + (g + 1) * (d + 1) * 0.618034) % 1.0) * 2.0 ** (levels - 1)
                             for d in range(dims)], proj.dtype)
        cells = tf.clip_by_value(tf.floor(proj + shift) + radix // 2, 0.0, radix - 1.0)
        parts = tf.unstack(tf.cast(tf.matmul(cells, digits), tf.int64), len(place), axis=1)
        uniq, idx = tf.unique(tf.add_n([batch] + [v * k if k > 1 else v for v, k in zip(parts, place)]))
        sums = [bin_sums(idx, tf.shape(uniq)[0])]  # [K0, bands + 1]
        example = [uniq // (radix ** dims)]
        cells = tf.stack([(uniq // radix ** (dims - 1 - d)) % radix for d in range(dims)], -1)
        parents = []
        for _ in range(1, levels):
            cells = cells // 2
            uniq, up = tf.unique(pack(cells, example[-1]))
            cells = tf.math.unsorted_segment_max(cells, up, tf.shape(uniq)[0])  # (all equal within a bin)
            example.append(tf.math.unsorted_segment_max(example[-1], up, tf.shape(uniq)[0]))
            sums.append(tf.math.unsorted_segment_sum(sums[-1], up, tf.shape(uniq)[0]))
            parents.append(up)
        est = tf.gather(mean[:, 0], example[-1])  # above the widest bins: the example's mean
        for level in range(levels - 1, -1, -1):
            if level < levels - 1:
                est = tf.gather(est, parents[level])  # each bin starts from its parent's estimate
            s_ = sums[level]
            trust = tf.minimum(s_[:, -1:] / count, 1.0)
            est = trust * tf.math.divide_no_nan(s_[:, :-1], s_[:, -1:]) + (1.0 - trust) * est
        ests.append(tf.gather(est, idx))
    has = tf.cast(total > 0, y.dtype)
    return tf.reshape(tf.add_n(ests) / float(ANALOG_GRIDS), tf.shape(y)) * has[:, :, :, None]


def _gfnet_layers(keras):
    """The graph-side layers of ``gfnet`` (built on demand: keras is imported only when a network is built)."""
    import tensorflow as tf  # noqa: PLC0415

    def push_pull(values, weight, levels: int, fractional: bool = False):
        """Masked pyramid interpolation: ``values`` known where ``weight`` > 0 (weights in [0, 1]), spread into the
        holes from the nearest scale that has data (a masked mean per 2**k cell, blended coarse to fine); where a
        whole input has no weight, the global masked mean, else 0. Sizes must be multiples of 2**levels.
        ``fractional``: the finest weights are shares of pixels (not 0 / 1)."""
        sums, weights = [values * weight], [weight]
        for _ in range(levels):
            sums.append(cell_mean(sums[-1], 2))
            weights.append(cell_mean(weights[-1], 2))
        total = pixel_sum(weights[0], [1, 2])
        global_mean = tf.math.divide_no_nan(pixel_sum(sums[0], [1, 2]), total)
        est = tf.where(weights[-1] > 0, tf.math.divide_no_nan(sums[-1], weights[-1]), global_mean)
        for k in range(levels - 1, -1, -1):
            up = tf.image.resize(est, tf.shape(sums[k])[1:3], method="bilinear")
            # a cell with 1/4 or more of its pixels known trusts them fully (k = 0: a pixel is known or not)
            a = tf.minimum(weights[k] * 4.0, 1.0) if (k or fractional) else weights[k]
            est = a * tf.math.divide_no_nan(sums[k], weights[k]) + (1.0 - a) * up
        return est

    def density(weight, factor: int):
        pooled = cell_mean(weight, factor)
        return tf.image.resize(pooled, tf.shape(weight)[1:3], method="bilinear")

    def window_moments(prods, weight, cell: int, prior: float, cells=None):
        """The means of ``prods`` (per band) over the pixels where ``weight`` > 0: per window of 3 x 3 cells of
        ``cell`` pixels, shrunk towards the scene-wide means by ``prior`` (a window without such pixels takes the
        scene's), and scene-wide; all 0 where no pixel has weight. ``cells``: their ``cell_moments`` if the
        caller has them. Returns (local [B, h, w, bands x n], scene-wide [B, 1, 1, bands x n], the stacked
        products' shape)."""
        # The cells tile the (padded) image exactly, so the scene-wide means are the means of the cells.
        if cells is None:
            cells = cell_moments(prods, weight, cell)
        cshape = tf.shape(cells)  # [B, h, w, bands, n]
        cells = tf.reshape(cells, tf.concat([cshape[:3], [-1]], 0))
        shape = tf.concat([tf.shape(prods[0])[:3], cshape[3:]], 0)  # the stacked products' [B, H, W, bands, n]
        wcell = cell_mean(weight, cell)
        wsum = pixel_sum(wcell, [1, 2], mean=True)
        glob = tf.math.divide_no_nan(pixel_sum(cells, [1, 2], mean=True), wsum)
        win = tf.nn.avg_pool2d(cells, 3, 1, "SAME")
        wwin = tf.nn.avg_pool2d(wcell, 3, 1, "SAME")
        # no clear pixel anywhere: the fits are 0 (the gap-filling)
        has = tf.cast(wsum > 0, cells.dtype)
        return (win + prior * glob) / (wwin + prior) * has, glob, shape

    def outlier_features(xb, xa, vb, va, weight, cells, scale: int, prior: float = REGRESSION_PRIOR):
        """How unlike the clear pixels its local fits come from each pixel is: per band, |t-1 minus its mean
        over t's clear pixels of the window| in that window's standard deviations, and the same for t+1, as
        log(1 + z), averaged over ``scale`` x ``scale`` pixels (the features' grid): 8 channels. The local
        biases and regressions are fitted on t's clear pixels around a cloud; under the cloud, land unlike them
        (a bright field among crops, a road, bare soil) is where they extrapolate, and where the gap-filling
        alone may be better. 0 where the neighbour has no data, and everywhere when t has no clear pixel.
        ``cells``: the ``cell_moments`` of the regression's products with ``weight``."""
        local, _, _ = window_moments([xb], weight, REGRESSION_CELL, prior, cells)  # ([xb]: the shape only)
        mom = tf.reshape(local, tf.concat([tf.shape(local)[:3], [-1, 8]], 0))
        mb, ma = mom[..., 1], mom[..., 2]
        sb = tf.sqrt(tf.maximum(mom[..., 3] - mb * mb, 0.0) + 1e-6)
        sa = tf.sqrt(tf.maximum(mom[..., 4] - ma * ma, 0.0) + 1e-6)
        lb, la, lvb, lva = (cell_mean(x, scale) for x in (xb, xa, vb, va))
        stats_ = [tf.image.resize(x, tf.shape(lb)[1:3], method="bilinear") for x in (mb, sb, ma, sa)]
        has = tf.cast(tf.reduce_sum(weight, axis=[1, 2, 3], keepdims=True) > 0, xb.dtype)
        zb = tf.math.log1p(tf.minimum(tf.abs(lb - stats_[0]) / stats_[1], 100.0)) * tf.floor(lvb) * has
        za = tf.math.log1p(tf.minimum(tf.abs(la - stats_[2]) / stats_[3], 100.0)) * tf.floor(lva) * has
        return tf.concat([zb, za], -1)

    def regressions(y, xb, xa, weight, cell: int = REGRESSION_CELL, ridge: float = REGRESSION_RIDGE,
                    prior: float = REGRESSION_PRIOR, cells=None):
        """Per band, the least-squares fit of ``y`` (t minus the gap-filling) on the two neighbours ``xb``,
        ``xa``, over the pixels where ``weight`` > 0 (t's clear pixels): ``y ~ my + c1 (xb - mb) + c2 (xa - ma)``
        (ridge ``ridge`` on the slopes: with little variance, the fit is the local bias). Two fits: local
        (windows of 3 x 3 cells of ``cell`` pixels, shrunk towards the scene-wide statistics by ``prior``, so a
        window without clear pixels takes the scene's fit) and scene-wide. This is the per-band linear
        regression of t on (t-1, t+1) that QUALITY.md measures at 1 to 5 dB above the gap-filling on partly
        cloudy dates. Returns the two predicted corrections of the gap-filling, [B, H, W, bands] each. Sizes
        must be multiples of ``cell``. ``cells``: the ``cell_moments`` of the products, if the caller has them."""
        # (given the cells, window_moments only needs one product for the shape: the others are not built)
        prods = [y] if cells is not None else regression_products(y, xb, xa)
        local, glob, shape = window_moments(prods, weight, cell, prior, cells)

        def solve(mom):  # [B, h, w, bands] each
            return regression_coefficients(tf.reshape(mom, tf.concat([tf.shape(mom)[:3], [-1, 8]], 0)), ridge)

        # (each coefficient upsampled on its own: slicing full-resolution planes copies them)
        coef = [tf.image.resize(c, shape[1:3], method="bilinear") for c in solve(local)]
        return [c0 + c1 * xb + c2 * xa for c0, c1, c2 in (coef, solve(glob))]

    def single_regressions(y, x, weight, cell: int = REGRESSION_CELL, ridge: float = REGRESSION_RIDGE,
                           prior: float = REGRESSION_PRIOR):
        """``regressions`` with one neighbour: per band, ``y ~ my + c (x - mx)`` over the pixels where ``weight``
        > 0 (t's clear pixels where that neighbour has data), local (3 x 3 cells, shrunk towards the scene) and
        scene-wide. For the pixels where the other neighbour has no data (a swath edge, defective pixels): there
        the gap-filling is this neighbour alone, and ``y`` is t minus it."""
        local, glob, shape = window_moments([y, x, x * x, x * y], weight, cell, prior)

        def solve(mom):
            mom = tf.reshape(mom, tf.concat([tf.shape(mom)[:3], [-1, 4]], 0))
            my, mx = mom[..., 0], mom[..., 1]
            sxx = mom[..., 2] - mx * mx + ridge
            sxy = mom[..., 3] - mx * my
            c = tf.clip_by_value(sxy / sxx, -1.5, 1.5)
            return my - c * mx, c  # [B, h, w, bands] each

        coef = [tf.image.resize(c, shape[1:3], method="bilinear") for c in solve(local)]
        return [c0 + c1 * x for c0, c1 in (coef, solve(glob))]

    def cross_band_regression(y, xb, xa, weight, ridge: float = REGRESSION_RIDGE):
        """The least-squares fit of ``y`` (t minus the gap-filling, every band) on ALL the bands of both
        neighbours, over the pixels where ``weight`` > 0 (t's clear pixels), scene-wide (the tile): ``y ~ my +
        (z - mz) C``, z = (xb, xa) [.., 2 x bands], ridge ``ridge`` on C (clipped to [-1.5, 1.5]). How a pixel
        changes between dates depends on what it is, which its whole spectrum tells better than one band: the
        near-infrared of a field that greens up or dries changes, that of bare soil or a roof does not (the
        per-band regression applies the clear pixels' mean change to both). The moments are two matrix
        products over the pixels, so it costs little. 0 where no pixel has weight. Returns the predicted
        correction [B, H, W, bands]."""
        # the moments (sums over the pixels) in float64 (see pixel_sum), the prediction in float32
        f64 = tf.float64
        z = tf.concat([xb, xa], -1)
        z64, y64, w64 = (tf.cast(tf.reshape(v, [tf.shape(v)[0], -1, tf.shape(v)[3]]), f64) for v in (z, y, weight))
        total = tf.reduce_sum(w64, axis=[1, 2])  # [B]
        inv = tf.math.divide_no_nan(tf.constant(1.0, f64), total)[:, None, None]
        mz = tf.reduce_sum(z64 * w64, axis=1, keepdims=True) * inv  # [B, 1, 2 bands]
        my = tf.reduce_sum(y64 * w64, axis=1, keepdims=True) * inv
        zc = z64 - mz  # [B, N, 2 bands]
        wz = zc * w64
        gram = tf.matmul(wz, zc, transpose_a=True) * inv + ridge * tf.eye(tf.shape(z)[3], dtype=f64)
        coef = tf.clip_by_value(tf.linalg.solve(gram, tf.matmul(wz, y64 - my, transpose_a=True) * inv), -1.5, 1.5)
        zc32 = tf.reshape(z, [tf.shape(z)[0], -1, tf.shape(z)[3]]) - tf.cast(mz, y.dtype)
        pred = tf.cast(my, y.dtype) + tf.matmul(zc32, tf.cast(coef, y.dtype))  # [B, N, bands]
        has = tf.cast(total > 0, y.dtype)[:, None, None, None]
        return tf.reshape(pred, tf.shape(y)) * has

    class GapFillFeatures(keras.layers.Layer):
        """Per pixel: the linear gap-filling of t from t-1 and t+1 (in-graph, the network's base), and the
        features the correction is computed from. Nodata (-10000) never reaches a convolution: each input is
        zeroed where it has no data and comes with its validity plane.

        Clear pixels of t (not within ``margin`` pixels of a cloud, all dates valid) give the local relation
        between t and its neighbours: the differences t - gap-filling, t - (t-1), t - (t+1) and their absolute
        values, spread into the clouds by a masked pyramid (push-pull) over ``levels`` scales.

        ``scale`` 2: the features (and the U-Net that reads them) are at half resolution, the gap-filling and
        the candidate corrections at full resolution (the local biases are smooth fields, upsampled). Inputs of
        any size: padded (symmetric) to a multiple of 32 x ``scale`` here, cropped back by the output layer."""

        def __init__(self, levels: int = 5, margin: int = 2, use_mask: bool = True, use_dates: bool = True,
                     scale: int = 1, regression: bool = True, one_sided: bool = False, fit_residual: bool = False,
                     held_out: bool = False, selected: bool = False, outlier: bool = False,
                     standardise: bool = False, cross_band: bool = False, analog: bool = False,
                     regimes: bool = False, trust_fits: bool = False, count_trust: bool = False,
                     gate_free: bool = False, analog_residual: bool = False, **kwargs):
            super().__init__(**kwargs)
            self.levels, self.margin, self.use_mask, self.use_dates = levels, margin, use_mask, use_dates
            self.scale, self.regression = scale, regression
            self.one_sided, self.fit_residual, self.held_out = one_sided, fit_residual, held_out
            self.selected, self.outlier, self.standardise = selected, outlier, standardise
            self.cross_band = cross_band
            self.analog, self.regimes, self.trust_fits, self.count_trust = analog, regimes, trust_fits, count_trust
            self.gate_free, self.analog_residual = gate_free, analog_residual

        def get_config(self):
            return {**super().get_config(), "levels": self.levels, "margin": self.margin,
                    "use_mask": self.use_mask, "use_dates": self.use_dates, "scale": self.scale,
                    "regression": self.regression, "one_sided": self.one_sided,
                    "fit_residual": self.fit_residual, "held_out": self.held_out, "selected": self.selected,
                    "outlier": self.outlier, "standardise": self.standardise,
                    "cross_band": self.cross_band, "analog": self.analog, "regimes": self.regimes,
                    "trust_fits": self.trust_fits, "count_trust": self.count_trust, "gate_free": self.gate_free,
                    "analog_residual": self.analog_residual}

        def call(self, t, tm1, tp1, cloud, ts_t, ts_tm1, ts_tp1):
            multiple = GFNET_MULTIPLE * self.scale
            ph, pw = (-tf.shape(t)[1]) % multiple, (-tf.shape(t)[2]) % multiple

            def pad(x):
                return tf.pad(x, [[0, 0], [0, ph], [0, pw], [0, 0]], mode="SYMMETRIC")

            t, tm1, tp1, cloud = pad(t), pad(tm1), pad(tp1), pad(cloud)

            def valid(x):
                return tf.cast(tf.reduce_all(x > -9999.5, axis=-1, keepdims=True), x.dtype)

            vt, vb, va = valid(t), valid(tm1), valid(tp1)
            tn, bn, an = t / 10000.0 * vt, tm1 / 10000.0 * vb, tp1 / 10000.0 * va
            if self.use_dates:
                span = tf.maximum(ts_tp1 - ts_tm1, 1.0)
                w = tf.clip_by_value((ts_t - ts_tm1) / span, 0.0, 1.0)[:, None, None, None]
                gap_b = ((ts_t - ts_tm1) / (30.0 * DAY_SECONDS))[:, None, None, None]
                gap_a = ((ts_tp1 - ts_t) / (30.0 * DAY_SECONDS))[:, None, None, None]
            else:
                w = tf.fill(tf.shape(ts_t), 0.5)[:, None, None, None]
                gap_b = gap_a = tf.zeros_like(w)
            gf = vb * va * ((1.0 - w) * bn + w * an) + vb * (1.0 - va) * bn + va * (1.0 - vb) * an
            vgf = tf.maximum(vb, va)
            cloudy = tf.cast(cloud > 0.5, t.dtype) if self.use_mask else tf.zeros_like(vt)
            cloudy = tf.maximum(cloudy, 1.0 - vt)
            size = 2 * self.margin + 1
            near = dilate(cloudy, size) if self.margin else cloudy
            clear_t = (1.0 - near) * vt
            stats = clear_t * vb * va
            both, only_b, only_a = vb * va, vb * (1.0 - va), va * (1.0 - vb)
            # where the output layer lets the free residual act: where both neighbours have data; with
            # ``gate_free`` only near t's clear pixels (without them it is a correction from no evidence, which went
            # astray on fully cloudy tiles)
            free_where = both * tf.minimum(1.0, FREE_GATE * density(stats, REGRESSION_CELL)) if self.gate_free else both
            d_gf, d_b, d_a = tn - gf, tn - bn, tn - an
            diffs = [d_gf, d_b, d_a, tf.abs(d_gf), tf.abs(d_b), tf.abs(d_a)]
            if self.one_sided:
                # each difference known where its own dates have data: beside a hole of t-1, t - (t+1) still is
                sb, sa = clear_t * vb, clear_t * va
                weights = [stats, sb, sa, stats, sb, sa]
            else:
                weights = [stats] * 6
            fits = []
            # the cells' moments of the regression's products: shared by the regressions and the held-out errors
            shared_cells = self.held_out or self.selected or self.outlier
            regression_cells = (cell_moments(regression_products(d_gf, bn, an), stats, REGRESSION_CELL)
                                if shared_cells else None)
            if self.regression:
                # Each fit is computed only where it can be other than 0 (tf.cond, the same values): those from t's
                # clear pixels where both neighbours have data when there is one such pixel (not on a fully cloudy
                # tile), the one-sided ones when a neighbour has no data somewhere (a swath edge, a hole).
                zero = tf.zeros_like(tn)
                fitted = tf.reduce_any(stats > 0)

                def two_sided():  # the regression of t on (t-1, t+1) fitted on t's clear pixels: local and scene-wide
                    cells = (regression_cells if regression_cells is not None else
                             cell_moments(regression_products(d_gf, bn, an), stats, REGRESSION_CELL))
                    return [both * f for f in regressions(d_gf, bn, an, stats, cells=cells)]

                fits = tf.cond(fitted, two_sided, lambda: [zero, zero])
                if self.one_sided:
                    # where one neighbour has no data, the gap-filling is the other one: the regression of t on it
                    def one_sided():
                        one_b = single_regressions(d_b, bn, clear_t * vb)
                        one_a = single_regressions(d_a, an, clear_t * va)
                        return [only_b * fb for fb in one_b] + [only_a * fa for fa in one_a]

                    # (the sums outside the cond: Grappler turns a sum with an input from outside a cond's branch
                    # into an accumulator whose temporary variable collides with itself)
                    edge = tf.reduce_any(only_b > 0) | tf.reduce_any(only_a > 0)
                    fb0, fb1, fa0, fa1 = tf.cond(edge, one_sided, lambda: [zero] * 4)
                    fits = [fits[0] + fb0 + fa0, fits[1] + fb1 + fa1]
                fits = list(fits)
                if self.cross_band:
                    # one more: the scene-wide regression of every band on all the bands of t-1 and t+1
                    fits.append(tf.cond(fitted, lambda: both * cross_band_regression(d_gf, bn, an, stats),
                                        lambda: zero))
                if self.analog:
                    # one more: what the clear pixels that look like each pixel (in t-1 and t+1) did
                    if self.analog_residual:
                        # the scene-wide regression, refined by what the clear pixels like each pixel did beyond
                        # it: where no bin is trusted (few or unrepresentative clear pixels), the regression
                        scene = fits[1]
                        fits.append(tf.cond(fitted, lambda: both * (scene + analog_fill(d_gf - scene, bn, an, stats)),
                                            lambda: both * scene))
                    else:
                        fits.append(tf.cond(fitted, lambda: both * analog_fill(d_gf, bn, an, stats), lambda: zero))
                if self.fit_residual:
                    # how well the local regression explains t's clear pixels: where it does not (a change, a
                    # missed cloud, land unlike the clear pixels), its correction is less to be trusted
                    diffs.append(tf.abs(d_gf - fits[0]))
                    weights.append(clear_t * vgf)
            clear = (1.0 - cloudy) * vt if self.use_mask else vt
            planes = [tn, clear, bn, an, gf, vb, va]
            reliability = None
            if self.held_out or self.selected:
                # each way of filling, scored on t's clear pixels it was not fitted on, spread into the cells
                # without any (a cloud's cells take the errors of the cells around, a scene without clear pixels
                # the scene's: none, 0)
                errors, wcell = held_out_errors(d_gf, d_b, d_a, bn, an, stats, regression_cells=regression_cells)
                reliability = push_pull(errors, tf.repeat(wcell, 6, axis=-1), 1, fractional=True)
            if self.outlier:  # (stats at full resolution, as the regression's cells were made with)
                outliers = outlier_features(bn, an, vb, va, stats, regression_cells, self.scale)

            def one_weight_per_channel(ws):
                return tf.concat([tf.repeat(w_, 4, axis=-1) for w_ in ws], -1)

            if self.scale == 1:
                spread = push_pull(tf.concat(diffs, -1), one_weight_per_channel(weights), self.levels)
                bias = [spread[..., 4 * i:4 * i + 4] for i in range(3)]
                planes = tf.concat(planes, -1)
            else:
                # Each plane is averaged over its k x k cells on its own, then the low-resolution planes are
                # concatenated (the same values as concatenating at full resolution first, at a fraction of the
                # memory traffic, which is what a tile's time goes to).
                k = self.scale
                low = {}
                for w_ in weights:
                    if id(w_) not in low:
                        low[id(w_)] = cell_mean(w_, k)
                weights_low = [low[id(w_)] for w_ in weights]
                diffs_low = tf.concat([tf.math.divide_no_nan(cell_mean(d * w_, k), wl)
                                       for d, w_, wl in zip(diffs, weights, weights_low)], -1)
                spread = push_pull(diffs_low, one_weight_per_channel(weights_low), self.levels, fractional=True)
                bias = [tf.image.resize(spread[..., 4 * i:4 * i + 4], tf.shape(t)[1:3], method="bilinear")
                        for i in range(3)]
                planes = tf.concat([cell_mean(p, k) for p in planes], -1)
                stats = low[id(stats)] if id(stats) in low else cell_mean(stats, k)
            ones = tf.ones_like(planes[..., :1])
            dens = [density(stats, 8 // self.scale), density(stats, 32 // self.scale)]
            when = [w * ones, gap_b * ones, gap_a * ones]
            if self.standardise:
                # Each group of features near unit scale (fixed, round constants: no statistics of any set). The
                # differences tell one scene from another but are 10 to 40 times smaller than the rest (standard
                # deviations 0.008 to 0.03 on the real sets); unscaled, the U-Net learnt one constant mix.
                b = S2_BANDS  # planes: tn (b) | clear (1) | bn, an, gf (3 b) | vb, va (2)
                planes = tf.concat([(planes[..., :b] - 0.1) / 0.1, 2.0 * planes[..., b:b + 1] - 1.0,
                                    (planes[..., b + 1:4 * b + 1] - 0.1) / 0.1, 2.0 * planes[..., 4 * b + 1:] - 1.0],
                                   -1)
                spread = spread / 0.02
                dens = [2.0 * d - 1.0 for d in dens]
                when = [4.0 * (w * ones) - 2.0, 5.0 * gap_b * ones, 5.0 * gap_a * ones]
            extra = []
            if self.held_out:
                extra = [tf.image.resize(reliability, tf.shape(planes)[1:3], method="bilinear")]
            if self.outlier:
                extra.append(outliers)
            features = tf.concat([planes, spread, *dens, *when, *extra], -1)
            # Candidate corrections of the gap-filling, each an estimate minus the gap-filling: the gap-filling
            # + the local bias of t; t-1 + its local bias; t+1 + its local bias; t itself (masks over-flag: a
            # "cloudy" pixel may be clear ground or a thin veil) -- zero where the date has no data. With
            # ``one_sided``, where one neighbour has no data the first is the other neighbour's local bias (the
            # gap-filling is that neighbour there).
            # A list, not one stacked tensor: ResidualOutput mixes them one by one (stacking them cost 6 % of a
            # tile's time).
            bias_gf, bias_b, bias_a = bias
            base = both * bias_gf + only_b * bias_b + only_a * bias_a if self.one_sided else vgf * bias_gf
            candidates = [base, vb * (bn + bias_b - gf), va * (an + bias_a - gf), vgf * vt * (tn - gf)] + fits
            if self.selected:
                # One more candidate, adaptive by construction: the ways of filling weighted by their held-out
                # errors around (softmax of minus log10 error / SELECT_TEMPERATURE over: none (the gap-filling
                # alone), its local bias, t-1 and t+1 with theirs, the two regressions), so that the mix needs no
                # per-scene weights of its own to follow the way that explains t's clear pixels best.
                p = tf.nn.softmax(-reliability / SELECT_TEMPERATURE, axis=-1)
                p = tf.image.resize(p, tf.shape(t)[1:3], method="bilinear")
                ways = [base, candidates[1], candidates[2], fits[0], fits[1]]
                chosen = tf.add_n([p[..., k + 1:k + 2] * c for k, c in enumerate(ways)])
                # no clear pixel of t at all: no error to choose by (the spread errors are all 0), no candidate
                has = tf.cast(tf.reduce_sum(wcell, axis=[1, 2, 3], keepdims=True) > 0, chosen.dtype)
                candidates.append(both * has * chosen)
            # Each head channel's candidate and scalar factor (per example), as the matrix ``mix`` [B, channels,
            # candidates] the output layer turns the U-Net's mix weights with, not as candidates
            # multiplied here: the same sum, without a full-resolution product per factor (``regimes`` doubled them).
            factor = [tf.ones_like(ts_t)] * len(candidates)  # [B] each
            if self.count_trust:
                # the fits (after the four candidates every tile has) times min(1, clear pixels / FIT_TRUST_PIXELS)
                # (stats may be the k x k cells' means here: their sum times k^2 is the count of clear pixels)
                clear_count = pixel_sum(stats, [1, 2, 3])[:, 0, 0, 0] * float(self.scale ** 2)
                trust = tf.minimum(1.0, clear_count / FIT_TRUST_PIXELS)
                factor = factor[:CANDIDATES] + [f * trust for f in factor[CANDIDATES:]]
            rows = list(enumerate(factor))  # (candidate, factor) of each head channel
            if self.regimes:
                # Each candidate twice: weighted by the share c of t's clear pixels in the tile, and by 1 - c. The
                # U-Net's mix is near constant, so this gives a mostly cloudy t a mix of its own (there only the
                # neighbours tell anything), not the compromise with partly cloudy ones.
                c = pixel_sum(stats, [1, 2, 3], mean=True)[:, 0, 0, 0]
                if self.trust_fits:
                    # Only the four candidates a tile without clear pixels has too are split; the fits (zero
                    # there) once, times min(1, c / FIT_TRUST_SHARE): their weights are learnt where they exist,
                    # and a fit from a few clear pixels counts little.
                    trust = tf.minimum(1.0, c / FIT_TRUST_SHARE)
                    own, fitted = rows[:CANDIDATES], rows[CANDIDATES:]
                    rows = ([(j, f * c) for j, f in own] + [(j, f * (1.0 - c)) for j, f in own]
                            + [(j, f * trust) for j, f in fitted])
                else:
                    rows = [(j, f * c) for j, f in rows] + [(j, f * (1.0 - c)) for j, f in rows]
            mix = tf.stack([f[:, None] * tf.one_hot(j, len(candidates), dtype=f.dtype) for j, f in rows], axis=1)
            return gf, vgf, vt, tn, features, candidates, free_where, mix

    class ResidualOutput(keras.layers.Layer):
        """gap-filling + correction where t-1 or t+1 has data; else t where it has data (even cloudy: the only
        observation); else nodata (-10000). Reflectance x 10000. The correction is a per-pixel mix of the
        candidate corrections (weights: the first CANDIDATES channels of the U-Net's output) plus a free
        residual (the last 4 channels); all start at zero."""

        def __init__(self, residual: bool = True, candidates: int = CANDIDATES, free_where_both: bool = False,
                     **kwargs):
            super().__init__(**kwargs)
            self.residual, self.candidates, self.free_where_both = residual, candidates, free_where_both

        def get_config(self):
            return {**super().get_config(), "residual": self.residual, "candidates": self.candidates,
                    "free_where_both": self.free_where_both}

        def call(self, gf, vgf, vt, tn, candidates, head, like, both, mix=None):
            n = self.candidates

            def full(x):  # the head's channels at the output's resolution (identity at scale 1)
                return tf.image.resize(x, tf.shape(gf)[1:3], method="bilinear")

            # (each part of the head upsampled on its own: bilinear works per channel, so the same values as
            # slicing the upsampled head, without copying its full-resolution channels out of it)
            if self.residual:
                # Bounded (a soft clip that is the identity near zero): inputs unlike anything seen in training
                # (e.g. a neighbour that is a cloud the mask missed) cannot blow the correction up.
                weights = 1.5 * tf.tanh(full(head[..., :n]) / 1.5)
                free = 0.2 * tf.tanh(full(head[..., n:]) / 0.2)
                if self.free_where_both:
                    # Beside a hole of one neighbour the U-Net sees inputs it rarely saw (a neighbour zeroed): its
                    # free residual went astray there (-300 on a real swath edge); the candidates are consistent
                    # there (one_sided), so the correction is their mix alone.
                    free = free * both
                # the candidates: a list of [B, H, W, bands] (GapFillFeatures), or stacked on a last axis
                if not isinstance(candidates, (list, tuple)):
                    candidates = tf.unstack(candidates, axis=-1)
                if mix is not None:
                    # GapFillFeatures' [B, n, candidates]: each head channel's weight times its candidate's factor,
                    # summed per candidate (one candidate may have several channels: ``regimes``)
                    shape = tf.shape(weights)
                    weights = tf.reshape(tf.matmul(tf.reshape(weights, [shape[0], -1, n]), mix),
                                         tf.concat([shape[:3], [len(candidates)]], 0))
                planes = tf.unstack(weights, len(candidates), axis=-1)
                est = tf.add_n([gf, free] + [c * p[..., None] for c, p in zip(candidates, planes, strict=True)])
            else:
                est = full(head[..., n:])
            # reflectance within what the int16 encoding holds (clouds reach 1.5-2; never negative)
            est = tf.clip_by_value(est, 0.0, 3.2767)
            out = vgf * est + (1.0 - vgf) * vt * tn
            nodata = (1.0 - vgf) * (1.0 - vt)
            out = out * 10000.0 * (1.0 - nodata) - 10000.0 * nodata
            return out[:, :tf.shape(like)[1], :tf.shape(like)[2]]  # the input's size (features padded it)

    return GapFillFeatures, ResidualOutput


def gfnet(*, width: float = 0.25, with_sar: bool = False, with_dem: bool = False, use_mask: bool = True,
          use_dates: bool = True, residual: bool = True, levels: int = 5, margin: int = 2, scale: int = 2,
          regression: bool = True, one_sided: bool = True, fit_residual: bool = True, held_out: bool = False,
          selected: bool = False, outlier: bool = False, standardise: bool = False, cross_band: bool = False,
          analog: bool = False, regimes: bool = False, trust_fits: bool = False, count_trust: bool = False,
          gate_free: bool = False, analog_residual: bool = False):
    """Gap-filling-residual multi-temporal U-Net: S2 at t (cloudy) with its cloud mask ``cloud_t``, S2 at t-1
    and t+1, their dates (and optionally S1 at the three dates, a DEM). Its output is the in-graph linear
    gap-filling plus a learned correction whose last convolution starts at zero: the untrained network IS the
    gap-filling. The correction sees the clear pixels of t and how they relate to t-1, t+1 and the gap-filling
    (spread into the clouds by a masked pyramid), so that it can learn the radiometric shift between dates,
    which neighbour t resembles, and local change. It is a per-pixel mix of candidate corrections (local bias of
    the gap-filling, t-1 or t+1 with their local bias, t itself where masks over-flag or clouds are thin, and
    with ``regression`` the per-band linear regression of t on t-1 and t+1 fitted on t's clear pixels, local and
    scene-wide) with learned bounded weights, plus a bounded free residual. Holes (-10000) of any input are
    completed in the graph (card: ``holes: model``); the output is nodata only where no S2 date has data.

    ``one_sided`` (on since gfnet-v3): where one neighbour has no data (a swath edge, defective pixels) the
    gap-filling is the other one, and so are the candidates: its local bias and the regression of t on it alone
    (without, the correction learnt where both have data is applied there); and the free residual is left out
    there (the correction is the candidates' mix alone). ``fit_residual`` (on since gfnet-v3):
    the U-Net also sees how well the local regression explains t's clear pixels (spread into the clouds), to know
    where to trust it. gfnet-v2 was trained with both off. ``held_out``: the U-Net also sees, for each way of
    filling (the gap-filling alone, with the local bias, t-1 or t+1 with it, the two regressions), its error on
    t's clear pixels held out from its fit (leave one 32-pixel cell out), spread into the clouds: which of them
    to trust in this scene, not one mix learnt for all. ``selected``: one more candidate, those ways weighted by
    their held-out errors (a soft choice of the way that explains t's clear pixels best around each cloud).
    ``outlier``: the U-Net also sees how far each pixel's t-1 and t+1 are from the clear pixels of t around it
    (in local standard deviations, per band): where the local fits extrapolate. ``standardise``: the U-Net's
    features are brought near unit scale by fixed constants (the differences between dates are 10 to 40 times
    smaller than the rest; without it the U-Net learnt one constant mix for every pixel of every scene).
    ``cross_band``: one more candidate, the scene-wide regression of each band of t on all the bands of t-1 and t+1
    (what a pixel is, from its whole spectrum, tells how it changes). ``analog``: one more candidate, for each pixel
    the mean change of t's clear pixels that look like it in t-1 and t+1 (``analog_fill``: similar pixels found by
    binning, not by a linear fit; bare soil under a cloud takes what bare soil did, not the fields' greening).
    ``regimes``: each candidate twice, weighted by the tile's share c of clear pixels of t and by 1 - c, so that a
    mostly cloudy t gets a mix of its own. ``trust_fits`` (with ``regimes``): only the four candidates that do not
    need t's clear pixels are split so; the fits (the regressions, cross-band, analog, selected) come once, times
    min(1, c / ``FIT_TRUST_SHARE``): their weights are learnt on the tiles that have them, and a fit from a few clear
    pixels (often hazy or shadowed, at a cloud's edge) counts little. ``count_trust``: the fits times min(1, n /
    ``FIT_TRUST_PIXELS``), n the tile's clear pixels of t (a fit's reliability follows the pixels it is fitted on:
    4 % of a 512-pixel tile is 10 000 pixels, 5 % of a 64-pixel scene 200); with ``regimes`` then split like the rest.
    ``gate_free``: the free residual only near t's clear pixels (times min(1, ``FREE_GATE`` x their share in each
    32-pixel cell), bilinear); none on a tile without any (a learnt correction from no evidence there).
    ``analog_residual`` (with ``analog``): the analog candidate is the scene-wide regression plus the analog of its
    residual (what similar clear pixels did beyond the linear fit), not the analog of t minus the gap-filling: where
    the bins are empty or their pixels unlike the cloud's (4 % of a scene clear, all in one corner), it falls back
    to the regression, not to the mean change of the clear pixels.

    ``scale`` 2 (default): the U-Net works at half resolution (its output, mix weights and residual, is
    upsampled), the gap-filling and the candidates at full resolution: about 3 times faster than ``scale`` 1.

    Ablation options: ``use_mask`` (False: no mask input is used), ``use_dates`` (False: t is taken halfway),
    ``residual`` (False: the U-Net outputs the image directly)."""
    keras = _keras()
    Features, Output = _gfnet_layers(keras)
    spec = {"s2_t": (S2_BANDS, 1), "s2_tm1": (S2_BANDS, 1), "s2_tp1": (S2_BANDS, 1), "cloud_t": (1, 1)}
    if with_sar:
        spec.update({f"s1_{d}": (S1_BANDS, 1) for d in ("tm1", "t", "tp1")})
    if with_dem:
        spec["dem"] = (1, 2)
    inputs = _inputs(keras, spec)
    for d in ("tm1", "t", "tp1"):
        inputs[f"s2_timestamp_{d}"] = keras.Input((), name=f"s2_timestamp_{d}")
    if scale not in (1, 2):
        raise ValueError(f"gfnet: scale {scale} must be 1 or 2")
    if selected and not regression:
        raise ValueError("gfnet: selected needs regression (the regressions are among the ways it selects)")
    if cross_band and not regression:
        raise ValueError("gfnet: cross_band needs regression (it is one more of the regressions)")
    if analog and not regression:
        raise ValueError("gfnet: analog needs regression (it is one more of the fits)")
    if count_trust and not regression:
        raise ValueError("gfnet: count_trust needs regression (it weighs the fits)")
    if gate_free and not one_sided:
        raise ValueError("gfnet: gate_free needs one_sided (the free residual is limited where both dates have data)")
    if analog_residual and not analog:
        raise ValueError("gfnet: analog_residual needs analog (it changes the analog candidate)")
    if trust_fits and not regimes:
        raise ValueError("gfnet: trust_fits needs regimes (it changes how regimes splits the candidates)")
    gf, vgf, vt, tn, features, candidates, both, mix = Features(levels=levels, margin=margin, use_mask=use_mask,
                                                     use_dates=use_dates, scale=scale, regression=regression,
                                                     one_sided=one_sided, fit_residual=fit_residual,
                                                     held_out=held_out, selected=selected, outlier=outlier,
                                                     standardise=standardise, cross_band=cross_band, analog=analog,
                                                     regimes=regimes, trust_fits=trust_fits,
                                                     count_trust=count_trust, gate_free=gate_free,
                                                     analog_residual=analog_residual,
                                                     name="gapfill_features")(
        inputs["s2_t"], inputs["s2_tm1"], inputs["s2_tp1"], inputs["cloud_t"], inputs["s2_timestamp_t"],
        inputs["s2_timestamp_tm1"], inputs["s2_timestamp_tp1"])
    if with_sar:
        import tensorflow as tf  # noqa: PLC0415

        def to_features_grid(x):  # padded like the features, averaged over scale x scale pixels
            m = GFNET_MULTIPLE * scale
            x = tf.pad(x, [[0, 0], [0, (-tf.shape(x)[1]) % m], [0, (-tf.shape(x)[2]) % m], [0, 0]], "SYMMETRIC")
            return tf.nn.avg_pool2d(x, scale, scale, "VALID") if scale > 1 else x

        s1 = [keras.layers.Lambda(to_features_grid)(_normalise(keras, inputs[f"s1_{d}"], "s1"))
              for d in ("tm1", "t", "tp1")]
        features = keras.layers.Concatenate()([features, *s1])
    if with_dem and scale != 1:
        raise ValueError("gfnet: with_dem needs scale=1 (the DEM joins the U-Net after its first down-sampling)")
    widths = _widths(width)
    dem = _normalise(keras, inputs["dem"], "dem") if with_dem else None
    # 3x3 first and last convolutions (the paper's U-Nets use 5x5): these two run at full resolution on many
    # channels and dominate the cost of a small network.
    feats = _UNetEncoder(keras, widths, with_dem, False, kernel=3)(features, dem)
    fitted = (2 if regression else 0) + (1 if cross_band else 0) + (1 if analog else 0) + (1 if selected else 0)
    if regimes:
        n = 2 * CANDIDATES + (1 if trust_fits else 2) * fitted
    else:
        n = CANDIDATES + fitted
    head = _unet_decoder(keras, [[f] for f in feats], widths, n + S2_BANDS, False, zero_init=residual,
                         kernel=3)["s2_target"]
    out = Output(residual=residual, candidates=n, free_where_both=one_sided, name="s2_target_raw")(
        gf, vgf, vt, tn, candidates, head, inputs["s2_t"], both, mix)
    outputs = {"s2_target": out}
    for c in CROPS:
        outputs[f"s2_target_crop{c}"] = keras.layers.Cropping2D(c, name=f"s2_target_crop{c}")(out)
    return keras.Model(inputs, outputs, name="gfnet")


SYNTH_MULTIPLE = 8  # synthnet pads its inputs to a multiple of this (its low-resolution branch pools by 4)


def _synthnet_layer(keras):
    import tensorflow as tf  # noqa: PLC0415

    class SynthesisNet(keras.layers.Layer):
        """The whole synthesis network on N dates (see :func:`synthnet`)."""

        def __init__(self, dates: int, width: int, **kwargs):
            super().__init__(**kwargs)
            self.dates, self.width = dates, width
            conv = keras.layers.Conv2D
            self.enc = [conv(width, 1, activation="relu", name="enc_1x1"),
                        conv(width, 3, padding="same", activation="relu", name="enc_3x3")]
            self.low = [conv(width, 3, padding="same", activation="relu", name="low_a"),
                        conv(width, 3, padding="same", activation="relu", name="low_b")]
            self.score = [conv(width, 1, activation="relu", name="score_a"), conv(1, 1, name="score_b")]
            self.head = [conv(width, 3, padding="same", activation="relu", name="head_a"),
                         conv(2 * S2_BANDS, 1, kernel_initializer="zeros", name="head_b")]

        def call(self, dates):
            n = self.dates
            x = tf.stack(dates, axis=-1)  # [B, H, W, C, N], stored values
            h, w = tf.shape(x)[1], tf.shape(x)[2]
            m = SYNTH_MULTIPLE
            x = tf.pad(x, [[0, 0], [0, (-h) % m], [0, (-w) % m], [0, 0], [0, 0]], constant_values=-10000.0)
            valid = tf.reduce_all(x > -10000.0, axis=3)  # [B, H, W, N]: clear (the clouds come as nodata)
            # A date repeated by the rule (fewer dates than N) counts once, as in the median composite.
            keep = [tf.ones_like(valid[:, 0, 0, 0])]
            for k in range(1, n):
                same = [tf.reduce_all(tf.equal(x[..., k], x[..., j]), axis=[1, 2, 3]) for j in range(k)]
                keep.append(tf.logical_not(tf.reduce_any(tf.stack(same, axis=-1), axis=-1)))
            valid = tf.logical_and(valid, tf.stack(keep, axis=-1)[:, None, None, :])
            vf = tf.cast(valid, x.dtype)
            xs = tf.where(valid[:, :, :, None, :], x / 10000.0, 0.0)
            count = tf.reduce_sum(vf, axis=-1)  # [B, H, W]
            # per-pixel median of the clear observations (the mean of the two middle ones for an even count)
            ordered = tf.sort(tf.where(valid[:, :, :, None, :], xs, 1e9), axis=-1)
            c = tf.cast(count, tf.int32)[..., None, None] * tf.ones_like(ordered[..., :1], tf.int32)
            lo = tf.gather(ordered, tf.maximum(c - 1, 0) // 2, axis=-1, batch_dims=4)[..., 0]
            hi = tf.gather(ordered, tf.maximum(c, 0) // 2, axis=-1, batch_dims=4)[..., 0]
            has = (count > 0)[..., None]
            median = tf.where(has, 0.5 * (lo + tf.where(c[..., 0] > 1, hi, lo)), 0.0)  # [B, H, W, C]
            mean = tf.reduce_sum(xs, axis=-1) / tf.maximum(count, 1.0)[..., None]
            std = tf.sqrt(tf.reduce_sum(vf[:, :, :, None, :] * tf.square(xs - mean[..., None]), axis=-1)
                          / tf.maximum(count, 1.0)[..., None] + 1e-8)
            # per-date features, the dates folded into the batch (shared weights)
            dev = tf.where(valid[:, :, :, None, :], xs - median[..., None], 0.0)
            context = tf.concat([median, std, (count / n)[..., None]], axis=-1)
            per_date = []
            for k in range(n):
                per_date.append(tf.concat([xs[..., k], dev[..., k], tf.reduce_mean(tf.abs(dev[..., k]), -1,
                                                                                    keepdims=True),
                                           vf[..., k:k + 1], context], axis=-1))
            f = tf.concat(per_date, axis=0)  # [N*B, H, W, F]
            for layer in self.enc:
                f = layer(f)
            low = tf.nn.avg_pool2d(f, 4, 4, "VALID")
            for layer in self.low:
                low = layer(low)
            f = f + tf.image.resize(low, tf.shape(f)[1:3], "bilinear")
            f = tf.stack(tf.split(f, n, axis=0), axis=-1)  # [B, H, W, width, N]
            pooled = tf.reduce_sum(f * vf[:, :, :, None, :], axis=-1) / tf.maximum(count, 1.0)[..., None]
            logits = []
            for k in range(n):
                s = tf.concat([f[..., k], pooled], axis=-1)
                for layer in self.score:
                    s = layer(s)
                logits.append(s[..., 0])
            logits = tf.where(valid, tf.stack(logits, axis=-1), -1e9)
            weights = tf.nn.softmax(logits, axis=-1) * vf
            chosen = tf.reduce_sum(xs * weights[:, :, :, None, :], axis=-1)
            g = tf.concat([pooled, median, std], axis=-1)
            for layer in self.head:
                g = layer(g)
            gate, residual = g[..., :S2_BANDS], g[..., S2_BANDS:]
            out = tf.clip_by_value(median + gate * (chosen - median) + 0.1 * residual, 0.0, 3.2767)
            out = tf.where(has, out * 10000.0, -10000.0)
            return out[:, :h, :w]

    return SynthesisNet


def synthnet(*, dates: int = 6, width: int = 24):
    """Decloud's synthesis network: one image of a period from its N dates (``s2_d0`` ... ``s2_d<N-1>``, in the
    order of the original Decloud's rule, ``decloud.synthesis.pick_dates``), each with its cloudy pixels as
    nodata (-10000: ``decloud synthesis`` masks them with each date's cloud mask; card ``holes: model``).

    Its base is the per-pixel median of the clear observations, computed in the graph (a date repeated by the
    rule counts once, as in the median composite). A small network with shared weights per date (a 1x1 and a 3x3
    convolution at full resolution, two 3x3 at a quarter resolution for context) scores each clear observation
    from its value, its deviation from the median, the spread of the others and its neighbourhood (undetected
    cloud edges, shadows and haze stand out there); the output is the median plus a per-band gate times (the
    score-weighted mean of the clear observations minus the median), plus a bounded residual. The gate and the
    residual start at zero: the untrained network IS the median composite. Nodata (-10000) only where no date is
    clear."""
    keras = _keras()
    inputs = {f"s2_d{k}": keras.Input((None, None, S2_BANDS), name=f"s2_d{k}") for k in range(dates)}
    out = _synthnet_layer(keras)(dates, width, name="synthesis")(list(inputs.values()))
    outputs = {"s2_target": out}
    for c in CROPS:
        outputs[f"s2_target_crop{c}"] = keras.layers.Cropping2D(c, name=f"s2_target_crop{c}")(out)
    return keras.Model(inputs, outputs, name="synthnet")


# Networks whose graph completes the nodata pixels of its inputs itself (card key "holes": "model").
HOLES_IN_GRAPH = frozenset({"gfnet", "synthnet"})


MODELS: dict[str, Callable] = {
    "gapfilling": gapfilling,
    "ssop_mer": ssop_mer,
    "ssop_unet": ssop_unet,
    "msop_unet": msop_unet,
    "gfnet": gfnet,
    "synthnet": synthnet,
}


def spatial_multiple(name: str, options: dict | None = None) -> int:
    """The side (pixels) that the tiles a network ``name`` built with ``options`` computes on should be a multiple
    of, its card's ``spatial_multiple``: gfnet pads its inputs to a multiple of GFNET_MULTIPLE x ``scale`` inside
    its graph (its pyramid and U-Net at 1 / ``scale``), so a tile of another size computes padding it drops (a
    544-px tile of gfnet at scale 2 computed 576 x 576 pixels); the others take any multiple of 32."""
    if name == "gfnet":
        scale = (options or {}).get("scale", inspect.signature(gfnet).parameters["scale"].default)
        return GFNET_MULTIPLE * int(scale)
    return 32


def get_model(name: str, **options):
    """Build the registered network ``name``; a :class:`~decloud.errors.DecloudKeyError` (a KeyError) lists the
    valid names, a TypeError the options."""
    try:
        builder = MODELS[name]
    except KeyError as e:
        raise DecloudKeyError(f"unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}") from e
    return builder(**options)


MODELS.update(__import__("decloud.original_families", fromlist=["ORIGINAL_FAMILIES"]).ORIGINAL_FAMILIES)

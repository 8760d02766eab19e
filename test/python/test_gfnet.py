"""gfnet's graph (python/decloud/networks.py), untrained: what it is by construction.

- The untrained network IS the linear gap-filling (its correction starts at zero), whatever the input size.
- Its regression candidates recover a per-band linear relation of t to (t-1, t+1) inside a cloud, from t's clear
  pixels only (the relation QUALITY.md measures at 1 to 5 dB above the gap-filling).
- Holes: the output is nodata only where no S2 date has data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from decloud.infer import DEFAULT_MODEL_NAME
from decloud.networks import (
    CANDIDATES,
    FIT_TRUST_PIXELS,
    FIT_TRUST_SHARE,
    REGRESSION_PRIOR,
    REGRESSION_RIDGE,
    _gfnet_layers,
    _keras,
    analog_fill,
    get_model,
    held_out_errors,
)
from decloud.scenarios import linear_gapfill

NODATA = -10000
DAY = 86400.0
STAMPS = {"tm1": 0.0, "t": 5 * DAY, "tp1": 15 * DAY}


def _landscape(rows, cols, seed=0, contrast=300.0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols] / 17.0
    base = np.stack([np.sin(y + b) * np.cos(x * (b + 1) / 2) for b in range(4)], -1)
    tm1 = 2000 + contrast * base + rng.normal(0, 30, (rows, cols, 4))
    tp1 = 2100 + 0.8 * contrast * np.roll(base, 3, axis=1) + rng.normal(0, 30, (rows, cols, 4))
    return tm1.astype(np.float32), tp1.astype(np.float32)


def _inputs(t, tm1, tp1, cloud):
    x = {"s2_t": t[None], "s2_tm1": tm1[None], "s2_tp1": tp1[None],
         "cloud_t": cloud[None, :, :, None].astype(np.float32)}
    x.update({f"s2_timestamp_{k}": np.array([v], np.float32) for k, v in STAMPS.items()})
    return x


def _feature_args(x):
    """The GapFillFeatures layer's arguments, in its order, from the network's inputs."""
    return (x["s2_t"], x["s2_tm1"], x["s2_tp1"], x["cloud_t"], x["s2_timestamp_t"], x["s2_timestamp_tm1"],
            x["s2_timestamp_tp1"])


@pytest.mark.parametrize("rows, cols", [(160, 160), (150, 171)])  # > 2 x the largest crop output
def test_untrained_gfnet_is_the_gap_filling(rows, cols):
    tm1, tp1 = _landscape(rows, cols)
    t = (0.5 * tm1 + 0.5 * tp1 + 200).astype(np.float32)
    cloud = np.zeros((rows, cols), bool)
    cloud[10:40, 20:60] = True
    t[cloud] = 6000.0  # a cloud
    net = get_model("gfnet", width=0.125)
    out = np.asarray(net(_inputs(t, tm1, tp1, cloud))["s2_target"])[0]
    assert out.shape == (rows, cols, 4)
    gf = linear_gapfill(tm1, tp1, STAMPS)
    np.testing.assert_allclose(out, gf, atol=0.05)


def test_regression_candidates_recover_a_linear_relation_inside_a_cloud():
    keras = _keras()
    features, _ = _gfnet_layers(keras)
    rows = cols = 128
    # contrast of a landscape in the NIR (a reflectance variance well above the ridge of 1e-3)
    tm1, tp1 = _landscape(rows, cols, seed=1, contrast=1500.0)
    coef = np.array([[0.9, 0.3, 150], [0.2, 0.7, -50], [1.2, -0.1, 80], [0.4, 0.4, 900]], np.float32)
    truth = (coef[:, 0] * tm1 + coef[:, 1] * tp1 + coef[:, 2]).astype(np.float32)
    cloud = np.zeros((rows, cols), bool)
    cloud[40:90, 30:100] = True
    t = truth.copy()
    t[cloud] = 7000.0
    x = _inputs(t, tm1, tp1, cloud)
    layer = features(scale=2, regression=True)
    gf, _vgf, _vt, _tn, _feats, cands, _both, _mix = layer(x["s2_t"], x["s2_tm1"], x["s2_tp1"], x["cloud_t"],
                                              x["s2_timestamp_t"], x["s2_timestamp_tm1"], x["s2_timestamp_tp1"])
    gf = np.asarray(gf)[0, :rows, :cols] * 10000
    cands = np.stack([np.asarray(c) for c in cands], -1)[0, :rows, :cols] * 10000  # a list of candidates
    assert cands.shape[-1] == 6  # 4 classical corrections + local and scene-wide regressions
    inside = cloud.copy()
    err_gf = np.abs(gf - truth)[inside].mean()
    for k in (4, 5):  # the regressions
        err = np.abs(gf + cands[..., k] - truth)[inside].mean()
        # the ridge (REGRESSION_RIDGE, about a tenth of this variance) shrinks the slopes a little
        assert err < 0.15 * err_gf, (k, err, err_gf)
    # without the regressions: the four classical candidates only
    assert np.asarray(features(scale=2, regression=False)(
        x["s2_t"], x["s2_tm1"], x["s2_tp1"], x["cloud_t"], x["s2_timestamp_t"], x["s2_timestamp_tm1"],
        x["s2_timestamp_tp1"])[5]).shape[-1] == 4


def test_holes_nodata_only_where_no_date_has_data():
    rows, cols = 160, 192
    tm1, tp1 = _landscape(rows, cols, seed=2)
    t = (0.5 * tm1 + 0.5 * tp1).astype(np.float32)
    cloud = np.zeros((rows, cols), bool)
    cloud[:, 40:70] = True
    tm1[5:20, 5:50] = NODATA
    tp1[10:30, 30:60] = NODATA
    t[25:35, 45:90] = NODATA
    t[12:18, 32:48] = NODATA  # no date at all there
    none = (tm1 == NODATA).all(-1) & (tp1 == NODATA).all(-1) & (t == NODATA).all(-1)
    assert none.any()
    out = np.asarray(get_model("gfnet", width=0.125)(_inputs(t, tm1, tp1, cloud))["s2_target"])[0]
    nodata = (out == NODATA).all(-1)
    np.testing.assert_array_equal(nodata, none)
    assert np.isfinite(out).all() and (out[~nodata] >= 0).all()


@pytest.mark.parametrize("missing, first_col", [("tm1", 64), ("tp1", 64), ("tp1", 0)])
def test_one_sided_candidates_where_a_neighbour_has_no_data(missing, first_col):
    """A swath edge in one neighbour: there the gap-filling is the other neighbour alone, and so must be the
    candidates (gfnet-v3's ``one_sided``): the local bias and the regression of t on that neighbour recover a
    linear relation inside a cloud that straddles the edge; without ``one_sided`` the regressions are zero there
    (the correction fitted where both neighbours have data does not apply). ``first_col`` 0: the neighbour has no
    data at all, so no pixel has both neighbours (the two-sided fits are skipped, the one-sided ones still made)."""
    keras = _keras()
    features, _ = _gfnet_layers(keras)
    rows = cols = 128
    tm1, tp1 = _landscape(rows, cols, seed=3, contrast=1500.0)
    other = tp1 if missing == "tm1" else tm1
    truth = (1.1 * other + np.array([120.0, -60.0, 200.0, 500.0])).astype(np.float32)
    edge = np.zeros((rows, cols), bool)
    edge[:, first_col:] = True  # the neighbour has no data right of first_col
    (tm1 if missing == "tm1" else tp1)[edge] = NODATA
    cloud = np.zeros((rows, cols), bool)
    cloud[40:90, 40:100] = True
    t = truth.copy()
    t[cloud] = 7000.0
    x = _inputs(t, tm1, tp1, cloud)
    args = _feature_args(x)
    gf, _vgf, _vt, _tn, feats, cands, _both, _mix = features(scale=2, one_sided=True, fit_residual=True)(*args)
    gf = np.asarray(gf)[0, :rows, :cols] * 10000
    cands = np.stack([np.asarray(c) for c in cands], -1)[0, :rows, :cols] * 10000  # a list of candidates
    inside = cloud & edge
    np.testing.assert_allclose(gf[inside], other[inside], atol=0.5)  # the gap-filling is the other neighbour
    err_gf = np.abs(gf - truth)[inside].mean()
    for k in (0, 4, 5):  # the base's local bias, the local and scene-wide regressions on the one neighbour
        err = np.abs(gf + cands[..., k] - truth)[inside].mean()
        assert err < (0.6 if k == 0 else 0.15) * err_gf, (k, err, err_gf)
    # fit_residual: 4 more feature planes than without it
    _, _, _, _, feats_off, cands_off, _, _ = features(scale=2, one_sided=False, fit_residual=False)(*args)
    assert feats.shape[-1] == feats_off.shape[-1] + 4
    np.testing.assert_array_equal(np.stack([np.asarray(c) for c in cands_off], -1)[0, :rows, :cols, :, 4:][inside], 0.0)


def test_no_free_residual_where_a_neighbour_has_no_data():
    """ResidualOutput with ``free_where_both``: the free residual (the last 4 channels of the U-Net's head) is
    applied only where both neighbours have data; the candidates' mix everywhere."""
    keras = _keras()
    _, output = _gfnet_layers(keras)
    rows, cols, n = 8, 8, 6
    rng = np.random.default_rng(0)
    gf = rng.uniform(0.05, 0.3, (1, rows, cols, 4)).astype(np.float32)
    ones = np.ones((1, rows, cols, 1), np.float32)
    cands = rng.normal(0, 0.01, (1, rows, cols, 4, n)).astype(np.float32)
    head = np.concatenate([np.full((1, rows, cols, n), 0.5), np.full((1, rows, cols, 4), 0.05)], -1).astype(np.float32)
    both = ones.copy()
    both[:, :, 4:] = 0.0  # one neighbour missing on the right half
    like = np.zeros((1, rows, cols, 4), np.float32)
    args = (gf, ones, ones, gf, cands, head, like, both)
    gated = np.asarray(output(candidates=n, free_where_both=True)(*args))[0]
    plain = np.asarray(output(candidates=n, free_where_both=False)(*args))[0]
    mix = gf[0] + (cands[0] * (1.5 * np.tanh(0.5 / 1.5))).sum(-1)
    free = 0.2 * np.tanh(0.05 / 0.2)
    np.testing.assert_allclose(gated[:, 4:], mix[:, 4:] * 10000, atol=0.05)
    np.testing.assert_allclose(gated[:, :4], (mix[:, :4] + free) * 10000, atol=0.05)
    np.testing.assert_allclose(plain, (mix + free) * 10000, atol=0.05)



def test_the_output_layer_weighs_the_head_channels_by_the_mix_of_their_candidates():
    """ResidualOutput with a ``mix`` [B, channels, candidates] (what GapFillFeatures gives with ``regimes`` and
    ``count_trust``: a candidate for several head channels, each with its own factor per example) gives what the
    candidates multiplied by their factors, one per channel, give without it."""
    keras = _keras()
    _, output = _gfnet_layers(keras)
    rows, cols, k = 8, 8, 3
    rng = np.random.default_rng(1)
    gf = rng.uniform(0.05, 0.3, (2, rows, cols, 4)).astype(np.float32)
    ones = np.ones((2, rows, cols, 1), np.float32)
    cands = [rng.normal(0, 0.02, (2, rows, cols, 4)).astype(np.float32) for _ in range(k)]
    # two examples, 5 head channels: candidates 0, 1, 2 times c, 0 and 1 times 1 - c (c per example), 2 also x 0.5
    c = np.array([0.3, 0.8], np.float32)
    rows_ = [(0, c), (1, c), (2, 0.5 * c), (0, 1 - c), (1, 1 - c)]
    mix = np.zeros((2, len(rows_), k), np.float32)
    for r, (j, f) in enumerate(rows_):
        mix[:, r, j] = f
    n = len(rows_)
    head = rng.normal(0, 0.5, (2, rows, cols, n + 4)).astype(np.float32)
    like = np.zeros((2, rows, cols, 4), np.float32)
    mixed = np.asarray(output(candidates=n)(gf, ones, ones, gf, cands, head, like, ones, mix))
    weighed = np.stack([cands[j] * f[:, None, None, None] for j, f in rows_], -1)
    plain = np.asarray(output(candidates=n)(gf, ones, ones, gf, weighed, head, like, ones))
    np.testing.assert_allclose(mixed, plain, atol=0.01)  # x 10000: within a hundredth of an int16 unit
    assert np.abs(mixed - gf * 10000).max() > 100.0  # the candidates count

def test_held_out_errors_are_leave_one_cell_out():
    """gfnet's held_out features: each way of filling fitted on the 8 cells around a cell (shrunk towards the
    scene, as the candidates are) and scored on that cell's clear pixels, equal to a brute-force numpy fit."""
    rng = np.random.default_rng(3)
    cell, n = 4, 4  # a 4 x 4 grid of 4-pixel cells, 2 bands
    xb = rng.normal(0.2, 0.05, (1, cell * n, cell * n, 2))
    xa = xb + rng.normal(0.01, 0.02, xb.shape)
    t = 0.7 * xb + 0.4 * xa + rng.normal(0.0, 0.01, xb.shape)
    gf = 0.5 * (xb + xa)
    weight = (rng.random((1, cell * n, cell * n, 1)) > 0.3).astype(np.float64)
    weight[:, :cell, :cell] = 0.0  # a cell without clear pixels: no error of its own
    args = [a.astype(np.float32) for a in (t - gf, t - xb, t - xa, xb, xa, weight)]
    logs, share = held_out_errors(*[tf.constant(a) for a in args], cell=cell)
    logs, share = logs.numpy()[0], share.numpy()[0, ..., 0]

    w = weight[0, ..., 0] > 0
    y, db, da, b, a = (t - gf)[0], (t - xb)[0], (t - xa)[0], xb[0], xa[0]
    cells = [(i, j) for i in range(n) for j in range(n)]

    def pixels(i, j):
        m = np.zeros_like(w)
        m[i * cell:(i + 1) * cell, j * cell:(j + 1) * cell] = True
        return m & w

    def shrunk_mean(values, i, j):
        """the mean of values over the 8 cells around (i, j), shrunk towards the scene-wide mean (as gfnet)"""
        around = np.zeros_like(w)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if (di or dj) and 0 <= i + di < n and 0 <= j + dj < n:
                    around |= pixels(i + di, j + dj)
        s = values[around].sum(0) / cell ** 2 / 8.0
        k = around.sum() / cell ** 2 / 8.0
        return (s + REGRESSION_PRIOR * values[w].mean(0)) / (k + REGRESSION_PRIOR)

    def regression(mom):
        my, mb, ma, bb, aa, ba, by, ay = mom
        sbb, saa, sab = bb - mb * mb + REGRESSION_RIDGE, aa - ma * ma + REGRESSION_RIDGE, ba - mb * ma
        sby, say = by - mb * my, ay - ma * my
        det = sbb * saa - sab * sab
        c1 = np.clip((saa * sby - sab * say) / det, -1.5, 1.5)
        c2 = np.clip((sbb * say - sab * sby) / det, -1.5, 1.5)
        return my - c1 * mb - c2 * ma, c1, c2

    prods = [y, b, a, b * b, a * a, b * a, b * y, a * y]
    for i, j in cells:
        here = pixels(i, j)
        assert share[i, j] == pytest.approx(here.sum() / cell ** 2, abs=1e-6)
        if not here.any():
            continue
        c0, c1, c2 = regression([shrunk_mean(p, i, j) for p in prods])
        g0, g1, g2 = regression([p[w].mean(0) for p in prods])
        expected = [
            np.mean(y[here] ** 2),
            np.mean((y[here] - shrunk_mean(y, i, j)) ** 2),
            np.mean((db[here] - shrunk_mean(db, i, j)) ** 2),
            np.mean((da[here] - shrunk_mean(da, i, j)) ** 2),
            np.mean((y[here] - c0 - c1 * b[here] - c2 * a[here]) ** 2),
            np.mean((y[here] - g0 - g1 * b[here] - g2 * a[here]) ** 2),
        ]
        np.testing.assert_allclose(logs[i, j], np.log10(np.array(expected) + 1e-6) + 4.0, atol=2e-3)
    # the regression of t on its neighbours explains t far better than the gap-filling alone
    assert np.all(logs[..., 4][share > 0] < logs[..., 0][share > 0] - 0.3)


def test_gfnet_with_held_out_errors_is_still_the_gap_filling_untrained():
    tm1, tp1 = _landscape(160, 160)
    t = (0.5 * (tm1 + tp1) + 50.0).astype(np.float32)
    cloud = np.zeros((160, 160), bool)
    cloud[40:80, 30:90] = True
    x = _inputs(np.where(cloud[..., None], 8000.0, t).astype(np.float32), tm1, tp1, cloud)
    plain, held = get_model("gfnet"), get_model("gfnet", held_out=True)
    np.testing.assert_allclose(held(x)["s2_target"].numpy(), plain(x)["s2_target"].numpy(), atol=0.01)
    assert held.count_params() > plain.count_params()  # the U-Net reads 6 more planes


def test_selected_candidate_follows_the_way_with_the_smallest_held_out_error():
    """gfnet's selected candidate: where t is its neighbours plus a scene-wide shift of 400 (haze), the local bias
    of the gap-filling explains t's clear pixels exactly, so the candidate is that bias inside the cloud too."""
    tm1, tp1 = _landscape(160, 160)
    gf = linear_gapfill(tm1, tp1, STAMPS)
    t = (gf + 400.0).astype(np.float32)
    cloud = np.zeros((160, 160), bool)
    cloud[48:112, 40:120] = True
    x = _inputs(np.where(cloud[..., None], 9000.0, t).astype(np.float32), tm1, tp1, cloud)
    features, _ = _gfnet_layers(_keras())
    args = _feature_args(x)
    cands = features(scale=2, one_sided=True, fit_residual=True, selected=True)(*args)[5]
    assert len(cands) == 7
    chosen = np.asarray(cands[-1])[0, :160, :160] * 10000
    np.testing.assert_allclose(chosen[cloud].mean(0), 400.0, atol=20.0)
    assert get_model("gfnet", selected=True)(x)["s2_target"].shape == (1, 160, 160, 4)  # untrained: runs
    # t fully cloudy: no held-out error to choose by, no selected candidate
    x["cloud_t"][:] = 1.0
    args = _feature_args(x)
    cands = features(scale=2, one_sided=True, fit_residual=True, selected=True)(*args)[5]
    assert np.all(np.asarray(cands[-1]) == 0.0)
    with pytest.raises(ValueError, match="selected needs regression"):
        get_model("gfnet", selected=True, regression=False)


def test_outlier_features_mark_land_unlike_the_clear_pixels_around():
    """gfnet's outlier features: under a cloud, a field much brighter in t-1 and t+1 than t's clear pixels around
    stands out (the local fits extrapolate there); the rest of the cloud does not; nothing when t is fully
    cloudy; and the untrained network is still the gap-filling."""
    tm1, tp1 = _landscape(160, 160)
    tm1[60:76, 60:76] += 3000.0
    tp1[60:76, 60:76] += 3000.0
    t = (0.5 * (tm1 + tp1) + 50.0).astype(np.float32)
    cloud = np.zeros((160, 160), bool)
    cloud[40:100, 40:120] = True
    x = _inputs(np.where(cloud[..., None], 8000.0, t).astype(np.float32), tm1, tp1, cloud)
    features, _ = _gfnet_layers(_keras())
    args = _feature_args(x)
    z = np.asarray(features(scale=2, one_sided=True, fit_residual=True, outlier=True)(*args)[4])[0, ..., -8:]
    assert np.all(np.isfinite(z)) and z.shape[:2] == (96, 96)  # the features' grid: half resolution, padded to 192
    field, rest = z[31:37, 31:37].mean(), z[22:48, 45:58].mean()
    assert field > 2.0 and rest < 1.0, (field, rest)
    plain, outlier = get_model("gfnet"), get_model("gfnet", outlier=True)
    np.testing.assert_allclose(outlier(x)["s2_target"].numpy(), plain(x)["s2_target"].numpy(), atol=0.01)
    x["cloud_t"][:] = 1.0
    args = _feature_args(x)
    z = np.asarray(features(scale=2, one_sided=True, fit_residual=True, outlier=True)(*args)[4])[0, ..., -8:]
    assert np.all(z == 0.0)


def _clouded_landscape():
    """The network's inputs for a 160 x 160 landscape whose t (the neighbours' mean + 150) has a 60 x 80 cloud."""
    tm1, tp1 = _landscape(160, 160)
    t = (0.5 * (tm1 + tp1) + 150.0).astype(np.float32)
    cloud = np.zeros((160, 160), bool)
    cloud[40:100, 40:120] = True
    return _inputs(np.where(cloud[..., None], 8000.0, t).astype(np.float32), tm1, tp1, cloud)


def test_standardised_features_are_near_unit_scale_and_the_untrained_network_is_still_the_gap_filling():
    """gfnet's ``standardise``: the features the U-Net reads, on a landscape with a cloud, have their between-date
    differences brought from a few hundredths to near unit scale (unscaled, the U-Net learnt one constant mix);
    every channel stays within a few units; the untrained network is unchanged (the gap-filling)."""
    x = _clouded_landscape()
    features, _ = _gfnet_layers(_keras())
    args = _feature_args(x)
    options = {"scale": 2, "one_sided": True, "fit_residual": True}
    raw = np.asarray(features(**options)(*args)[4])[0]
    std = np.asarray(features(**options, standardise=True)(*args)[4])[0]
    assert raw.shape == std.shape
    spread = slice(19, 19 + 28)  # the spread differences, after the 19 planes
    assert np.abs(raw[..., spread]).mean() < 0.05
    assert 0.3 < np.abs(std[..., spread]).mean() < 3.0
    assert np.all(np.isfinite(std)) and np.abs(std).max() < 20.0
    plain, standardised = get_model("gfnet"), get_model("gfnet", standardise=True)
    np.testing.assert_allclose(standardised(x)["s2_target"].numpy(), plain(x)["s2_target"].numpy(), atol=0.01)


def _assert_seventh_candidate_rules(x, cloud, option: str):
    """What every extra fitted candidate of gfnet (``option``, the seventh) obeys: 0 when t has no clear pixel
    (nothing to fit on), the untrained network with it is still the gap-filling, and it needs ``regression``."""
    features, _ = _gfnet_layers(_keras())
    x["cloud_t"][:] = 1.0
    assert np.all(np.asarray(features(scale=2, regression=True, **{option: True})(*_feature_args(x))[5][6]) == 0.0)
    x["cloud_t"][0, ..., 0] = cloud.astype(np.float32)
    np.testing.assert_allclose(get_model("gfnet", **{option: True})(x)["s2_target"].numpy(),
                               get_model("gfnet")(x)["s2_target"].numpy(), atol=0.01)
    with pytest.raises(ValueError, match=f"{option} needs regression"):
        get_model("gfnet", **{option: True}, regression=False)


def test_cross_band_candidate_tells_how_a_pixel_changes_from_its_whole_spectrum():
    """gfnet's ``cross_band``: where the change of the near-infrared at t depends on another band (a passing stress
    takes NIR in proportion to the red, neither neighbour shows it), the regression of each band on
    all the bands of t-1 and t+1 recovers it inside a cloud from t's clear pixels, and the per-band scene-wide
    regression cannot; nothing when t has no clear pixel; the untrained network is still the gap-filling."""
    rows = cols = 160  # > 2 x the largest crop output
    rng = np.random.default_rng(3)
    tm1, _ = _landscape(rows, cols, seed=4, contrast=800.0)
    red = 2.0 * (tm1[..., 2] - tm1[..., 2].min()) + 300.0  # varies independently of the NIR below
    tm1[..., 2] = red
    tm1[..., 3] = 3000.0 + rng.normal(0, 400, (rows, cols))
    tp1 = tm1.copy()
    truth = tm1.copy()
    truth[..., 3] = tm1[..., 3] - 0.8 * red  # at t the NIR has dropped by 0.8 x the red, and is back at t+1
    stamps = {"tm1": 0.0, "t": 10 * DAY, "tp1": 20 * DAY}
    cloud = np.zeros((rows, cols), bool)
    cloud[30:110, 20:130] = True
    t = np.where(cloud[..., None], 7000.0, truth).astype(np.float32)
    x = _inputs(t, tm1.astype(np.float32), tp1.astype(np.float32), cloud)
    x.update({f"s2_timestamp_{k}": np.array([v], np.float32) for k, v in stamps.items()})
    features, _ = _gfnet_layers(_keras())
    out = features(scale=2, regression=True, cross_band=True)(*_feature_args(x))
    gf = np.asarray(out[0])[0, :rows, :cols] * 10000
    cands = np.stack([np.asarray(c) for c in out[5]], -1)[0, :rows, :cols] * 10000
    assert cands.shape[-1] == 7  # 4 classical corrections, local and scene-wide regressions, the cross-band one
    # neither neighbour shows the drop: only the red (the same at the three dates) tells where it is deep
    nir = (slice(None), 3)
    err_gf = np.abs((gf - truth)[cloud][nir]).mean()
    err_band = np.abs((gf + cands[..., 5] - truth)[cloud][nir]).mean()
    err_cross = np.abs((gf + cands[..., 6] - truth)[cloud][nir]).mean()
    assert err_cross < 0.2 * err_band and err_cross < 0.2 * err_gf, (err_cross, err_band, err_gf)
    _assert_seventh_candidate_rules(x, cloud, "cross_band")


def _bump_scene(rng, rows: int, cols: int):
    """A crop stage that greens up while both barer and denser land stay as they were: the NIR change at t is a
    bump along a spectral gradient (no linear fit follows it), under a cloud, with clear pixels of every kind
    around. Returns (the network's inputs, the truth at t, the cloud)."""
    s = rng.uniform(0.0, 1.0, (rows, cols))  # what each pixel is: a position along a spectral gradient
    tm1 = np.stack([1000.0 + 2000.0 * s * (k + 1) / 4 + rng.normal(0, 20, (rows, cols)) for k in range(4)], -1)
    tp1 = tm1 + rng.normal(0, 20, tm1.shape)
    truth = 0.5 * (tm1 + tp1)
    truth[..., 3] += 1500.0 * np.sin(np.pi * s) ** 2
    cloud = np.zeros((rows, cols), bool)
    cloud[30:110, 20:130] = True
    t = np.where(cloud[..., None], 7000.0, truth).astype(np.float32)
    return _inputs(t, tm1.astype(np.float32), tp1.astype(np.float32), cloud), truth, cloud


def test_analog_candidate_takes_what_pixels_of_the_same_kind_did():
    """gfnet's ``analog``: where the change at t depends on what a pixel is in a way no linear fit follows (a
    crop stage that greens up while both barer and denser land stay as they were: a bump along the spectrum),
    the mean change of t's clear pixels that look like each pixel in t-1 and t+1 recovers it inside a cloud,
    the regressions cannot (per band, or on all bands); nothing when t has no clear pixel; the untrained network
    is still the gap-filling."""
    rows = cols = 160
    x, truth, cloud = _bump_scene(np.random.default_rng(5), rows, cols)
    features, _ = _gfnet_layers(_keras())
    out = features(scale=2, regression=True, cross_band=True, analog=True)(*_feature_args(x))
    gf = np.asarray(out[0])[0, :rows, :cols] * 10000
    cands = np.stack([np.asarray(c) for c in out[5]], -1)[0, :rows, :cols] * 10000
    assert cands.shape[-1] == 8  # 4 classical corrections, the two regressions, the cross-band one, the analog one
    inside = cloud[2:-2, 2:-2]  # (away from the padding)

    def error(k):
        est = gf + (cands[..., k] if k is not None else 0.0)
        return np.abs((est - truth)[2:-2, 2:-2][inside][:, 3]).mean()

    err_gf, err_band, err_cross, err_analog = error(None), error(5), error(6), error(7)
    assert err_analog < 0.5 * min(err_gf, err_band, err_cross), (err_analog, err_band, err_cross, err_gf)
    _assert_seventh_candidate_rules(x, cloud, "analog")


def test_analog_residual_falls_back_to_the_regression_where_the_clear_pixels_are_unlike_the_cloud():
    """gfnet's ``analog_residual``: the analog candidate is the scene-wide regression plus the analog of its
    residual. Where t's clear pixels are all of one kind (the barer end of a gradient) and the cloud covers the
    rest, a change that is linear in t-1 (a gain) is followed by the regression, not by the plain analog (the
    mean change of the clear pixels, which are unlike the cloud's); the residual form follows the regression. On
    the bump of the test above (a change no linear fit follows, clear pixels of every kind) it still recovers it."""
    rows = cols = 160
    rng = np.random.default_rng(7)
    s = np.tile(np.linspace(0.0, 1.0, cols), (rows, 1))  # what each pixel is: barer to the left
    tm1 = np.stack([800.0 + 2500.0 * s * (k + 1) / 4 + rng.normal(0, 20, (rows, cols)) for k in range(4)], -1)
    tp1 = tm1 + rng.normal(0, 20, tm1.shape)
    truth = 1.25 * 0.5 * (tm1 + tp1) - 200.0  # a change linear in the neighbours
    cloud = np.zeros((rows, cols), bool)
    cloud[:, 50:] = True  # clear: the barer third only
    t = np.where(cloud[..., None], 7000.0, truth).astype(np.float32)
    x = _inputs(t, tm1.astype(np.float32), tp1.astype(np.float32), cloud)
    features, _ = _gfnet_layers(_keras())
    inside = np.zeros((rows, cols), bool)
    inside[4:-4, 60:-4] = True  # under the cloud, away from its edge and the padding

    def errors(**options):
        out = features(scale=2, regression=True, analog=True, **options)(*_feature_args(x))
        gf = np.asarray(out[0])[0, :rows, :cols] * 10000
        cands = np.stack([np.asarray(c) for c in out[5]], -1)[0, :rows, :cols] * 10000
        return [np.abs((gf + cands[..., k] - truth)[inside]).mean() for k in (5, 6)]  # scene regression, analog

    err_band, err_analog = errors()
    _, err_resid = errors(analog_residual=True)
    assert err_resid < 1.1 * err_band and err_resid < 0.75 * err_analog, (err_resid, err_band, err_analog)
    with pytest.raises(ValueError, match="analog_residual needs analog"):
        get_model("gfnet", analog_residual=True)
    # the bump: the residual form recovers it as the plain analog does
    x, truth, cloud = _bump_scene(rng, rows, cols)
    out = features(scale=2, regression=True, analog=True, analog_residual=True)(*_feature_args(x))
    gf = np.asarray(out[0])[0, :rows, :cols] * 10000
    cands = np.stack([np.asarray(c) for c in out[5]], -1)[0, :rows, :cols] * 10000
    inside = cloud[2:-2, 2:-2]

    def error(k):
        return np.abs((gf + cands[..., k] - truth)[2:-2, 2:-2][inside][:, 3]).mean()

    assert error(6) < 0.5 * min(np.abs((gf - truth)[2:-2, 2:-2][inside][:, 3]).mean(), error(5))
    x["cloud_t"][:] = 1.0  # no clear pixel: nothing
    assert np.all(np.asarray(features(scale=2, regression=True, analog=True, analog_residual=True)(
        *_feature_args(x))[5][6]) == 0.0)
    x["cloud_t"][0, ..., 0] = cloud.astype(np.float32)
    np.testing.assert_allclose(get_model("gfnet", analog=True, analog_residual=True)(x)["s2_target"].numpy(),
                               get_model("gfnet")(x)["s2_target"].numpy(), atol=0.01)


def test_analog_fill_keeps_the_examples_of_a_batch_apart():
    """``analog_fill`` on a batch of two scenes is each scene's own fill (statistics and bins per example): the
    second scene changed by 0.3 more, none of which reaches the first. (Not bit for bit: a batched product may
    round differently, and a pixel within rounding of a bin's edge then falls in the next bin.)"""
    rng = np.random.default_rng(6)
    y, xb, xa = (rng.normal(0.1, 0.05, (2, 64, 64, 4)).astype(np.float32) for _ in range(3))
    y[1] += 0.3  # the second scene changed much more
    weight = (rng.uniform(size=(2, 64, 64, 1)) > 0.3).astype(np.float32)
    both = analog_fill(y, xb, xa, weight).numpy()
    for i in range(2):
        alone = analog_fill(y[i:i + 1], xb[i:i + 1], xa[i:i + 1], weight[i:i + 1]).numpy()[0]
        diff = np.abs(both[i] - alone)
        assert diff.max() < 0.03 and np.mean(diff < 1e-5) > 0.95, (diff.max(), np.mean(diff < 1e-5))


def test_analog_fill_sums_the_weighted_pixels_alone_or_all_of_them_alike():
    """``analog_fill`` on a mostly cloudy scene (a tenth of its pixels weighted) sums the weighted pixels' rows
    alone: its statistics for a batch of one, its bins' sums whenever they are under half of the batch's pixels.
    The same scene in a batch of two (statistics over all the pixels) and beside a clear scene (bins' sums over all
    the pixels too) gives the same fill, up to the rounding of a sum's order (see the test above)."""
    rng = np.random.default_rng(7)
    y, xb, xa = (rng.normal(0.1, 0.05, (1, 64, 64, 4)).astype(np.float32) for _ in range(3))
    y += 0.5 * xb  # a change that depends on what the pixel is
    weight = (rng.uniform(size=(1, 64, 64, 1)) > 0.9).astype(np.float32)
    alone = analog_fill(y, xb, xa, weight).numpy()[0]
    assert np.abs(alone).max() > 0.05  # a fill, not the zeros of a scene without weight
    clear = np.ones_like(weight)
    for w in (np.concatenate([weight, weight]), np.concatenate([weight, clear])):
        batch = analog_fill(*(np.concatenate([v, v]) for v in (y, xb, xa)), w).numpy()[0]
        diff = np.abs(batch - alone)
        assert diff.max() < 0.03 and np.mean(diff < 1e-5) > 0.95, (diff.max(), np.mean(diff < 1e-5))


def _weighed_candidates(outputs) -> list[np.ndarray]:
    """GapFillFeatures' candidates as the output layer weighs them, one per channel of the U-Net's mix weights: each
    channel's candidate times its factor (the layer's ``mix`` [B, channels, candidates])."""
    cands, mix = np.stack([np.asarray(c) for c in outputs[5]], -1), np.asarray(outputs[7])
    return list(np.moveaxis(np.einsum("bhwck,bnk->bhwcn", cands, mix), -1, 0))


def test_regimes_weigh_each_candidate_by_the_clear_share_and_its_complement():
    """gfnet's ``regimes``: every candidate twice, times the tile's share c of t's clear pixels and times 1 - c
    (their sum is the candidate); the untrained network is still the gap-filling."""
    x = _clouded_landscape()
    features, _ = _gfnet_layers(_keras())
    plain = [np.asarray(c) for c in features(scale=2, analog=True)(*_feature_args(x))[5]]
    split = _weighed_candidates(features(scale=2, analog=True, regimes=True)(*_feature_args(x)))
    assert len(split) == 2 * len(plain) == 14
    k = len(plain)
    ratio = split[5][split[5] != 0] / plain[5][split[5] != 0]
    assert 0.4 < ratio.mean() < 0.9 and np.allclose(ratio, ratio.mean(), atol=1e-4)  # c: one value per tile
    for i in range(k):
        np.testing.assert_allclose(split[i] + split[k + i], plain[i], atol=1e-6)
    np.testing.assert_allclose(get_model("gfnet", analog=True, regimes=True)(x)["s2_target"].numpy(),
                               get_model("gfnet")(x)["s2_target"].numpy(), atol=0.01)


def test_trust_fits_splits_only_the_candidates_without_a_fit_and_scales_the_fits_by_the_clear_share():
    """gfnet's ``trust_fits`` (with ``regimes``): the four candidates that need no clear pixel of t twice (times c and
    1 - c), the three fits once, times min(1, c / FIT_TRUST_SHARE); the untrained network is the gap-filling."""
    x = _clouded_landscape()
    features, _ = _gfnet_layers(_keras())
    plain = [np.asarray(c) for c in features(scale=2, analog=True)(*_feature_args(x))[5]]
    split = _weighed_candidates(features(scale=2, analog=True, regimes=True, trust_fits=True)(*_feature_args(x)))
    assert len(split) == 2 * CANDIDATES + 3 == len(plain) + CANDIDATES
    c = (split[1][split[1] != 0] / plain[1][split[1] != 0]).mean()  # t-1's candidate times c
    assert 0.02 < c < 0.9
    for i in range(CANDIDATES):
        np.testing.assert_allclose(split[i] + split[CANDIDATES + i], plain[i], atol=1e-6)
    for i in range(CANDIDATES, len(plain)):
        np.testing.assert_allclose(split[CANDIDATES + i], plain[i] * min(1.0, c / FIT_TRUST_SHARE), atol=1e-5)
    with pytest.raises(ValueError, match="trust_fits needs regimes"):
        get_model("gfnet", analog=True, trust_fits=True)
    np.testing.assert_allclose(get_model("gfnet", analog=True, regimes=True, trust_fits=True)(x)["s2_target"].numpy(),
                               get_model("gfnet")(x)["s2_target"].numpy(), atol=0.01)


def test_count_trust_scales_the_fits_by_the_clear_pixels_of_the_tile():
    """gfnet's ``count_trust``: the four candidates every tile has as they are, the fits times min(1, n /
    FIT_TRUST_PIXELS), n the clear pixels of t (all dates valid, 2 pixels from a cloud): a small clear patch gives
    its fits little weight, a large one full weight; the untrained network is the gap-filling."""
    features, _ = _gfnet_layers(_keras())
    for clear_side, expected in ((16, None), (96, 1.0)):  # 16 x 16 clear pixels minus the margin: under 1024
        x = _clouded_landscape()
        cloud = np.ones_like(x["cloud_t"])
        cloud[:, :clear_side, :clear_side] = 0.0
        x = {**x, "cloud_t": cloud}
        plain = [np.asarray(c) for c in features(scale=2, analog=True)(*_feature_args(x))[5]]
        weighed = _weighed_candidates(features(scale=2, analog=True, count_trust=True)(*_feature_args(x)))
        assert len(weighed) == len(plain) == CANDIDATES + 3
        for i in range(CANDIDATES):
            np.testing.assert_allclose(weighed[i], plain[i], atol=1e-6)
        n = (clear_side - 2) ** 2 if expected is None else None  # clear pixels 2 from the cloud
        trust = expected if expected is not None else n / FIT_TRUST_PIXELS
        for i in range(CANDIDATES, len(plain)):
            np.testing.assert_allclose(weighed[i], plain[i] * trust, atol=1e-5)
    np.testing.assert_allclose(get_model("gfnet", analog=True, regimes=True, count_trust=True)(x)["s2_target"].numpy(),
                               get_model("gfnet")(x)["s2_target"].numpy(), atol=0.01)


def test_gate_free_limits_the_free_residual_to_where_t_has_clear_pixels_around():
    """gfnet's ``gate_free``: where the output layer lets the free residual act is, without it, where both
    neighbours have data; with it, that times min(1, FREE_GATE x the clear share of each 32-pixel cell): 1 in the
    clear part, 0 deep in a cloud and on a fully cloudy tile; the untrained network is the gap-filling."""
    features, _ = _gfnet_layers(_keras())
    x = _clouded_landscape()
    plain = np.asarray(features(scale=2)(*_feature_args(x))[6])[0, :160, :160, 0]
    gated = np.asarray(features(scale=2, gate_free=True)(*_feature_args(x))[6])[0, :160, :160, 0]
    np.testing.assert_allclose(plain, 1.0)
    assert gated.min() >= 0.0 and gated.max() <= 1.0
    np.testing.assert_allclose(gated[:24, :24], 1.0)  # clear, far from the cloud
    assert gated[40:100, 40:120].mean() < plain[40:100, 40:120].mean()
    cloudy = {**x, "cloud_t": np.ones_like(x["cloud_t"])}
    np.testing.assert_allclose(np.asarray(features(scale=2, gate_free=True)(*_feature_args(cloudy))[6]), 0.0)
    with pytest.raises(ValueError, match="gate_free needs one_sided"):
        get_model("gfnet", gate_free=True, one_sided=False)
    np.testing.assert_allclose(get_model("gfnet", gate_free=True)(x)["s2_target"].numpy(),
                               get_model("gfnet")(x)["s2_target"].numpy(), atol=0.01)


_THREADS_SCRIPT = """
import sys
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[2]))
tf.config.threading.set_inter_op_parallelism_threads(int(sys.argv[2]))
from decloud.synthetic import landscape_series
s = landscape_series(512, seed=3)
cloud = np.zeros((512, 512), np.float32)
yy, xx = np.mgrid[0:512, 0:512]
cloud[((yy - 200) ** 2 + (xx - 260) ** 2 < 150 ** 2) | ((yy - 430) ** 2 + (xx - 90) ** 2 < 60 ** 2)] = 1
t = np.where(cloud[..., None] > 0, 9000.0, s["t"]).astype(np.float32)
f = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
stamps = {"tm1": 0.0, "t": 5 * 86400.0, "tp1": 15 * 86400.0}
out = f(s2_t=t[None], s2_tm1=s["tm1"][None], s2_tp1=s["tp1"][None], cloud_t=cloud[None, ..., None],
        **{f"s2_timestamp_{k}": np.array([v], np.float32) for k, v in stamps.items()})["s2_target"]
np.save(sys.argv[3], np.floor(out.numpy()[0] + 0.5))
"""


@pytest.mark.slow
def test_default_model_output_does_not_depend_on_the_thread_count(tmp_path):
    """The shipped default model on a 512-px scene with two clouds, run with 1 and with 2 TensorFlow threads (each
    in its own process: the thread count is fixed at TensorFlow's start): the same output but for a rare pixel
    rounded the other way. Its sums over the tile's pixels are in float64 (``pixel_sum``): with them in float32
    the analog's bins turned the rounding differences into different bins (gfnet-v5 as first shipped: 1698 of
    this scene's 262,144 pixels)."""
    model = Path(__file__).resolve().parents[2] / "models" / DEFAULT_MODEL_NAME
    outputs = []
    for threads in (1, 2):
        out = tmp_path / f"out{threads}.npy"
        subprocess.run([sys.executable, "-c", _THREADS_SCRIPT, str(model), str(threads), str(out)],
                       check=True, capture_output=True, timeout=300)
        outputs.append(np.load(out))
    diff = np.abs(outputs[0] - outputs[1]).max(axis=-1)
    assert (diff > 0).mean() <= 1e-4, f"{(diff > 0).sum()} pixels differ between 1 and 2 threads"
    assert diff.max() <= 1

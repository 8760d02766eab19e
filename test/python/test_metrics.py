"""Metrics against hand-computed values on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from decloud.errors import DecloudInputError
from decloud.metrics import mse, psnr, sam, scores, ssim


def test_mse_psnr_by_hand():
    ref = np.full((2, 2, 4), 1000, np.int16)
    est = ref.copy()
    est[0, 0] += 100  # 4 values off by 100 among 16
    assert mse(est, ref) == 100**2 * 4 / 16
    assert psnr(est, ref) == pytest.approx(10 * math.log10(1e8 / 2500))
    assert mse(est, ref, mask=np.array([[True, False], [False, False]])) == 100**2
    assert psnr(ref, ref) == math.inf


def test_nodata_pixels_are_left_out():
    ref = np.full((1, 2, 4), 500, np.int16)
    est = ref.copy()
    est[0, 0] = -10000
    assert mse(est, ref) == 0 and scores(est, ref).pixels == 1


def test_sam_mean_of_angles():
    ref = np.array([[[1, 0, 0, 0], [1, 0, 0, 0]]], float) * 1000
    est = np.array([[[0, 1, 0, 0], [1, 1, 0, 0]]], float) * 1000
    assert sam(est, ref) == pytest.approx((math.pi / 2 + math.pi / 4) / 2)


def test_ssim_identity_and_constant_offset():
    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 3000, (32, 32, 4))
    assert ssim(ref, ref) == pytest.approx(1.0)
    # a constant image against another constant: only the luminance term, (2ab + C1) / (a^2 + b^2 + C1)
    a, b = np.full((16, 16, 4), 1000.0), np.full((16, 16, 4), 2000.0)
    c1 = 0.01**2
    assert ssim(a, b) == pytest.approx((2 * 0.1 * 0.2 + c1) / (0.1**2 + 0.2**2 + c1))


def test_shape_mismatch_is_an_error():
    with pytest.raises(DecloudInputError, match="must be equal"):
        mse(np.zeros((2, 2, 4)), np.zeros((2, 3, 4)))

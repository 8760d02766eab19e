"""Metrics of the paper on the 10 m bands (B2, B3, B4, B8) against a cloud-free reference.

Conventions (arrays [rows, cols, bands] in the S2 encoding, reflectance x 10000; nodata -10000 pixels of
either image are left out; ``mask`` restricts to pixels where it is True, e.g. the cloudy ones):
  MSE   mean over pixels and bands of the squared difference, in (reflectance x 10000)^2
  PSNR  10 log10(10000^2 / MSE), from the global MSE (not a mean of per-image PSNRs), in dB
  SSIM  Wang et al. 2004 on reflectance (values / 10000, data range 1: C1 = 0.01^2, C2 = 0.03^2), local
        statistics from an 11 x 11 Gaussian window of sigma 1.5, the SSIM map averaged over bands and over
        the pixels kept (the window sees the whole image, the mask only selects where the map is averaged)
  SAM   spectral angle per pixel, arccos(<x, y> / (|x| |y|)), in radians; the MEAN OF THE ANGLES
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DecloudInputError

NODATA = -10000
PEAK = 10000.0


@dataclass(frozen=True)
class Scores:
    mse: float
    psnr: float
    ssim: float
    sam: float
    pixels: int


def _keep(estimate: np.ndarray, reference: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if estimate.shape != reference.shape or estimate.ndim != 3:
        raise DecloudInputError(f"estimate {estimate.shape} and reference {reference.shape} must be equal "
                                "[rows, cols, bands] arrays")
    keep = np.all(estimate != NODATA, axis=-1) & np.all(reference != NODATA, axis=-1)
    if mask is not None:
        if mask.shape != estimate.shape[:2]:
            raise DecloudInputError(f"mask {mask.shape} does not match the images {estimate.shape[:2]}")
        keep &= mask.astype(bool)
    return keep


def mse(estimate, reference, mask=None) -> float:
    keep = _keep(estimate, reference, mask)
    d = estimate[keep].astype(np.float64) - reference[keep].astype(np.float64)
    return float(np.mean(d**2)) if d.size else float("nan")


def psnr(estimate, reference, mask=None) -> float:
    m = mse(estimate, reference, mask)
    return float("inf") if m == 0 else float(10 * np.log10(PEAK**2 / m))


def ssim(estimate, reference, mask=None) -> float:
    from scipy.ndimage import gaussian_filter  # noqa: PLC0415

    keep = _keep(estimate, reference, mask)
    x = np.where(estimate == NODATA, 0, estimate).astype(np.float64) / PEAK
    y = np.where(reference == NODATA, 0, reference).astype(np.float64) / PEAK
    c1, c2 = 0.01**2, 0.03**2
    blur = lambda a: gaussian_filter(a, sigma=1.5, truncate=5 / 1.5, axes=(0, 1))  # noqa: E731 - 11 x 11 window
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(smap[keep].mean()) if keep.any() else float("nan")


def sam(estimate, reference, mask=None) -> float:
    keep = _keep(estimate, reference, mask)
    x, y = estimate[keep].astype(np.float64), reference[keep].astype(np.float64)
    cos = np.sum(x * y, axis=-1) / np.maximum(np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1), 1e-12)
    return float(np.mean(np.arccos(np.clip(cos, -1, 1)))) if cos.size else float("nan")


def scores(estimate, reference, mask=None) -> Scores:
    return Scores(mse(estimate, reference, mask), psnr(estimate, reference, mask), ssim(estimate, reference, mask),
                  sam(estimate, reference, mask), int(_keep(estimate, reference, mask).sum()))

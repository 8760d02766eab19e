"""Synthetic, georeferenced Sentinel-2-like images for the demo and the tests (deterministic)."""

from __future__ import annotations

import numpy as np


def s2_like(rows: int, cols: int, *, bands: int = 4, seed: int = 0, clouds: bool = True) -> np.ndarray:
    """A [rows, cols, bands] float32 image of reflectance x 10000: smooth fields with edges, a river-like
    dark band, per-band gains (B2 < B3 < B4 < B8 over vegetation), noise and, optionally, bright clouds."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype("float32")
    fields = np.zeros((rows, cols), dtype="float32")
    for _ in range(12):
        cx, cy = rng.uniform(0, cols), rng.uniform(0, rows)
        fields += rng.uniform(0.3, 1.0) * (np.hypot(x - cx, y - cy) < rng.uniform(20, 90))
    fields = np.clip(fields, 0, 1.5)
    river = np.exp(-(((y - rows / 2 - 0.2 * x) / 6.0) ** 2))
    gains = np.array([400, 700, 600, 2800, 1500, 900], dtype="float32")[:bands]
    base = np.array([300, 500, 700, 600, 900, 700], dtype="float32")[:bands]
    image = base + fields[:, :, None] * gains - river[:, :, None] * base * 0.8
    image += rng.normal(0, 40, image.shape).astype("float32")
    if clouds:
        cloud = np.zeros((rows, cols), dtype="float32")
        for _ in range(3):
            cx, cy, r = rng.uniform(0, cols), rng.uniform(0, rows), rng.uniform(15, 45)
            cloud = np.maximum(cloud, np.clip(1.5 - np.hypot(x - cx, y - cy) / r, 0, 1))
        image = image * (1 - cloud[:, :, None]) + 8000 * cloud[:, :, None]
    return np.clip(image, 1, 10000).astype("float32")


# Reflectance x 10000 of B2, B3, B4, B8 for a few land covers (typical Sentinel-2 L2A values).
COVERS = {
    "crop": (350, 700, 400, 3500),
    "soil": (1000, 1300, 1600, 2300),
    "forest": (250, 450, 250, 2800),
    "urban": (1400, 1500, 1600, 2000),
    "water": (500, 450, 300, 150),
}


def landscape_series(size: int, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Three dates (``tm1``, ``t``, ``tp1``, 5 days apart) of a parcelled landscape, [size, size, 4] float32.

    Parcels (nearest of random seeds) get a land cover; between the dates crops grow (NIR up, red down),
    a few are harvested between t-1 and t (bare soil at t and t+1: no interpolation in time can guess it),
    water and urban stay; per-parcel brightness, pixel noise and a river cross the scene."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    n = max(8, size * size // 2500)
    seeds = rng.uniform(0, size, (n, 2))
    y, x = np.mgrid[0:size, 0:size]
    parcel = cKDTree(seeds).query(np.stack([y.ravel(), x.ravel()], -1))[1].reshape(size, size)
    names = list(COVERS)
    cover = rng.choice(len(names), n, p=[0.45, 0.2, 0.2, 0.12, 0.03])
    spectra = np.array([COVERS[names[c]] for c in cover], dtype=np.float32) * rng.uniform(0.85, 1.15, (n, 1))
    growth = np.where(cover == names.index("crop"), rng.uniform(0.0, 0.12, n), 0.0).astype(np.float32)
    harvested = (cover == names.index("crop")) & (rng.random(n) < 0.15)
    river = np.exp(-(((y - size * 0.45 - 0.25 * x) / (size / 90.0)) ** 2))[:, :, None]
    water = np.array(COVERS["water"], dtype=np.float32)
    series = {}
    for k, name in enumerate(("tm1", "t", "tp1")):
        s = spectra.copy()
        s[:, 3] *= 1 + growth * (k - 1)
        s[:, 2] *= 1 - growth * (k - 1)
        if k > 0:
            s[harvested] = np.array(COVERS["soil"], dtype=np.float32)
        image = s[parcel] * (1 + rng.normal(0, 0.03, (size, size, 1))) + rng.normal(0, 25, (size, size, 4))
        series[name] = np.clip(image * (1 - river) + water * river, 1, 10000).astype(np.float32)
    return series

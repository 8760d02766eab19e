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

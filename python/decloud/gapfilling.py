"""DecloudGapFilling in numpy: the reference the application is tested and timed against.

Per pixel, among its valid dates: B is the latest date at or before t, A the earliest at or after t; the value
is ``B + (t - tB) / (tA - tB) (A - B)`` in float64, rounded half up (``floor(v + 0.5)``) to int16 as the
application writes it; only one side: its value. The valid dates of a pixel are those where it is clear (cloud
mask 0) and has data (no band at nodata); where no date with data is clear, those with data, cloudy or not (the
holes rule: nodata only where no date has data). Dates equal to t: the first of them in date order is both B
and A (the application stops at the first valid date at or after t). Dates may come in any order (ties are
taken in the order given, as the application's stable sort).

Between two dates without masks this is :func:`decloud.scenarios.linear_gapfill` (the benchmark's float32
baseline) computed in float64: ``test/python/test_gapfilling_reference.py`` checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NODATA = -10000


def gapfill_series(images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None], dates: Sequence[float],
                   t: float, *, nodata: float = NODATA, rounded: bool = True) -> np.ndarray:
    """The gap-filling at ``t`` of ``images`` ([rows, cols, bands] each) taken at ``dates`` (seconds, or any
    unit shared with ``t``), with their cloud ``masks`` ([rows, cols], 0 = clear; None: all clear).

    Returns int16 rounded half up as DecloudGapFilling writes it, or with ``rounded=False`` the float64 values
    (what the application writes as ``float`` or ``double``); pixels without data on any date are ``nodata``.
    """
    if not (len(images) == len(masks) == len(dates)) or not images:
        raise ValueError(f"gapfill_series: {len(images)} images, {len(masks)} masks and {len(dates)} dates; "
                         "give as many of each, at least one")
    data = [np.all(image != nodata, axis=-1) for image in images]
    clear = [d if mask is None else d & (mask == 0) for d, mask in zip(data, masks)]
    any_clear = np.any(clear, axis=0)
    valid = [np.where(any_clear, c, d) for c, d in zip(clear, data)]
    return _interpolate(images, valid, dates, t, nodata=nodata, rounded=rounded)


def _interpolate(images: Sequence[np.ndarray], valid: Sequence[np.ndarray], dates: Sequence[float], t: float, *,
                 nodata: float, rounded: bool) -> np.ndarray:
    """Per pixel, linear in time between the valid dates nearest to ``t`` on either side (see the module doc)."""
    order = sorted(range(len(dates)), key=lambda k: dates[k])  # stable, as the application's
    shape = images[0].shape[:2]
    before = np.full(shape, -1, dtype=np.int32)
    after = np.full(shape, -1, dtype=np.int32)
    at_t = [k for k in order if dates[k] == t][::-1]  # assigned last to first: the first one wins
    for k in [k for k in order if dates[k] < t] + at_t:
        before[valid[k]] = k
    for k in [k for k in order if dates[k] > t][::-1] + at_t:
        after[valid[k]] = k
    none = (before < 0) & (after < 0)
    before = np.where(before < 0, after, before)
    after = np.where(after < 0, before, after)
    b = np.zeros(images[0].shape, dtype=np.float64)
    a = np.zeros(images[0].shape, dtype=np.float64)
    tb = np.zeros(shape, dtype=np.float64)
    ta = np.zeros(shape, dtype=np.float64)
    for k, image in enumerate(images):
        chosen = before == k
        b[chosen], tb[chosen] = image[chosen], dates[k]
        chosen = after == k
        a[chosen], ta[chosen] = image[chosen], dates[k]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(ta > tb, (t - tb) / (ta - tb), 0.0)
    values = b + w[:, :, None] * (a - b)
    if not rounded:
        values[none] = nodata
        return values
    out = np.floor(values + 0.5).astype(np.int16)
    out[none] = nodata
    return out

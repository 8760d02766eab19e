"""Acquisitions layouts: how the images of one sample must have been acquired, relative to a date t.

A layout file keeps the JSON keys of the original Decloud, so that its layout files work::

    {
      "t":      {"acquisition": {"s2_t": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 100},
                                 "s1_t": {"type": "S1"}},
                 "timeframe_origin": true, "max_s1s2_gap_hours": 72},
      "target": {"acquisition": {"s2_target": {"type": "S2", "min_cloud_percent": 0, "max_cloud_percent": 0}},
                 "timeframe_start_hours": -168, "timeframe_end_hours": 168}
    }

Each top-level key names an acquisition (``tm1``, ``t``, ``tp1``, ``target``...). Exactly one is the time
origin (``timeframe_origin``); the others give their window in hours relative to it (either order).
``max_s1s2_gap_hours`` is required where an acquisition has both sensors. An S1 entry may give
``"orbit": "ascending" | "descending" | "any"``; without it, any: the nearest valid S1 of either direction (what
the original Decloud did: its reader never applied the key). Cloud percentages are within [0, 100]. Unknown keys
are errors; every error names the file and the JSON path. The string booleans of old files (``"True"``) are
accepted. An ``"options"`` object is kept as is.

``"min_cloud_percent": "random.randint(a, b)"`` (integers, 0 <= a <= b <= 100; the original's monthly-synthesis
layouts): the lower bound is drawn for each (patch cell, date t) and acquisition, uniformly in a..b (both
included), and capped at ``max_cloud_percent``, as the original drew it for each position and reference date. The
draws are keyed by the search's seed, the tile, the acquisition, the cell and the date of t, so one search gives
the same samples each time, whatever the cells searched or the dates added later
(:func:`decloud.search.cloud_floors`). Where there is no (cell, t), the lowest bound ``a`` is used (``decloud
timeseries``, and :attr:`S2Requirement.cloud_range`). Any other string is an error.

``"cloud_tolerance_percent"`` (top level, default :data:`DEFAULT_CLOUD_TOLERANCE` = 3): how far the two extreme
thresholds may be missed. Real L2A masks flag a few percent of speckle on clear dates (SCL cirrus, isolated
pixels), so a "0 %" requirement (``max_cloud_percent`` 0) is met by up to that share of cloud, and a "100 %"
one (``min_cloud_percent`` 100) by at least 100 minus it. Other thresholds are used as written; 0 makes the
extremes exact, as in the original Decloud. :meth:`S2Requirement.cloud_range` gives the range applied.

Shipped layouts (:func:`shipped_layouts`): the paper's ``ssop`` (B), ``os2`` (C), ``os1``, ``os2-gf`` (A, B and C
compared), each with an S2-only variant ``<name>-s2`` (the "optical only" ablation, for data without S1), and
``series`` / ``series-s2``: t-1 within 30 days before t, t+1 within 30 days after, any cloud cover (what
``decloud timeseries`` uses by default, S2-only for models that take no S1).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from ..errors import DecloudInputError, DecloudKeyError

Orbit = Literal["ascending", "descending", "any"]
DEFAULT_CLOUD_TOLERANCE = 3.0
TOLERANCE_KEY = "cloud_tolerance_percent"
RANDINT = re.compile(r"^\s*random\.randint\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*$")


class LayoutError(DecloudInputError):
    """A layout file is malformed; the message names the file and the JSON path."""


@dataclass(frozen=True)
class S2Requirement:
    """The cloud thresholds as written in the file, and the layout's tolerance on the extremes 0 and 100 %.

    ``min_cloud_draw``: (a, b) when the file gives ``"random.randint(a, b)"``; then ``min_cloud_percent`` is a."""

    min_cloud_percent: float
    max_cloud_percent: float
    tolerance_percent: float = 0.0
    min_cloud_draw: tuple[int, int] | None = None

    @property
    def cloud_range(self) -> tuple[float, float]:
        """(low, high) cloud percent applied: a max of 0 becomes the tolerance, a min of 100 becomes 100 minus it.
        With a drawn lower bound: the range of its lowest draw (what any draw can keep)."""
        return self.cloud_range_from(self.min_cloud_percent)

    def cloud_range_from(self, minimum: float) -> tuple[float, float]:
        """:attr:`cloud_range` with ``minimum`` (a drawn lower bound) in place of ``min_cloud_percent``; a minimum
        above ``max_cloud_percent`` is capped at it (as the original Decloud did)."""
        low, high = min(minimum, self.max_cloud_percent), self.max_cloud_percent
        if low >= 100:
            low = 100.0 - self.tolerance_percent
        if high <= 0:
            high = self.tolerance_percent
        return low, high

    def describe(self) -> str:
        low, high = self.cloud_range
        tol = f" (tolerance {self.tolerance_percent:g} %)" if (low, high) != (self.min_cloud_percent,
                                                                             self.max_cloud_percent) else ""
        if self.min_cloud_draw is not None:
            a, b = self.min_cloud_draw
            return f"cloud randint({a}, {b})-{high:g} %{tol}"
        return f"cloud {low:g}-{high:g} %{tol}"


@dataclass(frozen=True)
class S1Requirement:
    orbit: Orbit = "any"


@dataclass(frozen=True)
class Acquisition:
    """One acquisition of a layout. ``window_hours`` is (start, end) relative to the origin, start <= end."""

    name: str
    s2: S2Requirement | None
    s1: S1Requirement | None
    is_origin: bool
    window_hours: tuple[float, float]
    max_s1s2_gap_hours: float | None
    s2_key: str | None = None  # the names given in the file to the sensor entries (e.g. "s2_t")
    s1_key: str | None = None


@dataclass(frozen=True)
class AcquisitionsLayout:
    name: str
    acquisitions: tuple[Acquisition, ...]
    options: dict[str, Any] = field(default_factory=dict, compare=False)
    cloud_tolerance_percent: float = DEFAULT_CLOUD_TOLERANCE

    @property
    def origin(self) -> Acquisition:
        return next(a for a in self.acquisitions if a.is_origin)

    def __getitem__(self, name: str) -> Acquisition:
        for acquisition in self.acquisitions:
            if acquisition.name == name:
                return acquisition
        raise DecloudKeyError(f"layout {self.name!r} has no acquisition {name!r} "
                       f"(acquisitions: {', '.join(a.name for a in self.acquisitions)})")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.acquisitions)

    @property
    def needs_s1(self) -> bool:
        return any(a.s1 is not None for a in self.acquisitions)


_ACQUISITION_KEYS = {"acquisition", "timeframe_origin", "timeframe_start_hours", "timeframe_end_hours",
                     "max_s1s2_gap_hours"}
_SENSOR_KEYS = {"S2": {"type", "min_cloud_percent", "max_cloud_percent"}, "S1": {"type", "orbit"}}


class _Reader:
    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, message: str) -> LayoutError:
        return LayoutError(f"{self.source}: {path}: {message}")

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a JSON object, got {type(value).__name__}")
        return value

    def number(self, value: Any, path: str, low: float | None = None, high: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, f"must be a number, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(path, f"must be within [{low}, {high}], got {value}")
        return float(value)

    def cloud_minimum(self, value: Any, path: str) -> tuple[float, tuple[int, int] | None]:
        """A number, or ``"random.randint(a, b)"``: (a, (a, b))."""
        if not isinstance(value, str):
            return self.number(value, path, 0, 100), None
        m = RANDINT.match(value)
        if m is None:
            raise self.fail(path, f"must be a number or \"random.randint(a, b)\" (integers), got {value!r}")
        a, b = int(m[1]), int(m[2])
        if not 0 <= a <= b <= 100:
            raise self.fail(path, f"{value!r}: the bounds must satisfy 0 <= a <= b <= 100")
        return float(a), (a, b)

    def boolean(self, value: Any, path: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.fail(path, f"must be true or false, got {value!r}")

    def unknown(self, obj: dict[str, Any], allowed: set[str], path: str) -> None:
        extra = sorted(set(obj) - allowed)
        if extra:
            raise self.fail(f"{path}.{extra[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def parse_layout(data: Any, *, name: str, source: str) -> AcquisitionsLayout:
    """Parse the JSON value of a layout file (``source`` names it in errors)."""
    r = _Reader(source)
    top = r.obj(data, "$")
    tolerance = r.number(top.get(TOLERANCE_KEY, DEFAULT_CLOUD_TOLERANCE), f"$.{TOLERANCE_KEY}", 0, 50)
    acquisitions = []
    for acq_name, raw in top.items():
        if acq_name in ("options", TOLERANCE_KEY):
            continue
        path = f"$.{acq_name}"
        entry = r.obj(raw, path)
        r.unknown(entry, _ACQUISITION_KEYS, path)
        sensors = r.obj(entry.get("acquisition"), f"{path}.acquisition")
        s1 = s2 = None
        s1_key = s2_key = None
        for key, sensor_raw in sensors.items():
            spath = f"{path}.acquisition.{key}"
            sensor = r.obj(sensor_raw, spath)
            kind = sensor.get("type")
            if kind not in _SENSOR_KEYS:
                raise r.fail(f"{spath}.type", f"must be \"S1\" or \"S2\", got {kind!r}")
            r.unknown(sensor, _SENSOR_KEYS[kind], spath)
            if (kind == "S2" and s2) or (kind == "S1" and s1):
                raise r.fail(spath, f"a second {kind} entry in one acquisition")
            if kind == "S2":
                for k in ("min_cloud_percent", "max_cloud_percent"):
                    if k not in sensor:
                        raise r.fail(f"{spath}.{k}", "is required (no silent default for a threshold)")
                low, draw = r.cloud_minimum(sensor["min_cloud_percent"], f"{spath}.min_cloud_percent")
                high = r.number(sensor["max_cloud_percent"], f"{spath}.max_cloud_percent", 0, 100)
                if low > high and draw is None:  # a drawn bound above the max is capped at it, as in the original
                    raise r.fail(f"{spath}.min_cloud_percent", f"{low} is above max_cloud_percent {high}")
                s2, s2_key = S2Requirement(min(low, high), high, tolerance, draw), key
            else:
                orbit = sensor.get("orbit", "any")
                if orbit not in ("ascending", "descending", "any"):
                    raise r.fail(f"{spath}.orbit", f"must be ascending, descending or any, got {orbit!r}")
                s1, s1_key = S1Requirement(orbit), key
        if s1 is None and s2 is None:
            raise r.fail(f"{path}.acquisition", "names no S1 or S2 entry")
        is_origin = r.boolean(entry.get("timeframe_origin", False), f"{path}.timeframe_origin")
        has_window = "timeframe_start_hours" in entry or "timeframe_end_hours" in entry
        if is_origin and has_window:
            raise r.fail(path, "the origin acquisition must not give timeframe_start_hours/timeframe_end_hours")
        if not is_origin:
            for k in ("timeframe_start_hours", "timeframe_end_hours"):
                if k not in entry:
                    raise r.fail(f"{path}.{k}", "is required for an acquisition that is not the time origin")
        start = r.number(entry.get("timeframe_start_hours", 0), f"{path}.timeframe_start_hours")
        end = r.number(entry.get("timeframe_end_hours", 0), f"{path}.timeframe_end_hours")
        gap = None
        if "max_s1s2_gap_hours" in entry:
            gap = r.number(entry["max_s1s2_gap_hours"], f"{path}.max_s1s2_gap_hours", 0)
        if s1 and s2 and gap is None:
            raise r.fail(f"{path}.max_s1s2_gap_hours", "is required when an acquisition has both S1 and S2")
        acquisitions.append(Acquisition(acq_name, s2, s1, is_origin, (min(start, end), max(start, end)), gap,
                                        s2_key, s1_key))
    origins = [a.name for a in acquisitions if a.is_origin]
    if len(origins) != 1:
        raise r.fail("$", f"exactly one acquisition must be the timeframe_origin, found {len(origins)}"
                          f"{' (' + ', '.join(origins) + ')' if origins else ''}")
    options = r.obj(top.get("options", {}), "$.options")
    return AcquisitionsLayout(name, tuple(acquisitions), dict(options), tolerance)


def load_layout(path_or_name: str | Path) -> AcquisitionsLayout:
    """Load a layout file, or a shipped layout by name (see :func:`shipped_layouts`)."""
    shipped = shipped_layouts()
    if isinstance(path_or_name, str) and path_or_name in shipped:
        path = shipped[path_or_name]
    else:
        path = Path(path_or_name)
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise LayoutError(f"{path}: cannot be read ({e.strerror}); shipped layouts: "
                          f"{', '.join(sorted(shipped))}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise LayoutError(f"{path}: not valid JSON: {e}") from e
    return parse_layout(data, name=Path(path).stem, source=str(path))


def shipped_layouts() -> dict[str, Path]:
    """The layouts shipped with the package (the paper's, their S2-only variants, the series ones): name -> file."""
    folder = resources.files(__package__)
    return {Path(str(f)).stem: Path(str(f)) for f in folder.iterdir() if str(f).endswith(".json")}

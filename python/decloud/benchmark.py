"""The quality benchmark on real clouds (``../shared/QUALITY.md``): every scenario of a folder of dated S2
stacks run through the real applications and scored against its cloud-free reference.

For each folder (``S2_L2A_YYYYMMDD_B2B3B4B8.tif`` with ``_SCL.tif`` and/or ``_CLM.tif``): a folder whose name
is a real set of :data:`decloud.scenarios.SPLITS` is read with that set's mask and only its test part is used;
any other folder is used whole, with the ``mask`` asked for. A date whose mask calls it clear but which is far
brighter in blue than its clear neighbours is a cloud the mask missed, and is never a reference or a neighbour
(:func:`decloud.scenarios.missed_clouds`: a reference that is a cloud scores every method against the cloud).
Per scenario
(:func:`decloud.scenarios.test_scenarios` or :func:`decloud.scenarios.plan_scenarios`), the inputs are written
as GeoTIFFs in a work folder (int16, nodata -10000, the series' grid; the cloud mask of t as uint8 0/1) and
run through:

- ``DecloudInfer`` with each model (pyotb, written as users get it: int16): s2.t, s2.tm1, s2.tp1, -mask (the
  cloud mask of t: fed to the ``cloud_t`` role when the card names it, and for every model that takes t used
  by the app to keep t's clear pixels) and date.t / date.tm1 / date.tp1, only those the card names. A model
  whose card names a role the benchmark cannot feed (S1, DEM, 20 m bands) is skipped, with the reason;
- ``DecloudGapFilling`` on t-1 and t+1 with their dates (method ``gapfilling-app``);
- the numpy baselines of :mod:`decloud.scenarios`: nearest-date copy (``nearest-copy``) and gap-filling plus a
  local bias (``gapfill-local-bias``), rounded to int16 as an application would write them.

Scores (:mod:`decloud.metrics`, on ``scene.scored`` against ``scene.reference``; arrays in reflectance x 10000
as that module expects, it divides by its PEAK): PSNR in dB with peak 1 in reflectance, SSIM on reflectance,
SAM in radians (mean of the angles), MAE in reflectance (values / 10000), and coverage: the share of the
scored pixels where the method gave a value. Pixels a method leaves nodata are excluded from its scores and
lower its coverage.

Outputs (``out``): ``scenarios.csv`` (one row per scenario and method), ``summary.md`` / ``summary.json``
(means per set and method; per method, the gain in dB over ``gapfilling-app``, wins / losses), ``psnr.png``
(mean PSNR per set and method) and ``quicklook_<set>.png`` (the first model's worst scenario: t | gap-filling
| model | reference). Every file is written atomically (:func:`decloud.atomic.atomic_output`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import metrics
from .atomic import atomic_output, write_text
from .card import read_card
from .errors import DecloudError, DecloudInputError, OTBAppError
from .scenarios import (
    NODATA,
    SPLITS,
    MaskSource,
    Scene,
    Series,
    build_scene,
    find_sets,
    gapfill_local_bias,
    load_series,
    nearest_copy,
    plan_scenarios,
    test_scenarios,
)

log = logging.getLogger(__name__)

GAPFILLING = "gapfilling-app"
NEAREST = "nearest-copy"
LOCAL_BIAS = "gapfill-local-bias"
BASELINES = (GAPFILLING, NEAREST, LOCAL_BIAS)
SCORES = ("psnr", "ssim", "sam", "mae", "coverage")
COLUMNS = ("set", "T", "C", "t-1", "t+1", "cloudy_share", "method", "psnr", "ssim", "sam", "mae", "coverage",
           "pixels", "error")
# Card roles the benchmark feeds, and from what (cloud_t comes from -mask, the dates from date.*).
FED_ROLES = {"s2_t": "s2_t", "s2_tm1": "s2_tm1", "s2_tp1": "s2_tp1", "cloud_t": "mask",
             "s2_timestamp_t": "t", "s2_timestamp_tm1": "tm1", "s2_timestamp_tp1": "tp1"}
QUICK_REFERENCES = 1


# ---- models ----

@dataclass
class Model:
    """A model to benchmark: its folder, label, the roles its card names; ``skip`` says why it cannot run."""

    path: Path
    label: str
    roles: tuple[str, ...] = ()
    skip: str | None = None

    @property
    def takes_t(self) -> bool:
        return "s2_t" in self.roles

    @property
    def dates(self) -> list[str]:
        return [FED_ROLES[r] for r in self.roles if r.startswith("s2_timestamp_")]


def load_models(paths: Sequence[str | Path] | None) -> list[Model]:
    """The models to run (the shipped default one when ``paths`` is empty), labelled by folder name."""
    from .infer import default_model  # noqa: PLC0415

    folders = [Path(p) for p in paths] if paths else [default_model()]
    out, seen = [], set()
    for path in folders:
        card = read_card(path)  # a missing or unreadable card is an input error of the command
        roles = tuple(spec.get("role", key) for key, spec in card.get("inputs", {}).items())
        label = path.resolve().name
        n = 2
        while label in seen or label in BASELINES:
            label, n = f"{path.resolve().name}-{n}", n + 1
        seen.add(label)
        unfed = [r for r in roles if r not in FED_ROLES]
        skip = None
        if unfed:
            skip = (f"its card names input role(s) {', '.join(unfed)}, which the benchmark cannot feed "
                    "(it has S2 10 m stacks at t, t-1, t+1, the cloud mask of t and the dates only)")
        elif not any(r in roles for r in ("s2_t", "s2_tm1", "s2_tp1")):
            skip = "its card names no S2 input"
        out.append(Model(path, label, roles, skip))
    return out


# ---- inputs ----

def benchmark_sets(data: str | Path, tool: str) -> list[Path]:
    """The sets a benchmark named ``tool`` scores in ``data`` (:func:`decloud.scenarios.find_sets`), with one line
    on stderr each when ``data`` holds no set at all (the list is then empty: the benchmark exits 2) and when real
    sets of :data:`~decloud.scenarios.SPLITS` are absent (it scores the sets there)."""
    folders = find_sets(data)
    if not folders:
        print(f"{tool}: the real data is absent (no folder of S2 stacks in {data}): give --data "
              "(see ../shared/data/README.md)", file=sys.stderr)
        return []
    absent = [name for name in SPLITS if not (Path(data) / name).is_dir()]
    if absent:
        print(f"{tool}: {', '.join(absent)} absent from {data}: scored on the sets there", file=sys.stderr)
    return folders


@dataclass
class SetPlan:
    name: str
    folder: Path
    series: Series
    scenarios: list
    split: dict = field(default_factory=dict)


def plan_set(folder: str | Path, *, mask: MaskSource = "auto", max_references: int | None = None) -> SetPlan:
    """Read one folder and plan its scenarios (the test part of a known real set, else the whole folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DecloudInputError(f"{folder}: no such folder of S2 stacks")
    name = folder.resolve().name
    if name in SPLITS:
        split = SPLITS[name]
        series = load_series(folder, mask=split.mask, name=name)
        part, scenarios = test_scenarios(series, split, max_references=max_references)
        info = {"part": "test", **split.describe()}
    else:
        series = load_series(folder, mask=mask, name=name)
        part, scenarios = series, plan_scenarios(series, max_references=max_references)
        info = {"part": "whole folder", "mask": series.mask_source}
    if not scenarios:
        raise DecloudInputError(f"{folder}: no scenario (needs a clear reference date with clear dates "
                                "within 30 days before and after it, and a cloudy date)")
    return SetPlan(name, folder, part, scenarios, info)


def write_input(path: Path, array: np.ndarray, series: Series, *, nodata: float | None = NODATA) -> Path:
    """``array`` as a GeoTIFF on the series' grid and CRS (its WKT as read; :func:`decloud.raster.write_geotiff`,
    atomic); a series without CRS gets EPSG:4326, as before."""
    from .raster import write_geotiff  # noqa: PLC0415

    gt = series.geotransform
    return write_geotiff(path, array, origin=(gt[0], gt[3]), spacing=(gt[1], gt[5]), epsg=4326, nodata=nodata,
                         projection=series.projection or None)


def write_scene(folder: Path, scene: Scene, series: Series) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {"t": write_input(folder / "s2_t.tif", scene.t, series),
            "tm1": write_input(folder / "s2_tm1.tif", scene.tm1, series),
            "tp1": write_input(folder / "s2_tp1.tif", scene.tp1, series),
            "mask": write_input(folder / "cloud_t.tif", scene.cloud.astype(np.uint8), series, nodata=None)}


# ---- methods ----

def run_model(model: Model, paths: dict[str, Path], dates: dict[str, str], out: Path) -> np.ndarray:
    """DecloudInfer with ``model`` on the scenario's inputs, written as int16; returns the output array."""
    from .infer import infer  # noqa: PLC0415
    from .raster import read_array  # noqa: PLC0415

    inputs = {role: paths[role[3:]] for role in ("s2_t", "s2_tm1", "s2_tp1") if role in model.roles}
    date_roles = {f"s2_timestamp_{d}": dates[d] for d in model.dates}
    # -mask feeds cloud_t for the models that take it and, for every model taking t, keeps t's clear pixels.
    mask = paths["mask"] if model.takes_t else None
    infer(out, inputs, model=model.path, mask=mask, dates=date_roles)
    return read_array(out)


def run_gapfilling_app(paths: dict[str, Path], dates: dict[str, str], out: Path) -> np.ndarray:
    """DecloudGapFilling on t-1 and t+1 with their dates, at t; returns the output array (int16)."""
    from .atomic import app_failure  # noqa: PLC0415
    from .infer import write_atomically  # noqa: PLC0415
    from .otbenv import pyotb  # noqa: PLC0415
    from .raster import read_array  # noqa: PLC0415

    try:
        app = pyotb().DecloudGapFilling({"il": [str(paths["tm1"]), str(paths["tp1"])],
                                         "dates": [dates["tm1"], dates["tp1"]], "date": dates["t"]})
    except Exception as e:  # pyotb wraps the app's FATAL line in a RuntimeError
        raise app_failure(e, "DecloudGapFilling", error=OTBAppError) from e
    write_atomically(app, out, pixel_type="int16")
    return read_array(out)


def as_int16(estimate: np.ndarray) -> np.ndarray:
    """A float estimate as an application writes it: rounded half up, int16, nodata kept."""
    nodata = np.all(estimate == NODATA, axis=-1)
    out = np.clip(np.floor(estimate.astype(np.float64) + 0.5), -32768, 32767).astype(np.int16)
    out[nodata] = NODATA
    return out


@contextmanager
def stdout_to_stderr(enabled: bool = True) -> Iterator[None]:
    """Send what is written to file descriptor 1 (the OTB apps' progress lines) to stderr for a while, so that
    a command's standard output keeps only its results."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


# ---- scores ----

def score(estimate: np.ndarray, scene: Scene) -> dict[str, float]:
    """PSNR (dB, peak 1 in reflectance), SSIM, SAM (rad), MAE (reflectance) on the scored pixels where the
    estimate has data, and the coverage (share of the scored pixels where it has)."""
    scored = scene.scored
    has = np.all(estimate != NODATA, axis=-1)
    total = int(scored.sum())
    kept = scored & has & np.all(scene.reference != NODATA, axis=-1)
    coverage = float((scored & has).sum() / total) if total else float("nan")
    if not kept.any():
        return {"psnr": math.nan, "ssim": math.nan, "sam": math.nan, "mae": math.nan, "coverage": coverage,
                "pixels": 0}
    s = metrics.scores(estimate, scene.reference, kept)  # arrays x 10000: metrics divides by its PEAK
    diff = estimate[kept].astype(np.float64) - scene.reference[kept].astype(np.float64)
    return {"psnr": s.psnr, "ssim": s.ssim, "sam": s.sam, "mae": float(np.mean(np.abs(diff)) / metrics.PEAK),
            "coverage": coverage, "pixels": s.pixels}


def _nanmean(values) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else math.nan


# ---- the benchmark ----

@dataclass
class BenchmarkResult:
    rows: list[dict]
    summary: dict
    paths: dict[str, Path]
    models: list[Model]
    seconds: float


def _to_png(array: np.ndarray) -> np.ndarray:
    rgb = array[:, :, [2, 1, 0]].astype(np.float64)
    rgb[np.any(array[:, :, [2, 1, 0]] == NODATA, axis=-1)] = np.nan
    return rgb


def run_benchmark(folders: Sequence[str | Path], *, models: Sequence[str | Path] | None = None,
                  out: str | Path = "benchmark", quick: bool = False, max_references: int | None = None,
                  mask: MaskSource = "auto", work: str | Path | None = None, progress: bool = True,
                  with_models: bool = True, app_output_to_stderr: bool = True) -> BenchmarkResult:
    """Run the benchmark (see the module doc) and write its outputs in ``out``; returns rows and summary.
    ``quick``: one reference date per set (``max_references`` overrides). ``with_models=False`` runs the
    baselines only. ``app_output_to_stderr``: the apps' progress lines go to stderr (stdout stays clean)."""
    from tqdm import tqdm  # noqa: PLC0415

    start = time.perf_counter()
    if not folders:
        raise DecloudInputError("no data folder given")
    if max_references is None and quick:
        max_references = QUICK_REFERENCES
    if max_references is not None and max_references < 1:
        raise DecloudInputError(f"--max-references {max_references}: must be at least 1")
    plans = [plan_set(f, mask=mask, max_references=max_references) for f in folders]
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        raise DecloudInputError(f"two data folders have the same name ({', '.join(names)}): sets are named "
                                "by their folder")
    chosen = load_models(models) if with_models else []
    runnable = [m for m in chosen if not m.skip]
    for m in chosen:
        if m.skip:
            log.warning("model %s skipped: %s", m.label, m.skip)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(work) if work else out / "work"

    methods = [m.label for m in runnable] + list(BASELINES)
    rows: list[dict] = []
    worst: dict[str, tuple[float, dict]] = {}  # set -> (PSNR of the first method, quick-look panels)
    first = runnable[0].label if runnable else GAPFILLING
    bar = tqdm(total=sum(len(p.scenarios) for p in plans), desc="scenarios", unit="scenario",
               disable=not progress)
    for plan in plans:
        series = plan.series
        for sc in plan.scenarios:
            scene = build_scene(series, sc)
            d = series.dates
            dates = {"t": d[sc.reference].isoformat(), "tm1": d[sc.before].isoformat(),
                     "tp1": d[sc.after].isoformat()}
            folder = work / plan.name / f"T{d[sc.reference]:%Y%m%d}_C{d[sc.cloudy]:%Y%m%d}"
            paths = write_scene(folder, scene, series)
            valid = np.any(scene.t != NODATA, axis=-1)
            base = {"set": plan.name, "T": dates["t"], "C": d[sc.cloudy].isoformat(), "t-1": dates["tm1"],
                    "t+1": dates["tp1"],
                    "cloudy_share": float((scene.cloud & valid).sum() / max(int(valid.sum()), 1))}
            estimates: dict[str, np.ndarray] = {}
            errors: dict[str, str] = {}
            with stdout_to_stderr(app_output_to_stderr):
                for m in runnable:
                    try:
                        estimates[m.label] = run_model(m, paths, dates, folder / f"{m.label}.tif")
                    except DecloudError as e:
                        errors[m.label] = str(e)
                        log.warning("%s on %s: %s", m.label, scene.label, e)
                try:
                    estimates[GAPFILLING] = run_gapfilling_app(paths, dates, folder / f"{GAPFILLING}.tif")
                except DecloudError as e:
                    errors[GAPFILLING] = str(e)
                    log.warning("%s on %s: %s", GAPFILLING, scene.label, e)
            estimates[NEAREST] = as_int16(nearest_copy(scene))
            estimates[LOCAL_BIAS] = as_int16(gapfill_local_bias(scene))
            failed = {"psnr": math.nan, "ssim": math.nan, "sam": math.nan, "mae": math.nan, "coverage": 0.0,
                      "pixels": 0}
            scores = {m: score(estimates[m], scene) if m in estimates else failed for m in methods}
            rows += [{**base, "method": m, **scores[m], "error": errors.get(m, "")} for m in methods]
            key = scores[first]["psnr"]
            if math.isfinite(key) and (plan.name not in worst or key < worst[plan.name][0]):
                worst[plan.name] = (key, {"t": scene.t, GAPFILLING: estimates.get(GAPFILLING),
                                          first: estimates[first], "reference": scene.reference,
                                          "label": scene.label})
            bar.update(1)
    bar.close()
    seconds = time.perf_counter() - start
    summary = summarise(rows, plans, chosen, methods, seconds=seconds, max_references=max_references)
    paths = write_outputs(out, rows, summary, worst, first)
    return BenchmarkResult(rows, summary, paths, chosen, seconds)


def summarise(rows: list[dict], plans: Sequence[SetPlan], models: Sequence[Model], methods: Sequence[str], *,
              seconds: float, max_references: int | None) -> dict:
    """Means per set and method; per method and set, the gain over the gap-filling app (mean of the
    per-scenario PSNR differences, on the scenarios both scored), wins / losses and the worst scenario's
    gain."""
    sets: dict[str, dict] = {}
    for plan in plans:
        mine = [r for r in rows if r["set"] == plan.name]
        per_method = {}
        for method in methods:
            mr = [r for r in mine if r["method"] == method]
            per_method[method] = {k: _nanmean(r[k] for r in mr) for k in SCORES}
            per_method[method]["failed"] = sum(1 for r in mr if r["error"])
        gains = {}
        for m in methods:
            if m == GAPFILLING:
                continue
            diffs = []
            for r in mine:
                if r["method"] != m:
                    continue
                ref = next(x for x in mine
                           if x["method"] == GAPFILLING and (x["T"], x["C"]) == (r["T"], r["C"]))
                if math.isfinite(r["psnr"]) and math.isfinite(ref["psnr"]):
                    diffs.append(r["psnr"] - ref["psnr"])
            gains[m] = {"gain_db": _nanmean(diffs), "wins": sum(1 for x in diffs if x > 0),
                        "losses": sum(1 for x in diffs if x < 0),
                        "worst_scenario_gain_db": float(min(diffs)) if diffs else math.nan,
                        "scenarios": len(diffs)}
        sets[plan.name] = {"folder": str(plan.folder), "split": plan.split, "mask": plan.series.mask_source,
                           "scenarios": len(plan.scenarios), "methods": per_method,
                           "gain_over_gapfilling": gains}
    overall = {m: {k: _nanmean(s["methods"][m][k] for s in sets.values()) for k in SCORES} for m in methods}
    for m in methods:
        if m != GAPFILLING:
            g = [s["gain_over_gapfilling"][m] for s in sets.values()]
            overall[m]["gain_db"] = _nanmean(x["gain_db"] for x in g)
            overall[m]["min_set_gain_db"] = min((x["gain_db"] for x in g if math.isfinite(x["gain_db"])),
                                                default=math.nan)
            worst = [x["worst_scenario_gain_db"] for x in g if math.isfinite(x["worst_scenario_gain_db"])]
            overall[m]["worst_scenario_gain_db"] = min(worst, default=math.nan)
            overall[m]["wins"] = sum(x["wins"] for x in g)
            overall[m]["losses"] = sum(x["losses"] for x in g)
    return {"protocol": ("../shared/QUALITY.md: real clouds of a date C pasted on a clear date T, scored on "
                         "the pasted pixels against T"),
            "units": {"psnr": "dB, reflectance peak 1", "ssim": "reflectance",
                      "sam": "radians, mean of the angles", "mae": "reflectance (values / 10000)",
                      "coverage": "share of the scored pixels with a value"},
            "max_references": max_references, "scenarios": sum(len(p.scenarios) for p in plans),
            "methods": list(methods),
            "models": {m.label: {"path": str(m.path), "roles": list(m.roles)} for m in models if not m.skip},
            "skipped": {m.label: m.skip for m in models if m.skip},
            "sets": sets, "mean_over_sets": overall, "seconds": round(seconds, 2)}


def _fmt(x: float, digits: int) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def summary_markdown(summary: dict) -> str:
    methods = summary["methods"]
    intro = (f"Protocol: {summary['protocol']}. {summary['scenarios']} scenarios; scores are means over "
             "a set's scenarios (PSNR in dB on reflectance, peak 1; SAM in radians; MAE in reflectance; "
             "coverage: share of the scored pixels with a value). Gain: mean over the scenarios of the PSNR "
             "difference with the gap-filling app (DecloudGapFilling); wins / losses: scenarios where the "
             "method is above / below it.")
    lines = ["# Decloud quality benchmark", "", intro, ""]
    lines += ["| set | method | PSNR | SSIM | SAM | MAE | coverage | gain dB | wins / losses |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, s in [*summary["sets"].items(), ("mean over sets", None)]:
        for m in methods:
            v = s["methods"][m] if s else summary["mean_over_sets"][m]
            if m == GAPFILLING:
                g = None
            else:
                g = s["gain_over_gapfilling"][m] if s else summary["mean_over_sets"][m]
            gain = "" if not g else _fmt(g["gain_db"], 2)
            wl = "" if not g else f"{g['wins']} / {g['losses']}"
            label = f"{name} ({s['scenarios']})" if s else name
            failed = f" ({v['failed']} failed)" if s and v.get("failed") else ""
            lines.append(f"| {label} | {m}{failed} | {_fmt(v['psnr'], 2)} | {_fmt(v['ssim'], 4)} | "
                         f"{_fmt(v['sam'], 4)} | {_fmt(v['mae'], 4)} | {_fmt(v['coverage'], 3)} | {gain} | "
                         f"{wl} |")
    for label, reason in summary["skipped"].items():
        lines += ["", f"Model {label} skipped: {reason}."]
    lines += ["", f"Wall time: {summary['seconds']:.1f} s.", ""]
    return "\n".join(lines)


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (_fmt(r[k], 6) if isinstance(r[k], float) else r[k]) for k in COLUMNS})
    return buf.getvalue()


def plot_psnr(path: Path, summary: dict) -> Path:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sets, methods = list(summary["sets"]), summary["methods"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(sets) * max(1, len(methods)) / 3), 4.5))
    width = 0.8 / len(methods)
    x = np.arange(len(sets))
    for k, m in enumerate(methods):
        values = [summary["sets"][s]["methods"][m]["psnr"] for s in sets]
        heights = [v if math.isfinite(v) else 0 for v in values]
        ax.bar(x + (k - (len(methods) - 1) / 2) * width, heights, width, label=m)
    ax.set_xticks(x, sets, rotation=15)
    finite = [summary["sets"][s]["methods"][m]["psnr"] for s in sets for m in methods]
    finite = [v for v in finite if math.isfinite(v)]
    if finite:
        ax.set_ylim(max(0.0, min(finite) - 3), max(finite) + 1.5)
    ax.set_ylabel("mean PSNR on the pasted cloudy pixels (dB)")
    ax.set_title("Decloud benchmark: real clouds pasted on clear dates")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(4, len(methods)))
    fig.tight_layout()
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path


def write_outputs(out: Path, rows: list[dict], summary: dict, worst: dict, first: str) -> dict[str, Path]:
    from .raster import write_quicklook  # noqa: PLC0415

    paths = {"csv": write_text(out / "scenarios.csv", _csv_text(rows), what="scores table"),
             "md": write_text(out / "summary.md", summary_markdown(summary), what="summary"),
             "json": write_text(out / "summary.json", json.dumps(_jsonable(summary), indent=2) + "\n",
                                what="summary"),
             "plot": plot_psnr(out / "psnr.png", summary)}
    for name, (value, panels) in worst.items():
        order = ["t", GAPFILLING] + ([first] if first != GAPFILLING else []) + ["reference"]
        shown = [k for k in order if panels.get(k) is not None]
        titles = [{"t": "t (real clouds pasted)", "reference": "reference (clear T)"}.get(k, k)
                  for k in shown]
        paths[f"quicklook_{name}"] = write_quicklook(out / f"quicklook_{name}.png",
                                                     [_to_png(panels[k]) for k in shown], titles=titles,
                                                     stretch_from=len(shown) - 1)
        log.info("quick-look %s: %s (%s %.2f dB): %s", name, panels["label"], first, value, " | ".join(order))
    return paths


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x

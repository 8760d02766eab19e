"""Benchmark: one cloud-free image per month, measured on a withheld clear date (issue 16, item 5).

On the test part of each real set of ../shared/data (``decloud.scenarios.SPLITS``: rows for bolzano-west, dates
for the others; each set's cloud mask) and the whole of any other folder of dated S2 stacks there or in ``--data``
(``decloud.scenarios.find_sets``), for every calendar month with at least 3 clear-ish dates (cloudy share
<= 10 %) in it, each clear date of the month (<= 2 %) in turn is the REFERENCE and is withheld: it is never an input.
The inputs are the month's dates picked by the original Decloud's rule among the other dates (:func:`decloud.
synthesis.pick_dates`: 6 within 22 days of the 15th, fewest clouds first), from which:

  median       per-pixel median of the clear observations (decloud.synthesis.median_composite)
  bap          best available pixel: the least cloudy image, then the nearest to the 15th (bap_composite)
  gapfilling   the linear gap-filling AT THE REFERENCE DATE between the nearest clear-ish inputs before and after
               it, their cloudy pixels left out (the one side's value where the other has none; the one side's
               copy when no clear-ish input is on the other), decloud.scenarios.linear_gapfill: what a user with
               the reference's date gets from the classical method
  synthesis    the shipped synthesis network (``models/synthnet-v1``, or ``--model``) through the real app
               (DecloudInfer, fed the picked dates in the rule's order with their cloudy pixels as nodata, as
               ``decloud synthesis`` feeds it); ``--no-model``: its lines read ``none``

Each is scored on the reference (decloud.metrics: PSNR, SSIM, SAM) on the pixels clear and valid in the reference
and valid in EVERY output (the same pixels for all; ``coverage_<method>`` is the share of the reference's clear
pixels where that method gives a value). Lines (``name: value``):

  synthesis_psnr, median_psnr, bap_psnr, gapfilling_psnr   mean over the reference dates (all sets), dB
  synthesis_gain_db        synthesis minus the better of median / bap (``none`` without a synthesis model)
  synthesis_wins           references where the synthesis beats the better composite of that reference
  best_composite_psnr      the better of median_psnr / bap_psnr
  <method>_ssim, <method>_sam, coverage_<method>           means over the reference dates
  <method>_psnr_<set>      per set
  references, periods, seconds

    python bench/synthesis.py            # every clear date of every qualifying month (a few minutes at most)
    python bench/synthesis.py --quick    # one reference per month, at most 2 per set (under a minute)
    python bench/synthesis.py --model experiments/work/synthnet/runs/synthnet-v1/model

Exits with status 2 and one line when the data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from decloud import metrics
from decloud.benchmark import benchmark_sets, stdout_to_stderr, write_input
from decloud.errors import DecloudError
from decloud.infer import infer
from decloud.raster import read_array
from decloud.scenarios import NODATA, SPLITS, Series, SynthesisCase, linear_gapfill, load_series, synthesis_cases
from decloud.synthesis import bap_composite, median_composite

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MODEL = Path(__file__).resolve().parents[1] / "models" / "synthnet-v1"
COMPOSITES = ("median", "bap", "gapfilling")
CLEARISH = 0.10


def key(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_")


def fmt(x: float | None) -> str:
    return "none" if x is None else ("nan" if not math.isfinite(x) else f"{x:.3f}")


def gapfilling_at(series: Series, ref: int, inputs: list[int], frac: np.ndarray) -> np.ndarray | None:
    """Linear gap-filling at the reference date between the nearest clear-ish inputs before and after it."""
    days = [d.toordinal() for d in series.dates]
    clear = [i for i in inputs if frac[i] <= CLEARISH]
    before = [i for i in clear if days[i] < days[ref]]
    after = [i for i in clear if days[i] > days[ref]]
    b = max(before, key=lambda i: days[i]) if before else None
    a = min(after, key=lambda i: days[i]) if after else None
    if b is None and a is None:
        return None
    empty = np.full_like(series.reflectance[ref], NODATA)
    tm1 = np.where(series.cloud[b][..., None], NODATA, series.reflectance[b]) if b is not None else empty
    tp1 = np.where(series.cloud[a][..., None], NODATA, series.reflectance[a]) if a is not None else empty
    stamps = {"t": series.timestamp(ref), "tm1": series.timestamp(b if b is not None else ref),
              "tp1": series.timestamp(a if a is not None else ref)}
    return linear_gapfill(tm1, tp1, stamps)


def run_network(model: Path, series: Series, inputs: tuple[int, ...], work: Path) -> np.ndarray:
    """The synthesis network through DecloudInfer: the picked dates in the rule's order (repeats included), each
    with its cloudy pixels as nodata (what ``decloud synthesis`` feeds a synthesis network whose card says
    ``holes: model``)."""
    work.mkdir(parents=True, exist_ok=True)
    paths = {}
    for i in dict.fromkeys(inputs):
        masked = np.where(series.cloud[i][..., None], NODATA, series.reflectance[i]).astype(np.int16)
        paths[i] = write_input(work / f"s2_{series.dates[i]:%Y%m%d}.tif", masked, series)
    with stdout_to_stderr():  # the app's progress lines: stdout keeps the name: value lines
        out = infer(work / "synthesis.tif", {"s2_d": [paths[i] for i in inputs]}, model=model)
    return read_array(out)


def evaluate_set(series: Series, cases: list[SynthesisCase], *, model: Path | None, work: Path) -> list[dict]:
    """Scores per reference date of one set's test part (its ``decloud.scenarios.synthesis_cases``)."""
    frac = series.cloud_fraction()
    valid = series.valid
    rows = []
    for case in cases:
        ref, inputs = case.reference, case.unique
        images, clouds = series.reflectance[inputs], series.cloud[inputs]
        outputs: dict[str, np.ndarray | None] = {
            "median": median_composite(images, clouds),
            "bap": bap_composite(images, clouds, [series.dates[i] for i in inputs], case.period.middle,
                                 [100 * float(frac[i]) for i in inputs]),
            "gapfilling": gapfilling_at(series, ref, inputs, frac),
        }
        if any(v is None for v in outputs.values()):
            continue
        if model is not None:
            outputs["synthesis"] = run_network(model, series, case.inputs, work / f"{series.name}_{ref}")
        reference = series.reflectance[ref]
        target = valid[ref] & ~series.cloud[ref]
        common = target.copy()
        for out in outputs.values():
            common &= np.all(out != NODATA, axis=-1)  # type: ignore[operator]
        if common.sum() < 100:
            continue
        row: dict = {"set": series.name, "period": case.period.name, "reference": series.dates[ref].isoformat(),
                     "inputs": [series.dates[i].isoformat() for i in inputs]}
        for name, out in outputs.items():
            assert out is not None
            s = metrics.scores(out, reference, common)
            row[name] = {"psnr": s.psnr, "ssim": s.ssim, "sam": s.sam,
                         "coverage": float((np.all(out != NODATA, axis=-1) & target).sum() / target.sum())}
        rows.append(row)
    return rows


def mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help=f"folder of the real sets (default: {DATA})")
    parser.add_argument("--quick", action="store_true", help="one reference per month, at most 2 per set")
    parser.add_argument("--details", action="store_true", help="one line per reference date on stderr")
    parser.add_argument("--model", type=Path, default=MODEL, help=f"the synthesis network (default: {MODEL})")
    parser.add_argument("--no-model", action="store_true", help="composites only (no synthesis network)")
    parser.add_argument("--rows", type=Path, default=None, help="also write the per-reference scores (JSON) there")
    args = parser.parse_args()
    model = None if args.no_model else args.model

    folders = benchmark_sets(args.data, "synthesis")
    if not folders:
        return 2
    if model == MODEL and not (MODEL / "card.json").is_file():
        print(f"synthesis: no synthesis model is shipped yet ({MODEL}): composites only", file=sys.stderr)
        model = None
    if model is not None and not (model / "card.json").is_file():
        print(f"synthesis: {model}: no synthesis model there (card.json); give --model DIR or --no-model",
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="decloud-bench-synthesis-") as work:
            for folder in folders:  # a real set on its test part, another folder whole
                split = SPLITS.get(folder.name)
                series = load_series(folder, mask=split.mask if split else "auto")
                part, is_test = split.test(series) if split else (series, lambda d: True)
                cases = synthesis_cases(part, is_test, per_period=1 if args.quick else None)
                if args.quick and len(cases) > 2:  # the first and the last month's reference
                    cases = [cases[0], cases[-1]]
                rows += evaluate_set(part, cases, model=model, work=Path(work))
    except DecloudError as e:
        print(f"synthesis: error: {e}", file=sys.stderr)
        return 2
    if not rows:
        print("synthesis: no month with 3 clear-ish dates and a clear reference in the test parts", file=sys.stderr)
        return 1
    methods = COMPOSITES + (("synthesis",) if model is not None else ())
    if args.rows is not None:
        args.rows.write_text(json.dumps(rows, indent=1))
    if args.details:
        for r in rows:
            print(f"  {r['set']} {r['period']} ref {r['reference']} inputs {' '.join(d[5:] for d in r['inputs'])}: "
                  + ", ".join(f"{m} {r[m]['psnr']:.2f} dB" for m in methods), file=sys.stderr)
    psnr = {m: mean([r[m]["psnr"] for r in rows]) for m in methods}
    best = max(psnr["median"], psnr["bap"])
    if model is None:
        print("synthesis: no synthesis model: synthesis_psnr and synthesis_gain_db are none", file=sys.stderr)
        synthesis, gain, wins = None, None, "none"
    else:
        synthesis, gain = psnr["synthesis"], psnr["synthesis"] - best
        wins = f"{sum(r['synthesis']['psnr'] > max(r['median']['psnr'], r['bap']['psnr']) for r in rows)}/{len(rows)}"
    lines = [f"synthesis_psnr: {fmt(synthesis)}", f"median_psnr: {fmt(psnr['median'])}",
             f"bap_psnr: {fmt(psnr['bap'])}", f"gapfilling_psnr: {fmt(psnr['gapfilling'])}",
             f"synthesis_gain_db: {fmt(gain)}",
             f"synthesis_wins: {wins}", f"best_composite_psnr: {fmt(best)}"]
    for m in methods:
        lines += [f"{m}_ssim: {fmt(mean([r[m]['ssim'] for r in rows]))}",
                  f"{m}_sam: {fmt(mean([r[m]['sam'] for r in rows]))}",
                  f"coverage_{m}: {fmt(mean([r[m]['coverage'] for r in rows]))}"]
    for name in (f.name for f in folders):
        mine = [r for r in rows if r["set"] == name]
        for m in methods:
            lines.append(f"{m}_psnr_{key(name)}: {fmt(mean([r[m]['psnr'] for r in mine]) if mine else math.nan)}")
    lines += [f"references: {len(rows)}", f"periods: {len({(r['set'], r['period']) for r in rows})}",
              f"seconds: {time.perf_counter() - start:.1f}"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

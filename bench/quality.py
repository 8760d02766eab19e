"""Benchmark: reconstruction quality on real clouds (../shared/QUALITY.md), network against DecloudGapFilling.

Runs ``decloud.benchmark`` (DecloudInfer with the shipped default model, DecloudGapFilling, baselines) on
every set of ../shared/data (or ``--data``): the test part of a real set of the project
(``decloud.scenarios.SPLITS``), the whole of any other folder of dated S2 stacks (``decloud.scenarios.find_sets``;
no model of the project was trained on it). Prints ``name: value`` lines:

  gain_db_<set>                 mean PSNR of the network minus that of the gap-filling app, on the scored
                                (pasted cloudy) pixels, dB; one line per set (bolzano_west, ...)
  min_gain_db                   the smallest of those
  worst_scenario_gain_db        the network's worst single-scenario gain over the gap-filling app
  sam_ratio                     network SAM / gap-filling SAM (per set), mean over the sets; below 1 is better
  coverage                      share of the scored pixels where the network gave a value, mean over the sets
  baseline_bias_gain_db_<set>   the same gain for gap-filling + local bias (numpy), per set
  scenarios                     number of scenarios scored
  seconds                       wall time

With ``--model DIR`` (repeatable) each further model's gain_db_<set>, min_gain_db, worst_scenario_gain_db,
sam_ratio and coverage follow, prefixed by its folder name ('-' replaced by '_').

    python bench/quality.py            # every test scenario (about 100; several minutes)
    python bench/quality.py --quick    # one reference date per set (about 11 scenarios, under a minute)

Exits with status 2 and one line when the data folder is absent.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OTB_LOGGER_LEVEL", "WARNING")  # before pyotb loads: keep stdout to the figures
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from decloud.benchmark import GAPFILLING, LOCAL_BIAS, benchmark_sets, plan_set, run_benchmark
from decloud.errors import DecloudError
from decloud.scenarios import SPLITS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def key(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_")


def fmt(x: float) -> str:
    return "nan" if x is None or not math.isfinite(x) else f"{x:.3f}"


def model_lines(summary: dict, label: str, prefix: str = "") -> list[str]:
    sets = summary["sets"]
    gains = {name: s["gain_over_gapfilling"][label] for name, s in sets.items()}
    lines = [f"{prefix}gain_db_{key(name)}: {fmt(g['gain_db'])}" for name, g in gains.items()]
    finite = [g["gain_db"] for g in gains.values() if math.isfinite(g["gain_db"])]
    worst = [g["worst_scenario_gain_db"] for g in gains.values()
             if math.isfinite(g["worst_scenario_gain_db"])]
    ratios = []
    for s in sets.values():
        net, gf = s["methods"][label]["sam"], s["methods"][GAPFILLING]["sam"]
        if math.isfinite(net) and math.isfinite(gf) and gf > 0:
            ratios.append(net / gf)
    coverage = [s["methods"][label]["coverage"] for s in sets.values()]
    coverage = [c for c in coverage if math.isfinite(c)]
    lines += [f"{prefix}min_gain_db: {fmt(min(finite) if finite else math.nan)}",
              f"{prefix}worst_scenario_gain_db: {fmt(min(worst) if worst else math.nan)}",
              f"{prefix}sam_ratio: {fmt(sum(ratios) / len(ratios) if ratios else math.nan)}",
              f"{prefix}coverage: {fmt(sum(coverage) / len(coverage) if coverage else math.nan)}"]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help=f"folder of the real sets (default: {DATA})")
    parser.add_argument("--model", action="append", default=[], metavar="DIR",
                        help="a further model to compare with the default one (repeatable)")
    parser.add_argument("--quick", action="store_true", help="one reference date per set (under a minute)")
    parser.add_argument("--max-references", type=int,
                        help="reference dates per set (default: all; 1 with --quick)")
    parser.add_argument("--out", type=Path,
                        help="keep the benchmark's report here (default: a temporary folder)")
    parser.add_argument("--progress", action="store_true", help="progress bar on stderr")
    args = parser.parse_args()

    folders = benchmark_sets(args.data, "quality")
    if not folders:
        return 2
    usable = []
    for folder in folders:  # another folder that cannot be scored (no scenario, a bad stack) is left out, said
        try:
            if folder.name not in SPLITS:
                plan_set(folder, max_references=1)
            usable.append(folder)
        except DecloudError as e:
            print(f"quality: set {folder.name} left out: {e}", file=sys.stderr)
    if not usable:
        print(f"quality: no set of {args.data} could be scored (see above)", file=sys.stderr)
        return 2
    folders = usable
    from decloud.infer import default_model  # noqa: PLC0415

    start = time.perf_counter()
    models = [default_model(), *args.model]
    with tempfile.TemporaryDirectory(prefix="decloud-quality-") as tmp:
        out = args.out or Path(tmp)
        try:
            result = run_benchmark(folders, models=models, out=out, quick=args.quick,
                                   max_references=args.max_references, progress=args.progress)
        except DecloudError as e:
            print(f"quality: error: {e}", file=sys.stderr)
            return 2
    summary = result.summary
    for label, reason in summary["skipped"].items():
        print(f"quality: model {label} skipped: {reason}", file=sys.stderr)
    labels = [m.label for m in result.models]
    if result.models[0].skip:
        print(f"quality: the default model cannot run: {result.models[0].skip}", file=sys.stderr)
        return 1
    lines = model_lines(summary, labels[0])
    lines += [f"baseline_bias_gain_db_{key(name)}: {fmt(s['gain_over_gapfilling'][LOCAL_BIAS]['gain_db'])}"
              for name, s in summary["sets"].items()]
    lines += [f"scenarios: {summary['scenarios']}", f"seconds: {time.perf_counter() - start:.1f}"]
    for m in result.models[1:]:
        if not m.skip:
            lines += model_lines(summary, m.label, prefix=f"{key(m.label)}_")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

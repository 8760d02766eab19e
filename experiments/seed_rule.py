"""The rule of experiments/results/unseen/README.md for several seeds per recipe, from `decloud benchmark`
scenario tables: per scenario, each model's PSNR gain over the gap-filling app; per recipe, that gain averaged
over its seeds; then, per region and over all, the mean, wins / losses and the worst scenario, and whether the
candidate recipe meets the rule (higher mean over all scenarios, no region's worst more than 0.1 dB worse).

    python seed_rule.py --csv results/unseen/portugal-seeds-scenarios.csv --csv ... \
        --recipe base=gfnet-loosafe-portugal,gfnet-s1base-portugal,... --recipe sel=...
(a recipe lists its models of every region; a region is the table's `set` column)
"""
from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from pathlib import Path

REFERENCE = "gapfilling-app"
TOLERANCE_DB = 0.1


def gains(rows: list[dict]) -> dict[tuple[str, str, str], dict[str, float]]:
    """(set, T, C) -> method -> PSNR gain over the gap-filling app (rows with an error are left out)."""
    by_scenario: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for row in rows:
        if row.get("error"):
            continue
        by_scenario[(row["set"], row["T"], row["C"])][row["method"]] = float(row["psnr"])
    return {key: {m: v - methods[REFERENCE] for m, v in methods.items() if m != REFERENCE}
            for key, methods in by_scenario.items() if REFERENCE in methods}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", type=Path, action="append", required=True)
    p.add_argument("--recipe", action="append", required=True, help="NAME=model,model,...; the first is the base")
    args = p.parse_args(argv)
    rows = [r for path in args.csv for r in csv.DictReader(path.open())]
    table = gains(rows)
    recipes = {}
    for spec in args.recipe:
        name, models = spec.split("=", 1)
        recipes[name] = models.split(",")
    summary: dict[str, dict[str, tuple[float, int, int, float]]] = {}
    for name, models in recipes.items():
        per_region: dict[str, list[float]] = defaultdict(list)
        for (region, _, _), g in sorted(table.items()):
            present = [g[m] for m in models if m in g]
            if not present:
                continue
            per_region[region].append(sum(present) / len(present))
            per_region["all"].append(per_region[region][-1])
        for region, values in per_region.items():
            wins = sum(v > 0 for v in values)
            summary.setdefault(region, {})[name] = (sum(values) / len(values), wins, len(values) - wins, min(values))
        for m in models:
            single = [g[m] for g in table.values() if m in g]
            if single:
                print(f"model {m}: {len(single)} scenarios, mean gain {sum(single) / len(single):+.3f} dB, "
                      f"worst {min(single):+.3f} dB")
    for region, by_recipe in summary.items():
        for name, (mean, wins, losses, worst) in by_recipe.items():
            print(f"{region} {name}: mean {mean:+.3f} dB, wins/losses {wins}/{losses}, worst {worst:+.3f} dB")
    base, candidate = list(recipes)[:2]
    regions = [r for r in summary if r != "all"]
    higher = summary["all"][candidate][0] > summary["all"][base][0]
    worst_ok = all(summary[r][candidate][3] >= summary[r][base][3] - TOLERANCE_DB for r in regions)
    print(f"rule_mean_higher: {higher}")
    print(f"rule_worst_within_{TOLERANCE_DB}: {worst_ok}")
    print(f"rule_met: {higher and worst_ok}")
    return 0 if not math.isnan(summary["all"][base][0]) else 1


if __name__ == "__main__":
    raise SystemExit(main())

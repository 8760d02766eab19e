"""Ship a trained synthnet (issue 16): copy it into models/NAME, score it with ``bench/synthesis.py`` (through
DecloudInfer, on the withheld clear dates of the test parts of the real sets, against the median composite, the
best-available-pixel mosaic and the gap-filling at the reference date), write those scores, the data, the split
and the limits into its card, and the figures and a plot into experiments/results/NAME.

    python experiments/ship_synthnet.py experiments/work/synthnet/runs/synthnet-v1/avg --name synthnet-v1
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from decloud.atomic import atomic_output

LIMITS = [
    "Trained on four small real sets (Alps in June, Tagus valley summer 20 m, Swedish forest spring 20 m, Flemish "
    "farmland over 16 months), about fifty withheld dates in all: other landscapes and seasons are untested.",
    "Takes no dates: it estimates a typical clear image of the period, not the image of one day. Where the surface "
    "changes within the period (harvest, snow), no single image of the period is right and the scores drop for "
    "every method.",
    "Takes each date's clear pixels only (decloud synthesis masks the clouds with each date's cloud.tif): clouds "
    "the masks miss are handled only as far as they stand out from the other dates.",
    "Nodata where no picked date is clear, as the composites. 10 m bands B2 B3 B4 B8 only.",
]


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(6, 6))
    sets = sorted({r["set"] for r in rows})
    for name in sets:
        mine = [r for r in rows if r["set"] == name]
        ax.scatter([max(r["median"]["psnr"], r["bap"]["psnr"]) for r in mine],
                   [r["synthesis"]["psnr"] for r in mine], label=name, s=18)
    lo = min(min(r["synthesis"]["psnr"], r["median"]["psnr"]) for r in rows) - 1
    hi = max(max(r["synthesis"]["psnr"], r["median"]["psnr"], r["bap"]["psnr"]) for r in rows) + 1
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel("the better of median and BAP for that reference, PSNR dB")
    ax.set_ylabel("synthesis network, PSNR dB")
    ax.set_title("Withheld clear dates, test parts (above the line: the network wins)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path)
    p.add_argument("--name", default="synthnet-v1")
    p.add_argument("--models-dir", type=Path, default=Path("models"))
    p.add_argument("--work", type=Path, default=Path("experiments/work/ship"))
    args = p.parse_args(argv)

    staged = args.work / args.name
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(args.model, staged)
    results = Path("experiments/results") / args.name
    results.mkdir(parents=True, exist_ok=True)
    bench = Path(__file__).resolve().parents[1] / "bench" / "synthesis.py"
    proc = subprocess.run([sys.executable, str(bench), "--model", str(staged), "--details", "--rows",
                           str(results / "references.json")], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    lines = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    (results / "bench.txt").write_text(proc.stdout)
    (results / "details.txt").write_text("\n".join(line for line in proc.stderr.splitlines()
                                                   if line.startswith("  ")) + "\n")
    plot(json.loads((results / "references.json").read_text()), results / "psnr.png")
    card = json.loads((staged / "card.json").read_text())
    card["name"] = args.name
    card["metrics"] = {
        "protocol": "bench/synthesis.py: on the test part of each real set, every month with 3 dates under 10 % "
                    "clouds; each clear date (<= 2 %) of the month in turn withheld as the reference; the month's "
                    "dates picked by the original Decloud's rule among the others as inputs; scored on the "
                    "reference's clear pixels valid in every output; through DecloudInfer",
        "bench": lines,
    }
    card["limits"] = LIMITS
    (staged / "card.json").write_text(json.dumps(card, indent=2))
    target = args.models_dir / args.name
    with atomic_output(target, folder=True) as tmp:  # the previous model stays until the new one is complete
        shutil.copytree(staged, tmp, dirs_exist_ok=True)
    print(proc.stdout)
    print(f"shipped: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The paper's families and ablations of gfnet on the same data, the same (short) budget, the same test scenarios.

    python experiments/ablations.py --data ../shared/data --work experiments/work/ablations [--epochs 4]

Every variant is trained from the same training examples (``experiments/gfnet_all_sets.py``'s plan at
``--scale`` of its size, so that all variants fit in a CPU budget), then all are scored together by the quality
benchmark (``decloud.benchmark``, through DecloudInfer and DecloudGapFilling) on the test parts of the sets.
Writes ``experiments/results/ablations.md`` (+ ``.json``) from the benchmark's summary. Resumable: a variant
whose model exists is not trained again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = {
    # name: (network, options)
    "gfnet": ("gfnet", {"width": 0.25}),
    "gfnet-no-mask": ("gfnet", {"width": 0.25, "use_mask": False}),
    "gfnet-no-dates": ("gfnet", {"width": 0.25, "use_dates": False}),
    "gfnet-no-residual": ("gfnet", {"width": 0.25, "residual": False}),
    "msop_unet": ("msop_unet", {"width": 0.25, "with_sar": False, "with_dem": False}),
    "ssop_unet": ("ssop_unet", {"width": 0.25, "with_sar": False, "with_dem": False}),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--work", type=Path, default=Path("experiments/work/ablations"))
    p.add_argument("--results", type=Path, default=Path("experiments/results"))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--scale", type=float, default=0.25)
    p.add_argument("--only", action="append", help="variants to run (default: all)")
    p.add_argument("--max-references", type=int, default=None, help="fewer test scenarios per set")
    args = p.parse_args(argv)
    import keras  # noqa: PLC0415
    from decloud.benchmark import run_benchmark  # noqa: PLC0415
    from decloud.train import train  # noqa: PLC0415
    from gfnet_all_sets import build_datasets  # noqa: PLC0415

    folders = build_datasets(args.data, args.work, seed=1, scale=args.scale)
    models = []
    for name, (network, options) in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        run = args.work / "runs" / name
        model = run / "model"
        if not (model / "card.json").exists():
            print(f"[ablations] training {name}", flush=True)
            lr = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_lr=2e-5)
            train(network, folders, run, options=options, epochs=args.epochs, batch_size=8, learning_rate=5e-4,
                  seed=0, patience=10, callbacks=[lr], verbose=2, name=name, loss="log_mse")
        named = args.work / "named" / name  # the benchmark labels a model by its folder's name
        if not (named / "card.json").exists():
            import shutil  # noqa: PLC0415

            shutil.rmtree(named, ignore_errors=True)
            shutil.copytree(model, named)
        models.append(named)
    sets = [args.data / n for n in ("bolzano-west", "greenearthnet-portugal", "greenearthnet-sweden",
                                    "worldcereal-belgium-a") if (args.data / n).is_dir()]
    out = args.work / "benchmark"
    result = run_benchmark(sets, models=models, out=out, max_references=args.max_references)
    args.results.mkdir(parents=True, exist_ok=True)
    summary = json.loads((out / "summary.json").read_text())
    text = (f"# gfnet ablations and the paper's families (same data, {args.epochs} epochs on {args.scale:g} of the "
            "examples of the default model, same test scenarios)\n\n"
            "Produced by `python experiments/ablations.py`; scores from `decloud benchmark` (DecloudInfer, "
            "DecloudGapFilling, numpy baselines) on the test parts of the sets (at most "
            f"{args.max_references or 'all'} reference dates per set), PSNR on the pasted cloudy pixels.\n\n"
            + (out / "summary.md").read_text())
    (args.results / "ablations.md").write_text(text)
    (args.results / "ablations.json").write_text(json.dumps(summary, indent=1))
    print(text)
    return 0 if result is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())

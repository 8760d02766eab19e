"""First real-data result: an MSOP without SAR trained on ../shared/data/bolzano-west, against the gap-filling.

Data (12 Sentinel-2 L2A dates over Bolzano, June 2022; see ../shared/data/README.md):
  - the clear dates (cloud < 5 % of valid pixels) give consecutive triplets (t-1, t, t+1);
  - the image at t is made cloudy with the REAL clouds of a cloudy date: inside that date's cloud mask, the
    pixels of t are replaced by the cloudy date's own pixels (its clouds, their brightness, their shadows);
  - the target is the original image at t, nodata where t itself has cloud pixels;
  - 64 x 64 patches on a grid; rows of patches split in space: test = the 3 southern rows, validation = the
    row above, training = the rest (no patch in two splits).
Both the network and the gap-filling get the same clear t-1 and t+1 (the paper's OS2-GF setting, A vs C).
Scores: PSNR / SSIM / SAM / MSE on the cloudy pixels (and all pixels) of the test patches.

    python experiments/bolzano_msop.py OUT_DIR [--epochs 150] [--width 0.25] [--masks-per-patch 5]
Writes OUT_DIR/records/{train,valid,test}, OUT_DIR/run (checkpoints, logs, model), OUT_DIR/report.

    python experiments/bolzano_msop.py OUT_DIR --ship models/
copies the trained model of OUT_DIR to models/msop-bolzano-west and exports the gap-filling to
models/gapfilling, both with cards stating the data, the split and the measured scores (no retraining).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from decloud.dataset import write_examples
from decloud.evaluate import evaluate, write_report
from decloud.prepare import prepare_s2
from decloud.raster import read_array
from decloud.train import train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "bolzano-west"
PATCH = 64
NODATA = -10000


def load_series(prep_dir: Path):
    dates, images, clouds = [], [], []
    for src in sorted(SHARED.glob("S2_L2A_*_B2B3B4B8.tif")):
        prepared = prepare_s2(src, prep_dir)
        dates.append(datetime.fromisoformat(prepared.acquired))
        image = read_array(prepared.s2_10m)
        nodata = read_array(prepared.nodata)[:, :, 0] != 0
        image[nodata] = NODATA
        images.append(image)
        clouds.append(read_array(prepared.cloud)[:, :, 0] != 0)
    return dates, np.stack(images), np.stack(clouds)


def build_examples(dates, images, clouds, seed: int, masks_per_patch: int):
    rng = np.random.default_rng(seed)
    valid = np.all(images != NODATA, axis=-1)
    cover = np.array([c[v].mean() if v.any() else 1.0 for c, v in zip(clouds, valid)])
    clear = [i for i in range(len(dates)) if cover[i] < 0.05]
    cloudy = [i for i in range(len(dates)) if cover[i] >= 0.05]
    rows, cols = images.shape[1] // PATCH, images.shape[2] // PATCH
    splits = {"train": [], "valid": [], "test": []}
    for a, t, b in zip(clear, clear[1:], clear[2:]):
        for r in range(rows):
            split = "test" if r >= rows - 3 else "valid" if r == rows - 4 else "train"
            for c in range(cols):
                win = np.s_[r * PATCH:(r + 1) * PATCH, c * PATCH:(c + 1) * PATCH]
                if not (valid[a][win].all() and valid[t][win].all() and valid[b][win].all()):
                    continue
                for k in rng.permutation(cloudy)[:masks_per_patch]:
                    mask = clouds[k][win] & valid[k][win]
                    if mask.mean() < 0.05:
                        continue
                    cloudy_t = np.where(mask[..., None], images[k][win], images[t][win])
                    target = np.where(clouds[t][win][..., None], NODATA, images[t][win])
                    stamp = {n: int(dates[i].timestamp()) for n, i in (("tm1", a), ("t", t), ("tp1", b))}
                    splits[split].append({
                        "s2_tm1": images[a][win].astype(np.int16), "s2_t": cloudy_t.astype(np.int16),
                        "s2_tp1": images[b][win].astype(np.int16), "s2_target": target.astype(np.int16),
                        "cloud_t": mask[..., None].astype(np.uint8),
                        "s2_timestamp_tm1": stamp["tm1"], "s2_timestamp_t": stamp["t"],
                        "s2_timestamp_tp1": stamp["tp1"],
                    })
    info = {"clear_dates": [dates[i].date().isoformat() for i in clear],
            "cloud_mask_dates": [dates[i].date().isoformat() for i in cloudy],
            "samples": {k: len(v) for k, v in splits.items()}, "patch": PATCH,
            "split": "rows of 64-px patches: test = 3 southern rows, valid = the row above, train = the rest"}
    return splits, info


LIMITS = ("Trained and tested on one region (the west of the Bolzano tile, 32TPS) over one month (June 2022), "
          "without SAR; the test split is spatial (3 southern rows of patches) but shares the dates of training. "
          "Expect lower scores elsewhere, in other seasons and over other land covers.")


def ship(out_dir: Path, models_dir: Path) -> None:
    """Copy the trained model and export the gap-filling into models_dir, each with its measured scores."""
    import csv  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    from decloud.card import export_model  # noqa: PLC0415
    from decloud.networks import gapfilling  # noqa: PLC0415

    info = json.loads((out_dir / "data.json").read_text())
    with open(out_dir / "report" / "scores.csv") as f:
        scores = list(csv.DictReader(f))

    def metrics_of(prefix: str) -> dict:
        return {row["subset"] + "_pixels": {k: round(float(row[k]), 4) for k in ("psnr", "ssim", "sam", "mse")}
                | {"pixels": int(row["pixels"])} for row in scores if row["model"].startswith(prefix)}

    data = {"source": "../shared/data/bolzano-west (Sentinel-2 L2A, B2 B3 B4 B8, 10 m)", **info,
            "protocol": "real clouds of the cloudy dates pasted onto clear dates t; t-1 and t+1 clear (OS2-GF)",
            "scores": "test split; PSNR from the global MSE, SSIM 11x11 Gaussian, SAM mean angle (rad)"}
    target = models_dir / "msop-bolzano-west"
    tmp = models_dir / ".msop-bolzano-west.part"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(out_dir / "run" / "model", tmp)
    card = json.loads((tmp / "card.json").read_text())
    training = {k: v for k, v in card["training"].items() if k not in ("dataset", "validation", "history")}
    training["final_val_loss"] = round(card["training"]["history"]["val_loss"][-1], 2)
    card.update(name="msop-bolzano-west", training=training | {"data": data}, limits=LIMITS,
                metrics={"msop_unet": metrics_of("msop"), "gapfilling (same pixels)": metrics_of("gapfilling")})
    (tmp / "card.json").write_text(json.dumps(card, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)

    gf_tmp = models_dir / ".gapfilling.part"
    shutil.rmtree(gf_tmp, ignore_errors=True)
    export_model(gapfilling(), gf_tmp, network="gapfilling", name="gapfilling", spatial_multiple=1,
                 training={"data": "none: linear in time between t-1 and t+1, per pixel"},
                 metrics={"gapfilling": metrics_of("gapfilling"), "on": "the test split of msop-bolzano-west"})
    shutil.rmtree(models_dir / "gapfilling", ignore_errors=True)
    gf_tmp.rename(models_dir / "gapfilling")
    print(f"shipped {target} and {models_dir / 'gapfilling'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--masks-per-patch", type=int, default=5, help="cloudy dates whose clouds each patch gets")
    parser.add_argument("--ship", type=Path, metavar="MODELS_DIR",
                        help="copy the model trained in OUT_DIR to MODELS_DIR with its card (no training)")
    args = parser.parse_args()
    if args.ship:
        ship(args.out_dir, args.ship)
        return
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} is absent: this experiment needs the real data")
    dates, images, clouds = load_series(args.out_dir / "prepared")
    splits, info = build_examples(dates, images, clouds, args.seed, args.masks_per_patch)
    for name, examples in splits.items():
        write_examples(args.out_dir / "records" / name, iter(examples), split=name, shard_size=128)
    (args.out_dir / "data.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info, indent=2))
    model = train("msop_unet", args.out_dir / "records" / "train", args.out_dir / "run",
                  options={"width": args.width, "with_sar": False, "with_dem": False},
                  valid_dir=args.out_dir / "records" / "valid", epochs=args.epochs, batch_size=8,
                  learning_rate=5e-4, patience=20, seed=args.seed, verbose=2)
    rows = evaluate({"msop_unet (C)": model}, args.out_dir / "records" / "test")
    paths = write_report(rows, args.out_dir / "report", title="Bolzano-west test patches")
    print(paths["md"].read_text())
    for r in rows:
        print(f"{r.model.split()[0]}_{r.subset}_psnr: {r.psnr:.2f}")
        print(f"{r.model.split()[0]}_{r.subset}_ssim: {r.ssim:.4f}")
        print(f"{r.model.split()[0]}_{r.subset}_sam: {r.sam:.4f}")


if __name__ == "__main__":
    main()

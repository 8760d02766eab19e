#!/usr/bin/env bash
# One full-training model of the three-seed test on the test parts (experiments/results/unseen/README.md,
# "Full training, three seeds"):
#   bash full_seeds.sh SEED base|outlier|std|cross|analog|regimes|trust|count|basegate|resgate
# trains gfnet-v4's recipe (base) or the same with one option (outlier=true, standardise=true, cross_band=true,
# analog=true; regimes: analog=true and regimes=true; trust: those and trust_fits=true; count: analog, regimes and
# count_trust; basegate: base with count_trust and gate_free, without analog and regimes; resgate: count with
# analog_residual and gate_free) on the training parts of the four sets, with SEED, on the cached examples of
# work/gfnet3 (the seed changes the initial weights and the order of the batches, not the examples), then averages epochs 13-16 into
# work/full-s<SEED><variant>/gfnet-s<SEED><variant>.
# Run from experiments/.
set -euo pipefail
seed=$1 variant=$2
work=work/full-s${seed}${variant}
options=(--option width=0.25)
case $variant in
    base) ;;
    outlier) options+=(--option outlier=true) ;;
    std) options+=(--option standardise=true) ;;
    cross) options+=(--option cross_band=true) ;;
    analog) options+=(--option analog=true) ;;
    regimes) options+=(--option analog=true --option regimes=true) ;;
    trust) options+=(--option analog=true --option regimes=true --option trust_fits=true) ;;
    count) options+=(--option analog=true --option regimes=true --option count_trust=true) ;;
    basegate) options+=(--option count_trust=true --option gate_free=true) ;;
    resgate) options+=(--option analog=true --option analog_residual=true --option regimes=true
                       --option count_trust=true --option gate_free=true) ;;
    *) echo "full_seeds.sh: unknown variant $variant (base, outlier, std, cross, analog, regimes, trust, count, basegate, resgate)" >&2; exit 2 ;;
esac
mkdir -p "$work/data"
for s in bolzano-west greenearthnet-portugal greenearthnet-sweden worldcereal-belgium-a; do
    ln -sfn "../../gfnet3/data/$s" "$work/data/$s"
done
python gfnet_all_sets.py --data ../../shared/data --work "$work" --name gfnet-full --epochs 16 --seed "$seed" \
    --holes 0.35 "${options[@]}" --loss log_mse_safe
python average_checkpoints.py "$work/gfnet-s${seed}${variant}" \
    "$work"/runs/gfnet-full/checkpoints/ep1{3,4,5,6}.weights.h5 "${options[@]}" \
    --name "gfnet-s${seed}${variant}" --training "$work/runs/gfnet-full/model/card.json"

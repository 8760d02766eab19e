#!/usr/bin/env bash
# One leave-one-out model of experiments/results/unseen (the "several seeds" test of the selected candidate):
#   bash loo_seeds.sh SET SEED base|sel|outlier
# trains gfnet-v4's recipe (base) or the same with --option selected=true (sel) or --option outlier=true
# (outlier) without SET, with SEED, on the
# cached examples of work/gfnet3 (the seed changes the initial weights and the order of the batches, not the
# examples), then averages epochs 10-12 into work/seed<SEED>-<variant>-<set>/gfnet-s<SEED><variant>-<short>.
# Run from experiments/.
set -euo pipefail
set_name=$1 seed=$2 variant=$3
short=${set_name#greenearthnet-}
work=work/seed${seed}-${variant}-${short}
options=(--option width=0.25)
case $variant in
    base) ;;
    sel) options+=(--option selected=true) ;;
    outlier) options+=(--option outlier=true) ;;
    *) echo "loo_seeds.sh: unknown variant $variant (base, sel, outlier)" >&2; exit 2 ;;
esac
mkdir -p "$work/data"
for s in bolzano-west greenearthnet-portugal greenearthnet-sweden worldcereal-belgium-a; do
    [[ $s == "$set_name" ]] || ln -sfn "../../gfnet3/data/$s" "$work/data/$s"
done
python gfnet_all_sets.py --data ../../shared/data --work "$work" --name gfnet-loo --epochs 12 \
    --learning-rate 5e-4 --scale 0.7 --seed "$seed" --holes 0.35 "${options[@]}" --loss log_mse_safe \
    --without "$set_name"
python average_checkpoints.py "$work/gfnet-s${seed}${variant}-${short}" \
    "$work"/runs/gfnet-loo/checkpoints/ep1{0,1,2}.weights.h5 "${options[@]}" \
    --name "gfnet-s${seed}${variant}-${short}" --training "$work/runs/gfnet-loo/model/card.json"

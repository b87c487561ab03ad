#!/usr/bin/env bash
# Gives each mean-scale level (samples/model/hyper/mean-scale/NAME.safetensors) a checkerboard
# context and trains it, all five side by side, one thread each, each resuming from its own
# checkpoint in OUT (default samples/model/hyper/context) when it has one. The context starts at
# zero, so step 0 is the mean-scale model's results.
#
#   scripts/train-hyper-context.sh [LR] [STEPS]   # default 1e-4, 400000; AEC=path/to/aec
#
# Restart with another learning rate to continue at it (e.g. 1e-5 to finish).
set -euo pipefail
cd "$(dirname "$0")/.."
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
[[ -x "$AEC" ]] || cargo build --release
lr="${1:-1e-4}"
steps="${2:-400000}"
out="${OUT:-samples/model/hyper/context}"
mkdir -p "$out"
for pair in ft-0018:0.0018 ft-0035:0.0035 base-0067:0.0067 ft-013:0.013 ft-025:0.025; do
  name=${pair%%:*} lambda=${pair##*:}
  echo "=== $name lr $lr ($(date -u +%H:%M))" >>"$out/$name.console.log"
  RAYON_NUM_THREADS=1 "$AEC" train-hyper --data ../shared/data/photos-train \
    --tiles ../shared/data/cifar10-jpeg/train-order.txt --tile-fraction 0.25 \
    --lambda "$lambda" --steps "$steps" --every 200 --learning-rate "$lr" --seed 5 \
    --init "samples/model/hyper/mean-scale/$name.safetensors" --context --resume \
    --out "$out/$name.safetensors" >>"$out/$name.console.log" 2>&1 &
done
wait

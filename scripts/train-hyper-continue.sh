#!/usr/bin/env bash
# Trains a built-in context level further: from the f32 weights it was converted from
# (samples/model/hyper/context/…, or FROM=FILE), in the background, one thread, resuming from
# its own checkpoint in OUT (default runs/continue) when it has one. Appends to
# OUT/NAME.console.log; OUT/NAME.safetensors.csv is the log (a row every 200 steps).
#
#   scripts/train-hyper-continue.sh NAME LR [STEPS]   # NAME: ft-0018 ft-0035 base-0067 ft-013
#                                                     # ft-025 ft-0483 ft-0932; AEC=path/to/aec,
#                                                     # SEED=S for other crops than the level's,
#                                                     # CROP=256 BATCH=2 for larger crops,
#                                                     # N=128 M=192 to widen FROM first,
#                                                     # SHAPES=F for flat-coloured rectangles
#                                                     # over that fraction of the batches,
#                                                     # SCREENS=DIR (SCREEN_FRACTION=F, default
#                                                     # 0.2) for crops of screenshots
#
# Run it at 1e-4 for some thousands of steps, then again at 1e-5 (it resumes, Adam's state
# kept): the larger rate first moves the converged weights away, the smaller one then gains
# (samples/model/hyper/context/run2, run3).
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?NAME}" lr="${2:?LR}" steps="${3:-100000}"
case "$name" in
  ft-0018) lambda=0.0018 seed=5 ;; ft-0035) lambda=0.0035 seed=5 ;;
  base-0067) lambda=0.0067 seed=5 ;; ft-013) lambda=0.013 seed=5 ;;
  ft-025) lambda=0.025 seed=5 ;; ft-0483) lambda=0.0483 seed=7 ;;
  ft-0932) lambda=0.0932 seed=7 ;; # a level above Q6: needs FROM (Q6's weights, say)
  *) echo "unknown level $name" >&2; exit 2 ;;
esac
seed="${SEED:-$seed}"
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
[[ -x "$AEC" ]] || cargo build --release
out="${OUT:-runs/continue}"
from="${FROM:-samples/model/hyper/context/$name.safetensors}"
mkdir -p "$out"
echo "=== $name lr $lr from $from ($(date -u +%H:%M))" >>"$out/$name.console.log"
RAYON_NUM_THREADS=1 nohup nice -n 19 "$AEC" train-hyper --data ../shared/data/photos-train \
  --tiles ../shared/data/cifar10-jpeg/train-order.txt --tile-fraction 0.25 \
  --lambda "$lambda" --steps "$steps" --every 200 --learning-rate "$lr" --seed "$seed" \
  --init "$from" --context --resume ${CROP:+--crop "$CROP"} ${BATCH:+--batch-size "$BATCH"} \
  ${N:+--n "$N"} ${M:+--m "$M"} ${SHAPES:+--shape-fraction "$SHAPES"} \
  ${SCREENS:+--screens "$SCREENS"} ${SCREEN_FRACTION:+--screen-fraction "$SCREEN_FRACTION"} \
  --out "$out/$name.safetensors" >>"$out/$name.console.log" 2>&1 &
echo "training $name in the background (pid $!); log $out/$name.console.log"

#!/usr/bin/env bash
# Q5's mean-scale model (samples/model/hyper/mean-scale/ft-025.safetensors) widened to N = 128,
# M = 192 (function-preserving, `train-hyper --n --m`) and trained at its λ, resuming from its
# checkpoint in OUT (default samples/model/hyper/wide) when it has one.
#
#   scripts/train-hyper-wide.sh [LR] [STEPS]   # default 1e-4, 100000; AEC=path/to/aec
set -euo pipefail
cd "$(dirname "$0")/.."
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
[[ -x "$AEC" ]] || cargo build --release
lr="${1:-1e-4}"
steps="${2:-100000}"
out="${OUT:-samples/model/hyper/wide}"
mkdir -p "$out"
echo "=== wide-025 lr $lr ($(date -u +%H:%M))" >>"$out/wide-025.console.log"
RAYON_NUM_THREADS=1 "$AEC" train-hyper --data ../shared/data/photos-train \
  --tiles ../shared/data/cifar10-jpeg/train-order.txt --tile-fraction 0.25 \
  --lambda 0.025 --steps "$steps" --every 200 --learning-rate "$lr" --seed 4 \
  --init samples/model/hyper/mean-scale/ft-025.safetensors --means --n 128 --m 192 --resume \
  --out "$out/wide-025.safetensors" >>"$out/wide-025.console.log" 2>&1

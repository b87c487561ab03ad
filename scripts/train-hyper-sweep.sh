#!/usr/bin/env bash
# The λ sweep of the whole-image hyperprior family: each rate fine-tuned from the base model
# (BASE, default samples/model/hyper/base-0067.safetensors, scripts/train-hyper.sh) for STEPS
# steps, each resuming from its own checkpoint when it has one (so the sweep continues where a
# stop left it). CompressAI's MSE ladder; 0.0067 is the base itself. One after the other on all
# cores, or with PARALLEL=1 all at once, one thread each (no waiting between threads).
#
#   scripts/train-hyper-sweep.sh [STEPS] [LAMBDA...]   # default 20000 steps; 0.0018 0.0035 0.013 0.025
#                                                      # AEC=path/to/aec to use another binary
set -euo pipefail
cd "$(dirname "$0")/.."
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
[[ -x "$AEC" ]] || cargo build --release
steps="${1:-20000}"
shift || true
lambdas=("$@")
[[ ${#lambdas[@]} -gt 0 ]] || lambdas=(0.0018 0.0035 0.013 0.025)
base="${BASE:-samples/model/hyper/base-0067.safetensors}"
tune() {
  local lambda=$1 out="samples/model/hyper/ft-${1#0.}.safetensors"
  echo "== λ $lambda: $out"
  "$AEC" train-hyper --data ../shared/data/photos-train \
    --tiles ../shared/data/cifar10-jpeg/train-order.txt --tile-fraction 0.25 \
    --lambda "$lambda" --steps "$steps" --every 200 --learning-rate 1e-4 \
    --init "$base" --out "$out" --resume >>"${out%.safetensors}.console.log" 2>&1
}
for lambda in "${lambdas[@]}"; do
  if [[ -n "${PARALLEL:-}" ]]; then
    RAYON_NUM_THREADS=1 tune "$lambda" &
  else
    tune "$lambda"
  fi
done
wait

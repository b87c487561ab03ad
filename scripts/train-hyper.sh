#!/usr/bin/env bash
# Trains (or resumes) the whole-image hyperprior model at λ = 0.0067 (about 0.5 bpp on photos
# once trained): random 128×128 crops of ../shared/data/photos-train, a quarter of the batches
# mosaics of CIFAR-10 training images. Resumes from samples/model/hyper/base-0067.safetensors.ckpt
# when it is there; writes the model, the checkpoint and the log row every 200 steps.
#
#   scripts/train-hyper.sh [STEPS]      # default 400000; AEC=path/to/aec to use another binary
set -euo pipefail
cd "$(dirname "$0")/.."
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
[[ -x "$AEC" ]] || cargo build --release
exec "$AEC" train-hyper --data ../shared/data/photos-train \
  --tiles ../shared/data/cifar10-jpeg/train-order.txt --tile-fraction 0.25 \
  --lambda 0.0067 --steps "${1:-400000}" --every 200 --learning-rate 2e-4 \
  --out samples/model/hyper/base-0067.safetensors --resume

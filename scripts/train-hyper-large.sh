#!/usr/bin/env bash
# Trains (or resumes) the published size of the whole-image family, N = 128, M = 192, with
# means from the start, at λ = 0.0067: random 128×128 crops of ../shared/data/photos-train, a
# quarter of the batches mosaics of CIFAR-10 training images, as scripts/train-hyper.sh. About
# 3.7× the multiply-adds of the built-in size per step. Resumes from
# samples/model/hyper/large/base-0067.safetensors.ckpt when it is there.
#
#   scripts/train-hyper-large.sh [STEPS]   # default 400000; AEC=path/to/aec to use another binary
#
# With NAME and LAMBDA set, fine-tunes the base to another rate instead (from FROM, default the
# base's model file, at 1e-4), into samples/model/hyper/large/NAME.safetensors, resuming
# likewise:
#
#   NAME=ft-0483 LAMBDA=0.0483 scripts/train-hyper-large.sh 20000
#
# CONTEXT=1 adds the checkerboard context (starting at zero, so from FROM's results); CROP=256
# BATCH=2 trains on larger crops (the same pixels a step); LR sets the learning rate; BF16=1 runs
# the convolutions' products in bfloat16 where the CPU has AMX tiles or AVX-512 BF16 (`--bf16`).
# SHAPES=F paints flat-coloured rectangles over the crops of that fraction of the batches
# (`--shape-fraction`; content the models had drifted on: docs/hyperprior.md#flat-saturated-colours).
# SCREENS=DIR crops SCREEN_FRACTION (default 0.2) of the batches from screenshots there
# (`--screens`; scripts/screen-content.py makes them).
# N and M set other channel counts (CompressAI's higher qualities use N = 192, M = 320);
# FROM=scratch trains NAME from fresh weights instead of fine-tuning:
#
#   NAME=w320-0932 LAMBDA=0.0932 FROM=scratch N=192 M=320 CONTEXT=1 CROP=256 BATCH=2 BF16=1 \
#     scripts/train-hyper-large.sh 200000
set -euo pipefail
cd "$(dirname "$0")/.."
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
[[ -x "$AEC" ]] || cargo build --release
dir=samples/model/hyper/large
mkdir -p "$dir"
name="${NAME:-base-0067}" lambda="${LAMBDA:-0.0067}"
start=(--learning-rate "${LR:-2e-4}")
if [[ "$name" != base-0067 ]]; then
  [[ -n "${LAMBDA:-}" ]] || { echo "NAME=$name needs LAMBDA" >&2; exit 2; }
  start=(--learning-rate "${LR:-1e-4}")
  [[ "${FROM:-}" == scratch ]] || start+=(--init "${FROM:-$dir/base-0067.safetensors}")
fi
[[ -z "${CONTEXT:-}" ]] || start+=(--context)
[[ -z "${CROP:-}" ]] || start+=(--crop "$CROP")
[[ -z "${BATCH:-}" ]] || start+=(--batch-size "$BATCH")
[[ -z "${BF16:-}" ]] || start+=(--bf16)
[[ -z "${SHAPES:-}" ]] || start+=(--shape-fraction "$SHAPES")
[[ -z "${SCREENS:-}" ]] || start+=(--screens "$SCREENS" ${SCREEN_FRACTION:+--screen-fraction "$SCREEN_FRACTION"})
exec "$AEC" train-hyper --data ../shared/data/photos-train \
  --tiles ../shared/data/cifar10-jpeg/train-order.txt --tile-fraction 0.25 \
  --n "${N:-128}" --m "${M:-192}" --means --lambda "$lambda" --steps "${1:-400000}" --every 200 \
  "${start[@]}" --out "$dir/$name.safetensors" --resume

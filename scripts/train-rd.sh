#!/usr/bin/env bash
# Trains the entropy-coded models of the notebook's architecture: each fine-tunes the built-in
# model with a rate term (loss l2_loss + λ·bits) on the 50,000 CIFAR-10 training JPEGs, and is
# evaluated after every epoch on the 1,000 exact test images with quantized codes.
#
#   scripts/train-rd.sh [OUT_DIR] [EPOCHS]
#
# Resumable: rerun the same command after an interruption (each run continues from its
# checkpoint). Needs the shared data beside the repository (../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/rd-models}
epochs=${2:-4}
data=../shared/data
aec=${AEC:-target/release/aec}
mkdir -p "$out"
for lambda in ${LAMBDAS:-0.003 0.01 0.03 0.1}; do
  "$aec" train --data "$data/cifar10-jpeg/train-order.txt" \
    --eval "$data/cifar10-exact/test_batch_first1000.bin" \
    --init samples/model/aec-128.safetensors --rate-lambda "$lambda" \
    --epochs "$epochs" --precision f16 --resume \
    --out "$out/aec-128-rd-$lambda.safetensors"
done

#!/usr/bin/env bash
# Trains the entropy-coded models of the notebook's architecture. Each fine-tunes the
# built-in model with a rate term (loss l2_loss + λ·bits) on the 50,000 CIFAR-10 training
# JPEGs: EPOCHS epochs at the recipe's learning rate (0.0005), then one epoch at a tenth of
# it, which settles the weights (at the constant rate the test PSNR dips by several dB after
# some epochs). Every epoch is evaluated on the 1,000 exact test images with quantized codes;
# that evaluation is reported, never used to choose anything.
#
#   scripts/train-rd.sh [OUT_DIR] [EPOCHS]
#
# Resumable: rerun the same command after an interruption (each stage continues from its
# checkpoint). Needs the shared data beside the repository (../shared/data). The final models
# are OUT_DIR/aec-128-rd-λ.safetensors (f16).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/rd-models}
epochs=${2:-2}
data=../shared/data
aec=${AEC:-target/release/aec}
mkdir -p "$out"
common=(--data "$data/cifar10-jpeg/train-order.txt"
  --eval "$data/cifar10-exact/test_batch_first1000.bin" --resume)
for lambda in ${LAMBDAS:-0.003 0.01 0.03 0.1}; do
  "$aec" train "${common[@]}" --init samples/model/aec-128.safetensors \
    --rate-lambda "$lambda" --epochs "$epochs" --precision f32 \
    --out "$out/stage1-$lambda.safetensors"
done
for lambda in ${LAMBDAS:-0.003 0.01 0.03 0.1}; do
  "$aec" train "${common[@]}" --init "$out/stage1-$lambda.safetensors" \
    --rate-lambda "$lambda" --epochs 1 --learning-rate 0.00005 --precision f16 \
    --out "$out/aec-128-rd-$lambda.safetensors"
done

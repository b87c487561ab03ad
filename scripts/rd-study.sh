#!/usr/bin/env bash
# The rate-distortion study of docs/rate-distortion.md: trains one model per code length and per L1
# penalty, then measures them all with `aec rd` on the exact CIFAR-10 test images and on Kodak.
#
#   scripts/rd-study.sh train   # trains the models into $STUDY_DIR (default target/study)
#   scripts/rd-study.sh rd      # writes docs/rd/study-{code-length,l1}-{cifar10-test,kodak}
#
# Recipe: the reference one (batch 10, file order, TF1 RMSProp at 0.0005, seed 0) on the
# 50,000 JPEG training images, for $EPOCHS epochs (default 2). Existing models are kept, so
# the script can be rerun after an interruption; a killed run resumes from its checkpoint.
# Several `train` workers may run at once (small models use one core each): each takes the
# next model that no other worker holds.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DATA:-../shared/data}"
STUDY_DIR="${STUDY_DIR:-target/study}"
EPOCHS="${EPOCHS:-2}"
DEVICE="${DEVICE:-flex}"  # the committed logs and hashes were made with burn's flex backend
AEC="${AEC:-target/release/aec}"
mkdir -p "$STUDY_DIR" docs/study

# name  code-length  l1
MODELS=(
  "aec-16 16 0"
  "aec-32 32 0"
  "aec-64 64 0"
  "aec-128 128 0"
  "aec-128-l1-0.01 128 0.01"
  "aec-128-l1-0.1 128 0.1"
  "aec-256 256 0"
  "aec-512 512 0"
)

train() {
  for spec in "${MODELS[@]}"; do
    read -r name n l1 <<<"$spec"
    out="$STUDY_DIR/$name.safetensors"
    exec {lock}>"$out.lock"
    if ! flock -n "$lock" || [[ -f "$out" ]]; then
      exec {lock}>&-
      continue
    fi
    "$AEC" train --data "$DATA/cifar10-jpeg/train-order.txt" \
      --eval "$DATA/cifar10-exact/test_batch_first1000.bin" \
      --code-length "$n" --l1 "$l1" --epochs "$EPOCHS" --precision f16 --resume \
      --device "$DEVICE" --out "$out"
    cp "$STUDY_DIR/$name.safetensors.csv" "docs/study/$name.train.csv"
    exec {lock}>&-
  done
}

rd() {
  local cifar="$DATA/cifar10-exact/test_batch_first1000.bin" kodak="$DATA/kodak"
  # Code length: one curve per precision across the six code lengths.
  local lengths=()
  for n in 16 32 64 128 256 512; do lengths+=(--model "$STUDY_DIR/aec-$n.safetensors"); done
  "$AEC" rd --data "$cifar" "${lengths[@]}" --precision f16 --precision f32 --mark-reference \
    --out-dir docs/rd/study-code-length-cifar10-test
  "$AEC" rd --data "$kodak" "${lengths[@]}" --precision f16 --axis bpp \
    --out-dir docs/rd/study-code-length-kodak
  # Sparsity: the three code-length-128 models, each at f16 and over sparse thresholds.
  local l1=(--model "no L1=$STUDY_DIR/aec-128.safetensors"
    --model "L1 0.01=$STUDY_DIR/aec-128-l1-0.01.safetensors"
    --model "L1 0.1=$STUDY_DIR/aec-128-l1-0.1.safetensors")
  local sparse=(--sparse 0.02 --sparse 0.05 --sparse 0.1 --sparse 0.2 --sparse 0.3)
  "$AEC" rd --data "$cifar" "${l1[@]}" --precision f16 "${sparse[@]}" \
    --out-dir docs/rd/study-l1-cifar10-test
  "$AEC" rd --data "$kodak" "${l1[@]}" --precision f16 "${sparse[@]}" --axis bpp \
    --out-dir docs/rd/study-l1-kodak
}

case "${1:-}" in
  train) train ;;
  rd) rd ;;
  *) echo "usage: $0 train|rd" >&2; exit 2 ;;
esac

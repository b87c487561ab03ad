#!/usr/bin/env bash
# Each built-in quality level at a range of quantization steps (`aec compress --step`), on the
# centre 768×512 crops of four training photos (never on the images results are reported on):
# which step of which level gives the best files between the levels. `--quality` between
# levels k and k+1 uses level k at a step of 2^(-f/2) (src/codec/quality.rs) from this.
#
#   scripts/step-sweep.sh [OUT]      (default docs/rd/step-sweep; needs python3 with Pillow)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/rd/step-sweep}
PHOTOS=../shared/data/photos-train
CROPS=$(mktemp -d)
trap 'rm -rf "$CROPS"' EXIT
python3 scripts/centre-crops.py "$PHOTOS" "$CROPS"
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
cargo build --release --quiet
# Unlabelled: rows q1 … q6 on the curve `aec`, `qK step S` on the curves `aec step S`.
models=()
for f in samples/model/hyper/q[0-9].safetensors; do models+=(--model "$f"); done
steps=()
for s in 0.5 0.6 0.7 0.8 0.9 1.15 1.3 1.5 1.75 2; do steps+=(--step "$s"); done
"$AEC" rd --data "$CROPS" "${models[@]}" "${steps[@]}" --no-baselines --axis bpp \
  --out-dir "$OUT"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores" \
  > "$OUT/machine.txt"

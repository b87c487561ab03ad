#!/usr/bin/env bash
# A candidate level (a training's output) against a built-in level at finer quantization steps,
# on the centre 768×512 crops of training photos (never on the images results are reported
# on): `aec rd`'s BD-rates of each curve against the reference's, real file bytes.
#
#   scripts/measure-level.sh CANDIDATE [REFERENCE] [four|all]
#   #   REFERENCE: default samples/model/hyper/q8.safetensors
#   #   four: photos 007, 019, 033, 045 (about a minute on 2 cores); all: the 49 (about five)
#   # env: PYTHON=tfenv/bin/python (Pillow); STEPS="0.5 0.6 0.75 0.84 1"; OTHERS="b=samples/model/hyper/q9.safetensors" adds
#   #   curves; AEC=path/to/aec; OUT=folder for rd.csv and rd.md (default: a scratch folder)
#
# The candidate is stored in f16 first (`aec model convert`), as the built-in levels are, so
# that its files are those a level made of it would write.
set -euo pipefail
candidate="$(realpath "$1")"
cd "$(dirname "$0")/.."
reference="${2:-samples/model/hyper/q8.safetensors}" set="${3:-four}"
PHOTOS=../shared/data/photos-train PYTHON="${PYTHON:-tfenv/bin/python}"
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
[[ -x "$AEC" ]] || cargo build --release --quiet
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/crops"
"$PYTHON" scripts/centre-crops.py "$PHOTOS" "$tmp/crops" "$set"
"$AEC" model convert --precision f16 "$candidate" "$tmp/candidate.safetensors" >/dev/null
models=(--model "c=$reference" --model "e=$tmp/candidate.safetensors")
for m in ${OTHERS:-}; do models+=(--model "$m"); done
steps=()
for s in ${STEPS:-0.5 0.6 0.75 0.84 1}; do steps+=(--step "$s"); done
"$AEC" rd --data "$tmp/crops" --axis bpp --no-baselines "${models[@]}" "${steps[@]}" \
  --anchor c --out-dir "${OUT:-$tmp/rd}"

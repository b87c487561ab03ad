#!/usr/bin/env bash
# Seconds per training step of the default size (8 crops of 128², N = 64, M = 96) for each given
# aec binary, alternated four times so that the machine's drift falls on all of them alike; a
# background `aec train-hyper` job is paused meanwhile and always resumed. Each figure is the
# mean of steps 51–100 of a fresh run.
#
#   scripts/step-time.sh path/to/aec-before path/to/aec-after   # env: DATA=../shared/data/photos-train
#   N=128 M=192 REPS=2 scripts/step-time.sh …                   # the large size (with means)
#   scripts/step-time.sh path/to/aec path/to/aec+--bf16         # BINARY+FLAG adds a flag
#   N=192 M=320 REPS=2 scripts/step-time.sh path/to/aec+--bf16+--context   # and more of them
#   CROP=256 BATCH=2 scripts/step-time.sh …                     # other crops (the same pixels)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DATA:-../shared/data/photos-train}"
(($#)) || { echo "usage: $0 AEC_BINARY..." >&2; exit 2; }
source scripts/pause-training.sh  # also makes $tmp, removed at exit
size=(--n "${N:-64}" --m "${M:-96}")
[[ -z "${N:-}" ]] || size+=(--means)
for rep in $(seq "${REPS:-4}"); do
  for spec in "$@"; do
    bin="${spec%%+*}" flags=()
    [[ "$spec" == *+* ]] && IFS=+ read -ra flags <<<"${spec#*+}"
    t=$("$bin" train-hyper --data "$DATA" --lambda 0.0067 --steps 100 --every 50 \
      --batch-size "${BATCH:-8}" --crop "${CROP:-128}" "${size[@]}" --out "$tmp/x.safetensors" ${flags[@]+"${flags[@]}"} 2>&1 |
      sed -n 's/.* \([0-9.]*\) s\/step$/\1/p' | tail -1)
    echo "$rep $spec $t"
  done
done

#!/usr/bin/env bash
# Keeps a large run's weights in the repository: its model file (rewritten at every checkpoint)
# stored in f16 as NAME-stepN.safetensors beside it, N the step of its log's last row. The
# checkpoint itself (Adam's moments beside the weights, 90 MB) stays on the training machine and
# is lost with it; from a snapshot a run goes on under a new name, Adam afresh:
#
#   scripts/snapshot-training.sh ctx-3600b          # env: AEC=path/to/aec
#   NAME=ctx-3600c FROM=samples/model/hyper/large/ctx-3600b-step8000.safetensors LAMBDA=… \
#     scripts/train-hyper-large.sh …
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: $0 NAME}"
dir=samples/model/hyper/large
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
[[ -f "$dir/$name.safetensors" ]] || { echo "no model file $dir/$name.safetensors" >&2; exit 1; }
step="$(tail -n 1 "$dir/$name.safetensors.csv" | cut -d, -f1)"
[[ "$step" =~ ^[0-9]+$ ]] || { echo "no log rows in $dir/$name.safetensors.csv" >&2; exit 1; }
out="$dir/$name-step$step.safetensors"
# The model file is written at the same checkpoint as the log's row: copied first, so that a
# checkpoint written meanwhile cannot tear it.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$dir/$name.safetensors" "$tmp/model.safetensors"
"$AEC" model convert --precision f16 "$tmp/model.safetensors" "$out" >/dev/null
echo "$out ($(du -h "$out" | cut -f1))"

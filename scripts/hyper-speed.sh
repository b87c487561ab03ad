#!/usr/bin/env bash
# Training throughput of aec's hyperprior trainer against TensorFlow running the same
# architecture and recipe (scripts/tf-hyper.py) on this CPU, one after the other.
#
#   scripts/hyper-speed.sh     # env: STEPS=40 WARMUP=5 N=64 M=96 BATCH=8 CROP=128 THREADS=nproc
#                              #      PADDING=same (TF's alignment) or torch (CompressAI's)
#                              #      DATA=../shared/data/photos-train
#                              #      PYTHON=tfenv/bin/python (python3 -m venv tfenv &&
#                              #        tfenv/bin/pip install tensorflow-cpu==2.21.0 numpy pillow)
#                              #      AEC=${CARGO_TARGET_DIR:-target}/release/aec
#                              #      BF16=1: both run the convolutions in bfloat16 (aec --bf16,
#                              #        tf-hyper.py --bf16; AMX tiles or AVX-512 BF16)
#
# TensorFlow times STEPS steps after WARMUP untimed ones. aec runs `train-hyper --steps 2*STEPS
# --every STEPS` and its second report line (the mean time of the interval's steps) is read. A
# background `aec train-hyper` job is paused with SIGSTOP for the timings and always resumed;
# the CPU time each run and other processes use meanwhile is printed, as timings taken on a
# busy machine are not comparable.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DATA:-../shared/data/photos-train}"
STEPS="${STEPS:-40}" WARMUP="${WARMUP:-5}" N="${N:-64}" M="${M:-96}"
BATCH="${BATCH:-8}" CROP="${CROP:-128}" LAMBDA=0.0067 THREADS="${THREADS:-$(nproc)}"
PADDING="${PADDING:-same}"
PYTHON="${PYTHON:-tfenv/bin/python}"
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
[[ -x "$AEC" ]] || { echo "no aec binary at $AEC (set AEC)" >&2; exit 1; }

source scripts/pause-training.sh
cpu_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat; }  # busy, idle
own_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }  # CPU time of this shell's children
# Runs "$@" and appends to $usage the shares of all the CPUs' time (%) that it and that other
# processes used meanwhile.
usage=""
timed() {
  local b0 i0 o0 b1 i1 o1 all
  read -r b0 i0 < <(cpu_ticks); o0="$(own_ticks)"
  "$@"
  read -r b1 i1 < <(cpu_ticks); o1="$(own_ticks)"
  all=$((b1 - b0 + i1 - i0 + 1))
  usage+="$1: $((100 * (o1 - o0) / all))% itself, $((100 * (b1 - b0 - o1 + o0) / all))% others; "
}
run_tf() {
  "$PYTHON" scripts/tf-hyper.py --data "$DATA" --steps "$STEPS" --warmup "$WARMUP" \
    --batch "$BATCH" --crop "$CROP" --n "$N" --m "$M" --lambda "$LAMBDA" --threads "$THREADS" \
    --padding "$PADDING" ${BF16:+--bf16} \
    2>&1 | grep -v -e '^WARNING: All log' -e 'oneDNN custom operations' | tee "$tmp/tf.log"
}
run_aec() {
  "$AEC" train-hyper --data "$DATA" --lambda "$LAMBDA" --steps $((2 * STEPS)) --every "$STEPS" \
    --batch-size "$BATCH" --crop "$CROP" --n "$N" --m "$M" --out "$tmp/x.safetensors" \
    ${BF16:+--bf16} 2>&1 | tee "$tmp/aec.log"
}

echo "== TensorFlow: $STEPS steps after $WARMUP warm-up steps"
timed run_tf
echo "== aec: $((2 * STEPS)) steps, the second $STEPS timed"
timed run_aec

tf_s="$(sed -n 's/^warm:.* \([0-9.]*\) s\/step.*/\1/p' "$tmp/tf.log")"
aec_s="$(sed -n 's/.* \([0-9.]*\) s\/step$/\1/p' "$tmp/aec.log" | tail -1)"
[[ -n "$tf_s" && -n "$aec_s" ]] || { echo "could not read the timings" >&2; exit 1; }
echo
echo "CPU time used, as shares of all CPUs' time: ${usage% }"
echo "(wall times are comparable only when the others left the CPUs that the run wanted idle)"
echo "CPU: $(nproc) threads, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
  "$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^avx(2|512)' | tr '\n' ' ')"
awk -v tf="$tf_s" -v aec="$aec_s" -v n="$STEPS" -v b="$BATCH" -v c="$CROP" -v nn="$N" -v m="$M" \
  -v pad="$PADDING" -v bf="${BF16:+; convolutions in bfloat16}" 'BEGIN {
  printf "batch %dx%d², N=%d M=%d, %d warm steps each; TF padding %s%s\n", b, c, nn, m, n, pad, bf

  printf "%-12s %9s %9s\n", "", "s/step", "images/s"
  printf "%-12s %9.4f %9.2f\n", "TensorFlow", tf, b / tf
  printf "%-12s %9.4f %9.2f\n", "aec", aec, b / aec
  printf "%-12s %9.2f  (aec s/step / TF s/step; >1: aec slower)\n", "aec/TF", aec / tf
}'

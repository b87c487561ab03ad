#!/usr/bin/env bash
# The notebook's model (the tiled family) in aec against TensorFlow running the same graph
# (scripts/tf-reference.py) on this CPU, one after the other, and the three ratios the speed
# target names: training at batch 10, at batch 128, and encode + decode of 256 images.
#
#   scripts/tiled-speed.sh    # env: PYTHON=tfenv/bin/python (python3 -m venv tfenv &&
#                             #        tfenv/bin/pip install tensorflow-cpu==2.21.0 numpy)
#                             #      DATA=../shared/data/cifar10-exact/test_batch_first1000.bin
#                             #      MEASURE=4 (criterion's seconds per benchmark)
#
# TensorFlow: medians of five timed runs after warm-up, data held in the graph (no feeding).
# aec: criterion medians of `cargo bench --bench codec` (train_step/cpu/10 and /128,
# encode_256/cpu + decode_256/cpu). A background `aec train-hyper` or `aec train` job is paused
# with SIGSTOP for the timings and always resumed. The CPU's model and the instruction sets
# aec's kernels and TensorFlow can use are printed first.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-tfenv/bin/python}"
DATA="${DATA:-../shared/data/cifar10-exact/test_batch_first1000.bin}"
MEASURE="${MEASURE:-4}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
[[ -x "$PYTHON" ]] || { echo "no Python with TensorFlow at $PYTHON (set PYTHON)" >&2; exit 1; }
[[ -f "$DATA" ]] || { echo "no CIFAR-10 binary at $DATA (set DATA)" >&2; exit 1; }

source scripts/pause-training.sh

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores;" \
  "$(grep -m1 -o -w -e avx512f -e avx2 /proc/cpuinfo | sort -u | tr '\n' ' ')"
cargo bench --bench codec --no-run 2>/dev/null

# TensorFlow reads its training images from data_batch_N.bin files.
ln -s "$(realpath "$DATA")" "$tmp/data_batch_1.bin"
"$PYTHON" scripts/tf-reference.py --batches "$tmp" --eval "$DATA" --time 10 --time 128 2>&1 |
  grep -e '^train step' -e '^inference' | tee "$tmp/tf.txt"
cargo bench --bench codec -- 'train_step/cpu/(10|128)$|(en|de)code_256/cpu$' \
  --warm-up-time 1 --measurement-time "$MEASURE" 2>/dev/null |
  grep -e '^train_step' -e '^encode' -e '^decode' -e 'time:' | tee "$tmp/aec.txt"

# criterion prints "NAME\n   time: [low median high]" (or all on one line); medians in ms.
median_ms() {
  awk -v name="$1" '
    index($0, name) == 1 { found = 1 }
    found && /time:/ {
      sub(/.*time: *\[/, ""); split($0, f, " ")
      v = f[3]; u = f[4]
      if (u == "s") v *= 1000; else if (u == "µs" || u == "us") v /= 1000; else if (u == "ns") v /= 1e6
      print v; exit
    }' "$tmp/aec.txt"
}
tf_ms() { awk -v what="$1" 'index($0, what) == 1 { sub(/^[^:]*: */, ""); print $1 + 0; exit }' "$tmp/tf.txt"; }
t10=$(tf_ms "train step, batch 10:"); t128=$(tf_ms "train step, batch 128:")
tinf=$(tf_ms "inference, batch 256:")
a10=$(median_ms "train_step/cpu/10"); a128=$(median_ms "train_step/cpu/128")
aenc=$(median_ms "encode_256/cpu"); adec=$(median_ms "decode_256/cpu")
awk -v t10="$t10" -v t128="$t128" -v tinf="$tinf" -v a10="$a10" -v a128="$a128" \
  -v aenc="$aenc" -v adec="$adec" 'BEGIN {
    printf "%-28s %12s %12s %10s\n", "", "TensorFlow", "aec", "aec / TF"
    printf "%-28s %9.2f ms %9.2f ms %9.2fx\n", "training step, batch 10", t10, a10, t10 / a10
    printf "%-28s %9.2f ms %9.2f ms %9.2fx\n", "training step, batch 128", t128, a128, t128 / a128
    printf "%-28s %9.2f ms %9.2f ms %9.2fx\n", "encode + decode, 256 images", tinf, aenc + adec, tinf / (aenc + adec)
  }'

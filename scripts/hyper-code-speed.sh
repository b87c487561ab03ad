#!/usr/bin/env bash
# Coding speed of the whole-image family against TensorFlow running the same transforms on
# this CPU, one after the other, with any background training paused: aec's criterion bench
# (`cargo bench --bench codec -- '^hyper(-default)?/'`: RGB to file bytes and back, range coding and the integer
# hyper-synthesis included) and scripts/tf-hyper-code.py (transforms only; the photo before and after the bench) for a 768×512 photo
# and a 32×32 image.
#
#   scripts/hyper-code-speed.sh    # env: PYTHON=tfenv/bin/python (python3 -m venv tfenv &&
#                                  #   tfenv/bin/pip install tensorflow-cpu==2.21.0 numpy pillow);
#                                  # ISA=avx2 holds both to AVX2 on an AVX-512 CPU
#                                  #   (AEC_CPU_PATH=avx2, oneDNN's ONEDNN_MAX_CPU_ISA=AVX2)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-tfenv/bin/python}"
if [[ "${ISA:-}" == avx2 ]]; then
  export AEC_CPU_PATH=avx2 ONEDNN_MAX_CPU_ISA=AVX2
fi
cargo bench --bench codec --no-run 2>/dev/null
grep -m1 'model name' /proc/cpuinfo
source scripts/pause-training.sh
# TensorFlow's photo before and after aec's bench: this VM's speed drifts by several percent
# within minutes, so each ratio is quoted against both.
tf() {
  "$PYTHON" scripts/tf-hyper-code.py --width "$1" --height "$2" --repeat 20 2>&1 \
    | grep -E 'TensorFlow|transforms'
}
tf 768 512
cargo bench --bench codec -- '^hyper(-default)?/' 2>&1 | grep -E '^hyper|time:'
tf 768 512
tf 32 32

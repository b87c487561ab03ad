#!/usr/bin/env bash
# Peak memory (the process's maximum resident set, GNU time's %M) and wall time of
# `aec compress` and `aec decompress` on two synthetic images, with the built-in levels:
# 2048×2048 (the pattern of tests/hyper.rs) and 6000×4000 (24 Mpx: gradients and noise, so
# that high levels give large files). Background training is paused meanwhile.
#
#   scripts/peak-memory.sh [QUALITY...]      # default: 3 9
#   env: PYTHON (with numpy; default tfenv/bin/python), AEC (default: a release build here)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-tfenv/bin/python}"
if [[ -z "${AEC:-}" ]]; then
  cargo build --release --quiet
  AEC="${CARGO_TARGET_DIR:-target}/release/aec"
fi
qualities=("$@")
[[ ${#qualities[@]} -gt 0 ]] || qualities=(3 9)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$PYTHON" - "$dir" <<'EOF'
import sys
import numpy as np
out = sys.argv[1]
def save(name, img):
    h, w, _ = img.shape
    with open(f"{out}/{name}.ppm", "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h))
        f.write(img.astype(np.uint8).tobytes())
s = 2048
y, x = np.mgrid[0:s, 0:s]
save("2048x2048", np.stack([x // 7, y // 5, (x + y) % 251], -1))
h, w = 4000, 6000
y, x = np.mgrid[0:h, 0:w]
img = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], -1)
img = img + np.random.default_rng(0).integers(-20, 21, size=img.shape)
save("6000x4000", np.clip(img, 0, 255))
EOF
grep -m1 'model name' /proc/cpuinfo
source scripts/pause-training.sh
echo "| image | quality | file bytes | compress | decompress |"
echo "|---|---:|---:|---:|---:|"
for image in 2048x2048 6000x4000; do
  for q in "${qualities[@]}"; do
    c=$( { /usr/bin/time -f '%M %e' "$AEC" compress "$dir/$image.ppm" -Q "$q" -o "$dir/x.aec" --force >/dev/null; } 2>&1 | tail -1)
    d=$( { /usr/bin/time -f '%M %e' "$AEC" decompress "$dir/x.aec" -o "$dir/x.ppm" --force >/dev/null; } 2>&1 | tail -1)
    read -r cm ct <<<"$c"
    read -r dm dt <<<"$d"
    echo "| $image | $q | $(stat -c %s "$dir/x.aec") | $((cm / 1000)) MB, $ct s | $((dm / 1000)) MB, $dt s |"
  done
done

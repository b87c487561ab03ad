#!/usr/bin/env bash
# Where the quality scale should hand over from the narrow levels (N = 64) to the larger
# network of level 7 at coarser steps (`LARGER_REACH` in src/codec/quality.rs): the narrow
# levels 3 to 6 at their own and finer steps against level 7 at steps from √2 to 3.6, on the
# centre 768×512 crops of all 49 training photos and on the first 1,000 CIFAR-10 training
# images (never on the images results are reported on).
#
#   scripts/larger-reach.sh [OUT]    (default docs/rd/larger-reach; needs python3 with Pillow)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/rd/larger-reach}
DATA=../shared/data
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/crops" "$OUT"
python3 - "$DATA/photos-train" "$WORK/crops" <<'PY'
import os, sys
from PIL import Image
src, dst = sys.argv[1:]
for f in sorted(os.listdir(src)):
    if not f.endswith(".png"):
        continue
    im = Image.open(os.path.join(src, f)).convert("RGB")
    w, h = (768, 512) if im.width >= im.height else (512, 768)
    x, y = (im.width - w) // 2, (im.height - h) // 2
    im.crop((x, y, x + w, y + h)).save(os.path.join(dst, f))
PY
head -c $((1000 * 3073)) "$DATA/cifar10-exact/data_batch_1_first4000.bin" > "$WORK/cifar.bin"
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
cargo build --release --quiet
H=samples/model/hyper
narrow=(--model q3=$H/q3.safetensors --model q4=$H/q4.safetensors --model q5=$H/q5.safetensors
  --model q6=$H/q6.safetensors --step 0.84 --step 0.71)
large=(--model q7=$H/q7.safetensors)
for s in 1.41 1.6 1.8 2 2.2 2.4 2.6 2.83 3.2 3.6; do large+=(--step "$s"); done
for set in photos:crops:bpp cifar10:cifar.bin:bytes; do
  IFS=: read -r name data axis <<< "$set"
  "$AEC" rd --data "$WORK/$data" --axis "$axis" --no-baselines "${narrow[@]}" \
    --out-dir "$OUT/$name-narrow"
  "$AEC" rd --data "$WORK/$data" --axis "$axis" --no-baselines "${large[@]}" \
    --out-dir "$OUT/$name-q7"
done
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores" \
  > "$OUT/machine.txt"

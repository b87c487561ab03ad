#!/usr/bin/env bash
# What a change to the decoder does to decoded pixels: compresses every image of a folder with
# the NEW build at each --model, decodes each file with the OLD build and the NEW one, and prints
# per model the mean PSNR of both against the originals, how many bytes differ, and the largest
# difference.
#
#   scripts/decoder-change.sh OLD_AEC NEW_AEC [DIR] [MODEL...]
#   # e.g. scripts/decoder-change.sh /tmp/aec-before target/release/aec ../shared/data/kodak q3 q7
#   # env: PYTHON=tfenv/bin/python (numpy and Pillow)
set -euo pipefail
old="$(realpath "$1")" new="$(realpath "$2")"
dir="${3:-../shared/data/kodak}"
shift $(($# < 3 ? $# : 3))
models=("${@:-q3}")
PYTHON="${PYTHON:-tfenv/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for model in "${models[@]}"; do
  for image in "$dir"/*.png; do
    stem="$(basename "$image" .png)"
    { "$new" compress "$image" -o "$tmp/$stem.aec" --model "$model" --force &&
      "$old" decompress "$tmp/$stem.aec" -o "$tmp/$stem.old.png" --force &&
      "$new" decompress "$tmp/$stem.aec" -o "$tmp/$stem.new.png" --force; } >"$tmp/log" 2>&1 ||
      { cat "$tmp/log" >&2; exit 1; }
  done
  "$PYTHON" - "$dir" "$tmp" "$model" <<'EOF'
import glob, os, sys
import numpy as np
from PIL import Image

folder, tmp, model = sys.argv[1:4]
psnr = {"old": [], "new": []}
differ = total = largest = 0
for image in sorted(glob.glob(os.path.join(folder, "*.png"))):
    stem = os.path.splitext(os.path.basename(image))[0]
    ref = np.asarray(Image.open(image).convert("RGB"), dtype=np.float64)
    got = {}
    for build in psnr:
        got[build] = np.asarray(Image.open(f"{tmp}/{stem}.{build}.png"), dtype=np.int64)
        mse = np.mean((got[build] - ref) ** 2)
        psnr[build].append(10 * np.log10(255**2 / mse))
    d = np.abs(got["old"] - got["new"])
    differ += int((d > 0).sum())
    total += d.size
    largest = max(largest, int(d.max()))
print(
    f"{model}: {len(psnr['old'])} images, mean PSNR old {np.mean(psnr['old']):.4f} dB, "
    f"new {np.mean(psnr['new']):.4f} dB; {differ} of {total} bytes differ, "
    f"by at most {largest}"
)
EOF
done

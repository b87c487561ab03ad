#!/usr/bin/env bash
# Whether a change to the encoder keeps every file byte for byte: compresses four images (Kodak
# 23, a CIFAR-10 image, a 517×333 crop and a 1100×900 resize of Kodak 23, so odd sizes and
# several regions) at a spread of settings with the OLD build and the NEW one on the CPU path
# chosen as usual (AEC_CPU_PATH=portable|avx2|avx512 picks one for both), and compares the
# files; a setting both builds refuse counts when both give the same error.
#
#   scripts/encoder-same-bytes.sh OLD_AEC NEW_AEC
#   # env: PYTHON=tfenv/bin/python (Pillow); AEC_CPU_PATH as above
set -euo pipefail
old="$(realpath "$1")" new="$(realpath "$2")"
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-tfenv/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" - "$tmp" <<'EOF'
import sys
from PIL import Image

im = Image.open("samples/images/kodim23.png").convert("RGB")
im.crop((13, 7, 13 + 517, 7 + 333)).save(f"{sys.argv[1]}/crop.png")
im.resize((1100, 900)).save(f"{sys.argv[1]}/large.png")
EOF
settings=("--quality 1" "--quality 3" "--quality 5.5" "--quality 8" "--quality 9"
  "--quality 3 --refine 2" "--step 0.8" "--target-size 8000" "--model reference")
images=(samples/images/kodim23.png samples/images/cifar-test-0000-cat.png "$tmp/crop.png"
  "$tmp/large.png")
same=0 differ=0
for image in "${images[@]}"; do
  for setting in "${settings[@]}"; do
    for build in old new; do
      # One output name for both, so that their messages can be compared.
      # shellcheck disable=SC2086
      "${!build}" compress "$image" -o "$tmp/out.aec" $setting >/dev/null 2>"$tmp/$build.err" ||
        true
      [[ -e "$tmp/out.aec" ]] && mv "$tmp/out.aec" "$tmp/$build.aec"
    done
    if [[ -s "$tmp/old.aec" || -s "$tmp/new.aec" ]]; then
      cmp -s "$tmp/old.aec" "$tmp/new.aec" && ok=1 || ok=0
    else
      [[ -s "$tmp/old.err" ]] && cmp -s "$tmp/old.err" "$tmp/new.err" && ok=1 || ok=0
    fi
    if ((ok)); then same=$((same + 1)); else differ=$((differ + 1)); echo "differ: $image $setting"; fi
    rm -f "$tmp/old.aec" "$tmp/new.aec"
  done
done
echo "path ${AEC_CPU_PATH:-chosen}: $same the same, $differ differ"
((differ == 0))

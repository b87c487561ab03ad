#!/usr/bin/env bash
# Writes the decompress target's seeds (fuzz/codec/seeds/decompress/): small files of every
# built-in model family and file layout, coded by an aec build from synthetic pictures.
# Usage, from the repository root: AEC=path/to/aec fuzz/codec/make-seeds.sh
set -euo pipefail
aec=${AEC:-target/release/aec}
out=fuzz/codec/seeds/decompress
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# A binary PPM (P6, or P5 for grey) of W×H: gradients with an edge, so every model codes
# something in each channel.
picture() {
  python3 - "$@" <<'PY'
import sys
w, h, grey, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "grey", sys.argv[4]
px = bytearray()
for y in range(h):
    for x in range(w):
        edge = 90 if x > w // 2 else 0
        rgb = ((x * 5 + edge) % 256, (y * 7) % 256, (120 + x + 2 * y) % 256)
        px += bytes(rgb[:1] if grey else rgb)
with open(path, "wb") as f:
    f.write(b"P%d\n%d %d\n255\n" % (5 if grey else 6, w, h) + px)
PY
}
picture 48 40 rgb "$tmp/rgb.ppm"
picture 17 9 grey "$tmp/grey.ppm"
picture 1 1 rgb "$tmp/dot.ppm"
picture 64 64 rgb "$tmp/square.ppm"
# The same with a soft-edged alpha, as PAM (RGB_ALPHA or GRAYSCALE_ALPHA).
python3 - "$tmp" <<'PY'
import sys
for name, w, h, grey in (("rgba", 40, 24, False), ("greya", 13, 7, True)):
    px = bytearray()
    for y in range(h):
        for x in range(w):
            a = max(0, min(255, (x - w // 3) * 40))
            px += bytes(((x * 9) % 256, a) if grey else ((x * 9) % 256, y * 10, 77, a))
    kind, depth = ("GRAYSCALE_ALPHA", 2) if grey else ("RGB_ALPHA", 4)
    head = f"P7\nWIDTH {w}\nHEIGHT {h}\nDEPTH {depth}\nMAXVAL 255\nTUPLTYPE {kind}\nENDHDR\n"
    open(f"{sys.argv[1]}/{name}.pam", "wb").write(head.encode() + px)
PY
# A screenshot with a photo in it, 64×64: lines of glyphs on white on the left, a noisy
# gradient on the right, so that its flat blocks are stored exactly (kind bit 6).
python3 - "$tmp/mixed.ppm" <<'PY'
import sys
px = bytearray()
for y in range(64):
    for x in range(64):
        if x >= 36:
            n = ((x * 7919 + y * 104729) * 2654435761 >> 13) % 16
            px += bytes(((x * 3 + n) % 256, (y * 4 + 2 * n) % 256, (90 + x + y + n) % 256))
        else:
            ink = y % 10 < 7 and x % 6 < 5 and ((x // 6 * 31 + y // 10 * 17 + x + y) % 3 == 0)
            px += bytes((25, 25, 30) if ink else (250, 250, 250))
open(sys.argv[1], "wb").write(b"P6\n64 64\n255\n" + px)
PY

code() { # NAME INPUT ARGS...
  local name=$1 input=$2
  shift 2
  "$aec" --threads 1 compress "$input" -o "$out/$name.aec" --force "$@" >/dev/null 2>"$tmp/log" ||
    { cat "$tmp/log" >&2; exit 1; }
}
for q in 0 1 3 3.5 5 7 9 11; do code "q$q" "$tmp/rgb.ppm" -Q "$q"; done
code grey-q3 "$tmp/grey.ppm" -Q 3
code alpha-q3 "$tmp/rgba.pam" -Q 3
code alpha-q8 "$tmp/rgba.pam" -Q 8
code grey-alpha-q1 "$tmp/greya.pam" -Q 1
code dot-q3 "$tmp/dot.ppm" -Q 3
code square-q2 "$tmp/square.ppm" -Q 2
code square-q8 "$tmp/square.ppm" -Q 8
code mixed-q5 "$tmp/mixed.ppm" -Q 5
for m in reference tiled-q1 tiled-q4 context-v1-q1 mean-scale-q1 scale-only-q1; do
  code "$m" "$tmp/rgb.ppm" --model "$m"
done
code reference-sparse "$tmp/rgb.ppm" --model reference --sparse 0.05
code grey-tiled-q2 "$tmp/grey.ppm" --model tiled-q2
ls "$out" | wc -l

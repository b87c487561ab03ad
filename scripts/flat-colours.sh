#!/usr/bin/env bash
# Images of one flat colour (256×256) through `aec rd`, one run per colour: every built-in model
# against WebP and JPEG, real file bytes. The whole-image models were trained on photos; flat
# saturated colours are far from them.
#
#   scripts/flat-colours.sh [OUT_DIR]   # default docs/rd/flat-colours; AEC=path/to/aec
set -euo pipefail
cd "$(dirname "$0")/.."
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
[[ -x "$AEC" ]] || cargo build --release
out="${1:-docs/rd/flat-colours}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for colour in "10 200 30" "60 200 60" "200 60 60" "100 150 110" "128 128 128" "230 230 230"; do
  name="rgb-${colour// /-}"
  mkdir -p "$tmp/$name"
  # A PNG of one colour, from the standard library alone.
  python3 - "$tmp/$name/$name.png" $colour <<'PY'
import struct, sys, zlib
path, (r, g, b), side = sys.argv[1], map(int, sys.argv[2:5]), 256
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\0" + bytes((r, g, b)) * side for _ in range(side))
with open(path, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
  "$AEC" rd --data "$tmp/$name" --quality 5 --quality 6 --jpeg 20 --jpeg 50 --jpeg 90 \
    --webp 25 --webp 50 --webp 75 --webp 90 --out-dir "$out/$name" > /dev/null
  rm -f "$out/$name/rd.png"  # one image's points: the table says it all
  cp "$tmp/$name/$name.png" "$out/$name/"  # 761 bytes, for runs of their own
  echo "$name: $out/$name/rd.md"
done

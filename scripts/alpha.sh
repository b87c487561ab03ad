#!/usr/bin/env bash
# Transparency: five 640×480 RGBA images (examples/alpha_planes.rs: antialiased shapes, a hard
# and a soft cut-out matte, a vignette, soft noise over a photo's colours) through
# `aec compress -Q 5` (with and without --exact, which keeps the colour of transparent pixels)
# and `cwebp -q 75` (lossy colour, lossless alpha, transparent pixels' colour not kept either),
# the alpha's bytes read from the files themselves (aec's alpha section, WebP's ALPH chunk);
# and what each of aec's five alpha filters gives.
#
#   scripts/alpha.sh [OUT_DIR]   # default docs/rd/alpha; AEC=path/to/aec, PHOTO=an image ≥ 640×480
set -euo pipefail
cd "$(dirname "$0")/.."
AEC="${AEC:-${CARGO_TARGET_DIR:-target}/release/aec}"
[[ -x "$AEC" ]] || cargo build --release
PHOTO="${PHOTO:-../shared/data/photos-train/001.png}"
out="${1:-docs/rd/alpha}"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cargo run -q --release --example alpha_planes -- "$PHOTO" "$tmp" > "$out/filters.csv"
echo "image,aec_exact_bytes,aec_bytes,aec_alpha_bytes,aec_alpha_filter,webp_bytes,webp_alpha_bytes" > "$out/alpha.csv"
for png in "$tmp"/*.png; do
  name="$(basename "$png" .png)"
  "$AEC" compress "$png" -Q 5 -o "$tmp/$name.aec" --quiet --exact
  exact="$(stat -c %s "$tmp/$name.aec")"
  "$AEC" compress "$png" -Q 5 -o "$tmp/$name.aec" --quiet --force
  cwebp -quiet -q 75 "$png" -o "$tmp/$name.webp"
  aec_line="$("$AEC" inspect --json "$tmp/$name.aec" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(j["bytes"], j["alpha_bytes"], j["alpha_filter"], sep=",")')"
  # The ALPH chunk of the RIFF file: its payload's length.
  webp_line="$(python3 - "$tmp/$name.webp" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
at, alpha = 12, 0
while at + 8 <= len(b):
    kind, n = b[at:at + 4], struct.unpack("<I", b[at + 4:at + 8])[0]
    if kind == b"ALPH":
        alpha = n
    at += 8 + n + (n & 1)
print(f"{len(b)},{alpha}")
PY
)"
  echo "$name,$exact,$aec_line,$webp_line" >> "$out/alpha.csv"
done
python3 - "$out" <<'PY'
import csv, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/alpha.csv")))
filters = {r["plane"]: r for r in csv.DictReader(open(f"{out}/filters.csv"))}
with open(f"{out}/alpha.md", "w") as f:
    f.write("| image | aec -Q 5 --exact bytes | aec -Q 5 bytes | its alpha | filter | none | left | up | gradient | context | cwebp -q 75 bytes | its alpha | aec alpha / WebP's |\n")
    f.write("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    for r in rows:
        p = filters[r["image"]]
        ratio = int(r["aec_alpha_bytes"]) / int(r["webp_alpha_bytes"])
        f.write(f"| {r['image']} | {r['aec_exact_bytes']} | {r['aec_bytes']} | {r['aec_alpha_bytes']} | {r['aec_alpha_filter']} "
                f"| {p['none']} | {p['left']} | {p['up']} | {p['gradient']} | {p['context']} "
                f"| {r['webp_bytes']} | {r['webp_alpha_bytes']} | {ratio:.2} |\n")
print(open(f"{out}/alpha.md").read())
PY

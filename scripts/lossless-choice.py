#!/usr/bin/env python3
"""Where `aec compress` stores images as lossless bitstreams (exactly, in a reduced palette,
or as flat blocks, exact or in a palette, beside the lossy code): each built-in level with the
default choice and with --no-lossless, on every image of a folder, real file bytes and PSNR
from --verify.

    scripts/lossless-choice.py IMAGES [--aec PATH] [--levels 1 2 3 ...] [--webp 10 50 ...]
                               [--out FILE.md]

Prints a markdown table: per level, mean bytes per image and the PSNR of the mean MSE (an
exact image counts as MSE 0) with --no-lossless and by default, and how many images the
default stored exactly, in a palette and with flat blocks. Also libwebp's lossless size
(`cwebp -lossless -z 6`) where cwebp is installed, the same bitstream aec's lossless files
hold, and with --webp its lossy files at those qualities (`cwebp -q Q`, decoded by `dwebp`;
needs Pillow and NumPy).
"""
import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile


def compress(aec, image, out, level, extra):
    cmd = [aec, "compress", image, "-o", out, "-f", "-Q", str(level), "--verify", *extra]
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    line = r.stdout + r.stderr
    size = os.path.getsize(out)
    if ", exact" in line:
        return size, 0.0, "exact"
    psnr = float(re.search(r"PSNR ([0-9.]+) dB", line).group(1))
    kind = "blocks" if " blocks " in line else "palette" if "-colour palette" in line else "lossy"
    return size, 10 ** (-psnr / 10), kind


def webp_lossy(image, q, tmp):
    """Bytes and MSE (samples on [0, 1]) of `cwebp -q Q`."""
    import numpy as np
    from PIL import Image
    w, back = os.path.join(tmp, "x.webp"), os.path.join(tmp, "x.png")
    subprocess.run(["cwebp", "-quiet", "-q", str(q), image, "-o", w], check=True)
    subprocess.run(["dwebp", "-quiet", w, "-o", back], check=True)
    a = np.asarray(Image.open(image).convert("RGB"), dtype=np.float64)
    b = np.asarray(Image.open(back).convert("RGB"), dtype=np.float64)
    return os.path.getsize(w), float(np.mean((a - b) ** 2)) / 255 ** 2


def psnr_of(mses):
    m = sum(mses) / len(mses)
    return "exact" if m == 0 else f"{-10 * math.log10(m):.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("images")
    ap.add_argument("--aec", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "release", "aec"))
    ap.add_argument("--levels", nargs="+", default=[str(q) for q in range(1, 10)])
    ap.add_argument("--webp", nargs="*", default=[])
    ap.add_argument("--out")
    a = ap.parse_args()
    images = sorted(os.path.join(a.images, f) for f in os.listdir(a.images)
                    if f.lower().endswith((".png", ".ppm", ".jpg", ".bmp")))
    rows = ["| level | bytes/image, lossy only | PSNR of mean MSE (dB) | bytes/image, default | "
            "PSNR of mean MSE (dB) | exact | palette | flat blocks |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "x.aec")
        for q in a.levels:
            lossy = [compress(a.aec, i, out, q, ["--no-lossless"]) for i in images]
            auto = [compress(a.aec, i, out, q, []) for i in images]
            n = len(images)
            exact = sum(e == "exact" for _, _, e in auto)
            palette = sum(e == "palette" for _, _, e in auto)
            blocks = sum(e == "blocks" for _, _, e in auto)
            rows.append(
                f"| Q{q} | {sum(b for b, _, _ in lossy) / n:,.1f} | {psnr_of([m for _, m, _ in lossy])} "
                f"| {sum(b for b, _, _ in auto) / n:,.1f} | {psnr_of([m for _, m, _ in auto])} "
                f"| {exact} of {n} | {palette} of {n} | {blocks} of {n} |")
            print(rows[-1], file=sys.stderr)
        if shutil.which("cwebp"):
            sizes = []
            for i in images:
                w = os.path.join(tmp, "x.webp")
                subprocess.run(["cwebp", "-quiet", "-lossless", "-z", "6", i, "-o", w], check=True)
                sizes.append(os.path.getsize(w))
            rows.append(f"\nWebP lossless (`cwebp -lossless -z 6`): {sum(sizes) / len(sizes):,.1f} "
                        f"bytes/image over {len(sizes)} images.")
        if a.webp:
            rows += ["", "| WebP | bytes/image | PSNR of mean MSE (dB) |", "|---|---:|---:|"]
        for q in a.webp:
            r = [webp_lossy(i, q, tmp) for i in images]
            rows.append(f"| q{q} | {sum(b for b, _ in r) / len(r):,.1f} | {psnr_of([m for _, m in r])} |")
    text = "\n".join(rows) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()

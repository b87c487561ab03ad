#!/usr/bin/env python3
"""A side-by-side picture of one crop of a photo coded at about equal bytes: the original, aec
(a model file), WebP and JPEG at the highest quality whose whole file is no larger than aec's.
Labels give each whole file's bytes, bits per pixel and PSNR (RGB, whole image).

    tfenv/bin/python scripts/side-by-side.py --image ../shared/data/kodak/kodim23.png \\
        --model samples/model/hyper/base-0067.safetensors --crop 256,96,192,160 \\
        --out docs/rd/side-by-side.png

Needs Pillow (with WebP) and an aec binary (--aec, default target/release/aec or
$CARGO_TARGET_DIR/release/aec).
"""
import argparse
import io
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image, ImageDraw


def psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def aec_code(aec, model, src, tmp):
    coded, decoded = os.path.join(tmp, "x.aec"), os.path.join(tmp, "x.png")
    subprocess.run([aec, "compress", src, "-o", coded, "--model", model, "--force"], check=True)
    subprocess.run([aec, "decompress", coded, "-o", decoded, "--model", model, "--force"],
                   check=True)
    return os.path.getsize(coded), Image.open(decoded).convert("RGB")


def best_under(img, fmt, budget):
    """The highest quality (0–100) whose file fits in `budget` bytes (the lowest if none)."""
    best = None
    for q in range(0, 101):
        buf = io.BytesIO()
        img.save(buf, fmt, quality=q)
        if buf.tell() <= budget or best is None:
            best = (q, buf.getvalue())
        if buf.tell() > budget:
            break
    q, data = best
    return q, len(data), Image.open(io.BytesIO(data)).convert("RGB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--crop", default="256,96,192,160", help="x,y,width,height")
    ap.add_argument("--scale", type=int, default=2, help="crop enlargement (nearest)")
    ap.add_argument("--out", required=True)
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    ap.add_argument("--aec", default=os.path.join(target, "release", "aec"))
    a = ap.parse_args()
    original = Image.open(a.image).convert("RGB")
    pixels = original.width * original.height
    x, y, w, h = (int(v) for v in a.crop.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        size, aec_img = aec_code(a.aec, a.model, a.image, tmp)
    panels = [("original", None, original)]
    panels.append((f"aec {os.path.basename(a.model)}", size, aec_img))
    for fmt in ("WEBP", "JPEG"):
        q, n, img = best_under(original, fmt, size)
        panels.append((f"{fmt} q{q}", n, img))
    label_h, gap = 34, 4
    sw, sh = w * a.scale, h * a.scale
    sheet = Image.new("RGB", (len(panels) * (sw + gap) - gap, sh + label_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, n, img) in enumerate(panels):
        crop = img.crop((x, y, x + w, y + h)).resize((sw, sh), Image.NEAREST)
        left = i * (sw + gap)
        sheet.paste(crop, (left, label_h))
        draw.text((left + 2, 2), name, fill="black")
        if n is not None:
            info = f"{n} B, {8 * n / pixels:.3f} bpp, {psnr(original, img):.2f} dB"
            draw.text((left + 2, 16), info, fill="black")
        print(name, info if n is not None else "")
    sheet.save(a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()

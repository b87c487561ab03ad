#!/usr/bin/env python3
"""Bytes of libwebp's lossless file per novel pixel, the measure behind the lossless gate
(`MIN_BYTES_PER_NOVEL_PIXEL` in src/codec/lossless.rs): a pixel is novel where its colour
equals none of its left and upper neighbours and their gradient (left + up - upper-left).
Images over 0.8 Mpx are measured on their centre 768x512 crop.

    scripts/lossless-novel.py IMAGE...    # needs numpy, Pillow and cwebp
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image


def novel(im):
    c = im[..., 0] * 65536 + im[..., 1] * 256 + im[..., 2]
    left = np.zeros_like(c, bool)
    left[:, 1:] = c[:, 1:] == c[:, :-1]
    up = np.zeros_like(c, bool)
    up[1:, :] = c[1:, :] == c[:-1, :]
    grad = np.zeros_like(c, bool)
    g = np.clip(im[1:, :-1] + im[:-1, 1:] - im[:-1, :-1], 0, 255)
    grad[1:, 1:] = (g == im[1:, 1:]).all(axis=2)
    return int((~left & ~up & ~grad).sum())


def main():
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in sys.argv[1:]:
            im = np.asarray(Image.open(f).convert("RGB")).astype(np.int32)
            h, w, _ = im.shape
            if h * w > 800_000:
                im = im[h // 2 - 256:h // 2 + 256, w // 2 - 384:w // 2 + 384]
            png, webp = os.path.join(tmp, "x.png"), os.path.join(tmp, "x.webp")
            Image.fromarray(im.astype(np.uint8)).save(png)
            subprocess.run(["cwebp", "-quiet", "-lossless", "-z", "6", png, "-o", webp], check=True)
            n, b = novel(im), os.path.getsize(webp)
            ratios.append(b / max(n, 1))
            print(f"{os.path.basename(f)}: {n} novel pixels, {b} bytes, {ratios[-1]:.3f} bytes each")
    print(f"{len(ratios)} images: {min(ratios):.3f} to {max(ratios):.3f} bytes per novel pixel")


if __name__ == "__main__":
    main()

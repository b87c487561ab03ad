#!/usr/bin/env python3
"""What coding a screenshot's flat parts exactly and its photo lossily could save: a probe
with real file bytes from the tools themselves, no format of its own.

    python3 scripts/mixed-probe.py SCREENS PHOTOS [--count N] [--levels 1,3,5,7] [--out FILE]
    python3 scripts/mixed-probe.py SCREENS PHOTOS --write DIR [--count N] [--seed S]

Each image is a screenshot from SCREENS (scripts/screen-content.py) with a crop of a photo
from PHOTOS pasted over a part of it (the size and place drawn from a fixed seed). For each
level it counts
- `lossy`: `aec compress --no-lossless -Q L` of the whole image;
- `split`: the same image cut into 16×16 blocks, a block "flat" where at most T of its pixels
  are novel (equal to none of left, up and the gradient prediction); the flat blocks'
  pixels coded exactly (`cwebp -lossless -exact`, the photo blocks painted one colour), the
  others by `aec compress --no-lossless -Q L` (the flat blocks painted with the photo's mean
  colour), plus one bit a block for the map; the decoded picture is the two put together;
- WebP at qualities 10–90 for reference.
Bytes are the files' sizes (the split's are the sum of its two files and the map's bits).
This probe chose the block size, the flat blocks' share of novel pixels (`--block`,
`--thresh`) and the fill of `aec`'s exact blocks (src/codec/exact_blocks.rs) on the seed-2
screenshots with crops of the training photos. `--write DIR` writes the mixed images as PNG
files instead (for `scripts/lossless-choice.py`).
"""
import argparse
import os
import random
import subprocess
import tempfile

import numpy as np
from PIL import Image

AEC = os.environ.get("AEC", "aec")


def novel(img):
    """Per-pixel: equal to none of left, up and left + up - up-left (any channel differs)."""
    a = img.astype(np.int32)
    h, w, _ = a.shape
    left = np.zeros_like(a)
    left[:, 1:] = a[:, :-1]
    up = np.zeros_like(a)
    up[1:] = a[:-1]
    ul = np.zeros_like(a)
    ul[1:, 1:] = a[:-1, :-1]
    grad = np.clip(left + up - ul, 0, 255)
    eq = lambda b: np.all(a == b, axis=2)
    n = ~(eq(left) | eq(up) | eq(grad))
    n[0, 0] = True
    return n


def flat_map(img, block, thresh):
    n = novel(img)
    h, w = n.shape
    bh, bw = (h + block - 1) // block, (w + block - 1) // block
    m = np.zeros((bh, bw), bool)
    for by in range(bh):
        for bx in range(bw):
            b = n[by * block:(by + 1) * block, bx * block:(bx + 1) * block]
            m[by, bx] = b.mean() <= thresh
    return m


def expand(m, block, h, w):
    return np.kron(m, np.ones((block, block), bool))[:h, :w]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def run(cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def aec_lossy(img, level, tmp):
    src, out, back = (os.path.join(tmp, n) for n in ("a.png", "a.aec", "a-back.png"))
    Image.fromarray(img).save(src)
    run([AEC, "compress", "--no-lossless", "-Q", str(level), src, "-o", out, "--force"])
    run([AEC, "decompress", out, "-o", back, "--force"])
    return os.path.getsize(out), np.asarray(Image.open(back).convert("RGB"))


def webp_exact(img, tmp):
    src, out = os.path.join(tmp, "b.png"), os.path.join(tmp, "b.webp")
    Image.fromarray(img).save(src)
    run(["cwebp", "-lossless", "-exact", "-m", "4", "-q", "75", src, "-o", out])
    return os.path.getsize(out)


def webp_lossy(img, q, tmp):
    src, out, back = (os.path.join(tmp, n) for n in ("c.png", "c.webp", "c-back.png"))
    Image.fromarray(img).save(src)
    run(["cwebp", "-q", str(q), src, "-o", out])
    run(["dwebp", out, "-o", back])
    return os.path.getsize(out), np.asarray(Image.open(back).convert("RGB"))


def mixed_images(screens, photos, count, seed):
    rng = random.Random(seed)
    names = sorted(os.listdir(screens))[:count]
    pics = sorted(os.listdir(photos))
    for name in names:
        s = np.array(Image.open(os.path.join(screens, name)).convert("RGB"))
        p = Image.open(os.path.join(photos, rng.choice(pics))).convert("RGB")
        h, w, _ = s.shape
        ph, pw = rng.randint(h // 4, h * 2 // 3), rng.randint(w // 4, w * 2 // 3)
        x, y = rng.randint(0, p.width - pw), rng.randint(0, p.height - ph)
        crop = np.asarray(p.crop((x, y, x + pw, y + ph)))
        oy, ox = rng.randint(0, h - ph), rng.randint(0, w - pw)
        s[oy:oy + ph, ox:ox + pw] = crop
        yield name, s


def split(img, level, block, thresh, tmp):
    h, w, _ = img.shape
    m = flat_map(img, block, thresh)
    fm = expand(m, block, h, w)
    if fm.all():
        return webp_exact(img, tmp) + (m.size + 7) // 8, img
    mean = img[~fm].reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
    lossy_in = img.copy()
    lossy_in[fm] = mean
    lb, lossy_out = aec_lossy(lossy_in, level, tmp)
    exact_in = img.copy()
    exact_in[~fm] = 0
    eb = webp_exact(exact_in, tmp) if fm.any() else 0
    out = np.where(fm[..., None], img, lossy_out)
    return lb + eb + (m.size + 7) // 8, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("screens")
    ap.add_argument("photos")
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--levels", default="1,3,5,7")
    ap.add_argument("--block", type=int, default=16)
    ap.add_argument("--thresh", type=float, default=0.25)
    ap.add_argument("--out")
    ap.add_argument("--write")
    a = ap.parse_args()
    if a.write:
        os.makedirs(a.write, exist_ok=True)
        for name, img in mixed_images(a.screens, a.photos, a.count, a.seed):
            Image.fromarray(img).save(os.path.join(a.write, "mixed-" + name))
        return
    levels = [int(x) for x in a.levels.split(",")]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, img in mixed_images(a.screens, a.photos, a.count, a.seed):
            for lv in levels:
                b, out = aec_lossy(img, lv, tmp)
                rows.setdefault(f"aec Q{lv}", []).append((b, psnr(img, out)))
                b, out = split(img, lv, a.block, a.thresh, tmp)
                rows.setdefault(f"split Q{lv}", []).append((b, psnr(img, out)))
            for q in (10, 25, 50, 75, 90):
                b, out = webp_lossy(img, q, tmp)
                rows.setdefault(f"WebP q{q}", []).append((b, psnr(img, out)))
            print(name, flush=True)
    lines = ["| codec | bytes/image | PSNR mean (dB) |", "|---|---:|---:|"]
    for k, v in rows.items():
        lines.append(f"| {k} | {np.mean([b for b, _ in v]):,.0f} | {np.mean([p for _, p in v]):.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        open(a.out, "w").write(text)


if __name__ == "__main__":
    main()

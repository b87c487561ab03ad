#!/usr/bin/env python3
"""A model of the alpha plane's context coder (SPEC.md §13.5) for choosing its design: the
ideal code length (the sum of −log2 p over every binary decision) of each plane's alpha, under
variants of the predictor, the contexts, bias correction and the count limit. Slow (pure
Python), exact in integers like the coder; the real coder's streams are a few bytes longer.

    tfenv/bin/python scripts/alpha-context-model.py DIR [--predictor grad|med] [--bias]
        [--limit 1024] [--contexts full|small]
    # DIR: the RGBA PNGs of examples/alpha_planes.rs (matte-hard, matte-soft, shapes, smoke,
    # vignette); the shipped coder is the defaults.
"""
import argparse, math
from collections import defaultdict
import numpy as np
from PIL import Image

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--predictor", default="grad", choices=["grad", "med"])
ap.add_argument("--bias", action="store_true", help="JPEG-LS's per-context bias correction")
ap.add_argument("--limit", type=int, default=1024, help="counts halved when their sum reaches it")
ap.add_argument("--contexts", default="full", choices=["full", "small"],
                help="full: activity × left and upper residual classes (200); small: activity "
                     "× the left residual's size (0, 1–3, 4+), 24")
args = ap.parse_args()


class Bit:
    __slots__ = ("n0", "n1")

    def __init__(s):
        s.n0 = s.n1 = 0

    def cost(s, b):
        p0 = ((2 * s.n0 + 1) << 24) // (2 * (s.n0 + s.n1) + 2)
        p = p0 if b == 0 else (1 << 24) - p0
        if b:
            s.n1 += 1
        else:
            s.n0 += 1
        if s.n0 + s.n1 >= args.limit:
            s.n0, s.n1 = (s.n0 + 1) >> 1, (s.n1 + 1) >> 1
        return -math.log2(p / (1 << 24))


def bit_length(d, cap=7):
    return min(int(d).bit_length(), cap)


def cls(e):
    if args.contexts == "small":
        return 0 if e == 0 else (1 if abs(e) < 4 else 2)
    if e == 0:
        return 0
    if e > 0:
        return 1 if e < 3 else 2
    return 3 if e > -3 else 4


def predict(L, U, C):
    if args.predictor == "med":
        if C >= max(L, U):
            return min(L, U)
        if C <= min(L, U):
            return max(L, U)
    return L + U - C


def code_length(a):
    h, w = a.shape
    zero, sign, pre, suf = (defaultdict(Bit) for _ in range(4))
    bsum, bcnt = defaultdict(int), defaultdict(int)
    bits, eup = 0.0, [0] * w
    for y in range(h):
        row, up = a[y].tolist(), (a[y - 1].tolist() if y else None)
        erow, eleft = [0] * w, 0
        for x in range(w):
            if y == 0:
                p = row[x - 1] if x else 0
                act = 0
            else:
                U = up[x]
                L, C = (row[x - 1], up[x - 1]) if x else (U, U)
                R = up[x + 1] if x + 1 < w else U
                p = predict(L, U, C)
                act = bit_length(abs(L - C) + abs(U - C) + abs(R - U))
            ctx = (act, cls(eleft)) if args.contexts == "small" else (act, cls(eleft), cls(eup[x]))
            if args.bias:
                n = bcnt[ctx]
                p += (bsum[ctx] + (n >> 1)) // n if n else 0
            p = min(max(p, 0), 255)
            e = (row[x] - p + 128) % 256 - 128
            if args.bias:
                bsum[ctx] += e
                bcnt[ctx] += 1
                if bcnt[ctx] >= 64:
                    bsum[ctx] //= 2
                    bcnt[ctx] //= 2
            erow[x] = eleft = e
            bits += zero[ctx].cost(e != 0)
            if e == 0:
                continue
            bits += sign[ctx].cost(e < 0)
            m = abs(e)
            n = m.bit_length() - 1
            for i in range(min(n + 1, 7)):
                bits += pre[ctx, i].cost(i < n)
            for i in range(n - 1, -1, -1):
                bits += suf[act, n, i].cost((m >> i) & 1)
        eup = erow
    return bits / 8


total = 0
for name in ["matte-hard", "matte-soft", "shapes", "smoke", "vignette"]:
    a = np.array(Image.open(f"{args.dir}/{name}.png"))[:, :, 3].astype(int)
    b = code_length(a)
    total += b
    print(f"{name},{b:.0f}")
print(f"total,{total:.0f}")

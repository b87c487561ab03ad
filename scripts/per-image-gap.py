#!/usr/bin/env python3
"""Per image, a setting's PSNR against a baseline's at the same bits per pixel: from the
images.csv of `aec rd --per-image`, the baseline's curve of each image (its settings' points,
PSNR linear in log bpp between them) read at the setting's bpp.

    scripts/per-image-gap.py IMAGES.CSV --setting 'q9' --baseline 'WebP q85,WebP q88,WebP q90'

Prints one line an image (bpp, the setting's PSNR, the baseline's at that bpp, the
difference), sorted by the difference; for an image whose bpp lies outside the baseline's
points the nearest end's PSNR stands in and the difference is a bound: "≥" where the setting
spends fewer bits than the baseline's lowest point, "≤" where more than its highest. Standard
library only.
"""
import argparse
import csv
import math
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--setting", required=True, help="the setting column's value to compare")
    ap.add_argument("--baseline", required=True,
                    help="comma-separated settings of the baseline's curve")
    a = ap.parse_args()
    baseline = [s.strip() for s in a.baseline.split(",")]
    points = {}
    with open(a.csv, newline="") as f:
        for r in csv.DictReader(f):
            points.setdefault(r["setting"], {})[r["image"]] = (
                float(r["bits_per_pixel"]), float(r["psnr_db"]))
    for s in [a.setting, *baseline]:
        if s not in points:
            sys.exit(f"no setting {s!r} in {a.csv}; it has {sorted(points)}")
    rows = []
    for image, (bpp, psnr) in points[a.setting].items():
        curve = sorted(points[s][image] for s in baseline)
        mark, at = "", None
        if bpp < curve[0][0]:
            mark, at = "≥ ", curve[0][1]
        elif bpp > curve[-1][0]:
            mark, at = "≤ ", curve[-1][1]
        else:
            for (b0, p0), (b1, p1) in zip(curve, curve[1:]):
                if b0 <= bpp <= b1:
                    t = (math.log(bpp) - math.log(b0)) / (math.log(b1) - math.log(b0))
                    at = p0 + t * (p1 - p0)
                    break
        rows.append((psnr - at, image, bpp, psnr, at, mark))
    print(f"| image | bpp | {a.setting} (dB) | baseline at that bpp (dB) | difference (dB) |")
    print("|---|---:|---:|---:|---:|")
    for diff, image, bpp, psnr, at, mark in sorted(rows):
        end = " (its end point)" if mark else ""
        print(f"| {image} | {bpp:.3f} | {psnr:.2f} | {at:.2f}{end} | {mark}{diff:+.2f} |")
    inside = [r[0] for r in rows if not r[5]]
    if inside:
        print(f"\n{len(inside)} of {len(rows)} images inside the baseline's points: "
              f"mean difference {sum(inside) / len(inside):+.2f} dB")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Figures read off `aec rd` results (rd.csv files): each curve's mean PSNR at given rates
(linear in log-rate between its neighbouring points) and the BD-rate of chosen rows against
WebP or other rows (the Bjøntegaard formula of src/bdrate.rs: cubic fit of log rate in PSNR, fewer degrees
for fewer points, integrated over the common PSNR range). Standard library only.

  scripts/rd-at.py docs/rd/hyper-kodak/rd.csv docs/rd/hyper-kodak-between/rd.csv \\
      --axis bpp --at 0.25 --at 0.5 --at 1.0 --rows 'aec Q1,aec Q2,aec Q3,aec Q4,aec Q5,aec Q6'
  scripts/rd-at.py docs/rd/hyper-kodak/rd.csv --anchor JPEG --rows 'aec Q1,aec Q2,aec Q3'

Curves: `aec` (the rows `aec QN`, levels and fractions, plainly coded, or the rows that
--curve names) and `WebP`:

  scripts/rd-at.py docs/rd/hyper-kodak/rd.csv docs/rd/large-kodak/rd.csv --at 1.0 \
      --curve 'w step 1.33,w step 1.15,w'

With --versus (rows, comma-separated) the --curve is read against that curve instead of
WebP's, e.g. level 7's coarse steps against the narrow levels' finer ones
(`scripts/larger-reach.sh`):

  scripts/rd-at.py docs/rd/larger-reach/photos-*/rd.csv --at 0.55 --at 0.6 \
      --curve 'q7 step 2.6,q7 step 2.4' --versus 'q4,q4 step 0.84,q4 step 0.71,q5'

With --between (on `scripts/step-sweep.sh`'s rd.csv, rows `qK` and `qK step S`): for each
pair of neighbouring levels, the lower level at finer steps against the higher one at coarser
steps, in dB at the same rate, at ¼, ½ and ¾ of the way between the two levels' rates (in log
rate), then the lower level's step that reaches the higher level's rate and its PSNR there
against the higher level's.
"""
import argparse
import csv
import math
import re


def load(paths):
    rows = {}
    for p in paths:
        for r in csv.DictReader(open(p)):
            rows[r["setting"]] = r
    return rows


def curve(rows, names, axis):
    key = "bits_per_pixel" if axis == "bpp" else "bytes_per_image"
    pts = sorted((float(rows[n][key]), float(rows[n]["psnr_mean_db"])) for n in names)
    return pts


def at(pts, rate):
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= rate <= r1:
            t = math.log(rate / r0) / math.log(r1 / r0)
            return q0 + t * (q1 - q0)
    return None


def level_curve(rows, level, finer, axis):
    """Level `level`'s point and its points at finer (step < 1) or coarser (> 1) steps, as
    (rate, PSNR, step) sorted by rate."""
    key = "bits_per_pixel" if axis == "bpp" else "bytes_per_image"
    out = []
    for name, r in rows.items():
        m = re.fullmatch(rf"q{level}(?: step ([0-9.]+))?", name)
        if not m:
            continue
        step = float(m.group(1) or 1)
        if step == 1 or (step < 1) == finer:
            out.append((float(r[key]), float(r["psnr_mean_db"]), step))
    return sorted(out)


def between(rows, axis):
    print("| levels | range | lower finer − higher coarser, at ¼ / ½ / ¾ "
          "| lower level's step at the higher's rate | its PSNR − the higher level's |")
    print("|---|---|---:|---:|---:|")
    k = 1
    while f"q{k + 1}" in rows:
        lo = level_curve(rows, k, True, axis)
        hi = level_curve(rows, k + 1, False, axis)
        r0 = next(r for r, _, s in lo if s == 1)
        r1 = next(r for r, _, s in hi if s == 1)
        diffs = []
        for f in (0.25, 0.5, 0.75):
            rate = r0 * (r1 / r0) ** f
            a, b = at([(r, q) for r, q, _ in lo], rate), at([(r, q) for r, q, _ in hi], rate)
            diffs.append("—" if a is None or b is None else f"{a - b:+.2f}")
        step = at([(r, s) for r, _, s in lo], r1)
        gap = at([(r, q) for r, q, _ in lo], r1)
        q1 = next(q for r, q, s in hi if s == 1)
        print(f"| Q{k} → Q{k + 1} | {r0:.3f}–{r1:.3f} | {' / '.join(diffs)} dB "
              f"| {step:.2f} | {gap - q1:+.2f} dB |")
        k += 1


def solve(a, b):
    n = len(b)
    for i in range(n):
        p = max(range(i, n), key=lambda k: abs(a[k][i]))
        a[i], a[p], b[i], b[p] = a[p], a[i], b[p], b[i]
        for k in range(i + 1, n):
            f = a[k][i] / a[i][i]
            a[k] = [x - f * y for x, y in zip(a[k], a[i])]
            b[k] -= f * b[i]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (b[i] - sum(a[i][j] * x[j] for j in range(i + 1, n))) / a[i][i]
    return x


def fit(pts):
    deg = min(3, len(pts) - 1)
    mid = sum(q for _, q in pts) / len(pts)
    xs = [q - mid for _, q in pts]
    ys = [math.log(r) for r, _ in pts]
    a = [[sum(x ** (i + j) for x in xs) for j in range(deg + 1)] for i in range(deg + 1)]
    b = [sum(y * x**i for x, y in zip(xs, ys)) for i in range(deg + 1)]
    return mid, solve(a, b)


def integral(f, lo, hi):
    mid, c = f
    F = lambda x: sum(ci * (x - mid) ** (i + 1) / (i + 1) for i, ci in enumerate(c))
    return F(hi) - F(lo)


def bd_rate(anchor, test):
    lo = max(min(q for _, q in anchor), min(q for _, q in test))
    hi = min(max(q for _, q in anchor), max(q for _, q in test))
    d = (integral(fit(test), lo, hi) - integral(fit(anchor), lo, hi)) / (hi - lo)
    return math.exp(d) - 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", nargs="+")
    ap.add_argument("--axis", choices=["bpp", "bytes"], default="bpp")
    ap.add_argument("--at", type=float, action="append", default=[])
    ap.add_argument("--rows", action="append", default=[],
                    help="comma-separated row names whose BD-rate against the anchor to give")
    ap.add_argument("--between", action="store_true",
                    help="the table of neighbouring levels at finer and coarser steps")
    ap.add_argument("--curve", help="comma-separated row names to read at --at instead of the aec levels")
    ap.add_argument("--versus", help="comma-separated row names to read --curve against instead of WebP")
    ap.add_argument("--anchor", default="WebP",
                    help="the anchor: a baseline's rows (WebP, JPEG, AVIF, JPEG XL) or comma-separated row names")
    a = ap.parse_args()
    rows = load(a.csv)
    if a.between:
        between(rows, a.axis)
        return
    names = a.curve.split(",") if a.curve else [n for n in rows if re.fullmatch(r"aec Q[0-9.]+", n)]
    aec = curve(rows, names, a.axis)
    other = a.versus.split(",") if a.versus else [n for n in rows if n.startswith("WebP q")]
    ref, label = curve(rows, other, a.axis), "versus" if a.versus else "WebP"
    for rate in a.at:
        qa, qw = at(aec, rate), at(ref, rate)
        fmt = lambda q: "outside" if q is None else f"{q:.2f} dB"
        diff = "" if qa is None or qw is None else f" ({qa - qw:+.2f} dB)"
        print(f"at {rate} {a.axis}: aec {fmt(qa)}, {label} {fmt(qw)}{diff}")
    if "," in a.anchor:
        anchor = curve(rows, a.anchor.split(","), a.axis)
    else:
        anchor = curve(rows, [n for n in rows if n.startswith(a.anchor + " q")], a.axis)
    for spec in a.rows:
        bd = bd_rate(anchor, curve(rows, spec.split(","), a.axis))
        print(f"BD-rate against {a.anchor} of {spec}: {100 * bd:+.1f}%")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Epoch-by-epoch comparison of two training logs (aec's MODEL.csv or tf-reference.py's --csv):
the sum of batch losses, their difference, and the test PSNR of each, as a Markdown table,
then the median test PSNR of each over the last six epochs.

    python3 scripts/compare-logs.py [--names A,B] A.csv B.csv
"""
import argparse
import csv
import statistics


def read(path):
    return {int(r["epoch"]): r for r in csv.DictReader(open(path))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--names", default="A,B", help="column names of the two logs, comma-separated")
    args = ap.parse_args()
    na, nb = args.names.split(",")
    a, b = read(args.a), read(args.b)
    epochs = sorted(set(a) & set(b))
    print(f"| epoch | {na}: loss | {nb}: loss | {nb} vs {na} | {na}: test PSNR mean / of mean MSE (dB) "
          f"| {nb}: test PSNR mean / of mean MSE (dB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for e in epochs:
        la, lb = float(a[e]["loss"]), float(b[e]["loss"])
        pa = f'{float(a[e]["eval_psnr_mean_db"]):.2f} / {float(a[e]["eval_psnr_of_mean_mse_db"]):.2f}'
        pb = f'{float(b[e]["eval_psnr_mean_db"]):.2f} / {float(b[e]["eval_psnr_of_mean_mse_db"]):.2f}'
        print(f"| {e} | {la:,.0f} | {lb:,.0f} | {100 * (lb / la - 1):+.2f}% | {pa} | {pb} |")
    last = epochs[-6:]
    for name, log in ((na, a), (nb, b)):
        med = statistics.median(float(log[e]["eval_psnr_mean_db"]) for e in last)
        print(f"\n{name}: median test PSNR over epochs {last[0]}-{last[-1]}: {med:.2f} dB", end="")
    print()


if __name__ == "__main__":
    main()

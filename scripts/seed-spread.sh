#!/usr/bin/env bash
# How much the reference recipe's outcome depends on the initial weights: trains the reference
# configuration (code length 128, batch 10, 15 epochs, file order, TF1 RMSProp at 0.0005) once
# per seed on the fused CPU trainer, then summarises the final epoch of every run.
#
#   scripts/seed-spread.sh train     # trains seeds $SEEDS (default "1 2") into $RUN_DIR
#   scripts/seed-spread.sh summary   # prints the table of docs/reproduction.md from the
#                                    # committed logs
#
# Seed 0 is the run logged in docs/reference/aec-128-cpu.train.csv. Each run's log is copied to
# docs/reference/seeds/; a killed run resumes from its checkpoint when the script is rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DATA:-../shared/data}"
RUN_DIR="${RUN_DIR:-target/seed-spread}"
SEEDS="${SEEDS:-1 2}"
AEC="${AEC:-target/release/aec}"
LOGS=docs/reference/seeds

train() {
  mkdir -p "$RUN_DIR" "$LOGS"
  for seed in $SEEDS; do
    out="$RUN_DIR/aec-128-cpu-seed$seed.safetensors"
    [[ -f "$out" ]] && continue
    "$AEC" train --data "$DATA/cifar10-jpeg/train-order.txt" \
      --eval "$DATA/cifar10-exact/test_batch_first1000.bin" \
      --device cpu --seed "$seed" --resume --out "$out"
    cp "$out.csv" "$LOGS/aec-128-cpu-seed$seed.train.csv"
  done
}

# One row per run: the final epoch's loss and test PSNR (mean of per-image, and of the mean MSE),
# the median test PSNR over epochs 10-15 (robust to the recipe's one-epoch dips), and the lowest
# and highest over epochs 5-15; then the spread over runs.
summary() {
  shopt -s nullglob
  python3 - docs/reference/aec-128-cpu.train.csv "$LOGS"/aec-128-cpu-seed*.train.csv <<'EOF_PY'
import csv, re, statistics, sys

TF_LOSS = 577938  # TensorFlow 2.21's epoch-15 total on this data (its own initial weights)
rows = []
for path in sys.argv[1:]:
    m = re.search(r"seed(\d+)", path)
    seed = int(m.group(1)) if m else 0
    log = list(csv.DictReader(open(path)))
    if len(log) < 15:
        print(f"{path}: {len(log)} epochs, skipped", file=sys.stderr)
        continue
    psnr = [float(r["eval_psnr_mean_db"]) for r in log[:15]]
    last = log[14]
    rows.append((seed, float(last["loss"]), psnr[14], float(last["eval_psnr_of_mean_mse_db"]),
                 statistics.median(psnr[9:15]), min(psnr[4:15]), max(psnr[4:15])))
rows.sort()
print("| seed | epoch-15 loss | vs TF 2.21 | epoch-15 test PSNR: mean / of mean MSE (dB) | median, epochs 10-15 (dB) | lowest / highest, epochs 5-15 (dB) |")
print("|---:|---:|---:|---:|---:|---:|")
for seed, loss, mean, of_mean, med, lo, hi in rows:
    print(f"| {seed} | {loss:,.0f} | {100 * (loss / TF_LOSS - 1):+.2f}% | {mean:.2f} / {of_mean:.2f} | {med:.2f} | {lo:.2f} / {hi:.2f} |")
if len(rows) > 1:
    def spread(i, fmt):
        xs = [r[i] for r in rows]
        return f"{format(statistics.mean(xs), fmt)} ± {format(statistics.stdev(xs), fmt)}"
    print(f"| mean ± sd, {len(rows)} runs | {spread(1, ',.0f')} | | {spread(2, '.2f')} / {spread(3, '.2f')} | {spread(4, '.2f')} | |")
EOF_PY
}

case "${1:-}" in
  train) train ;;
  summary) summary ;;
  *) echo "usage: $0 train|summary" >&2; exit 2 ;;
esac

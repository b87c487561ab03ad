#!/usr/bin/env bash
# Wall-clock time of whole `aec compress` and `aec decompress` runs (model loading included)
# for several builds, alternated: ROUNDS rounds, each build in turn, the best of RUNS runs of
# each command per round, at each quality; background trainings are paused meanwhile.
#
#   scripts/cli-times.sh AEC...
#   # env: IMAGE=samples/images/kodim23.png QUALITIES="3 8" ROUNDS=2 RUNS=5
set -euo pipefail
builds=()
for b in "$@"; do builds+=("$(realpath "$b")"); done
cd "$(dirname "$0")/.."
source scripts/pause-training.sh
IMAGE="${IMAGE:-samples/images/kodim23.png}" ROUNDS="${ROUNDS:-2}" RUNS="${RUNS:-5}"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; $IMAGE"
best() { # the best of $RUNS runs of a command, in seconds
  local best=
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    best=$(echo "$t0 $t1 ${best:-1e9}" | awk '{t = $2 - $1; print (t < $3 ? t : $3)}')
  done
  printf '%.3f' "$best"
}
for round in $(seq "$ROUNDS"); do
  for b in "${builds[@]}"; do
    for q in ${QUALITIES:-3 8}; do
      c=$(best "$b" compress "$IMAGE" -o "$tmp/q$q.aec" -Q "$q" --force)
      d=$(best "$b" decompress "$tmp/q$q.aec" -o "$tmp/q$q.png" --force)
      echo "round $round  $b  Q$q  compress $c s  decompress $d s"
    done
  done
done

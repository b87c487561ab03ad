# Sourced by the speed scripts: pauses background `aec train` / `aec train-hyper` jobs with
# SIGSTOP until the sourcing script exits (then resumes them and removes $tmp, a scratch folder
# it makes). Timings taken beside a running training are not comparable.
tmp="$(mktemp -d)"
paused="$(pgrep -f ' train(-hyper)? ' || true)"
finish() {
  if [[ -n "$paused" ]]; then kill -CONT $paused && echo "resumed background jobs" $paused >&2; fi
  rm -rf "$tmp"
}
trap finish EXIT
trap 'exit 130' INT TERM HUP
if [[ -n "$paused" ]]; then kill -STOP $paused && echo "paused background jobs" $paused >&2; fi

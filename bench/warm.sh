#!/usr/bin/env bash
# Wall time of warm builds, for KILN and optionally BASELINE_KILN in the same session (the
# machine is noisy: compare ratios, not absolute times). A 40-step Dockerfile (COPY and RUN):
#  1. fully cached on the same root (local cache), median of RUNS;
#  2. fully cached on an empty root from a mode=max registry cache, pushing the image, median of RUNS;
#  3. cold build pushing the image and exporting the cache alongside (once).
# Usage: [BASELINE_KILN=/path/to/old/kiln] [RUNS=5] bench/warm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-$PWD/.build/release/kiln}
RUNS=${RUNS:-5}
[[ -x $KILN ]] || swift build -c release --product kiln
source scripts/registry.sh
two_registries kiln-bench-warm
work=$WORK
scripts/make-base-image.sh "$A/base/busybox:latest" >/dev/null
ctx=$work/ctx
mkdir -p "$ctx"
{
  echo "FROM $A/base/busybox:latest"
  for i in $(seq 1 20); do
    head -c 200000 /dev/urandom >"$ctx/f$i.bin"
    echo "COPY f$i.bin /data/f$i.bin"
    echo "RUN cat /data/f$i.bin > /data/g$i.bin"
  done
} >"$ctx/Dockerfile"

source bench/lib.sh

measure() {  # $1 label, $2 binary
  local bin=$2 tag=$1 t0 t1 local_times=() remote_times=()
  local cache="$A/bench/$tag-cache:main"
  t0=$(now)
  "$bin" build --root "$work/$tag-cold" --progress quiet -t "$A/bench/$tag:1" --push \
    --cache-to "type=registry,ref=$cache,mode=max" "$ctx"
  t1=$(now)
  cold=$(sub "$t1" "$t0")
  for r in $(seq 1 "$RUNS"); do
    t0=$(now); "$bin" build --root "$work/$tag-cold" --progress quiet "$ctx"; t1=$(now)
    local_times+=("$(sub "$t1" "$t0")")
    rm -rf "$work/$tag-empty"
    t0=$(now)
    "$bin" build --root "$work/$tag-empty" --progress quiet -t "$A/bench/$tag:2" --push --cache-from "type=registry,ref=$cache" "$ctx"
    t1=$(now)
    remote_times+=("$(sub "$t1" "$t0")")
  done
  local lm rm_
  lm=$(printf '%s\n' "${local_times[@]}" | median)
  rm_=$(printf '%s\n' "${remote_times[@]}" | median)
  echo "$tag: cold build + push + cache export ${cold}s; warm local median ${lm}s; warm from registry cache median ${rm_}s"
  eval "${tag}_cold=$cold ${tag}_local=$lm ${tag}_remote=$rm_"
}

measure kiln "$KILN"
if [[ -n ${BASELINE_KILN:-} ]]; then
  measure baseline "$BASELINE_KILN"
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
  echo "ratios baseline/kiln (above 1: kiln faster): cold $(ratio "$baseline_cold" "$kiln_cold"), warm local $(ratio "$baseline_local" "$kiln_local"), warm from registry $(ratio "$baseline_remote" "$kiln_remote")"
fi

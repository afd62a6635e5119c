#!/usr/bin/env bash
# What `--explain` costs, and what keeping the facts it reads costs every build. On a Debian
# bookworm minbase base (scripts/make-debian-base.sh), a context of 2000 small files plus one
# that changes; the Dockerfile copies both and runs four RUNs:
#  1. fully cached on the same root, median of RUNS, without and with --explain (alternating);
#  2. the changing file rewritten before each build (its COPY and the four RUNs miss, each with
#     a reason to give), median of RUNS, without and with --explain (alternating).
# Goal: --explain under 5 % of a warm build's time. With BASELINE_KILN=… an older binary runs
# the same builds without --explain in the same session (the cost of keeping the facts).
# Usage: [BASELINE_KILN=/path/to/old/kiln] [RUNS=7] bench/explain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-$PWD/.build/release/kiln}
RUNS=${RUNS:-7}
[[ -x $KILN ]] || swift build -c release --product kiln
source scripts/registry.sh
two_registries kiln-bench-explain
work=$WORK
scripts/make-debian-base.sh "$A/base/debian:bookworm"
source bench/lib.sh
# Milliseconds matter here: a warm build takes a tenth of a second.
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

ctx=$work/ctx
mkdir -p "$ctx/src"
for d in $(seq 1 20); do
  mkdir -p "$ctx/src/d$d"
  for f in $(seq 1 100); do echo "file $d $f" >"$ctx/src/d$d/f$f.txt"; done
done
echo 0 >"$ctx/app.txt"
{
  echo "FROM $A/base/debian:bookworm"
  echo "ARG FLAVOUR=mild"
  echo "COPY src /src"
  echo "COPY app.txt /"
  for i in 1 2 3 4; do echo "RUN cat /app.txt > /out$i"; done
} >"$ctx/Dockerfile"

# Median wall times over RUNS rounds of builds on one root; $1 binary, $2 root, $3 "change"
# rewrites app.txt before every build, $4 "explain" also times --explain: each round builds
# without, then with it, so both see the same root and the same machine moment. Prints
# "WITHOUT [WITH]".
timed() {
  local bin=$1 root=$2 change=$3 explain=${4:-} t0 t1 plain=() explained=()
  for r in $(seq 1 "$RUNS"); do
    if [[ $change == change ]]; then echo "$RANDOM$r" >"$ctx/app.txt"; fi
    t0=$(now); "$bin" build --root "$root" --progress quiet "$ctx" >/dev/null; t1=$(now)
    plain+=("$(sub "$t1" "$t0")")
    [[ $explain == explain ]] || continue
    if [[ $change == change ]]; then echo "$RANDOM$r-x" >"$ctx/app.txt"; fi
    t0=$(now); "$bin" build --root "$root" --progress quiet --explain "$ctx" >/dev/null; t1=$(now)
    explained+=("$(sub "$t1" "$t0")")
  done
  echo "$(printf '%s\n' "${plain[@]}" | median) $( ((${#explained[@]})) && printf '%s\n' "${explained[@]}" | median)"
}

measure() {  # $1 label, $2 binary, $3 "explain" to also time --explain
  local root=$work/$1-root
  "$2" build --root "$root" --progress quiet "$ctx" >/dev/null
  read -r "${1}_warm" "${1}_warm_explain" <<<"$(timed "$2" "$root" same "${3:-}")"
  read -r "${1}_miss" "${1}_miss_explain" <<<"$(timed "$2" "$root" change "${3:-}")"
}

measure kiln "$KILN" explain
echo "kiln: fully cached ${kiln_warm}s, with --explain ${kiln_warm_explain}s (ratio $(ratio "$kiln_warm_explain" "$kiln_warm"))"
echo "kiln: five steps missing ${kiln_miss}s, with --explain ${kiln_miss_explain}s (ratio $(ratio "$kiln_miss_explain" "$kiln_miss"))"
echo final >"$ctx/app.txt"
"$KILN" build --root "$work/kiln-root" --progress plain --explain "$ctx" 2>&1 | grep 'cache miss' | head -3 || true
if [[ -n ${BASELINE_KILN:-} ]]; then
  measure baseline "$BASELINE_KILN"
  echo "baseline: fully cached ${baseline_warm}s, five steps missing ${baseline_miss}s"
  echo "ratios kiln/baseline without --explain (the cost of keeping facts): fully cached $(ratio "$kiln_warm" "$baseline_warm"), five steps missing $(ratio "$kiln_miss" "$baseline_miss")"
fi

#!/usr/bin/env bash
# What a step costs when it runs: 10 trivial RUN steps, cold (empty state directory), on a
# Debian bookworm minbase base (~120 MB unpacked, scripts/make-debian-base.sh, cached outside
# the repository) and on the same base with a ~900 MB second layer (~1 GB). Per step: the time
# the progress output gives each RUN; the first one includes pulling and unpacking the base.
# Goals: median step ≤ 0.15 s; a step on the 1 GB base within 20 % of one on the small base.
# For KILN and, when given, BASELINE_KILN in the same session (compare ratios).
# Usage: [BASELINE_KILN=/path/to/old/kiln] [RUNS=3] bench/steps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-$PWD/.build/release/kiln}
RUNS=${RUNS:-3}
[[ -x $KILN ]] || swift build -c release --product kiln
source scripts/registry.sh
two_registries kiln-bench-steps
work=$WORK
scripts/make-debian-base.sh "$A/base/debian:bookworm"
scripts/make-debian-base.sh "$A/base/debian:bookworm-big" 900
sync  # the pushes' writeback would otherwise land on the first measure

source bench/lib.sh

# Prints "first median wall": the first RUN's time, the median of all ten, the build's wall time.
one_build() {  # $1 binary, $2 base image, $3 run number
  local ctx=$work/ctx-$3 root=$work/root-$3 log=$work/log-$3 t0 t1
  rm -rf "$ctx" "$root"
  mkdir -p "$ctx"
  # Each step writes one small file: a layer per step, as real steps make.
  { echo "FROM $2"; for i in $(seq 1 10); do echo "RUN echo step $i run $3 > /step-$i"; done; } >"$ctx/Dockerfile"
  t0=$(now)
  "$1" build --root "$root" --progress rawjson "$ctx" 2>"$log"
  t1=$(now)
  rm -rf "$root"
  python3 - "$log" "$t0" "$t1" <<'PY'
import datetime, json, statistics, sys
times = {}
for line in open(sys.argv[1]):
    for v in json.loads(line).get("vertexes", []):
        if "] RUN " in v["name"] and "started" in v and "completed" in v:
            parse = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
            times[v["name"]] = (parse(v["completed"]) - parse(v["started"])).total_seconds()
steps = [times[k] for k in sorted(times, key=lambda n: int(n.split(" ")[1].split("/")[0]))]
if len(steps) != 10:
    sys.exit(f"expected 10 RUN steps in {sys.argv[1]}, got {len(steps)}")
print(f"{steps[0]:.3f} {statistics.median(steps):.3f} {float(sys.argv[3]) - float(sys.argv[2]):.2f}")
PY
}

# Median over RUNS builds of each figure.
measure() {  # $1 label, $2 binary, $3 base image
  local firsts=() medians=() walls=() out
  for r in $(seq 1 "$RUNS"); do
    out=$(one_build "$2" "$3" "$1-$r")
    read -r f m w <<<"$out"
    firsts+=("$f"); medians+=("$m"); walls+=("$w")
  done
  local fm mm wm
  fm=$(printf '%s\n' "${firsts[@]}" | median)
  mm=$(printf '%s\n' "${medians[@]}" | median)
  wm=$(printf '%s\n' "${walls[@]}" | median)
  echo "$1: first step (pulls and unpacks the base) ${fm}s; median step ${mm}s; whole build ${wm}s"
  eval "$(echo "$1" | tr -c 'a-z0-9\n' '_')_median=$mm"
}

measure kiln-small "$KILN" "$A/base/debian:bookworm"
measure kiln-big "$KILN" "$A/base/debian:bookworm-big"
echo "kiln: a step on the 1 GB base costs $(ratio "$kiln_big_median" "$kiln_small_median")x one on the small base (goal ≤ 1.20); median small-base step ${kiln_small_median}s (goal ≤ 0.15)"
if [[ -n ${BASELINE_KILN:-} ]]; then
  measure baseline-small "$BASELINE_KILN" "$A/base/debian:bookworm"
  measure baseline-big "$BASELINE_KILN" "$A/base/debian:bookworm-big"
  echo "ratios baseline/kiln (above 1: kiln faster): median step, small base $(ratio "$baseline_small_median" "$kiln_small_median"); 1 GB base $(ratio "$baseline_big_median" "$kiln_big_median")"
fi

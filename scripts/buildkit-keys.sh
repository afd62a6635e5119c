#!/usr/bin/env bash
# Builds every case of BuildKit's cache-key oracle (../shared/reference/buildkit-keys) with
# kiln and compares the exported cache config with BuildKit's: one line per case with the
# equal/total stable records (compare.py's summary). A throwaway registry holds the base.
# Usage: [KILN=…] scripts/buildkit-keys.sh [CASE...]
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-$PWD/.build/release/kiln}
ORACLE=${KILN_SHARED:-$PWD/../shared}/reference/buildkit-keys
source scripts/registry.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bk-keys.XXXXXX")
trap 'kill $REGISTRY_PID 2>/dev/null; rm -rf "$WORK"' EXIT
start_registry "$WORK/reg"
python3 "$ORACLE/pushbase.py" "$REGISTRY" >/dev/null
cases=("$@")
[[ ${#cases[@]} -gt 0 ]] || mapfile -t cases < <(ls "$ORACLE/cases")
fail=0
for c in "${cases[@]}"; do
  dir=$ORACLE/cases/$c
  ctx=$WORK/$c/ctx
  mkdir -p "$WORK/$c"
  cp -a "$dir/context" "$ctx"
  while read -r kind mode owner path _; do
    chmod "$mode" "$ctx/$path"; chown "$owner" "$ctx/$path"
  done <"$dir/context.lst"
  args=(--build-arg "BASE=$REGISTRY/base/busybox:latest")
  while IFS= read -r a; do args+=("$a"); done < <(python3 -c '
import json,sys
c=json.load(open(sys.argv[1]))
for k,v in sorted((c.get("build_args") or {}).items()): print("--build-arg"); print(f"{k}={v}")
if c.get("target"): print("--target"); print(c["target"])' "$dir/case.json")
  if ! "$KILN" build --root "$WORK/$c/root" --progress quiet "${args[@]}" --cache-to "type=local,dest=$WORK/$c/out,mode=max" "$ctx" >"$WORK/$c/log" 2>&1; then
    echo "$c: build failed: $(tail -1 "$WORK/$c/log")"; fail=1; continue
  fi
  if [[ ! -d $dir/buildkit/cache ]]; then
    [[ -e $WORK/$c/out/index.json ]] && { echo "$c: BuildKit exports nothing, kiln exported a cache"; fail=1; } || echo "$c: nothing exported, as BuildKit"
    continue
  fi
  if out=$(python3 "$ORACLE/compare.py" "$dir" "$WORK/$c/out" ${EXPLAIN:+--explain}); then :; else fail=1; fi
  echo "$c: $(echo "$out" | tail -1)"
  [[ -n ${EXPLAIN:-} ]] && echo "$out" | grep -v "^ *equal" | head -${EXPLAIN_LINES:-40}
done
exit $fail

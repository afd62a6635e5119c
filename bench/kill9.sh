#!/usr/bin/env bash
# What `kill -9` leaves behind, and whether the next kiln command removes it: N builds (RUN
# steps with a secret, a cache mount and a bind mount) are each killed with SIGKILL at a random
# moment, one after another on one root; then one `kiln du` runs. Prints what was left before
# and after that du: mounts, runc containers, bytes in tmp/ and ingest/, and whether the
# secret's bytes are anywhere under the root. All four must be 0 after.
# Usage: [N=20] bench/kill9.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-$PWD/.build/release/kiln}
N=${N:-20}
[[ -x $KILN ]] || swift build -c release --product kiln
source scripts/registry.sh
two_registries kiln-bench-kill9
scripts/make-base-image.sh "$A/base/busybox:latest" >/dev/null
ctx=$WORK/ctx root=$WORK/root
mkdir -p "$ctx/conf"
echo v > "$ctx/conf/value"
secret="kill9-secret-$RANDOM$RANDOM$RANDOM"
printf '%s' "$secret" >"$WORK/secret"
cat >"$ctx/Dockerfile" <<DF
FROM $A/base/busybox:latest
RUN --mount=type=cache,target=/c head -c 2000000 /dev/urandom > /c/x && sleep 0.3 && echo one > /one
RUN --mount=type=secret,id=tok,required --mount=type=bind,source=conf,target=/conf,rw sleep 0.5 && cat /conf/value > /two
RUN sleep 0.4 && head -c 3000000 /dev/urandom > /three
DF

leftovers() {
  local mounts containers bytes found
  mounts=$(grep -c " $root/" /proc/self/mountinfo || true)
  containers=$( { runc --root "$root/runc" list -q 2>/dev/null || true; } | grep -c . || true)
  bytes=$(( $(du -sb "$root/tmp" | cut -f1) - $(find "$root/tmp" -type d | wc -l) * 4096 \
          + $(du -sb "$root/ingest" | cut -f1) - $(find "$root/ingest" -type d | wc -l) * 4096 ))
  found=$(grep -r -l -a "$secret" "$root" 2>/dev/null | wc -l || true)
  echo "mounts=$mounts containers=$containers temp-bytes=$bytes secret-files=$found"
}

dirty=0
for i in $(seq 1 "$N"); do
  "$KILN" build --root "$root" --progress plain --no-cache --secret "id=tok,src=$WORK/secret" "$ctx" >/dev/null 2>&1 &
  pid=$!
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.6 + (r % 150) / 100 }')"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # What this kill left (the next build sweeps it first).
  [[ $(leftovers) == "mounts=0 containers=0 temp-bytes=0 secret-files=0" ]] || dirty=$((dirty + 1))
done
echo "kills that left mounts, containers or files behind: $dirty of $N"
echo "after $N kill -9s:     $(leftovers)"
"$KILN" du --root "$root" >/dev/null
echo "after one kiln du:     $(leftovers)"

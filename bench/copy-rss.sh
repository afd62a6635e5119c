#!/usr/bin/env bash
# Measures `kiln imagetools copy` of a 3-layer ~200 MB image: peak RSS between two registries
# (streamed) and request/byte counts within one registry (mounted). Prints figures; no pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-$PWD/.build/release/kiln}
[[ -x $KILN ]] || swift build -c release --product kiln
source scripts/registry.sh
two_registries kiln-bench
work=$WORK

echo "== making a 3-layer image of ~200 MB (random data) in $A/bench/big:1"
(
  cd "$work"
  umoci init --layout layout >/dev/null
  umoci new --image layout:big >/dev/null
  for i in 1 2 3; do
    umoci unpack --image layout:big bundle >/dev/null
    head -c $((67 * 1024 * 1024)) /dev/urandom >"bundle/rootfs/layer$i.bin"
    umoci repack --image layout:big bundle >/dev/null
    rm -rf bundle
  done
  skopeo copy --quiet --dest-tls-verify=false oci:layout:big "docker://$A/bench/big:1"
)
"$KILN" imagetools inspect "$A/bench/big:1" | tail -5

measure() {  # label, args...
  local label=$1; shift
  /usr/bin/time -v "$KILN" "$@" 2>"$work/time.txt" >"$work/out.txt"
  local rss wall
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
  echo "$label: peak RSS $((rss / 1024)) MiB, wall $wall"
  cat "$work/out.txt"
}

a_before=$(wc -l <"$work/reg-a/access.log")
measure "copy between registries (A -> B)" imagetools copy "$A/bench/big:1" "$B/bench/big:1"
measure "copy within registry A" imagetools copy "$A/bench/big:1" "$A/bench/mirror:1"
# Requests the in-registry copy made, from A's access log (blob uploads would be PATCH/PUT on /blobs/uploads).
tail -n +$((a_before + 1)) "$work/reg-a/access.log" | grep -o '"[A-Z]* /v2/bench/mirror[^ ]*' | awk '{print $1}' | sort | uniq -c | sed 's/^/  requests to A for the mirror: /'
uploads=$(tail -n +$((a_before + 1)) "$work/reg-a/access.log" | grep -c '"\(PATCH\|PUT\) /v2/bench/mirror/blobs/uploads' || true)
echo "blob upload requests within registry A: $uploads"

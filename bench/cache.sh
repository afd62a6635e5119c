#!/usr/bin/env bash
# Registry-cache measures, from the registry's own access log:
#  1. a fully cached build on an empty root, pushing to the cache's registry: layer bytes
#     downloaded and requests made;
#  2. re-export of an unchanged build to the same ref: blob uploads and requests;
#  3. image and cache in two repositories of one registry: uploads per layer.
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-$PWD/.build/release/kiln}
[[ -x $KILN ]] || swift build -c release --product kiln
source scripts/registry.sh
two_registries kiln-bench-cache
work=$WORK
scripts/make-base-image.sh "$A/base/busybox:latest"
log=$work/reg-a/access.log
mark() { wc -l <"$log"; }
since() { tail -n +$(($1 + 1)) "$log"; }
count() { grep -cE "$1" || true; }
args=(--progress quiet --build-arg "BASE=$A/base/busybox:latest")
cache="$A/bench/app-cache:main"

echo "== cold build: push $A/bench/app:1 and export a mode=max cache to $cache"
m0=$(mark)
"$KILN" build --root "$work/r1" "${args[@]}" -t "$A/bench/app:1" --push --cache-to "type=registry,ref=$cache,mode=max" examples/app
cold=$(since "$m0")
echo "requests: $(echo "$cold" | count '"(GET|HEAD|POST|PUT|PATCH|DELETE) /v2/')"
for layer in $(echo "$cold" | grep -oE 'PUT /v2/bench/[^/]+/blobs/uploads/[^ ]*digest=sha256(%3A|:)[0-9a-f]+' | grep -oE '[0-9a-f]{64}' | sort -u); do
  n=$(echo "$cold" | grep -E "(PUT|PATCH) /v2/bench/.*$layer" | count .)
  mounts=$(echo "$cold" | grep -E "POST /v2/bench/.*mount=sha256(%3A|:)$layer" | grep -c '" 201 ' || true)
  echo "  blob ${layer:0:12}: uploaded $n time(s), mounted $mounts time(s)"
done

echo "== warm build on an empty root from the cache, pushing $A/bench/app:2"
m1=$(mark)
"$KILN" build --root "$work/r2" "${args[@]}" -t "$A/bench/app:2" --push --cache-from "type=registry,ref=$cache" examples/app
warm=$(since "$m1")
layer_gets=$(echo "$warm" | grep -E '"GET /v2/[^ ]*/blobs/sha256' | grep -vE "$(echo "$warm" | grep -oE 'config' | head -1 || echo NONE)" || true)
echo "requests: $(echo "$warm" | count '"(GET|HEAD|POST|PUT|PATCH|DELETE) /v2/')"
echo "blob GETs: $(echo "$warm" | count '"GET /v2/[^ ]*/blobs/sha256')  (the base config and the cache config are documents; layers would be larger)"
echo "$warm" | grep -E '"GET /v2/[^ ]*/blobs/sha256' | awk '{print "  " $7, "bytes=" $10}'

echo "== re-export of the unchanged build to the same ref"
m2=$(mark)
"$KILN" build --root "$work/r1" "${args[@]}" --cache-to "type=registry,ref=$cache,mode=max" examples/app
again=$(since "$m2")
echo "requests: $(echo "$again" | count '"(GET|HEAD|POST|PUT|PATCH|DELETE) /v2/')"
echo "blob uploads: $(echo "$again" | count '"(PUT|PATCH) /v2/[^ ]*/blobs/uploads')"
echo "manifest PUTs: $(echo "$again" | count '"PUT /v2/[^ ]*/manifests/')"

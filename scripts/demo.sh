#!/usr/bin/env bash
# The main job: a local registry, a busybox base image, and kiln working against it.
# Later capabilities grow this into the full build -> cache export -> forget -> cached rebuild demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "== building kiln (release)"
swift build -c release --product kiln 2>&1 | tail -1
KILN=$PWD/.build/release/kiln

source scripts/registry.sh
two_registries kiln-demo
work=$WORK
echo "== registries: A=$A B=$B"

echo "== making base image $A/base/busybox:latest (umoci + skopeo)"
scripts/make-base-image.sh "$A/base/busybox:latest"

echo "== kiln imagetools inspect $A/base/busybox:latest"
"$KILN" imagetools inspect "$A/base/busybox:latest"

echo "== kiln imagetools copy within registry A (cross-repository mount, no bytes uploaded)"
"$KILN" imagetools copy "$A/base/busybox:latest" "$A/mirror/busybox:1"

echo "== kiln imagetools copy from A to B (streamed through verified temp files)"
"$KILN" imagetools copy "$A/base/busybox:latest" "$B/mirror/busybox:1"

a=$("$KILN" imagetools inspect --raw "$A/base/busybox:latest" | sha256sum | cut -d' ' -f1)
b=$("$KILN" imagetools inspect --raw "$B/mirror/busybox:1" | sha256sum | cut -d' ' -f1)
[[ $a == "$b" ]] || { echo "digest changed in the copy: $a != $b" >&2; exit 1; }
echo "== same manifest digest on both registries: sha256:$a"

echo "== kiln build examples/app (cold, empty state): push the image and a mode=max registry cache"
cache="$A/demo/app-cache:main"
t0=$(date +%s.%N)
"$KILN" build --root "$work/state-1" --progress plain --build-arg "BASE=$A/base/busybox:latest" \
  -t "$A/demo/app:1" --push --cache-to "type=registry,ref=$cache,mode=max" \
  --metadata-file "$work/meta.json" examples/app
t1=$(date +%s.%N)
echo "== pushed: $(python3 -c "import json;m=json.load(open('$work/meta.json'));print(m['image.name'], m['containerimage.digest'])")"
echo "== forget the local state; rebuild from the registry cache in an empty root"
"$KILN" build --root "$work/state-2" --progress plain --build-arg "BASE=$A/base/busybox:latest" \
  -t "$A/demo/app:1" --push --cache-from "type=registry,ref=$cache" \
  --metadata-file "$work/meta2.json" examples/app 2>&1 | tee "$work/warm.log"
t2=$(date +%s.%N)
# Every step of the rebuild must have come from the cache.
if python3 - "$work/warm.log" <<'PY'
import re, sys
steps, ran = set(), set()
for line in open(sys.argv[1]):
    m = re.match(r"#(\d+) \[[^\]]+\] (RUN|COPY|WORKDIR|ADD)\b", line)
    if m: steps.add(m.group(1))
    m = re.match(r"#(\d+) DONE", line)
    if m: ran.add(m.group(1))
sys.exit(0 if steps & ran else 1)
PY
then
  echo "a step ran again instead of coming from the registry cache" >&2; exit 1
fi
d1=$(python3 -c "import json;print(json.load(open('$work/meta.json'))['containerimage.digest'])")
d2=$(python3 -c "import json;print(json.load(open('$work/meta2.json'))['containerimage.digest'])")
[[ $d1 == "$d2" ]] || { echo "the cached rebuild made a different image: $d1 != $d2" >&2; exit 1; }
python3 -c "print('cold build + push + cache export %.2fs; rebuild from the registry cache on an empty root %.2fs (same image %s)' % ($t1-$t0, $t2-$t1, '$d1'))"
echo "demo OK"

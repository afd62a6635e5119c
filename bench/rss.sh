#!/usr/bin/env bash
# Peak RSS while building and exporting 1 GiB of layers: a ~1 GB base (a 900 MB layer of
# 48 KiB files, scripts/make-debian-base.sh) pulled and unpacked, a RUN writing a 1 GiB file
# (packed and compressed into a layer), the image pushed to a second registry (every blob
# uploaded) with a mode=max registry cache. Goal: peak RSS ≤ 150 MB. Figures only.
# Usage: [BASELINE_KILN=/path/to/old/kiln] bench/rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-$PWD/.build/release/kiln}
[[ -x $KILN ]] || swift build -c release --product kiln
source scripts/registry.sh
two_registries kiln-bench-rss
work=$WORK
scripts/make-debian-base.sh "$A/base/debian:bookworm-big" 900
sync
mkdir -p "$work/ctx"
printf 'FROM %s\nRUN head -c 1073741824 /dev/urandom > /big.bin\n' "$A/base/debian:bookworm-big" >"$work/ctx/Dockerfile"

measure() {  # $1 label, $2 binary
  rm -rf "$work/root"
  /usr/bin/time -f "%M %e" -o "$work/time.txt" "$2" build --root "$work/root" --progress quiet -t "$B/bench/rss-$1:1" --push \
    --cache-to "type=registry,ref=$B/bench/rss-$1-cache:main,mode=max" "$work/ctx"
  read -r rss wall <"$work/time.txt"
  echo "$1: peak RSS $((rss / 1024)) MiB over $(du -sb "$work/root/blobs" | awk '{printf "%.2f", $1 / 2^30}') GiB of stored layers, wall ${wall}s"
  rm -rf "$work/root"
}

measure kiln "$KILN"
[[ -z ${BASELINE_KILN:-} ]] || measure baseline "$BASELINE_KILN"

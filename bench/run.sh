#!/usr/bin/env bash
# Runs every benchmark in turn (each prints its own figures; compare ratios, not absolute times).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x .build/release/kiln ]] || swift build -c release --product kiln
for b in copy-rss layers cache warm steps project rss; do
  echo "==== bench/$b.sh"
  "bench/$b.sh"
done

#!/usr/bin/env bash
# Layer pipeline benchmark: pack + compress a ~500 MB mixed tree (text, binaries, random) with
# kiln's gzip, zstd and eStargz, against `tar | gzip -6`, `tar | zstd -3` and `tar | pigz -6`
# run in the same session. Prints MB/s, peak RSS and output size; ratios at the end.
# Usage: bench/layers.sh [SIZE_MB]   (default 500)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-500}
KILN=${KILN:-$PWD/.build/release/kiln}
[[ -x $KILN ]] || swift build -c release --product kiln
command -v pigz >/dev/null || { apt-get install -y -qq pigz >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq pigz >/dev/null; }; }
work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-layers.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/tree
mkdir -p "$tree/text" "$tree/bin" "$tree/random"

echo "== making a ${SIZE_MB} MB tree: 40% text, 30% binaries, 30% random"
python3 - "$tree/text" $((SIZE_MB * 40 / 100)) <<'PY'
import os, random, sys
out, mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 10))) for _ in range(5000)]
target, n = mb * 1024 * 1024, 0
i = 0
while n < target:
    lines = [' '.join(rng.choice(words) for _ in range(12)) for _ in range(20000)]
    data = ('\n'.join(lines) + '\n').encode()
    with open(os.path.join(out, 'doc%04d.txt' % i), 'wb') as f:
        f.write(data)
    n += len(data); i += 1
PY
bin_target=$((SIZE_MB * 30 / 100 * 1024 * 1024)); copied=0
while IFS= read -r f; do
  [[ $copied -ge $bin_target ]] && break
  cp "$f" "$tree/bin/" 2>/dev/null || continue
  copied=$((copied + $(stat -c %s "$f")))
done < <(find /opt/swift/usr/bin /opt/swift/usr/lib /usr/lib/x86_64-linux-gnu -maxdepth 2 -type f -size +100k 2>/dev/null | sort)
for i in $(seq 1 $((SIZE_MB * 30 / 100 / 10))); do head -c $((10 * 1024 * 1024)) /dev/urandom >"$tree/random/r$i.bin"; done
total=$(du -sb "$tree" | cut -f1)
echo "tree: $((total / 1024 / 1024)) MiB in $(find "$tree" -type f | wc -l) files"
sync

declare -A SPEED RSS SIZE
run() {  # name, output file, command...
  local name=$1 out=$2; shift 2
  sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
  cat "$tree"/*/* >/dev/null  # same warm page cache for every contender
  /usr/bin/time -v "$@" 2>"$work/time.txt" >/dev/null
  local wall rss secs
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
  secs=$(python3 -c "p='$wall'.split(':'); print(sum(float(x)*60**i for i,x in enumerate(reversed(p))))")
  SPEED[$name]=$(python3 -c "print(round($total/1048576/$secs,1))")
  RSS[$name]=$((rss / 1024))
  SIZE[$name]=$(stat -c %s "$out")
  printf '%-22s %8s MB/s  peak RSS %4s MiB  output %6s MiB\n' "$name" "${SPEED[$name]}" "${RSS[$name]}" $((SIZE[$name] / 1024 / 1024))
}

run "tar|gzip -6"        "$work/o1" sh -c "tar -C '$tree' -cf - . | gzip -6 -n > '$work/o1'"
run "tar|pigz -6"        "$work/o2" sh -c "tar -C '$tree' -cf - . | pigz -6 -n > '$work/o2'"
run "tar|zstd -3"        "$work/o3" sh -c "tar -C '$tree' -cf - . | zstd -q -3 > '$work/o3'"
run "kiln gzip (1 thread)" "$work/k0" "$KILN" layer pack "$tree" -o "$work/k0" --compression gzip --workers 1
run "kiln gzip"          "$work/k1" "$KILN" layer pack "$tree" -o "$work/k1" --compression gzip
run "kiln zstd"          "$work/k2" "$KILN" layer pack "$tree" -o "$work/k2" --compression zstd
run "kiln estargz"       "$work/k3" "$KILN" layer pack "$tree" -o "$work/k3" --compression estargz
run "kiln uncompressed"  "$work/k4" "$KILN" layer pack "$tree" -o "$work/k4" --compression uncompressed

cmp -s "$work/k0" "$work/k1" && echo "kiln gzip output identical with 1 and $(nproc) threads" || echo "WARNING: kiln gzip output depends on threads"
r() { python3 -c "print(round(${SPEED[$1]}/${SPEED[$2]},2))"; }
s() { python3 -c "print(round(100*(${SIZE[$1]}-${SIZE[$2]})/${SIZE[$2]},2))"; }
echo "== ratios (same session)"
echo "kiln gzip / tar|gzip -6:        $(r 'kiln gzip' 'tar|gzip -6')x throughput, size $(s 'kiln gzip' 'tar|gzip -6')%"
echo "kiln gzip / kiln gzip 1 thread: $(r 'kiln gzip' 'kiln gzip (1 thread)')x"
echo "kiln gzip / tar|pigz -6:        $(r 'kiln gzip' 'tar|pigz -6')x throughput, size $(s 'kiln gzip' 'tar|pigz -6')%"
echo "kiln zstd / tar|zstd -3:        $(r 'kiln zstd' 'tar|zstd -3')x throughput, size $(s 'kiln zstd' 'tar|zstd -3')%"
echo "kiln estargz / tar|gzip -6:     $(r 'kiln estargz' 'tar|gzip -6')x throughput"

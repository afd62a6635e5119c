#!/usr/bin/env bash
# Makes a Debian bookworm base image — debootstrap --variant=minbase, apt caches removed as
# Debian's own images do (one ~45 MB layer, ~120 MB unpacked) — and pushes it with skopeo.
# EXTRA_MB adds a second layer of that many MB of 48 KiB files under /opt/big (a big base).
# The rootfs and each image layout are made once and kept in $KILN_BENCH_CACHE (default
# ~/.cache/kiln-bench), outside the repository; delete it to start over.
# Usage: scripts/make-debian-base.sh REGISTRY/REPO:TAG [EXTRA_MB]
set -euo pipefail
dest=$1
extra=${2:-0}
cache=${KILN_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-bench}
mkdir -p "$cache"
rootfs=$cache/bookworm-minbase
if [[ ! -d $rootfs ]]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  tmp=$cache/.bootstrap-$$
  rm -rf "$tmp"
  echo "debootstrap bookworm (once, into $rootfs)" >&2
  debootstrap --variant=minbase bookworm "$tmp" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
  mv "$tmp" "$rootfs"
fi

layout=$cache/layout-bookworm-$extra
if [[ ! -d $layout ]]; then
  work=$(mktemp -d "$cache/.image-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  umoci init --layout "$work/layout" >/dev/null
  umoci new --image "$work/layout:img" >/dev/null
  umoci unpack --image "$work/layout:img" "$work/bundle" >/dev/null
  cp -a "$rootfs/." "$work/bundle/rootfs/"
  rm -rf "$work/bundle/rootfs/var/cache/apt/archives/"*.deb "$work/bundle/rootfs/var/lib/apt/lists/"*
  umoci repack --image "$work/layout:img" "$work/bundle" >/dev/null
  if (( extra > 0 )); then
    python3 - "$work/bundle/rootfs/opt/big" "$extra" <<'PY'
import os, sys
root, mb = sys.argv[1], int(sys.argv[2])
count = mb * 1024 // 48
for i in range(count):
    d = os.path.join(root, "d%03d" % (i % 500))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(os.urandom(48 * 1024))
PY
    umoci repack --image "$work/layout:img" "$work/bundle" >/dev/null
  fi
  umoci config --image "$work/layout:img" --config.cmd /bin/bash \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin >/dev/null
  mv "$work/layout" "$layout"
fi
skopeo copy --quiet --dest-tls-verify=false "oci:$layout:img" "docker://$dest"

#!/usr/bin/env bash
# Makes a busybox base image with umoci from Debian's busybox-static and pushes it with skopeo.
# Usage: scripts/make-base-image.sh REGISTRY/REPO:TAG
set -euo pipefail
dest=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
umoci init --layout layout >/dev/null
umoci new --image layout:busybox >/dev/null
umoci unpack --image layout:busybox bundle >/dev/null
mkdir -p bundle/rootfs/bin bundle/rootfs/etc bundle/rootfs/tmp
cp /bin/busybox bundle/rootfs/bin/busybox
for applet in sh ls cat echo mkdir rm cp mv sleep env id true false; do
  ln -sf busybox "bundle/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >bundle/rootfs/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' >bundle/rootfs/etc/group
umoci repack --image layout:busybox bundle >/dev/null
umoci config --image layout:busybox --config.cmd /bin/sh --config.env PATH=/bin >/dev/null
skopeo copy --quiet --dest-tls-verify=false oci:layout:busybox "docker://$dest"

#!/usr/bin/env bash
# Make a minimal Debian image without a registry: debootstrap a root filesystem and import it.
# Usage: scripts/debootstrap-image.sh TAG   (needs root, debootstrap and a Docker engine)
set -euo pipefail
tag=${1:?usage: $0 TAG}
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag already exists"
  exit 0
fi
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
tar -C "$rootfs" -c . | docker import - "$tag" >/dev/null
echo "imported $tag"

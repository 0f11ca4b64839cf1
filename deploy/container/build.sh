#!/usr/bin/env bash
# Builds the outbox-relay image with podman from deploy/container/Containerfile:
#
#   deploy/container/build.sh [IMAGE]   (default localhost/outbox-relay:latest, also
#                                        tagged with the version: ...:0.1.0, as deploy/k8s names it)
#
# No registry is reachable from the development machine or CI, so the base images the
# Containerfile names (docker.io/library/debian:bookworm, ...:bookworm-slim) are made here
# when podman does not have them: mmdebstrap builds a minimal bookworm root file system
# from the host's apt sources and `podman import` names it. Both have a merged /usr made by
# mmdebstrap's hook (not the usrmerge package, which would bring perl); the slim one leaves
# out documentation, man pages and locales, as Debian's own slim image does.
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../local/lib.sh" # ROOT, log, die, need_apt
# shellcheck source=deploy/container/podman.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/podman.sh"

IMAGE=${1:-$IMAGE}
need_apt podman runc mmdebstrap

# The host's apt sources (deb822 or one-line), so the images fetch from the same mirror.
host_sources() {
  local f
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    [[ -s $f ]] && grep -q bookworm "$f" && { echo "$f"; return; }
  done
  die "no bookworm apt sources on this host (/etc/apt/sources.list.d/debian.sources)"
}

# base_image NAME [mmdebstrap options]: imports a minbase bookworm rootfs as NAME unless
# podman has it.
base_image() {
  local name=$1 tar
  shift
  pm image exists "$name" && return 0
  log "making base image $name with mmdebstrap"
  tar=$(mktemp --suffix=.tar /tmp/outbox-relay-rootfs.XXXXXX)
  mmdebstrap --variant=minbase --quiet --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    "$@" bookworm "$tar" "$(host_sources)" ||
    die "mmdebstrap failed for $name"
  pm import --change 'CMD ["bash"]' "$tar" "$name" >/dev/null
  rm -f "$tar"
}

t0=$SECONDS
base_image docker.io/library/debian:bookworm
base_image docker.io/library/debian:bookworm-slim \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' --dpkgopt='path-exclude=/usr/share/linda/*' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' # $1: the root

log "building $IMAGE"
version=$(sed -n 's/^project(outbox-relay VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
revision=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
pm build --network host --format oci -f "$ROOT/deploy/container/Containerfile" \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  -t "$IMAGE" -t "${IMAGE%:*}:$version" "$ROOT" >&2
log "built $IMAGE in $((SECONDS - t0)) s: $(pm image inspect --format '{{.Size}}' "$IMAGE" |
  awk '{ printf "%.1f MB", $1 / 1e6 }')"

# shellcheck shell=bash
# Podman as it runs on the development machine and in CI, sourced by build.sh and
# tests/deploy: runtime runc, cgroupfs (systemd is not PID 1 here), no default ulimits
# (containers.conf beside this file) and the host's network. None of this is in the
# Containerfile: elsewhere plain `podman build` or `docker build` works.
CONTAINER_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$CONTAINER_DIR/containers.conf}

# pm ARGS...: podman with this machine's global options.
pm() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }

# The image build.sh makes and the tests run (OUTBOX_RELAY_IMAGE overrides it).
# shellcheck disable=SC2034 # used by the scripts that source this file
IMAGE=${OUTBOX_RELAY_IMAGE:-localhost/outbox-relay:latest}

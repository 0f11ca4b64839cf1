#!/usr/bin/env bash
# Start (or reuse) the local Postgres 15 + Kafka servers for outbox-relay's
# real-server tests, installing whatever is missing on a fresh Debian 12.
# stdout carries only `export` lines:  eval "$(deploy/local/up.sh)"
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

# Keep the real stdout on fd 3 for the export lines; everything else
# (apt, Maven, pg_ctl, our logs) goes to stderr.
exec 3>&1 1>&2

# Debian packages the whole project needs (build, tests, servers). java and
# mvn may come from elsewhere (a JDK, a tarball), so only their presence
# counts.
pkgs=(postgresql-15 postgresql-client-15 libpq-dev librdkafka-dev
  libjansson-dev libconfig-dev check libsubunit-dev pkg-config kcat
  libpcre2-dev libsystemd-dev json-schema-test-suite clang libclang-rt-14-dev cmake gcc make jq bc
  systemd podman runc mmdebstrap libmicrohttpd-dev prometheus curl)
command -v java >/dev/null || pkgs+=(default-jre-headless)
command -v mvn >/dev/null || pkgs+=(maven)
need_apt "${pkgs[@]}"

pg_start
kafka_start

printf 'export PGURL=%s\n' "$(pg_url)" >&3
printf 'export KAFKA_BROKERS=127.0.0.1:%s\n' "$KAFKA_PORT" >&3

#!/usr/bin/env bash
# Start (or reuse) the local Postgres 15 + Kafka servers for outbox-relay's
# real-server tests, installing whatever is missing on a fresh Debian 12.
# stdout carries only `export` lines:  eval "$(deploy/local/up.sh)"
# OUTBOX_TLS=1 adds the secure setup (TLS Postgres; SSL and SASL_SSL Kafka listeners with
# ACLs; see the README's "Security") and exports OUTBOX_TLS_DIR, KAFKA_SSL_BROKERS and
# KAFKA_SASL_BROKERS too.
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
  systemd podman runc mmdebstrap libmicrohttpd-dev prometheus curl openssl python3-venv)
command -v java >/dev/null || pkgs+=(default-jre-headless)
command -v mvn >/dev/null || pkgs+=(maven)
need_apt "${pkgs[@]}"

pg_start
kafka_start

printf 'export PGURL=%s\n' "$(pg_url)" >&3
printf 'export KAFKA_BROKERS=127.0.0.1:%s\n' "$KAFKA_PORT" >&3
if ((TLS)); then
  printf 'export OUTBOX_TLS_DIR=%s\n' "$TLS_DIR" >&3
  printf 'export KAFKA_SSL_BROKERS=127.0.0.1:%s\n' "$KAFKA_SSL_PORT" >&3
  printf 'export KAFKA_SASL_BROKERS=127.0.0.1:%s\n' "$KAFKA_SASL_PORT" >&3
fi

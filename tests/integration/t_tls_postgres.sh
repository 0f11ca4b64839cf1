#!/usr/bin/env bash
# Postgres over TLS as the least-privilege role of sql/03_relay_role.sql: with
# sslmode=verify-full, run, check and backfill work, and check reports the TLS version and that
# the server was verified; the conninfo (with its password) may come from a file
# (OUTBOX_RELAY_POSTGRES_CONNINFO_FILE). A wrong CA, a host name the certificate does not
# name, a missing client certificate and an unencrypted connection are each refused with one
# line naming TLS and the fix. Client-certificate authentication (cert in pg_hba.conf) works.
# check warns when the connection is not encrypted or not verified, and for a superuser.
# shellcheck source=tests/integration/tls.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/tls.sh"

setup_tls_db
conf=$ROOT/etc/outbox-relay.conf
unset OUTBOX_RELAY_POSTGRES_CONNINFO
(umask 077 && printf '%s\n' "$SECURE_CONNINFO" >"$WORK/conninfo")
export OUTBOX_RELAY_POSTGRES_CONNINFO_FILE=$WORK/conninfo

expect 0 'all checks passed' -- "$RELAY_BIN" check -c "$conf"
grep -Eq '^OK   postgres tls +TLSv1\.[23], .*server certificate and host name verified \(sslmode=verify-full\)' "$WORK/out" ||
  fail "check does not report verified TLS: $(cat "$WORK/out")"
if grep -q '^WARN' "$WORK/out"; then fail "check warns: $(grep '^WARN' "$WORK/out")"; fi
grep -q '^OK   role .*replication rights' "$WORK/out" || fail "not the replication role: $(cat "$WORK/out")"

insert_events 5 | sort >"$WORK/expected"
relay_start
wait_confirmed "$(current_lsn)" 30
relay_stop
consume "it.$ID.order" >"$WORK/got"
exactly_once "run over verify-full" "$WORK/got" "$WORK/expected"
expect 0 'published 5 events' -- "$RELAY_BIN" backfill -c "$conf" --job tls --from-id 1 --to-id 5 --topic "it.$ID.replay"

# Refusals: one line naming TLS and the fix, the same exit code from each command.
other_ca "$WORK/other"
refused() { # refused CODE PATTERN CONNINFO
  local cmd
  printf '%s\n' "$3" >"$WORK/conninfo"
  for cmd in run check backfill; do
    local args=("$cmd" -c "$conf")
    [[ $cmd == backfill ]] && args+=(--job refused --from-id 1 --to-id 5)
    if [[ $cmd == check ]]; then
      expect 1 "^FAIL postgres +$2" -- "$RELAY_BIN" "${args[@]}"
    else
      expect "$1" " error .*$2" -- "$RELAY_BIN" "${args[@]}"
    fi
    if grep -qF "$PG_ROLE_PW" "$WORK/out"; then fail "$cmd printed the password"; fi
  done
}
refused 78 'TLS to Postgres at localhost:[0-9]+ as outbox_relay failed: .*certificate verify failed \(.*set sslrootcert in postgres.conninfo to the CA certificate' \
  "$(pg_conninfo localhost outbox_relay "password=$PG_ROLE_PW sslrootcert=$WORK/other/ca.crt")"
refused 78 'TLS to Postgres at wrong.example:[0-9]+ as outbox_relay failed: .*does not match host name "wrong.example" \(.*use in postgres.conninfo a host name the certificate lists' \
  "$(pg_conninfo wrong.example outbox_relay "password=$PG_ROLE_PW")"
refused 77 'TLS to Postgres .* as outbox_relay failed: .*no encryption \(the server accepts this user only over TLS: set sslmode=verify-full' \
  "$(pg_conninfo localhost outbox_relay "password=$PG_ROLE_PW sslmode=disable")"
refused 77 "TLS to Postgres .* as $CERT_ROLE failed: .*certificate.* \(set sslcert and sslkey in postgres.conninfo" \
  "$(pg_conninfo localhost "$CERT_ROLE")"

# Client certificate (its key encrypted, the passphrase in sslpassword), no password.
printf '%s\n' "$(pg_conninfo localhost "$CERT_ROLE" "sslcert=$TLS/client.crt sslkey=$WORK/client.key sslpassword=$KEY_PASS")" >"$WORK/conninfo"
install -m 600 "$TLS/client.key" "$WORK/client.key" # libpq wants a key only its owner reads
expect 0 'all checks passed' -- "$RELAY_BIN" check -c "$conf"
grep -Eq '^OK   postgres +replication connection to .* as outbox_relay_cert' "$WORK/out" ||
  fail "not connected as $CERT_ROLE: $(cat "$WORK/out")"
if grep -qF "$KEY_PASS" "$WORK/out"; then fail "check printed the key passphrase"; fi
expect 0 'published 5 events' -- "$RELAY_BIN" backfill -c "$conf" --job cert --from-id 1 --to-id 5 --topic "it.$ID.cert"

# check warns (exit 0) for a weaker connection and for a superuser.
printf '%s\n' "$(pg_conninfo localhost outbox_relay "password=$PG_ROLE_PW sslmode=require")" >"$WORK/conninfo"
expect 0 '^WARN postgres tls +TLSv1\.[23], .*server not verified \(sslmode=require\): a server with another certificate' -- "$RELAY_BIN" check -c "$conf"
printf '%s\n' "${DBURL}?sslmode=disable" >"$WORK/conninfo"
expect 0 '^WARN postgres tls +not encrypted \(sslmode=disable\): passwords and events cross the network in clear' -- "$RELAY_BIN" check -c "$conf"
grep -Eq '^WARN role +is a superuser: run the relay as a role with only LOGIN and REPLICATION' "$WORK/out" ||
  fail "no superuser warning: $(cat "$WORK/out")"
log "ok"

#!/usr/bin/env bash
# No password, SASL secret or key passphrase reaches any output of run, check or backfill,
# at log level debug with librdkafka's debug=all: malformed conninfo URIs (libpq quotes
# the text it stumbles on), a wrong password, an unreachable host, SASL against the
# plaintext broker. Each command's whole output is searched for each secret.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
conf=$ROOT/etc/outbox-relay.conf
PW=Pg5ecretPw          # a Postgres password in conninfo
SASL=Sasl5ecretPw      # kafka.properties.sasl.password
KEYPW=Key5ecretPass    # kafka.properties.ssl.key.password
hostport=${DBURL#*@}
hostport=${hostport%%/*}
n=0

# leak_check LABEL [ENV=VALUE ...]: runs run, check and backfill with the environment;
# fails if any output holds a secret. Commands are cut off after 15 s (run retries Kafka).
leak_check() {
  local label=$1 cmd rc
  shift
  for cmd in run check backfill; do
    local args=("$cmd" -c "$conf")
    [[ $cmd == backfill ]] && args+=(--job "leak$((++n))" --from-id 1 --to-id 10)
    rc=0
    env "$@" timeout -s TERM 15 "$RELAY_BIN" "${args[@]}" >"$WORK/out" 2>&1 || rc=$?
    ((rc != 0)) || [[ $cmd != run ]] || fail "$label: run exited 0"
    if grep -E -o ".{0,60}($PW|$SASL|$KEYPW).{0,20}" "$WORK/out" >"$WORK/leak"; then
      fail "$label: $cmd printed a secret: $(head -3 "$WORK/leak")"
    fi
    log "$label: $cmd exit $rc, $(wc -l <"$WORK/out") lines, no secret: $(grep -m1 -E 'error|FAIL' "$WORK/out" | cut -c1-140)"
  done
}

P=OUTBOX_RELAY_POSTGRES_CONNINFO
K=OUTBOX_RELAY_KAFKA_PROPERTIES
leak_check "percent-encoding" "$P=postgresql://postgres:pa%zz$PW@$hostport/$DB"
leak_check "percent in password" "$P=postgresql://postgres:$PW%@$hostport/$DB"
leak_check "unclosed IPv6 bracket" "$P=postgresql://postgres:$PW@[::1/$DB"
leak_check "bad query parameter" "$P=postgresql://postgres:$PW@$hostport/$DB?sslmode"
leak_check "unterminated quote" "$P=host=127.0.0.1 password='$PW"
leak_check "missing =" "$P=host=127.0.0.1 password $PW"
leak_check "password as an option" "$P=host=127.0.0.1 $PW=x"
leak_check "wrong password" "$P=postgresql://postgres:$PW@$hostport/$DB"
leak_check "unreachable host" "$P=postgresql://postgres:$PW@127.0.0.1:1/$DB"
leak_check "SASL on a plaintext broker, debug=all" \
  "${K}_SECURITY_PROTOCOL=SASL_PLAINTEXT" "${K}_SASL_MECHANISM=PLAIN" "${K}_SASL_USERNAME=relay" \
  "${K}_SASL_PASSWORD=$SASL" "${K}_SSL_KEY_PASSWORD=$KEYPW" "${K}_DEBUG=all"
leak_check "SASL SCRAM, debug=all" \
  "${K}_SECURITY_PROTOCOL=SASL_PLAINTEXT" "${K}_SASL_MECHANISM=SCRAM-SHA-256" "${K}_SASL_USERNAME=relay" \
  "${K}_SASL_PASSWORD=$SASL" "${K}_DEBUG=all"
leak_check "secret properties on plaintext, debug=all" "${K}_SASL_PASSWORD=$SASL" \
  "${K}_SSL_KEY_PASSWORD=$KEYPW" "${K}_SSL_KEYSTORE_PASSWORD=$KEYPW" \
  "${K}_SASL_OAUTHBEARER_CONFIG=principal=$SASL" "${K}_DEBUG=all"
grep -q 'sasl.password = \[redacted\]' "$WORK/out" || fail "no redacted sasl.password in librdkafka's dump"
log "ok: no secret in any output"

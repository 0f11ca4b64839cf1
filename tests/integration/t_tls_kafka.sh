#!/usr/bin/env bash
# The secure configuration end to end (etc/secure.conf: Postgres verify-full as the
# least-privilege role with a passfile; Kafka over SASL_SSL, the SASL password from
# OUTBOX_RELAY_KAFKA_PROPERTIES_SASL_PASSWORD_FILE). A wrong SASL password and a wrong CA
# each stop run, backfill and check at once with one line and exit 80 (check: exit 1).
# With exactly the README's ACLs the relay, a backfill and check work; then each ACL is
# removed in turn and the relay (or backfill) stops with exit 80 and a line naming the
# missing permission: no retry loop, and no event dead-lettered for it. No output holds the
# Postgres password, the SASL password or the client key's passphrase (librdkafka debug=all).
# shellcheck source=tests/integration/tls.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/tls.sh"

setup_tls_db
conf=$ROOT/etc/secure.conf
# shellcheck disable=SC2034 # relay_start (tests/lib.sh) reads it
RELAY_CONF=$conf
N=$OUTBOX_RELAY_NAME
SASL_PW=$(<"$TLS/relay.password")
(umask 077 && printf 'localhost:%s:*:outbox_relay:%s\n' "$PG_PORT" "$PG_ROLE_PW" >"$WORK/pgpass")
OUTBOX_RELAY_POSTGRES_CONNINFO=$(pg_conninfo localhost outbox_relay "passfile=$WORK/pgpass")
export OUTBOX_RELAY_POSTGRES_CONNINFO
export OUTBOX_RELAY_KAFKA_BROKERS=$KAFKA_SASL_BROKERS
export OUTBOX_RELAY_KAFKA_CHECKPOINT_TOPIC=ckpt.$ID OUTBOX_RELAY_DEAD_LETTER_TOPIC=dead.$ID
export OUTBOX_RELAY_KAFKA_PROPERTIES_SSL_CA_LOCATION=$TLS/ca.crt
export OUTBOX_RELAY_KAFKA_PROPERTIES_SASL_USERNAME=relay
export OUTBOX_RELAY_KAFKA_PROPERTIES_SASL_PASSWORD_FILE=$TLS/relay.password
# Debian 12's librdkafka 2.0.2 cannot log in with SCRAM to Kafka 4 (librdkafka#4895, fixed in
# 2.6.1); the harness's SASL_SSL listener also takes PLAIN for the same users.
export OUTBOX_RELAY_KAFKA_PROPERTIES_SASL_MECHANISM=PLAIN
export OUTBOX_RELAY_LOG_LEVEL=info
: >"$WORK/all.out"

# kexpect CODE PATTERN CMD ARGS...: expect, cut off after 60 s (a retry loop fails the test);
# every output is kept for the secret grep at the end.
kexpect() {
  local code=$1 pattern=$2
  shift 2
  expect "$code" "$pattern" -- timeout 60 "$@"
  cat "$WORK/out" >>"$WORK/all.out"
}
backfill_args() { printf '%s\n' backfill -c "$conf" --job "j$((++jobs))" --from-id 1 --to-id 3; }
jobs=0
# refused PATTERN [ENV=VALUE...]: run, backfill and check refused by Kafka, each at once.
refused() {
  local pattern=$1
  shift
  kexpect 80 " error $pattern" env "$@" "$RELAY_BIN" run -c "$conf"
  mapfile -t args < <(backfill_args)
  kexpect 80 " error $pattern" env "$@" "$RELAY_BIN" "${args[@]}"
  kexpect 1 "^FAIL kafka +$pattern" env "$@" "$RELAY_BIN" check -c "$conf"
}
K=OUTBOX_RELAY_KAFKA_PROPERTIES
printf 'wrong-%s\n' "$SASL_PW" >"$WORK/wrong.password"
refused 'SASL login to Kafka refused: .*(Invalid username or password|invalid credentials).*\(check sasl.username, sasl.password' \
  "${K}_SASL_PASSWORD_FILE=$WORK/wrong.password"
other_ca "$WORK/other"
refused 'TLS to Kafka refused: .*certificate verify failed.*\(set ssl.ca.location in kafka.properties to the CA certificate' \
  "${K}_SSL_CA_LOCATION=$WORK/other/ca.crt"
# SCRAM-SHA-512 (right password) to this Kafka 4: librdkafka before 2.6.1 is refused
# (librdkafka#4895); run stops at once with exit 80, and both say why and the ways out.
# (t_scram.sh logs in with SCRAM to Kafka 3.9.)
if [[ $(printf '%s\n' "$(pkg-config --modversion rdkafka)" 2.6.1 | sort -V | head -1) != 2.6.1 ]]; then
  hint='the brokers may be Kafka 4.x, which refuses SCRAM from librdkafka before 2.6.1 \(this is [0-9.]+; librdkafka#4895\): use librdkafka 2.6.1 or newer, or sasl.mechanism PLAIN over SASL_SSL, or Kafka 3.9'
  kexpect 80 " error SASL login to Kafka refused: .*$hint" \
    env "${K}_SASL_MECHANISM=SCRAM-SHA-512" "$RELAY_BIN" run -c "$conf"
  kexpect 1 "^FAIL kafka +SASL login to Kafka refused: .*$hint" \
    env "${K}_SASL_MECHANISM=SCRAM-SHA-512" "$RELAY_BIN" check -c "$conf"
fi

# The SSL listener: a client certificate (its key encrypted) is the login; the authorizer
# sees its CN, which has no ACLs, so check connects and is then denied its TransactionalId.
kexpect 1 "^FAIL transactions +Kafka denies the relay's principal the Write permission on TransactionalId \"$N/check\"" \
  env OUTBOX_RELAY_KAFKA_BROKERS="$KAFKA_SSL_BROKERS" "${K}_SECURITY_PROTOCOL=SSL" \
  "${K}_SSL_CERTIFICATE_LOCATION=$TLS/client.crt" "${K}_SSL_KEY_LOCATION=$TLS/client.key" \
  "${K}_SSL_KEY_PASSWORD_FILE=$TLS/client.key.passphrase" "$RELAY_BIN" check -c "$conf"
grep -Eq "^OK   kafka +1 broker\(s\) at $KAFKA_SSL_BROKERS" "$WORK/out" || fail "check over SSL: $(cat "$WORK/out")"

# The README's ACLs for a relay named $N whose events go to topics it.$ID.*, run as the
# admin over SASL_SSL with SCRAM-SHA-512 (Java's client logs in fine).
acl() { "$ROOT/deploy/local/kafka.sh" acls "$@" >>"$WORK/acls.log" 2>&1 || fail "kafka-acls $*: $(tail -3 "$WORK/acls.log")"; }
U=(--allow-principal User:relay)
pids=() # each kafka-acls is a JVM: started together
acl --add "${U[@]}" --operation Write --transactional-id "$N" & pids+=($!)
acl --add "${U[@]}" --operation Write --transactional-id "$N/" --resource-pattern-type prefixed & pids+=($!)
acl --add "${U[@]}" --operation Read --operation Write --operation Create --topic "ckpt.$ID" & pids+=($!)
acl --add "${U[@]}" --operation Write --operation Create --topic "it.$ID." --resource-pattern-type prefixed & pids+=($!)
acl --add "${U[@]}" --operation Write --operation Create --topic "dead.$ID" & pids+=($!)
acl --add "${U[@]}" --operation Describe --group "$N.checkpoint-reader" & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid" || fail "granting the ACLs failed"; done
log "ACLs granted"

# bad_event: a row whose topic Kafka cannot have, which the relay dead-letters.
bad_event() { sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('bad type', 'b', 'OrderCreated', '{}') RETURNING id"; }
insert_events 3 >"$WORK/expected"
bad_event >"$WORK/dead.expected"
relay_start
wait_confirmed "$(current_lsn)" 30
relay_stop
mapfile -t args < <(backfill_args)
kexpect 0 'finished: published 3 events' "$RELAY_BIN" "${args[@]}" --topic "it.$ID.replay"
kexpect 0 'all checks passed' "$RELAY_BIN" check -c "$conf"
grep -Eq '^OK   kafka +1 broker\(s\) at 127.0.0.1' "$WORK/out" || fail "check: $(cat "$WORK/out")"
if grep -q '^WARN' "$WORK/out"; then fail "check warns: $(grep '^WARN' "$WORK/out")"; fi

# Each ACL removed in turn: exit 80 at once, a line naming it. KIND says what makes the
# relay need it: run (at start), backfill, event (a new event), topic (a new topic), bad (a
# dead letter). tests/tools/kafka_acl takes the topic and group ACLs away and back in
# milliseconds; TransactionalId ones (which librdkafka 2.0.2 cannot name) take kafka-acls.
KAFKA_ACL_BIN=${KAFKA_ACL_BIN:-$(dirname -- "$RELAY_BIN")/kafka_acl}
toggle() { # toggle add|remove OPERATION TYPE NAME literal|prefixed
  if [[ $3 == transactional-id ]]; then
    acl "--$1" --force "${U[@]}" --operation "$2" --transactional-id "$4" --resource-pattern-type "$5"
  else
    "$KAFKA_ACL_BIN" "$KAFKA_BROKERS" "$1" User:relay "$3" "$4" "$5" "$2" || fail "kafka_acl $*"
  fi
}
without() { # without KIND OPERATION PATTERN TYPE NAME literal|prefixed
  local kind=$1 op=$2 pattern=$3
  shift 3
  toggle remove "$op" "$@"
  case $kind in
    event) insert_events 1 >>"$WORK/expected" ;;
    topic) sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('fresh', 'f', 'OrderCreated', '{}') RETURNING id" >>"$WORK/expected" ;;
    bad) bad_event >>"$WORK/dead.expected" ;;
  esac
  if [[ $kind == backfill ]]; then
    mapfile -t args < <(backfill_args)
  else
    args=(run -c "$conf")
  fi
  kexpect 80 " error Kafka denies User:relay the $op permission on $pattern" "$RELAY_BIN" "${args[@]}"
  toggle add "$op" "$@"
}
without run Write "TransactionalId \"$N\"" transactional-id "$N" literal
without backfill Write "TransactionalId \"$N/backfill/j[0-9]+\".*--transactional-id '$N/' --resource-pattern-type prefixed" \
  transactional-id "$N/" prefixed
without run Read "the checkpoint topic ckpt.$ID" topic "ckpt.$ID" literal
without event Write "topic ckpt.$ID" topic "ckpt.$ID" literal
without event Write "topic it.$ID.order" topic "it.$ID." prefixed
without topic Create "topic it.$ID.fresh" topic "it.$ID." prefixed
without bad Write "topic dead.$ID" topic "dead.$ID" literal

# With every ACL back, the relay publishes what the refusals left, each event once, and only
# the bad rows are dead letters.
relay_start
wait_confirmed "$(current_lsn)" 30
relay_stop
cat "$WORK/relay.log" >>"$WORK/all.out"
{ consume "it.$ID.order"; consume "it.$ID.fresh"; } >"$WORK/got"
exactly_once "events" "$WORK/got" "$WORK/expected"
consume "dead.$ID" >"$WORK/dead.got"
exactly_once "dead letters" "$WORK/dead.got" "$WORK/dead.expected"

# No secret in any output, librdkafka's debug=all included.
kexpect 0 'all checks passed' env "${K}_DEBUG=all" OUTBOX_RELAY_LOG_LEVEL=debug "$RELAY_BIN" check -c "$conf"
kexpect 80 'SASL login to Kafka refused' env "${K}_DEBUG=all" OUTBOX_RELAY_LOG_LEVEL=debug \
  "${K}_SASL_PASSWORD_FILE=$WORK/wrong.password" "$RELAY_BIN" run -c "$conf"
for secret in "$PG_ROLE_PW" "$SASL_PW" "$KEY_PASS"; do
  if grep -F -m3 -- "$secret" "$WORK/all.out"; then fail "a secret in the output"; fi
done
log "ok: $(wc -l <"$WORK/all.out") lines of output, no secret in them"

#!/usr/bin/env bash
# SASL_SSL with SCRAM-SHA-512, end to end, with this machine's librdkafka: against Kafka
# 3.9.2, since Kafka 4 refuses the SCRAM login of librdkafka before 2.6.1 (librdkafka#4895;
# t_tls_kafka.sh checks the relay says so). A 3.9.2 broker of its own (deploy/local with
# OUTBOX_TLS=1: a SASL_SSL listener, SCRAM users made by `kafka-storage format --add-scram`,
# the StandardAuthorizer, admin the only super user besides the local plaintext and
# controller listeners' ANONYMOUS), on the ports tests/versions/run.sh gives 3.9.2
# (OUTBOX_KAFKA_PORT + 100 to + 103), stopped at the end. With the README's minimal ACLs
# granted, run, a backfill and check log in with SCRAM and every event is in Kafka exactly
# once; a wrong password stops run, backfill and check at once with one line (exit 80; check
# exit 1), and no output holds a password.
# shellcheck source=tests/integration/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

base=${OUTBOX_KAFKA_PORT:-59092}
BROKER=127.0.0.1:$((base + 100)) SASL=127.0.0.1:$((base + 103))
kenv=(OUTBOX_TLS=1 OUTBOX_KAFKA_VERSION=3.9.2 OUTBOX_KAFKA_PORT=$((base + 100))
  OUTBOX_KAFKA_CONTROLLER_PORT=$((base + 101)) OUTBOX_KAFKA_SSL_PORT=$((base + 102))
  OUTBOX_KAFKA_SASL_SSL_PORT=$((base + 103)))
kafka39() { env "${kenv[@]}" "$ROOT/deploy/local/kafka.sh" "$@"; }
# shellcheck disable=SC2154 # rc is the trap's own
trap 'rc=$?; kafka39 stop >>"$WORK/kafka.log" 2>&1; (exit $rc); cleanup' EXIT
start=$SECONDS
kafka39 start 2>"$WORK/kafka.log" || fail "Kafka 3.9.2 did not start: $(tail -5 "$WORK/kafka.log")"
log "Kafka 3.9.2 up in $((SECONDS - start)) s (SASL_SSL on $SASL)"
TLS=$ROOT/.local/tls
SASL_PW=$(<"$TLS/relay.password")
# The README's minimal ACLs for relay N: its kafka-acls commands for the TransactionalIds, as
# the admin over SASL_SSL with SCRAM (Java: seconds, so started now and waited for below);
# tests/tools/kafka_acl for the rest, in milliseconds.
N=relay-$ID # setup_db's OUTBOX_RELAY_NAME
acl() { kafka39 acls --add --allow-principal User:relay "$@" >>"$WORK/acls.log" 2>&1; }
acl --operation Write --transactional-id "$N" & p1=$!
acl --operation Write --transactional-id "$N/" --resource-pattern-type prefixed & p2=$!

setup_db
[[ $N == "$OUTBOX_RELAY_NAME" ]] || fail "the relay is $OUTBOX_RELAY_NAME, not $N"
conf=$ROOT/etc/outbox-relay.conf
K=OUTBOX_RELAY_KAFKA_PROPERTIES
export OUTBOX_RELAY_KAFKA_BROKERS=$SASL OUTBOX_RELAY_LOG_LEVEL=info
export OUTBOX_RELAY_KAFKA_CHECKPOINT_TOPIC=ckpt.$ID OUTBOX_RELAY_DEAD_LETTER_TOPIC=dead.$ID
export OUTBOX_RELAY_KAFKA_PROPERTIES_SECURITY_PROTOCOL=SASL_SSL
export OUTBOX_RELAY_KAFKA_PROPERTIES_SSL_CA_LOCATION=$TLS/ca.crt
export OUTBOX_RELAY_KAFKA_PROPERTIES_SASL_MECHANISM=SCRAM-SHA-512
export OUTBOX_RELAY_KAFKA_PROPERTIES_SASL_USERNAME=relay
export OUTBOX_RELAY_KAFKA_PROPERTIES_SASL_PASSWORD_FILE=$TLS/relay.password
: >"$WORK/all.out"
kexpect() { # kexpect CODE PATTERN CMD...: cut off after 60 s (a retry loop fails the test)
  local code=$1 pattern=$2
  shift 2
  expect "$code" "$pattern" -- timeout 60 "$@"
  cat "$WORK/out" >>"$WORK/all.out"
}

# A wrong password: one line naming the login and the fix, at once, for each command.
printf 'wrong-%s\n' "$SASL_PW" >"$WORK/wrong.password"
wrong=(env "${K}_SASL_PASSWORD_FILE=$WORK/wrong.password")
refused='SASL login to Kafka refused: .*(Invalid username or password|invalid credentials|Authentication failed).*check sasl.username and sasl.password'
t0=$SECONDS
kexpect 80 " error $refused" "${wrong[@]}" "$RELAY_BIN" run -c "$conf"
kexpect 80 " error $refused" "${wrong[@]}" "$RELAY_BIN" backfill -c "$conf" --job bad --from-id 1 --to-id 3
kexpect 1 "^FAIL kafka +$refused" "${wrong[@]}" "$RELAY_BIN" check -c "$conf"
log "wrong password refused by run, backfill and check in $((SECONDS - t0)) s"

KAFKA_ACL_BIN=${KAFKA_ACL_BIN:-$(dirname -- "$RELAY_BIN")/kafka_acl}
grant() { "$KAFKA_ACL_BIN" "$BROKER" add User:relay "$@" || fail "kafka_acl $*"; }
for op in read write create; do grant topic "ckpt.$ID" literal "$op"; done
for op in write create; do grant topic "it.$ID." prefixed "$op" && grant topic "dead.$ID" literal "$op"; done
grant group "$N.checkpoint-reader" literal describe
{ wait "$p1" && wait "$p2"; } || fail "kafka-acls failed: $(tail -5 "$WORK/acls.log")"
log "ACLs granted"

sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
        SELECT 'order', 'k' || g, 'OrderCreated', jsonb_build_object('n', g)
        FROM generate_series(1, 5) g RETURNING id" >"$WORK/expected"
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
        VALUES ('bad type', 'b', 'OrderCreated', '{}') RETURNING id" >"$WORK/dead.expected"
relay_start
wait_confirmed "$(current_lsn)" 30
relay_stop
cat "$WORK/relay.log" >>"$WORK/all.out"
kexpect 0 'finished: published 5 events' "$RELAY_BIN" backfill -c "$conf" --job j1 --from-id 1 --to-id 5 \
  --topic "it.$ID.replay"
kexpect 0 'all checks passed' "$RELAY_BIN" check -c "$conf"
grep -Eq "^OK   kafka +1 broker\(s\) at $SASL" "$WORK/out" || fail "check: $(cat "$WORK/out")"

# What reached the 3.9.2 broker (read on its plaintext listener): each event once, the bad
# row dead-lettered, the backfill's copies in their own topic.
KAFKA_BROKERS=$BROKER # consume's broker
exactly_once "events over SCRAM" <(consume "it.$ID.order") "$WORK/expected"
exactly_once "dead letters over SCRAM" <(consume "dead.$ID") "$WORK/dead.expected"
exactly_once "backfill over SCRAM" <(consume "it.$ID.replay") "$WORK/expected"

# (the wrong password holds the right one)
if grep -F -m3 -- "$SASL_PW" "$WORK/all.out"; then fail "a password in the output"; fi
log "ok: SCRAM-SHA-512 over SASL_SSL to Kafka 3.9.2 for run, backfill and check; $((SECONDS - start)) s"

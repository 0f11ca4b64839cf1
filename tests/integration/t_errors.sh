#!/usr/bin/env bash
# Operator mistakes get one error line that names the thing and the fix, and a distinct
# exit code; a row that cannot be published stops the relay without confirming it, and
# after the fix a restart publishes it (nothing lost).
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
conf=$ROOT/etc/outbox-relay.conf

expect 64 'usage: outbox-relay run' -- "$RELAY_BIN"
expect 64 '-c FILE is required' -- "$RELAY_BIN" run
expect 64 'unknown command "start"' -- "$RELAY_BIN" start -c "$conf"
expect 0 '^outbox-relay [0-9]+\.[0-9]+' -- "$RELAY_BIN" --version
expect 0 'exit codes:' -- "$RELAY_BIN" --help
expect 64 'accept-slot-position is an option of run' -- "$RELAY_BIN" check -c "$conf" --accept-slot-position

printf 'postgres = {\n  slots = "x";\n};\n' >"$WORK/bad.conf"
expect 78 "bad.conf:2: unknown setting \"postgres.slots\" \(did you mean \"postgres.slot\"\?\)" -- "$RELAY_BIN" run -c "$WORK/bad.conf"
expect 78 'cannot read' -- "$RELAY_BIN" run -c "$WORK/missing.conf"
OUTBOX_RELAY_BATCH_MAX_EVENTS=ten expect 78 'OUTBOX_RELAY_BATCH_MAX_EVENTS: expected an integer' -- "$RELAY_BIN" run -c "$conf"

wrong_pw=$(sed 's#//postgres:postgres@#//postgres:wrong@#' <<<"$DBURL")
OUTBOX_RELAY_POSTGRES_CONNINFO=$wrong_pw expect 77 'Postgres refused user postgres.*PGPASSWORD' -- "$RELAY_BIN" run -c "$conf"
grep -q wrong "$WORK/out" && fail "the password was echoed"
OUTBOX_RELAY_POSTGRES_CONNINFO="postgresql://postgres@127.0.0.1:1/x" expect 69 'cannot connect to Postgres at 127.0.0.1:1' -- "$RELAY_BIN" run -c "$conf"
OUTBOX_RELAY_POSTGRES_SLOT=no_such_slot expect 78 "slot \"no_such_slot\" does not exist: run SELECT pg_create_logical_replication_slot\('no_such_slot', 'pgoutput'\)" -- "$RELAY_BIN" run -c "$conf"
OUTBOX_RELAY_POSTGRES_PUBLICATION=no_pub expect 78 'publication "no_pub" does not exist: run CREATE PUBLICATION no_pub FOR TABLE public.outbox' -- "$RELAY_BIN" run -c "$conf"
OUTBOX_RELAY_KAFKA_BROKERS=127.0.0.1:1 expect 69 'cannot reach Kafka at 127.0.0.1:1' -- "$RELAY_BIN" run -c "$conf"

# check: a checklist, the exact fix on the failing line, exit 1.
OUTBOX_RELAY_POSTGRES_SLOT=no_such_slot expect 1 "^FAIL slot .*pg_create_logical_replication_slot\('no_such_slot', 'pgoutput'\)" -- "$RELAY_BIN" check -c "$conf"
grep -q '^OK   publication' "$WORK/out" || fail "check: publication not OK: $(cat "$WORK/out")"
OUTBOX_RELAY_SCHEMAS_DIR=$WORK/no-schemas expect 1 '^FAIL schemas .*cannot open schema directory' -- "$RELAY_BIN" check -c "$conf"
OUTBOX_RELAY_SCHEMAS_DIR=$ROOT/etc/schemas expect 0 '^OK   schemas +3 compiled' -- "$RELAY_BIN" check -c "$conf"
expect 0 'all checks passed' -- "$RELAY_BIN" check -c "$conf"
grep -Eq "^OK   event topics +none matching it\.$ID\.[$]\{aggregate_type\} yet; run creates each with 3 partitions" "$WORK/out" ||
  fail "check: no event topics line: $(cat "$WORK/out")"
# An event topic made before the relay made it: a producer (or a subscribing consumer) makes
# the broker auto-create it with its num.partitions (1 here), not kafka.topic_partitions (3).
echo x | kcat -P -b "$KAFKA_BROKERS" -t "it.$ID.early" 2>/dev/null
expect 0 "^WARN event topics +it\.$ID\.early has 1 partition\(s\), fewer than kafka.topic_partitions \(3\).*--alter --topic it\.$ID\.early --partitions 3" -- "$RELAY_BIN" check -c "$conf"

# A row whose topic Kafka would refuse, with schemas.on_invalid = stop (the default
# dead-letters it, see t_schemas.sh): stop with exit 65, the slot not moved past it.
export OUTBOX_RELAY_SCHEMAS_ON_INVALID=stop
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'k1', 'OrderCreated', '{\"n\": 1}')"
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('bad type', 'k2', 'OrderCreated', '{\"n\": 2}')"
before=$(current_lsn)
expect 65 'topic "it\..*\.bad type" is not a legal Kafka topic name' -- "$RELAY_BIN" run -c "$conf"
confirmed=$(sql -c "SELECT confirmed_flush_lsn < '$before' FROM pg_replication_slots WHERE slot_name = '$SLOT'")
[[ $confirmed == t ]] || fail "the slot was confirmed past the refused row"
# The fix: a fixed topic. The restart publishes both rows, the first one once.
export OUTBOX_RELAY_OUTBOX_TOPIC="it.$ID.fixed"
relay_start
wait_confirmed "$(current_lsn)" 60
relay_stop
n=$(consume "it.$ID.fixed" | wc -l)
first=$(consume "it.$ID.order" | wc -l)
((n + first == 2)) || fail "expected the two rows once each, got $first + $n"
log "ok: errors named with their fix; refused row published after the fix"

#!/usr/bin/env bash
# An event larger than Kafka accepts is treated like an invalid one (reason too_large):
# dead-lettered without its value (its size in a header), the rest of its batch published,
# nothing lost, no crash. Two ways to be too large:
#   1. over the producer's message.max.bytes: refused before it joins the transaction;
#   2. over the broker's message.max.bytes (the producer allows more): refused at commit,
#      which dooms the whole Kafka transaction; the relay aborts, replays, and dead-letters
#      just that event on the replay.
# With schemas.on_invalid = stop the relay stops at it instead (exit 65).
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
DLQ=it.$ID.dead
export OUTBOX_RELAY_DEAD_LETTER_TOPIC=$DLQ
TOPIC=it.$ID.order

# txn KEY:BYTES...: one transaction, one event per argument with a payload of about BYTES.
txn() {
  local stmts="" a
  for a in "$@"; do
    stmts+="INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
            VALUES ('order', '${a%%:*}', 'OrderCreated', jsonb_build_object('pad', repeat('x', ${a#*:})));"
  done
  sql -c "BEGIN; $stmts COMMIT;"
}
check() { # check LABEL PUBLISHED_KEYS DEAD_KEYS: keys in each topic, in order
  local got
  got=$(consume "$TOPIC" | cut -f1 | sort | tr '\n' ' ')
  [[ $got == "$2" ]] || fail "$1: published keys '$got', expected '$2'"
  got=$(consume "$DLQ" | cut -f1 | sort | tr '\n' ' ')
  [[ $got == "$3" ]] || fail "$1: dead-lettered keys '$got', expected '$3'"
}

# 1. The producer's limit, lowered to 20 kB.
export OUTBOX_RELAY_KAFKA_PROPERTIES_MESSAGE_MAX_BYTES=20000
txn a1:100 a2:50000 a3:100
txn a4:100
relay_start
wait_confirmed "$(current_lsn)" 60
relay_stop
check "producer limit" "a1 a3 a4 " "a2 "
read_committed "$DLQ" -J >"$WORK/dead.json"
H='(.headers // []) as $h | [range(0; $h | length; 2) | {key: $h[.], value: $h[. + 1]}] | from_entries'
jq -e "($H) as \$hd | .payload == null and \$hd.dead_letter_reason == \"too_large\" and
       (\$hd.dead_letter_value_omitted | tonumber) > 50000 and \$hd.dead_letter_original_topic == \"$TOPIC\" and
       (\$hd.dead_letter_error | test(\"message.max.bytes\"))" "$WORK/dead.json" >/dev/null ||
  fail "dead-letter record of the too large event: $(cut -c1-600 "$WORK/dead.json")"
log "ok: over the producer's message.max.bytes: dead-lettered, the rest published"

# 2. The broker's limit (1 MiB by default) below the producer's.
export OUTBOX_RELAY_KAFKA_PROPERTIES_MESSAGE_MAX_BYTES=4000000
txn b1:100 b2:1500000 b3:100
txn b4:100
relay_start
wait_confirmed "$(current_lsn)" 120
relay_stop
check "broker limit" "a1 a3 a4 b1 b3 b4 " "a2 b2 "
grep -q 'the broker refused the event at .* as too large: aborted, replaying' "$WORK/relay.log" ||
  fail "the broker-side refusal was not the path taken"
log "ok: over the broker's limit: aborted, replayed, dead-lettered, the rest published once"

# 2b. backfill takes the same path (it used to stop with exit 65 here): the broker refuses
#     b2, the job's transaction is aborted and replayed, b2 dead-lettered, the rest
#     published once, the job finished.
OUTBOX_RELAY_DEAD_LETTER_TOPIC=it.$ID.replay-dead "$RELAY_BIN" backfill -c "$ROOT/etc/outbox-relay.conf" \
  --job big --topic "it.$ID.replay" >"$WORK/backfill.log" 2>&1 || fail "backfill exited $?: $(tail -3 "$WORK/backfill.log")"
got=$(consume "it.$ID.replay" | cut -f1 | sort | tr '\n' ' ')
[[ $got == "a1 a2 a3 a4 b1 b3 b4 " ]] || fail "backfill: published keys '$got'"
got=$(consume "it.$ID.replay-dead" | cut -f1 | sort | tr '\n' ' ')
[[ $got == "b2 " ]] || fail "backfill: dead-lettered keys '$got'"
grep -q 'the broker refused the event of row .* as too large: aborted, replaying' "$WORK/backfill.log" ||
  fail "backfill: the broker-side refusal was not the path taken: $(tail -3 "$WORK/backfill.log")"
log "ok: backfill over the broker's limit: replayed, b2 dead-lettered, the rest published once"

# 3. on_invalid = stop: exit 65 at the event, not confirmed; after raising the limit (the
#    fix), published.
export OUTBOX_RELAY_SCHEMAS_ON_INVALID=stop OUTBOX_RELAY_KAFKA_PROPERTIES_MESSAGE_MAX_BYTES=20000
txn c1:30000
rc=0
timeout 60 "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >>"$WORK/relay.log" 2>&1 || rc=$?
((rc == 65)) || fail "relay exited $rc, expected 65"
grep -q 'error too_large: .*schemas.on_invalid is "stop": raise kafka.properties.message_max_bytes' "$WORK/relay.log" ||
  fail "no error line for the too large event: $(grep ' error ' "$WORK/relay.log" | tail -1)"
export OUTBOX_RELAY_KAFKA_PROPERTIES_MESSAGE_MAX_BYTES=100000
relay_start
wait_confirmed "$(current_lsn)" 60
relay_stop
check "stop, then fixed" "a1 a3 a4 b1 b3 b4 c1 " "a2 b2 "
log "ok: on_invalid = stop halted at the too large event, published after the fix"

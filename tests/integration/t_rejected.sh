#!/usr/bin/env bash
# A record the broker refuses for good (not for its size) is isolated like a too-large one:
# the issue's reproduction, the seed article's created_at without time zone written by a
# session in Asia/Tokyo, read as UTC 9 hours ahead, past the topic's
# message.timestamp.after.max.ms (1 hour by default on Kafka 4.x): the broker answers
# INVALID_TIMESTAMP on every try. The relay aborts once, replays, dead-letters that event
# (reason rejected, its value kept, the broker's error in dead_letter_error), publishes the
# rest once, and goes on — `run` and `backfill` alike. With schemas.on_invalid = stop it
# stops at the event with exit 65 instead of replaying forever.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
DLQ=it.$ID.dead
export OUTBOX_RELAY_DEAD_LETTER_TOPIC=$DLQ
TOPIC=it.$ID.order
sql -c "ALTER TABLE outbox ALTER COLUMN created_at TYPE timestamp" >/dev/null

# txn KEY[:tokyo]...: one transaction, one event per argument; ":tokyo" ones are written by a
# session in Asia/Tokyo (created_at defaults to its local now()).
txn() {
  local stmts="" a tz
  for a in "$@"; do
    tz=UTC
    [[ $a == *:tokyo ]] && tz=Asia/Tokyo
    stmts+="SET LOCAL timezone = '$tz';
            INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
            VALUES ('order', '${a%%:*}', 'OrderCreated', jsonb_build_object('k', '${a%%:*}'));"
  done
  sql -c "BEGIN; $stmts COMMIT;" >/dev/null
}
keys() { consume "$1" | cut -f1 | sort | tr '\n' ' '; }

# 1. run: r2 refused mid-transaction, dead-lettered on the replay.
txn r1 r2:tokyo r3
txn r4
relay_start
wait_confirmed "$(current_lsn)" 60
relay_stop
got=$(keys "$TOPIC")
[[ $got == "r1 r3 r4 " ]] || fail "run: published keys '$got', expected 'r1 r3 r4 '"
got=$(keys "$DLQ")
[[ $got == "r2 " ]] || fail "run: dead-lettered keys '$got', expected 'r2 '"
read_committed "$DLQ" -J >"$WORK/dead.json"
H='(.headers // []) as $h | [range(0; $h | length; 2) | {key: $h[.], value: $h[. + 1]}] | from_entries'
jq -e "($H) as \$hd | (.payload | fromjson | .k) == \"r2\" and \$hd.dead_letter_reason == \"rejected\" and
       \$hd.dead_letter_original_topic == \"$TOPIC\" and
       (\$hd.dead_letter_error | test(\"INVALID_TIMESTAMP\")) and
       (.ts | tonumber) < (now + 600) * 1000" "$WORK/dead.json" >/dev/null ||
  fail "dead-letter record of the refused event: $(cut -c1-800 "$WORK/dead.json")"
grep -q 'the broker refused the event at .*: Broker: Invalid timestamp (INVALID_TIMESTAMP): aborted, replaying' "$WORK/relay.log" ||
  fail "the refusal was not the path taken: $(grep -E ' (warn|error) ' "$WORK/relay.log" | tail -2)"
# The refusal aborts one transaction; librdkafka 2.0.2 then needs the next one to bump the
# producer epoch (OUT_OF_ORDER_SEQUENCE_NUMBER, aborted once more) before commits go through.
aborts=$(grep -c 'the Kafka transaction is given up' "$WORK/relay.log" || true)
((aborts <= 2)) || fail "run: $aborts aborted transactions, expected at most 2"
log "ok: run: INVALID_TIMESTAMP: aborted, dead-lettered (rejected, value kept), the rest published once"

# 2. backfill takes the same path.
OUTBOX_RELAY_DEAD_LETTER_TOPIC=it.$ID.replay-dead "$RELAY_BIN" backfill -c "$ROOT/etc/outbox-relay.conf" \
  --job tokyo --topic "it.$ID.replay" >"$WORK/backfill.log" 2>&1 || fail "backfill exited $?: $(tail -3 "$WORK/backfill.log")"
got=$(keys "it.$ID.replay")
[[ $got == "r1 r3 r4 " ]] || fail "backfill: published keys '$got'"
got=$(keys "it.$ID.replay-dead")
[[ $got == "r2 " ]] || fail "backfill: dead-lettered keys '$got'"
grep -q 'the broker refused the event of row .*INVALID_TIMESTAMP.*: aborted, replaying' "$WORK/backfill.log" ||
  fail "backfill: the refusal was not the path taken: $(tail -3 "$WORK/backfill.log")"
log "ok: backfill: replayed, r2 dead-lettered, the rest published once"

# 3. on_invalid = stop: exit 65 naming the event and the fix, not confirmed.
export OUTBOX_RELAY_SCHEMAS_ON_INVALID=stop
txn s1:tokyo
rc=0
timeout 60 "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >>"$WORK/relay.log" 2>&1 || rc=$?
((rc == 65)) || fail "relay exited $rc, expected 65: $(tail -2 "$WORK/relay.log")"
grep -q 'error rejected: the Kafka broker refused the record: Broker: Invalid timestamp (INVALID_TIMESTAMP) (record timestamp .*schemas.on_invalid is "stop"' "$WORK/relay.log" ||
  fail "no error line for the refused event: $(grep ' error ' "$WORK/relay.log" | tail -1)"
got=$(keys "$TOPIC")
[[ $got == "r1 r3 r4 " ]] || fail "stop: published keys '$got'"
log "ok: on_invalid = stop halted at the refused event with exit 65"

#!/usr/bin/env bash
# The other policies on the real servers:
#   schemas.on_invalid = stop: the relay exits 65 at the invalid event, naming it, the
#     setting and the fix; nothing of its transaction is confirmed or visible; after the fix
#     (a corrected schema) a restart publishes everything exactly once.
#   schemas.on_unknown_type = stop, then = dead_letter: the same for a type without schema,
#     then its dead-letter record with reason unknown_type.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
mkdir "$WORK/schemas"
echo '{"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}}' \
  >"$WORK/schemas/OrderCreated.json"
export OUTBOX_RELAY_SCHEMAS_DIR=$WORK/schemas
export OUTBOX_RELAY_SCHEMAS_ON_INVALID=stop
export OUTBOX_RELAY_SCHEMAS_ON_UNKNOWN_TYPE=stop
DLQ=it.$ID.dead
export OUTBOX_RELAY_DEAD_LETTER_TOPIC=$DLQ
TOPIC=it.$ID.order

insert() { # insert KEY TYPE PAYLOAD: one row, its own transaction
  sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', '$1', '$2', '$3')"
}
# run_until_exit CODE: the relay in the foreground, with its exit code checked.
run_until_exit() {
  local rc=0
  timeout 60 "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >>"$WORK/relay.log" 2>&1 || rc=$?
  ((rc == $1)) || fail "relay exited $rc, expected $1"
}
slot_before() { # slot_before LSN: the slot is confirmed strictly before LSN
  [[ $(sql -c "SELECT confirmed_flush_lsn < '$1' FROM pg_replication_slots WHERE slot_name = '$SLOT'") == t ]]
}
ids() { # ids TOPIC: event ids of its committed records, sorted
  consume "$1" >"$WORK/ids.tsv"
  event_ids "$WORK/ids.tsv" | sort -n | tr '\n' ' '
}

# 1. on_invalid = stop. Events a1, then b1 b2(invalid) b3 in one transaction, then c1.
insert a1 OrderCreated '{"amount": 1}'
before_b=$(current_lsn)
sql -c "BEGIN;
  INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'b1', 'OrderCreated', '{\"amount\": 2}');
  INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'b2', 'OrderCreated', '{\"amount\": \"two\"}');
  INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'b3', 'OrderCreated', '{\"amount\": 3}');
COMMIT;"
insert c1 OrderCreated '{"amount": 4}'
run_until_exit 65
grep -q 'error invalid: /amount: type: expected number, got string (event 3 of type OrderCreated at [0-9A-F/]*:2 (schema OrderCreated.json)); schemas.on_invalid is "stop": fix' "$WORK/relay.log" ||
  fail "no error line naming the event, the setting and the fix: $(grep ' error ' "$WORK/relay.log")"
slot_before "$(current_lsn)" || fail "the slot was confirmed past the invalid event"
slot_before "$before_b" || true # a1 may have been committed alone before b arrived
got=$(ids "$TOPIC")
[[ $got == "" || $got == "1 " ]] || fail "records of the failing transaction are visible: $got"
run_until_exit 65 # a restart without a fix stops at the same event
# The fix: the producer's schema accepted amounts as strings all along.
echo '{"type": "object", "required": ["amount"], "properties": {"amount": {"type": ["number", "string"]}}}' \
  >"$WORK/schemas/OrderCreated.json"
relay_start
wait_confirmed "$(current_lsn)" 60
relay_stop
got=$(ids "$TOPIC")
[[ $got == "1 2 3 4 5 " ]] || fail "after the fix expected events 1-5 once each, got: $got"
log "ok: on_invalid = stop halted at the event, published after the fix"

# 2. on_unknown_type = stop: OrderNoted has no schema.
insert d1 OrderNoted '{"note": "x"}'
insert d2 OrderCreated '{"amount": 5}'
run_until_exit 65
grep -q 'error unknown_type: no schema for event type "OrderNoted" in ".*" (OrderNoted.json) (event 6 of type OrderNoted.*schemas.on_unknown_type is "stop"' "$WORK/relay.log" ||
  fail "no error line for the unknown type: $(grep ' error ' "$WORK/relay.log" | tail -1)"
slot_before "$(current_lsn)" || fail "the slot was confirmed past the unknown type"

# 3. on_unknown_type = dead_letter: the same events, now in the dead-letter topic.
export OUTBOX_RELAY_SCHEMAS_ON_UNKNOWN_TYPE=dead_letter
relay_start
wait_confirmed "$(current_lsn)" 60
relay_stop
got=$(ids "$TOPIC")
[[ $got == "1 2 3 4 5 7 " ]] || fail "expected 1-5 and 7 published, got: $got"
got=$(ids "$DLQ")
[[ $got == "6 " ]] || fail "expected event 6 dead-lettered, got: $got"
consume "$DLQ" | grep -q $'^d1\t.*dead_letter_reason=unknown_type,.*\t{"note": "x"}$' ||
  fail "dead-letter record of the unknown type: $(consume "$DLQ")"
log "ok: on_unknown_type = stop halted, = dead_letter dead-lettered it"

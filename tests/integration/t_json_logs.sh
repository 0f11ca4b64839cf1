#!/usr/bin/env bash
# log.format = "json": every line the relay writes is one JSON object with ts, level and
# msg (jq parses the whole log), librdkafka's own lines (debug=broker,eos) and libpq's
# multi-line messages with quotes included; fields where they exist (slot, lsn, exit_code,
# a dead letter's event_id and topic);
# a broken configuration is reported as JSON too.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
export OUTBOX_RELAY_LOG_FORMAT=json
# one_object_per_line FILE: the file is a stream of JSON objects with ts, level and msg,
# exactly one per line.
one_object_per_line() {
  local lines objects
  lines=$(wc -l <"$1")
  objects=$(jq -e -c 'select(has("ts") and has("level") and has("msg"))' <"$1" | wc -l) ||
    fail "$1 is not a stream of JSON objects: $(jq -c . <"$1" 2>&1 >/dev/null | head -3)"
  ((lines > 0 && lines == objects)) || fail "$1: $lines lines, $objects JSON objects with ts, level and msg"
}

OUTBOX_RELAY_KAFKA_PROPERTIES_DEBUG=broker,eos relay_start
# A row that cannot become a record (its topic would be "it.<id>.bad \"type\""): its
# dead-letter line quotes things.
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'k\"1', 'Order\"Created', '{\"a\": \"\\u00e9\\n\"}'), ('bad \"type\"', 'k2', 'OrderCreated', '{}')"
wait_confirmed "$(current_lsn)" 30
relay_stop
one_object_per_line "$WORK/relay.log"
jq -e -s 'any(.msg | startswith("kafka "))' "$WORK/relay.log" >/dev/null || fail "no librdkafka line"
jq -e -s 'any(.exit_code == 0)' "$WORK/relay.log" >/dev/null || fail "no exit_code field"
jq -e -s --arg s "$SLOT" 'any(.slot == $s and (.lsn | test("^[0-9A-F]+/[0-9A-F]+$")))' "$WORK/relay.log" >/dev/null || fail "no slot and lsn fields"
jq -e -s 'any(.level == "warn" and (.msg | contains("dead-lettered")) and .event_id == "2" and .topic == "outbox-relay.dead-letter")' "$WORK/relay.log" >/dev/null || fail "no dead-letter line with event_id and topic"
log "$(wc -l <"$WORK/relay.log") JSON lines, $(jq -s '[.[] | select(.msg | startswith("kafka "))] | length' "$WORK/relay.log") of them librdkafka's"

# libpq's message (several lines, quotes) for a server that is not there; exit 69.
rc=0
OUTBOX_RELAY_POSTGRES_CONNINFO="host=127.0.0.1 port=1 dbname=x connect_timeout=2" \
  "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >"$WORK/unreachable.log" 2>&1 || rc=$?
((rc == 69)) || fail "an unreachable Postgres exited $rc, not 69"
one_object_per_line "$WORK/unreachable.log"
jq -e -s 'any(.level == "error" and (.msg | contains("127.0.0.1")))' "$WORK/unreachable.log" >/dev/null || fail "no libpq error line"

# A broken setting, before the file's log.format is known: JSON from the environment.
rc=0
OUTBOX_RELAY_BATCH_MAX_EVENTS=0 "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >"$WORK/config.log" 2>&1 || rc=$?
((rc == 78)) || fail "a broken setting exited $rc, not 78"
one_object_per_line "$WORK/config.log"
log "ok: every line JSON, librdkafka's and libpq's included"

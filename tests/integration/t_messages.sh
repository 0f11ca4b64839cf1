#!/usr/bin/env bash
# The logical-message outbox (outbox.source = "messages", etc/messages.conf): writers emit
# events with pg_logical_emit_message in their transactions, with no outbox table and a
# publication of no table. Rolled-back messages never appear; non-transactional messages and
# messages with another prefix are ignored and counted (/metrics); a message whose content is
# not an event is dead-lettered as bad_row with its content; an event without "id" is named by
# its position. A writer runs while the relay is killed with SIGKILL and started again: every
# committed event is in Kafka exactly once, in per-key order. With schemas.on_invalid = "stop"
# a bad message stops the relay (exit 65), also after a restart. check accepts the setup;
# backfill and audit refuse the configuration (exit 78).
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
export RELAY_CONF=$ROOT/etc/messages.conf
export OUTBOX_RELAY_DEAD_LETTER_TOPIC=it.$ID.dead
export OUTBOX_RELAY_HTTP_LISTEN=127.0.0.1:0
WRITER_PID=
on_exit() { # the writer ends too, before lib.sh's cleanup (which reads the test's status from $?)
  local rc=$?
  [[ -z $WRITER_PID ]] || kill -9 "$WRITER_PID" 2>/dev/null || true
  (exit "$rc")
  cleanup
}
trap on_exit EXIT

# No outbox table is read: pgoutput needs the publication by name, and it may publish nothing.
sql -c "DROP PUBLICATION outbox_pub" -c "CREATE PUBLICATION outbox_pub"
# emit(n): n events of the order service, ids from a sequence, keys spread over 13 aggregates;
# `expected` records the ids in the same transaction, so a rollback takes both back.
sql >/dev/null <<'SQL'
CREATE SEQUENCE ev_seq;
CREATE TABLE expected (id bigint PRIMARY KEY);
CREATE FUNCTION emit(n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE i bigint;
BEGIN
  FOR g IN 1..n LOOP
    i := nextval('ev_seq');
    INSERT INTO expected VALUES (i);
    PERFORM pg_logical_emit_message(true, 'outbox', json_build_object(
      'aggregate_type', 'order', 'aggregate_id', 'agg-' || i % 13, 'event_type', 'OrderCreated',
      'payload', json_build_object('n', g, 'amount', 19.10), 'headers', json_build_object('trace', 't' || i),
      'id', i)::text);
  END LOOP;
END $$;
SQL
event='{"aggregate_type": "order", "aggregate_id": "x", "event_type": "Ignored", "payload": {}}'

expect 0 "^OK +publication +outbox_pub exists" -- "$RELAY_BIN" check -c "$RELAY_CONF"
grep -Eq '^OK +messages +events are transactional logical messages with prefix "outbox"' "$WORK/out" ||
  fail "check: $(cat "$WORK/out")"
for cmd in "backfill --job replay" audit; do
  # shellcheck disable=SC2086 # the command and its options
  expect 78 "outbox-relay ${cmd%% *} reads the outbox table with SQL and cannot see logical messages" -- \
    "$RELAY_BIN" $cmd -c "$RELAY_CONF"
done

relay_start
addr=$(http_address "$WORK/relay.log")
log "phase 1: events, ignored messages, bad messages, an event without id"
sql >/dev/null <<SQL
BEGIN; SELECT emit(5);
  SELECT pg_logical_emit_message(true, 'audit', '$event');
  SELECT pg_logical_emit_message(false, 'outbox', '$event');
COMMIT;
BEGIN; SELECT emit(20); SELECT pg_logical_emit_message(false, 'outbox', '$event'); ROLLBACK;
BEGIN; SELECT pg_logical_emit_message(true, 'audit', '$event'); COMMIT;
SELECT pg_logical_emit_message(false, 'outbox', '$event');
BEGIN; SELECT emit(2);
  SELECT pg_logical_emit_message(true, 'outbox', 'not json {');
  SELECT pg_logical_emit_message(true, 'outbox', '{"aggregate_type": "order", "aggregate_id": "bad", "event_type": "OrderCreated"}');
  SELECT emit(1);
COMMIT;
BEGIN; SELECT emit(1);
  SELECT pg_logical_emit_message(true, 'outbox', '{"aggregate_type": "pos", "aggregate_id": "p", "event_type": "Pos", "payload": {}}');
COMMIT;
SQL
wait_confirmed "$(current_lsn)" 30
metrics=$(curl -s --max-time 5 "http://$addr/metrics")
for want in 'other_prefix"} 2' 'non_transactional"} 3'; do
  grep -qF "outbox_relay_messages_ignored_total{reason=\"$want" <<<"$metrics" ||
    fail "/metrics lacks messages_ignored_total{reason=\"$want: $(grep messages_ignored <<<"$metrics")"
done
ignored=$(grep -c 'ignored a .* logical message with prefix' "$WORK/relay.log" || true)
((ignored == 5)) || fail "expected 5 debug lines on ignored messages, found $ignored"

# The two bad messages: dead letters with the reason and the content as sent.
read_committed "$OUTBOX_RELAY_DEAD_LETTER_TOPIC" -J |
  jq -r '. as $r | ($r.headers // []) as $h
    | ([range(0; $h | length; 2) | {key: $h[.], value: $h[. + 1]}] | from_entries) as $hs
    | "\($hs.dead_letter_reason)|\($hs.dead_letter_error)|\($hs.event_id)|\($r.payload)"' >"$WORK/dead"
(($(wc -l <"$WORK/dead") == 2)) || fail "expected 2 dead letters: $(cat "$WORK/dead")"
grep -Eq '^bad_row\|message content is not JSON: .*\|[0-9A-F]{16}-0{7}3\|not json \{$' "$WORK/dead" ||
  fail "dead letter of the content that is not JSON: $(cat "$WORK/dead")"
grep -Eq '^bad_row\|message content has no "payload".*\|[0-9A-F]{16}-0{7}4\|\{"aggregate_type": "order", "aggregate_id": "bad"' "$WORK/dead" ||
  fail "dead letter of the message without payload: $(cat "$WORK/dead")"
# The event without "id": named by its position, the second event of its transaction.
consume "it.$ID.pos" >"$WORK/pos"
awk -F'\t' '{ n = split($2, hs, ","); for (i = 1; i <= n; i++) { split(hs[i], kv, "="); h[kv[1]] = kv[2] }
  exit !(NR == 1 && h["event_id"] == h["outbox_position"] && h["event_id"] ~ /^[0-9A-F]+-00000002$/ && length(h["event_id"]) == 25) }
  END { exit NR != 1 }' "$WORK/pos" || fail "the event without id: $(cat "$WORK/pos")"

log "phase 2: a writer while the relay is killed with SIGKILL and started again"
sql -c "
DO \$\$
DECLARE sizes int[] := ARRAY[1, 3, 17, 1, 40, 2, 9];
BEGIN
  FOR r IN 0..299 LOOP
    PERFORM emit(sizes[1 + r % 7]);
    IF r % 3 = 0 THEN
      PERFORM pg_logical_emit_message(true, 'audit', '$event');
      PERFORM pg_logical_emit_message(false, 'outbox', '$event');
    END IF;
    COMMIT;
    IF r % 4 = 0 THEN
      PERFORM emit(5);
      ROLLBACK;
    END IF;
    PERFORM pg_sleep(0.01);
  END LOOP;
END \$\$" &
WRITER_PID=$!
sleep 1.5
kill -0 "$WRITER_PID" 2>/dev/null || fail "the writer ended before the SIGKILL"
kill -9 "$RELAY_PID"
wait "$RELAY_PID" 2>/dev/null || true
RELAY_PID=
before=$(read_committed_once "it.$ID.order" -f 'x\n' | wc -l)
log "SIGKILL with $before records committed, the writer still writing"
((before > 0)) || fail "nothing was published before the kill"
relay_start
wait "$WRITER_PID" || fail "the writer failed"
WRITER_PID=
wait_confirmed "$(current_lsn)" 60
check_slot_not_ahead
relay_stop

consume "it.$ID.order" >"$WORK/records"
sql -c "SELECT id FROM expected" >"$WORK/expected"
records=$(wc -l <"$WORK/records") committed=$(wc -l <"$WORK/expected")
log "consumed $records records for $committed committed events"
exactly_once "events across a SIGKILL" "$WORK/records" "$WORK/expected" --per-key-order
# As the writer sent them: headers, and the payload's digits (19.10, not 19.1).
awk -F'\t' '$2 !~ /(^|,)trace=t[0-9]+(,|$)/ { print; bad++ } END { exit bad > 0 }' "$WORK/records" \
  >"$WORK/untraced" || fail "records without their trace header: $(head -2 "$WORK/untraced")"
(($(grep -cF '"amount" : 19.10' "$WORK/records") == records)) ||
  fail "payloads changed: $(grep -vF '"amount" : 19.10' "$WORK/records" | head -2)"
grep -q 'Ignored' "$WORK/records" && fail "an ignored message was published"

# With schemas.on_invalid = "stop" a bad message stops the relay (exit 65) with one line, and
# nothing of its transaction is confirmed: a restart stops at it again.
sql -c "SELECT pg_logical_emit_message(true, 'outbox', '{\"aggregate_id\": \"k\"}')" >/dev/null
for _ in 1 2; do
  OUTBOX_RELAY_SCHEMAS_ON_INVALID=stop expect 65 'message content has no "event_type"' -- \
    timeout 60 "$RELAY_BIN" run -c "$RELAY_CONF"
done
log "ok: $records events exactly once in per-key order across a SIGKILL; 2 dead letters; ignored messages counted"

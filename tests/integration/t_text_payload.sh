#!/usr/bin/env bash
# A `text` payload column in envelope mode: payloads that are JSON are wrapped in the
# envelope as JSON; the ones that are not (plain text, cut-off JSON) cannot become a valid
# envelope and are dead-lettered as bad_row, by `run` and by `backfill` alike. Every
# record value is valid JSON.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
DLQ=it.$ID.dead
export OUTBOX_RELAY_OUTBOX_VALUE=envelope OUTBOX_RELAY_DEAD_LETTER_TOPIC=$DLQ
sql -c "ALTER TABLE outbox ALTER COLUMN payload TYPE text"
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES
  ('order', 'k1', 'OrderCreated', '{\"n\": 1}'),
  ('order', 'k2', 'OrderCreated', 'hello, not JSON'),
  ('order', 'k3', 'OrderCreated', '\"a JSON string\"'),
  ('order', 'k4', 'OrderCreated', '{\"n\": ')"

relay_start
wait_confirmed "$(current_lsn)" 60
relay_stop
"$RELAY_BIN" backfill -c "$ROOT/etc/outbox-relay.conf" --job text --topic "it.$ID.replay" \
  >>"$WORK/relay.log" 2>&1 || fail "backfill exited $?"

grep -q 'column "payload" of public.outbox is not json or jsonb' "$WORK/relay.log" ||
  fail "run did not say that the payload column is not JSON"
H='(.headers // []) as $h | [range(0; $h | length; 2) | {key: $h[.], value: $h[. + 1]}] | from_entries'
for topic in order replay; do
  read_committed "it.$ID.$topic" -J >"$WORK/$topic.json"
  got=$(jq -r '.payload | fromjson | [.event_id, (.payload | tojson)] | @tsv' "$WORK/$topic.json" | sort | tr '\t\n' ' |')
  [[ $got == '1 {"n":1}|3 "a JSON string"|' ]] || fail "$topic: envelopes $got"
done
read_committed "$DLQ" -J >"$WORK/dead.json"
dead=$(jq -r "($H) as \$hd | [\$hd.event_id, \$hd.dead_letter_reason, \$hd.outbox_replay // \"run\"] | @tsv" "$WORK/dead.json" | sort | tr '\t\n' ' |')
[[ $dead == '2 bad_row run|2 bad_row text|4 bad_row run|4 bad_row text|' ]] || fail "dead letters: $dead"
jq -r "($H) | .dead_letter_error" "$WORK/dead.json" | grep -vq 'is not JSON' && fail "a dead letter without the reason"
log "ok: JSON text payloads enveloped, the others dead-lettered as bad_row by run and backfill"

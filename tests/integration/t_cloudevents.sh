#!/usr/bin/env bash
# The record shapes teams bring from Debezium's EventRouter and CloudEvents, on the real
# servers: outbox.fields puts extra columns into headers and the envelope (NULL left out,
# the row's own copy of such a header dropped); `run` with etc/cloudevents.conf writes
# structured CloudEvents, `backfill` writes the envelope with etc/fields.conf and the binary
# content mode (outbox.cloudevents_headers). A consumer built on the CloudEvents SDK for
# Python and kafka-python (PyPI, in a venv under .local/tools) parses every record of both
# modes into events equal to the rows; schemas with applies_to = "value" check the
# CloudEvent. A field naming a header the relay sets is refused at load, a field whose
# column the table lacks at start.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

VENV=$ROOT/.local/tools/cloudevents-venv
CLOUDEVENTS_VERSION=2.2.0
KAFKA_PYTHON_VERSION=3.0.12
if ! "$VENV/bin/python" -c 'import cloudevents.core.bindings.kafka, kafka' 2>/dev/null; then
  log "installing cloudevents $CLOUDEVENTS_VERSION and kafka-python $KAFKA_PYTHON_VERSION into $VENV"
  python3 -m venv "$VENV" || fail "python3 -m venv (install python3-venv)"
  "$VENV/bin/pip" install -q "cloudevents==$CLOUDEVENTS_VERSION" \
    "kafka-python==$KAFKA_PYTHON_VERSION" >&2 || fail "pip install failed"
fi

setup_db
sql -c "ALTER TABLE outbox ADD COLUMN tenant text, ADD COLUMN priority int"
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload, headers, created_at, tenant, priority) VALUES
  ('order', 'o-1', 'OrderCreated', '{\"n\": 1, \"items\": [\"a\"]}', '{\"tenant_id\": \"spoofed\", \"trace\": \"t1\"}',
   '2026-11-27 07:51:30.123456+00', 'acme', 5),
  ('order', 'o-2', 'OrderPaid', '{\"n\": 2}', NULL, '2026-11-27 08:00:00+00', NULL, NULL),
  ('order', 'o-1', 'OrderShipped', '{\"n\": 3, \"s\": \"\u00fc\"}', NULL, now(), 'globex', 7)"
sql -c "SELECT json_build_object('id', id::text, 'type', event_type, 'subject', aggregate_id,
  'time', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
  'data', payload, 'tenant', tenant) FROM outbox ORDER BY id" >"$WORK/rows.jsonl"

# Refused before anything is read or written.
OUTBOX_RELAY_OUTBOX_FIELDS=tenant:header:event_id expect 78 \
  'outbox.fields: column "tenant" goes to header "event_id", which the relay sets itself' -- \
  "$RELAY_BIN" check -c "$ROOT/etc/outbox-relay.conf"
OUTBOX_RELAY_OUTBOX_FIELDS=region:header expect 78 \
  'outbox table public.outbox has no column "region", which outbox.fields names' -- \
  "$RELAY_BIN" backfill -c "$ROOT/etc/outbox-relay.conf" --job missing --topic "it.$ID.missing"

# run: structured CloudEvents, schema-checked as the record value (schemas.applies_to =
# "value"): the schemas describe the CloudEvent, so OrderCreated passes only as one, and
# OrderPaid, whose row has no tenant, lacks the extension attribute and is dead-lettered.
mkdir "$WORK/schemas"
echo '{"type": "object", "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"],
  "properties": {"specversion": {"const": "1.0"}, "data": {"type": "object", "required": ["n"]}}}' \
  >"$WORK/schemas/OrderCreated.json"
echo '{"type": "object", "required": ["specversion", "tenant"]}' >"$WORK/schemas/OrderPaid.json"
OUTBOX_RELAY_SCHEMAS_DIR=$WORK/schemas OUTBOX_RELAY_SCHEMAS_APPLIES_TO=value \
  OUTBOX_RELAY_DEAD_LETTER_TOPIC=it.$ID.dead RELAY_CONF=$ROOT/etc/cloudevents.conf relay_start
wait_confirmed "$(current_lsn)" 60
relay_stop
read_committed "it.$ID.dead" -J >"$WORK/dead.json"
# backfill: the envelope with fields, and the binary content mode.
"$RELAY_BIN" backfill -c "$ROOT/etc/fields.conf" --job fields --topic "it.$ID.fields" \
  >>"$WORK/relay.log" 2>&1 || fail "backfill (fields) exited $?"
OUTBOX_RELAY_OUTBOX_CLOUDEVENTS_HEADERS=true "$RELAY_BIN" backfill -c "$ROOT/etc/outbox-relay.conf" \
  --job binary --topic "it.$ID.binary" >>"$WORK/relay.log" 2>&1 || fail "backfill (binary) exited $?"

H='(.headers // []) as $h | [range(0; $h | length; 2) | {key: $h[.], value: $h[. + 1]}] | from_entries'
read_committed "it.$ID.fields" -J >"$WORK/fields.json"
got=$(jq -c "($H) as \$hd | (.payload | fromjson) as \$v | [\$v.event_id, \$hd.tenant_id, \$hd.trace, (\$v | keys), \$v.tenant, \$v.priority]" \
  "$WORK/fields.json" | sort | tr '\n' ' ')
want='["1","acme","t1",["event_id","payload","priority","tenant","type"],"acme",5] '
want+='["2",null,null,["event_id","payload","type"],null,null] '
want+='["3","globex",null,["event_id","payload","priority","tenant","type"],"globex",7] '
[[ $got == "$want" ]] || fail "fields: $got"

read_committed "it.$ID.order" -J >"$WORK/structured.json"
got=$(jq -c "($H) as \$hd | (.payload | fromjson) as \$v | select(\$v.id == \"1\") |
  [\$hd[\"content-type\"], \$hd.tenant_id, ([\$hd | keys[] | select(startswith(\"ce_\"))] | length), \$v.time, \$v.source]" \
  "$WORK/structured.json")
[[ $got == '["application/cloudevents+json","acme",0,"2026-11-27T07:51:30.123456Z","/orders/outbox"]' ]] ||
  fail "structured record of row 1: $got"

dead=$(jq -r "($H) as \$hd | [\$hd.event_id, \$hd.dead_letter_reason, (.payload | fromjson | .type)] | @tsv" \
  "$WORK/dead.json" | tr '\t\n' ' |')
[[ $dead == '2 invalid OrderPaid|' ]] || fail "dead letters of the structured run: $dead"

jq -c 'select(.id != "2")' "$WORK/rows.jsonl" >"$WORK/published.jsonl"
for mode in structured binary; do
  topic=it.$ID.order source=/orders/outbox rows=$WORK/published.jsonl n=2
  [[ $mode == binary ]] && topic=it.$ID.binary source=/outbox-relay/relay-$ID rows=$WORK/rows.jsonl n=3
  out=$("$VENV/bin/python" "$ROOT/tests/tools/ce_consumer.py" "$KAFKA_BROKERS" "$topic" "$mode" \
    "$rows" "$source" 2>&1) || fail "CloudEvents SDK consumer ($mode): $out"
  [[ $out == "$n events equal their rows" ]] || fail "CloudEvents SDK consumer ($mode): $out"
  log "$mode: $out"
done
OUTBOX_RELAY_DEAD_LETTER_TOPIC=it.$ID.dead audit_ok "the structured records" 3 1
log "ok: fields as headers and envelope members, CloudEvents structured (run, schema-checked as the value) and binary (backfill) read by the SDK"

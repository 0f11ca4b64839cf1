#!/usr/bin/env bash
# Schema-checked events on the real servers, default policy (schemas.on_invalid =
# dead_letter): valid events reach their topic, invalid ones and rows that cannot become
# records reach the dead-letter topic in the same Kafka transactions, with their key,
# original value and reason headers; unknown types are published (on_unknown_type = allow);
# versions come from a header. Every row written lands exactly once in exactly one of the
# two places, across a SIGTERM restart.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
mkdir "$WORK/schemas"
cat >"$WORK/schemas/OrderCreated.json" <<'EOF'
{"$schema": "http://json-schema.org/draft-07/schema#",
 "type": "object", "required": ["order_id", "amount"],
 "properties": {"order_id": {"type": "integer"},
                "amount": {"$ref": "Money.json#/definitions/amount"}}}
EOF
cat >"$WORK/schemas/OrderCreated.v2.json" <<'EOF'
{"type": "object", "required": ["order_id", "amount", "currency"],
 "properties": {"currency": {"enum": ["EUR", "USD"]}}}
EOF
echo '{"definitions": {"amount": {"type": "number", "minimum": 0}}}' >"$WORK/schemas/Money.json"
export OUTBOX_RELAY_SCHEMAS_DIR=$WORK/schemas
export OUTBOX_RELAY_SCHEMAS_VERSION_HEADER=schema_version
DLQ=it.$ID.dead
export OUTBOX_RELAY_DEAD_LETTER_TOPIC=$DLQ
export OUTBOX_RELAY_BATCH_MAX_EVENTS=97 # several Kafka transactions, some splitting a Postgres one

# write FROM TO: transactions t = FROM..TO, each of 1-4 events n; by n:
#   n % 17 = 0  aggregate_type "bad type": an illegal topic name      -> bad_row
#   n % 13 = 0  type OrderNoted, no schema                            -> published
#   n % 11 = 0  version 2 (header) without currency                   -> invalid
#   n %  7 = 0  version 2 with currency                               -> published
#   n %  5 = 0  amount "free"                                         -> invalid
#   otherwise   a valid OrderCreated                                  -> published
write() {
  sql -c "
DO \$\$
BEGIN
  FOR t IN $1..$2 LOOP
    INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload, headers)
    SELECT CASE WHEN n % 17 = 0 THEN 'bad type' ELSE 'order' END,
           'order-' || (n % 20),
           CASE WHEN n % 13 = 0 THEN 'OrderNoted' ELSE 'OrderCreated' END,
           CASE WHEN n % 11 = 0 THEN jsonb_build_object('order_id', n, 'amount', 1)
                WHEN n % 7 = 0 THEN jsonb_build_object('order_id', n, 'amount', 2, 'currency', 'EUR')
                WHEN n % 5 = 0 THEN jsonb_build_object('order_id', n, 'amount', 'free')
                ELSE jsonb_build_object('order_id', n, 'amount', 10.5) END,
           CASE WHEN n % 11 = 0 OR n % 7 = 0 THEN '{\"schema_version\": \"2\", \"tenant\": \"t1\"}'::jsonb END
    FROM (SELECT t * 4 + g AS n FROM generate_series(1, 1 + t % 4) g) s;
    INSERT INTO other (note) VALUES ('busy');
    COMMIT;
  END LOOP;
END \$\$"
}

relay_start
write 1 150
# A rolled-back transaction with an invalid event: neither published nor dead-lettered.
sql -c "BEGIN; INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'x', 'OrderCreated', '{\"amount\": \"no\"}'); ROLLBACK;"
wait_confirmed "$(current_lsn)" 120
relay_stop
write 151 300
relay_start
wait_confirmed "$(current_lsn)" 120
relay_stop
grep -q 'schemas: 3 from' "$WORK/relay.log" || fail "the relay did not say which schemas it loaded"

# What each row should have become, and what Kafka has: "id<TAB>outcome<TAB>key<TAB>value".
sql -F $'\t' -c "
SELECT id, CASE WHEN aggregate_type = 'bad type' THEN 'bad_row'
                WHEN event_type = 'OrderNoted' THEN 'published'
                WHEN headers->>'schema_version' = '2' AND NOT payload ? 'currency' THEN 'invalid'
                WHEN headers IS NULL AND jsonb_typeof(payload->'amount') <> 'number' THEN 'invalid'
                ELSE 'published' END,
       aggregate_id, payload::text
FROM outbox ORDER BY id" | sort >"$WORK/expected"
consume_json() { read_committed "$1" -J; }
consume_json "it.$ID.order" >"$WORK/published.json"
consume_json "$DLQ" >"$WORK/dead.json"
# Header values by name (the last of a name wins), from kcat's ["k","v",...] array.
H='(.headers // []) as $h | [range(0; $h | length; 2) | {key: $h[.], value: $h[. + 1]}] | from_entries'
{
  jq -r "($H) as \$hd | [\$hd.event_id, \"published\", .key, .payload] | @tsv" "$WORK/published.json"
  jq -r "($H) as \$hd | [\$hd.event_id, \$hd.dead_letter_reason, .key, .payload] | @tsv" "$WORK/dead.json"
} | sort >"$WORK/actual"
written=$(wc -l <"$WORK/expected")
published=$(wc -l <"$WORK/published.json")
dead=$(wc -l <"$WORK/dead.json")
((written > 500)) || fail "only $written rows written"
((published + dead == written)) || fail "$published published + $dead dead-lettered != $written rows written"
diff "$WORK/expected" "$WORK/actual" >"$WORK/diff" ||
  fail "records differ from the rows (expected < > actual): $(head -20 "$WORK/diff")"

# The dead-letter headers: the reason, where and why, the schema, the original topic, the
# position and the event's own headers.
bad=$(jq -c "($H) as \$hd | select(\$hd.dead_letter_reason == \"invalid\" and
        ((\$hd.dead_letter_error | length) == 0 or \$hd.dead_letter_original_topic != \"it.$ID.order\"
         or (\$hd.outbox_position | test(\"^[0-9A-F]{16}-[0-9A-F]{8}$\") | not)
         or (\$hd.dead_letter_schema | IN(\"OrderCreated.json\", \"OrderCreated.v2.json\") | not)))" "$WORK/dead.json" | head -3)
[[ -z $bad ]] || fail "dead-letter records with wrong headers: $bad"
v1=$(jq -r "($H) as \$hd | select(\$hd.dead_letter_schema == \"OrderCreated.json\") | \$hd.dead_letter_error" "$WORK/dead.json" | sort -u)
[[ $v1 == "/amount: type: expected number, got string" ]] || fail "v1 reasons: $v1"
v2=$(jq -r "($H) as \$hd | select(\$hd.dead_letter_schema == \"OrderCreated.v2.json\") | [\$hd.dead_letter_error, \$hd.tenant] | @tsv" "$WORK/dead.json" | sort -u)
[[ $v2 == $'(root): required: missing property "currency"\tt1' ]] || fail "v2 reasons/headers: $v2"
rows=$(jq -r "($H) as \$hd | select(\$hd.dead_letter_reason == \"bad_row\") | [\$hd.dead_letter_original_topic, \$hd.dead_letter_error] | @tsv" "$WORK/dead.json" | sort -u)
[[ $rows == "it.$ID.bad type"$'\t'*'is not a legal Kafka topic name'* ]] || fail "bad_row headers: $rows"
# Published events carry no dead-letter headers; the dead-lettered keep their timestamps.
jq -e "($H) | has(\"dead_letter_reason\")" "$WORK/published.json" | grep -q true && fail "a published record has dead-letter headers"
grep -q "dead-lettered event [0-9]* of type OrderCreated .*invalid: /amount" "$WORK/relay.log" || fail "no log line per dead-lettered event"
grep -Eq "dead-lettered [1-9][0-9]*; confirmed" "$WORK/relay.log" || fail "the summary does not count dead letters"
log "ok: $written rows = $published published + $dead dead-lettered ($(cut -f2 "$WORK/expected" | sort | uniq -c | tr -s ' ' | tr '\n' ','))"

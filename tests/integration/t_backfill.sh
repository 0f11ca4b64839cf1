#!/usr/bin/env bash
# `outbox-relay backfill` on the real servers: a 100,000-row id range replayed into a scratch
# topic yields exactly those rows (key, value, the row's headers, outbox_replay=<job>); the
# finished job, run again, publishes nothing; --dry-run publishes nothing; an empty range exits
# 0 saying "0 events"; selections by type, aggregate and time select what the same SQL does,
# and a quote in a value is data, not SQL; events failing their schema are dead-lettered as
# by `run`; bad arguments give one line and exit 64; sql/05_prune.sql prunes by age in batches.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
conf=$ROOT/etc/outbox-relay.conf
backfill() { "$RELAY_BIN" backfill -c "$conf" "$@"; }
# topics: this test's topics but the checkpoint topic, one a line.
topics() {
  kcat -b "$KAFKA_BROKERS" -L -J | grep -o "\"topic\":\"it\.$ID\.[^\"]*\"" |
    grep -vF "\"$OUTBOX_RELAY_KAFKA_CHECKPOINT_TOPIC\"" | sort
}

# 120,000 rows with ids 1..120,000 (one INSERT into a new table), one second apart from
# 2026-01-01; every 7th an OrderPaid, every 5th with a headers column.
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload, headers, created_at)
SELECT 'order', 'agg-' || (g % 101), CASE WHEN g % 7 = 0 THEN 'OrderPaid' ELSE 'OrderCreated' END,
       jsonb_build_object('n', g),
       CASE WHEN g % 5 = 0 THEN jsonb_build_object('tenant', 't' || (g % 3)) END,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1, 120000) g"

log "job full: ids 10,001..110,000 into it.$ID.replay"
backfill --job full --from-id 10001 --to-id 110000 --topic "it.$ID.replay" >"$WORK/full.log" 2>&1 ||
  fail "backfill exited $?: $(tail -3 "$WORK/full.log")"
grep -q "job full finished: published 100000 events" "$WORK/full.log" || fail "no summary: $(tail -3 "$WORK/full.log")"
consume "it.$ID.replay" >"$WORK/records" || fail "reading it.$ID.replay failed"
records=$(wc -l <"$WORK/records")
((records == 100000)) || fail "consumed $records records, expected 100000"
exactly_once "job full, ids 10001..110000" "$WORK/records" <(seq 10001 110000)
audit_ok "job full" 100000 0 --from-id 10001 --to-id 110000 --topic "it.$ID.replay"
# Each record is its row: key, value, headers, the replay mark; no made-up position.
awk -F'\t' '
  { id = ""; replay = ""; tenant = ""; pos = 0
    n = split($2, hs, ",")
    for (i = 1; i <= n; i++) {
      split(hs[i], kv, "=")
      if (kv[1] == "event_id") id = kv[2] + 0
      if (kv[1] == "outbox_replay") replay = kv[2]
      if (kv[1] == "tenant") tenant = kv[2]
      if (kv[1] == "outbox_position") pos = 1
    }
    if ($1 != "agg-" (id % 101)) { print "id " id ": key " $1; bad++ }
    if ($3 != "{\"n\": " id "}") { print "id " id ": value " $3; bad++ }
    if (replay != "full" || pos) { print "id " id ": headers " $2; bad++ }
    if ((id % 5 == 0) != (tenant == "t" (id % 3))) { print "id " id ": headers " $2; bad++ }
  }
  END { exit bad > 0 }' "$WORK/records" >"$WORK/problems" || fail "$(head -5 "$WORK/problems" | tr '\n' ' ')"
log "ok: 100000 records, ids 10001..110000 once each, keys, values and headers right"

log "the finished job again: says so, publishes nothing"
backfill --job full --from-id 10001 --to-id 110000 --topic "it.$ID.replay" >"$WORK/again.log" 2>&1 ||
  fail "rerun exited $?: $(tail -3 "$WORK/again.log")"
grep -q "job full finished already: 100000 events published" "$WORK/again.log" || fail "rerun: $(cat "$WORK/again.log")"
grep -q "events to publish" "$WORK/again.log" && fail "the finished job read the outbox again"
sleep 1
n=$(consume "it.$ID.replay" | wc -l) || fail "reading it.$ID.replay failed"
((n == 100000)) || fail "the finished job published again: $n records"

log "--dry-run: counts, publishes nothing, creates no topic"
backfill --dry-run --from-id 10001 --to-id 110000 --topic "it.$ID.dry" >"$WORK/dry.log" 2>&1 ||
  fail "dry run exited $?: $(tail -3 "$WORK/dry.log")"
grep -q "100000 events would be published to topic it.$ID.dry" "$WORK/dry.log" || fail "dry run: $(tail -3 "$WORK/dry.log")"
backfill --dry-run --job dry --from-id 1 --to-id 120000 >"$WORK/dry2.log" 2>&1 || fail "dry run 2 exited $?"
grep -q "120000 events would be published" "$WORK/dry2.log" || fail "dry run 2: $(tail -3 "$WORK/dry2.log")"
[[ $(topics) == "\"topic\":\"it.$ID.replay\"" ]] || fail "topics after the dry runs: $(topics | tr '\n' ' ')"

log "an empty range: exit 0, \"0 events\""
backfill --job empty --from-id 500000 --to-id 600000 --topic "it.$ID.empty" >"$WORK/empty.log" 2>&1 ||
  fail "empty range exited $?: $(tail -3 "$WORK/empty.log")"
grep -q "published 0 events" "$WORK/empty.log" || fail "empty range: $(cat "$WORK/empty.log")"

log "selections are SQL parameters"
backfill --job sel --event-type OrderPaid --aggregate-id agg-7 --since '2026-01-01 05:00:00Z' \
  --until 2026-01-01T20:00:00+02:00 --topic "it.$ID.sel" >"$WORK/sel.log" 2>&1 || fail "selection exited $?: $(tail -3 "$WORK/sel.log")"
sql -c "SELECT id FROM outbox WHERE event_type = 'OrderPaid' AND aggregate_id = 'agg-7'
          AND created_at >= '2026-01-01 05:00:00+00' AND created_at < '2026-01-01 18:00:00+00' ORDER BY id" >"$WORK/sel.expected"
consume "it.$ID.sel" >"$WORK/sel.records" || fail "reading it.$ID.sel failed"
exactly_once "selection" "$WORK/sel.records" "$WORK/sel.expected"
(($(wc -l <"$WORK/sel.expected") > 10)) || fail "the selection test selects too little to mean anything"
backfill --job quote --aggregate-id "agg-1' OR 'x' = 'x" --topic "it.$ID.quote" >"$WORK/quote.log" 2>&1 ||
  fail "quoted selection exited $?: $(tail -3 "$WORK/quote.log")"
grep -q "published 0 events" "$WORK/quote.log" || fail "a quote in --aggregate-id was SQL: $(tail -2 "$WORK/quote.log")"
log "ok: $(wc -l <"$WORK/sel.expected") records selected by type, aggregate and time; a quote is data"

log "schema check and dead letters, as in run"
mkdir "$WORK/schemas"
cat >"$WORK/schemas/OrderPaid.json" <<'JSON'
{"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "maximum": 119000}}}
JSON
OUTBOX_RELAY_SCHEMAS_DIR=$WORK/schemas OUTBOX_RELAY_DEAD_LETTER_TOPIC=it.$ID.dlt \
  backfill --job schema --event-type OrderPaid --from-id 118001 --topic "it.$ID.valid" >"$WORK/schema.log" 2>&1 ||
  fail "schema job exited $?: $(tail -3 "$WORK/schema.log")"
consume "it.$ID.valid" >"$WORK/valid" || fail "reading it.$ID.valid failed"
consume "it.$ID.dlt" >"$WORK/dlt" || fail "reading it.$ID.dlt failed"
exactly_once "valid events" "$WORK/valid" <(seq 118001 119000 | awk '$1 % 7 == 0')
exactly_once "dead letters" "$WORK/dlt" <(seq 119001 120000 | awk '$1 % 7 == 0')
grep -v 'dead_letter_reason=invalid' "$WORK/dlt" | grep -q . && fail "a dead letter without its reason: $(head -1 "$WORK/dlt")"
grep -v 'outbox_replay=schema' "$WORK/dlt" | grep -q . && fail "a dead letter without the replay header"
grep -q "job schema finished: published 285 events to topic it.$ID.valid, 142 of them dead-lettered to it.$ID.dlt" \
  "$WORK/schema.log" || fail "schema job summary: $(tail -1 "$WORK/schema.log")"
log "ok: 143 valid events published, 142 invalid ones dead-lettered with the reason"

# expect_usage PATTERN -- args: exit 64 and exactly one line of output, matching PATTERN.
expect_usage() {
  local pattern=$1 rc=0
  shift 2
  backfill "$@" >"$WORK/out" 2>&1 || rc=$?
  ((rc == 64)) || fail "backfill $*: exit $rc, expected 64: $(cat "$WORK/out")"
  [[ $(wc -l <"$WORK/out") -eq 1 ]] || fail "backfill $*: not one line: $(cat "$WORK/out")"
  grep -Eq -- "$pattern" "$WORK/out" || fail "backfill $*: '$(cat "$WORK/out")' does not match '$pattern'"
  log "exit 64: $(cat "$WORK/out")"
}
expect_usage '--from-id 20 is greater than --to-id 10' -- --job bad --from-id 20 --to-id 10
expect_usage '--since "2026-13-45" is not a time' -- --job bad --since 2026-13-45
expect_usage '--until "tomorrow" is not a time' -- --job bad --until tomorrow
expect_usage 'unknown option --form-id' -- --job bad --form-id 3
expect_usage '--job NAME is required' -- --from-id 3
expect_usage '--rate "-5"' -- --job bad --rate -5
[[ $(topics | wc -l) -eq 4 ]] || fail "unexpected topics: $(topics | tr '\n' ' ')"

log "operator errors: no SELECT right (77, with the GRANT), a missing table (78)"
role=it_${ID}_r
psql -X -q -v ON_ERROR_STOP=1 "$PGURL" -c "CREATE ROLE $role LOGIN PASSWORD 'pw'"
rc=0
OUTBOX_RELAY_POSTGRES_CONNINFO=$(sed "s#//postgres:postgres@#//$role:pw@#" <<<"$DBURL") \
  backfill --dry-run >"$WORK/perm.log" 2>&1 || rc=$?
psql -X -q "$PGURL" -c "DROP ROLE $role"
((rc == 77)) || fail "without SELECT: exit $rc: $(cat "$WORK/perm.log")"
grep -q "permission denied for table outbox (run GRANT SELECT ON public.outbox TO $role;)" "$WORK/perm.log" ||
  fail "without SELECT: $(cat "$WORK/perm.log")"
rc=0
OUTBOX_RELAY_OUTBOX_TABLE=public.no_such_table backfill --dry-run >"$WORK/table.log" 2>&1 || rc=$?
((rc == 78)) || fail "missing table: exit $rc: $(cat "$WORK/table.log")"
grep -q 'relation "public.no_such_table" does not exist (check outbox.table' "$WORK/table.log" ||
  fail "missing table: $(cat "$WORK/table.log")"

log "retention: sql/05_prune.sql (twice: idempotent) deletes old rows in batches, keeps new ones"
sql -f "$ROOT/sql/05_prune.sql" -f "$ROOT/sql/05_prune.sql" >/dev/null
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'new', 'OrderCreated', '{}')"
sql -c "CALL outbox_prune('1 day', 20000, 2)" 2>"$WORK/prune.log"
grep -q "deleted 40000 rows older than 1 day in 2 batches" "$WORK/prune.log" || fail "prune: $(cat "$WORK/prune.log")"
sql -c "CALL outbox_prune('1 day', 7000)" 2>"$WORK/prune.log"
grep -q "deleted 80000 rows older than 1 day in 12 batches" "$WORK/prune.log" || fail "prune: $(cat "$WORK/prune.log")"
[[ $(sql -c "SELECT string_agg(aggregate_id, ',') FROM outbox") == new ]] || fail "prune left: $(sql -c "SELECT count(*) FROM outbox")"
sql -c "CALL outbox_prune('1 day', 0)" 2>"$WORK/prune.log" && fail "prune accepted batch_size 0"
grep -q "batch_size and max_batches must be at least 1" "$WORK/prune.log" || fail "prune: $(cat "$WORK/prune.log")"
log "ok"

#!/usr/bin/env bash
# Several outbox tables, one relay (etc/tenants.conf: outbox.table = "*.outbox", topic
# "${schema}.${aggregate_type}"): a table whose columns do not fit is refused at start,
# naming it, and a pattern matching nothing too; `check` reports each table. Transactions
# touching tenant_a.outbox and tenant_b.outbox together (and rolled-back ones), with two
# kill -9 of the relay in the middle and Kafka transactions smaller than some Postgres ones:
# every row in Kafka exactly once, in per-key order, each tenant on its own topic, and the
# events of one Postgres transaction numbered as one across the tables (one ledger, one
# checkpoint). A tenant added to the publication while the relay runs joins; one whose
# columns do not fit, or that is altered so, is left out with a warning and the others go
# on; `audit --table` finds its rows missing, `backfill --table` re-publishes them.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
conf=$ROOT/etc/tenants.conf
export RELAY_CONF=$conf
export OUTBOX_RELAY_OUTBOX_TOPIC="it.$ID.\${schema}.\${aggregate_type}"
export OUTBOX_RELAY_BATCH_MAX_EVENTS=50
export OUTBOX_RELAY_DEAD_LETTER_TOPIC=it.$ID.dead
# The environment's outbox.table wins over the file's; unset, the file's "*.outbox" holds.
unset OUTBOX_RELAY_OUTBOX_TABLE

# tenant SCHEMA [EVENT_TYPE_COLUMN]: an outbox table of its own (own id sequence) in SCHEMA,
# readable by the relay's role (backfill, audit).
tenant() {
  sql -c "CREATE SCHEMA $1;
CREATE TABLE $1.outbox (id bigserial PRIMARY KEY, aggregate_type text NOT NULL,
  aggregate_id text NOT NULL, ${2:-event_type} text NOT NULL, payload jsonb NOT NULL,
  headers jsonb, created_at timestamptz NOT NULL DEFAULT now());
GRANT USAGE ON SCHEMA $1 TO outbox_relay; GRANT SELECT ON $1.outbox TO outbox_relay;"
}
tenant tenant_a
tenant tenant_b
tenant tenant_x kind # no event_type column
sql -c "ALTER PUBLICATION outbox_pub SET TABLE tenant_a.outbox, tenant_b.outbox, tenant_x.outbox"

# ---- refused at start ----
expect 78 'outbox table tenant_x.outbox has no column "event_type": set outbox.columns.event_type.*takes it from publication "outbox_pub": fix its columns, or take it out of the publication' \
  -- "$RELAY_BIN" run -c "$conf"
expect 1 '^FAIL outbox table +tenant_x.outbox: outbox table tenant_x.outbox has no column "event_type"' \
  -- "$RELAY_BIN" check -c "$conf"
grep -Eq '^OK +outbox table +tenant_a.outbox: published, columns fit' "$WORK/out" || fail "check: $(cat "$WORK/out")"
grep -Eq '^OK +outbox table +tenant_b.outbox: published, columns fit' "$WORK/out" || fail "check: $(cat "$WORK/out")"
OUTBOX_RELAY_OUTBOX_TABLE='*.nothing' expect 78 'outbox.table "\*.nothing" matches no table of publication "outbox_pub"' \
  -- "$RELAY_BIN" run -c "$conf"
OUTBOX_RELAY_OUTBOX_TABLE='*.nothing' expect 1 '^FAIL publication +outbox.table "\*.nothing" matches no table' \
  -- "$RELAY_BIN" check -c "$conf"
OUTBOX_RELAY_OUTBOX_TABLE='tenant_a.outbox, tenant_c.outbox' expect 78 'publication "outbox_pub" does not include table tenant_c.outbox' \
  -- "$RELAY_BIN" run -c "$conf"
sql -c "ALTER PUBLICATION outbox_pub DROP TABLE tenant_x.outbox"
# The environment's comma-separated list.
OUTBOX_RELAY_OUTBOX_TABLE='tenant_a.outbox, tenant_b.outbox' expect 0 \
  '^OK +publication +outbox_pub publishes inserts of tenant_a.outbox, tenant_b.outbox$' -- "$RELAY_BIN" check -c "$conf"

# ---- mixed transactions, kill -9 twice ----
# write FIRST LAST SLEEP: transactions touching both tenants (tenant_a, tenant_b, tenant_a
# again), noise in `other`, every fifth followed by a rolled-back one touching both.
write() {
  sql -c "
DO \$\$
DECLARE n int;
BEGIN
  FOR i IN $1..$2 LOOP
    n := 1 + (i * 7) % 60;
    INSERT INTO tenant_a.outbox (aggregate_type, aggregate_id, event_type, payload)
      SELECT 'order', 'agg-' || (g % 5), 'OrderCreated', jsonb_build_object('i', i, 'g', g)
      FROM generate_series(1, n) g;
    INSERT INTO other (note) VALUES ('noise');
    INSERT INTO tenant_b.outbox (aggregate_type, aggregate_id, event_type, payload)
      SELECT 'order', 'agg-' || (g % 3), 'OrderCreated', jsonb_build_object('i', i, 'g', g)
      FROM generate_series(1, 1 + i % 13) g;
    INSERT INTO tenant_a.outbox (aggregate_type, aggregate_id, event_type, payload)
      VALUES ('order', 'agg-' || (i % 5), 'OrderPaid', jsonb_build_object('i', i));
    COMMIT;
    IF i % 5 = 0 THEN
      INSERT INTO tenant_a.outbox (aggregate_type, aggregate_id, event_type, payload)
        VALUES ('order', 'agg-0', 'Never', '{}');
      INSERT INTO tenant_b.outbox (aggregate_type, aggregate_id, event_type, payload)
        VALUES ('order', 'agg-0', 'Never', '{}');
      ROLLBACK;
    END IF;
    PERFORM pg_sleep($3);
  END LOOP;
END \$\$"
}
# kill9 N: once the relay has started streaming for the Nth time (fencing the one before
# takes a moment), lets it publish half a second, then kill -9.
kill9() {
  local deadline=$((SECONDS + 30))
  until (($(grep -c 'streaming from' "$WORK/relay.log" || true) >= $1)); do
    ((SECONDS < deadline)) || fail "the relay did not start streaming"
    sleep 0.1
  done
  sleep 0.5
  kill -9 "$RELAY_PID"
  wait "$RELAY_PID" 2>/dev/null || true
  RELAY_PID=
}

write 1 30 0
relay_start
write 31 190 0.04 &
writer=$!
kill9 1
relay_start
kill9 2
kill -0 "$writer" 2>/dev/null || fail "the writer ended before the second kill -9: make it write longer"
relay_start
wait "$writer"
log "$(sql -c "SELECT (SELECT count(*) FROM tenant_a.outbox) || ' + ' || (SELECT count(*) FROM tenant_b.outbox)") rows written, two kill -9"

# ---- while it runs: a tenant added that fits, one that does not, one altered so it no
# longer fits (its rows are left out, the others go on) ----
tenant tenant_c
tenant tenant_y kind
sql -c "ALTER PUBLICATION outbox_pub ADD TABLE tenant_c.outbox, tenant_y.outbox"
sql -c "BEGIN;
INSERT INTO tenant_a.outbox (aggregate_type, aggregate_id, event_type, payload)
  SELECT 'order', 'agg-' || (g % 5), 'Late', '{}' FROM generate_series(1, 5) g;
INSERT INTO tenant_y.outbox (aggregate_type, aggregate_id, kind, payload)
  SELECT 'order', 'agg-1', 'Left', '{}' FROM generate_series(1, 5) g;
INSERT INTO tenant_c.outbox (aggregate_type, aggregate_id, event_type, payload)
  SELECT 'order', 'agg-' || (g % 2), 'Joined', '{}' FROM generate_series(1, 7) g;
COMMIT;"
sql -c "ALTER TABLE tenant_b.outbox RENAME COLUMN event_type TO kind"
sql -c "BEGIN;
INSERT INTO tenant_b.outbox (aggregate_type, aggregate_id, kind, payload)
  SELECT 'order', 'agg-1', 'Renamed', '{}' FROM generate_series(1, 3) g;
INSERT INTO tenant_a.outbox (aggregate_type, aggregate_id, event_type, payload)
  SELECT 'order', 'agg-1', 'Renamed', '{}' FROM generate_series(1, 2) g;
COMMIT;"
wait_confirmed "$(current_lsn)" 60
kill -0 "$RELAY_PID" || fail "the relay died"
relay_stop
resumed=$(grep -c 'streaming from .*checkpoint [0-9A-F]*/' "$WORK/relay.log" || true)
((resumed == 2)) || fail "expected both restarts after kill -9 to resume from a checkpoint, saw $resumed"
grep -q 'outbox table tenant_c.outbox joins: outbox.table "\*.outbox" matches it' "$WORK/relay.log" ||
  fail "tenant_c did not join"
grep -q 'outbox table tenant_y.outbox has no column "event_type".*its rows are left out' "$WORK/relay.log" ||
  fail "tenant_y was not left out with a warning"
grep -q 'outbox table tenant_b.outbox has no column "event_type".*its rows are left out' "$WORK/relay.log" ||
  fail "tenant_b's rows after its column was renamed were not left out with a warning"
sql -c "ALTER PUBLICATION outbox_pub DROP TABLE tenant_y.outbox"
sql -c "ALTER TABLE tenant_b.outbox RENAME COLUMN kind TO event_type"
# Running again (tenant_b fits again): its idle checkpoints pass what audit reads, so rows
# not in Kafka are missing, not pending.
relay_start

for t in tenant_a tenant_b tenant_c; do
  consume "it.$ID.$t.order" >"$WORK/$t.records"
  sql -c "SELECT id FROM $t.outbox WHERE '$t' <> 'tenant_b' OR event_type <> 'Renamed' ORDER BY id" >"$WORK/$t.expected"
  exactly_once "$t" "$WORK/$t.records" "$WORK/$t.expected" --per-key-order
  log "$t: $(wc -l <"$WORK/$t.records") records exactly once, in per-key order, on it.$ID.$t.order"
done
grep -q 'Never\|Left' "$WORK"/tenant_*.records && fail "a rolled-back or left-out row was published"
grep -q 'Renamed' "$WORK/tenant_b.records" && fail "a row of tenant_b after the rename was published"
(($(grep -c 'event_type=Renamed' "$WORK/tenant_a.records") == 2)) || fail "tenant_a's rows next to them are not all there"
# One Postgres transaction, one numbering across its tables: for each commit LSN the
# indexes of all tenants' records are exactly 1..n, and some transactions span tenants.
awk -F'\t' -v t=0 '
  function hex(s,  i, v) { for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789ABCDEF", substr(s, i, 1)) - 1; return v }
  FNR == 1 { t++ }
  { n = split($2, hs, ",")
    for (i = 1; i <= n; i++) if (hs[i] ~ /^outbox_position=/) {
      pos = substr(hs[i], 17) # LSN in 16 hex digits, "-", the index in 8
      lsn = substr(pos, 1, 16); idx = hex(substr(pos, 18))
      count[lsn]++; if (idx > max[lsn]) max[lsn] = idx
      if (seen[lsn, idx]++) { print "index " idx " twice in " lsn; bad++ }
      tenants[lsn, t] = 1
    }
  }
  END {
    for (l in count) {
      if (count[l] != max[l]) { print l ": " count[l] " events, indexes up to " max[l]; bad++ }
      if ((l, 1) in tenants && (l, 2) in tenants) mixed++
      if ((l, 1) in tenants && (l, 3) in tenants) joined++
    }
    if (mixed != 190 || joined != 1) { print "mixed " mixed ", joined " joined; bad++ }
    exit bad > 0
  }' "$WORK/tenant_a.records" "$WORK/tenant_b.records" "$WORK/tenant_c.records" >"$WORK/positions" ||
  fail "positions: $(head -5 "$WORK/positions" | tr '\n' ' ')"
log "ok: each Postgres transaction numbered once across the tenants' tables"

# ---- audit and backfill pick a table ----
audit() { "$RELAY_BIN" audit -c "$conf" --wait 30 "$@"; }
expect 64 'outbox.table names 3 tables \(tenant_a.outbox, tenant_b.outbox, tenant_c.outbox\): choose one with --table' -- audit
expect 64 '--table tenant_z.outbox is not an outbox table of this relay' -- audit --table tenant_z.outbox
expect 64 '--table "\*.outbox": a pattern; expected one table' -- audit --table '*.outbox'
for t in tenant_a tenant_c; do
  n=$(wc -l <"$WORK/$t.expected")
  audit --table "$t.outbox" >"$WORK/audit.out" 2>>"$WORK/audit.err" || fail "audit --table $t.outbox: exit $?: $(tail -3 "$WORK/audit.out")"
  [[ $(tail -1 "$WORK/audit.out") == "audit rows=$n published_once=$n dead_lettered=0 missing=0 duplicated=0 misordered=0" ]] ||
    fail "audit --table $t.outbox: $(tail -1 "$WORK/audit.out")"
done
# tenant_b's three rows left out are missing, and audit says so.
sql -c "SELECT id FROM tenant_b.outbox ORDER BY id" >"$WORK/tenant_b.all"
n=$(wc -l <"$WORK/tenant_b.all")
rc=0
audit --table tenant_b.outbox >"$WORK/audit.out" 2>>"$WORK/audit.err" || rc=$?
[[ $rc == 1 && $(tail -1 "$WORK/audit.out") == "audit rows=$n published_once=$((n - 3)) dead_lettered=0 missing=3 duplicated=0 misordered=0" ]] ||
  fail "audit --table tenant_b.outbox: exit $rc: $(tail -1 "$WORK/audit.out")"
log "ok: audit --table says every row of each tenant is in Kafka once, but tenant_b's 3 left out"

expect 64 'choose one with --table' -- "$RELAY_BIN" backfill -c "$conf" --job replay-b --topic "it.$ID.replay"
"$RELAY_BIN" backfill -c "$conf" --job replay-b --table tenant_b.outbox --topic "it.$ID.replay" \
  >"$WORK/backfill.log" 2>&1 || fail "backfill: $(tail -3 "$WORK/backfill.log")"
grep -q 'reading tenant_b.outbox on' "$WORK/backfill.log" || fail "backfill: $(cat "$WORK/backfill.log")"
consume "it.$ID.replay" >"$WORK/replay.records"
exactly_once "backfill --table tenant_b.outbox" "$WORK/replay.records" "$WORK/tenant_b.all" --per-key-order
audit --table tenant_b.outbox --topic "it.$ID.replay" >"$WORK/audit.out" 2>>"$WORK/audit.err" ||
  fail "audit of the replay: exit $?: $(tail -3 "$WORK/audit.out")"
[[ $(tail -1 "$WORK/audit.out") == "audit rows=$n published_once=$n dead_lettered=0 missing=0 duplicated=0 misordered=0" ]] ||
  fail "audit of the replay: $(tail -1 "$WORK/audit.out")"
log "ok: backfill --table tenant_b.outbox re-published its $n rows, audit agrees"
relay_stop

#!/usr/bin/env bash
# `outbox-relay audit` on the real servers: after the relay published 300 rows of two
# aggregate types and dead-lettered one that cannot become a record, audit says every row
# is in Kafka once (exit 0, also as JSON); a record produced a second time by hand is a
# duplicate, a record whose position goes back for its key is out of order, a backfill
# into a scratch topic of a part of the rows leaves the others missing there (exit 1 each);
# records deleted from the start of a partition leave their rows missing; a pruned row's
# record is counted apart; rows the relay has not reached are pending.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
export OUTBOX_RELAY_DEAD_LETTER_TOPIC=it.$ID.dead
conf=$ROOT/etc/outbox-relay.conf
audit() { "$RELAY_BIN" audit -c "$conf" "$@"; }
last() { tail -1 "$WORK/audit.out"; }
expect() { # expect EXIT LINE [audit args]: runs audit, checks its exit code and last line
  local want=$1 line=$2 rc=0
  shift 2
  audit "$@" >"$WORK/audit.out" 2>>"$WORK/audit.err" || rc=$?
  ((rc == want)) || fail "audit $*: exit $rc, expected $want: $(tail -5 "$WORK/audit.out")"
  [[ $(last) == "audit $line" ]] || fail "audit $*: '$(last)', expected 'audit $line'"
}

sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
SELECT CASE WHEN g % 3 = 0 THEN 'invoice' ELSE 'order' END, 'agg-' || (g % 7), 'Created',
       jsonb_build_object('n', g) FROM generate_series(1, 300) g"
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
        VALUES ('bad type', 'agg-x', 'Created', '{}')"
relay_start
wait_confirmed "$(current_lsn)" 60

expect 0 "rows=301 published_once=300 dead_lettered=1 missing=0 duplicated=0 misordered=0"
grep -q "^dead_lettered (1)" "$WORK/audit.out" || fail "the dead letter is not listed"
audit --json >"$WORK/audit.json" || fail "audit --json exited $?"
[[ $(jq -r '[.rows, .published_once, .dead_lettered, .missing] | @tsv' "$WORK/audit.json") == $'301\t300\t1\t0' ]] ||
  fail "audit --json: $(cat "$WORK/audit.json")"
expect 0 "rows=22 published_once=22 dead_lettered=0 missing=0 duplicated=0 misordered=0" \
  --from-id 1 --to-id 150 --aggregate-id agg-1
log "ok: every row once, by selection too"

# A record produced a second time, outside any transaction: a duplicate.
read_committed "it.$ID.order" -J -c 1 >"$WORK/one.json"
key=$(jq -r .key "$WORK/one.json")
id=$(jq -r '(.headers // []) as $h | [range(0; $h | length; 2) | {key: $h[.], value: $h[. + 1]}] | from_entries | .event_id' "$WORK/one.json")
pos=$(jq -r '(.headers // []) as $h | [range(0; $h | length; 2) | {key: $h[.], value: $h[. + 1]}] | from_entries | .outbox_position' "$WORK/one.json")
part=$(jq -r .partition "$WORK/one.json")
jq -r .payload "$WORK/one.json" | kcat -P -b "$KAFKA_BROKERS" -t "it.$ID.order" -p "$part" -k "$key" \
  -H "event_id=$id" -H "outbox_position=${pos%-*}-000F423F"
expect 1 "rows=301 published_once=299 dead_lettered=1 missing=0 duplicated=1 misordered=0"
grep -q "^  $id " "$WORK/audit.out" || fail "the duplicate's event id is not listed"
log "ok: a record produced twice by hand is a duplicate ($id)"

# A record of no selected row whose position goes back for its key: out of order (in the
# "LSN:index" form of relays before the fixed-width one, which audit reads too).
echo '{}' | kcat -P -b "$KAFKA_BROKERS" -t "it.$ID.order" -p "$part" -k "$key" \
  -H "event_id=999999" -H "outbox_position=0/1:1"
expect 1 "rows=301 published_once=299 dead_lettered=1 missing=0 duplicated=1 misordered=1"
log "ok: a position going back for its key is out of order"

# The first records of a partition deleted (kafka-delete-records): their rows are missing.
gone=$(read_committed "it.$ID.invoice" -J -p 0 | jq -s '[.[] | select(.offset < 5)] | length')
"$(dirname -- "$RELAY_BIN")/delete_records" "$KAFKA_BROKERS" "it.$ID.invoice" 0 5 >/dev/null ||
  fail "delete_records failed"
expect 1 "rows=301 published_once=$((299 - gone)) dead_lettered=1 missing=$gone duplicated=1 misordered=1"
log "ok: $gone records deleted from the start of a partition are missing"

# A backfill of ids 1..100 into a scratch topic: there, ids 101..301 are missing.
"$RELAY_BIN" backfill -c "$conf" --job part --to-id 100 --topic "it.$ID.scratch" >>"$WORK/relay.log" 2>&1 ||
  fail "backfill exited $?"
expect 1 "rows=301 published_once=100 dead_lettered=1 missing=200 duplicated=0 misordered=0" \
  --topic "it.$ID.scratch"
log "ok: rows not in the scratch topic are missing there"

# A pruned row: its record matches no row and is counted apart.
sql -c "DELETE FROM outbox WHERE id = 2"
audit --from-id 1 --to-id 10 >"$WORK/audit.out" || true
grep -q "unmatched=[1-9]" "$WORK/audit.out" || fail "no unmatched record: $(cat "$WORK/audit.out")"

# Rows the relay has not reached: pending, not missing.
relay_stop
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
        SELECT 'order', 'late', 'Created', '{}' FROM generate_series(1, 5)"
audit --aggregate-id late --wait 2 >"$WORK/audit.out" 2>>"$WORK/audit.err" || fail "pending rows failed the audit"
grep -q "pending=5" "$WORK/audit.out" || fail "late rows not pending: $(cat "$WORK/audit.out")"
grep -q "gave up waiting" "$WORK/audit.err" || fail "audit did not say it gave up waiting"
log "ok: a pruned row's record counted apart; rows the relay has not reached are pending"

#!/usr/bin/env bash
# Slot safety (relay/slotwatch.c): with a small max_slot_wal_keep_size (set for this test
# and reset after it) and a relay that cannot confirm (its batch lingers), WAL written to
# another table makes the slot "unreserved": the relay warns and /metrics says so. A
# CHECKPOINT then removes the WAL: the slot is "lost" and the relay exits 79 with the fix,
# and a relay started on the lost slot exits 79 at once.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

reset_keep() {
  psql -X -q "$PGURL" -c "ALTER SYSTEM RESET max_slot_wal_keep_size" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
}
trap 'reset_keep; cleanup' EXIT
setup_db
psql -X -q -v ON_ERROR_STOP=1 "$PGURL" -c "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'" -c "SELECT pg_reload_conf()" >/dev/null
metric() { curl -s --max-time 5 "http://$addr/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
until_metric() { # until_metric NAME VALUE
  local deadline=$((SECONDS + 20))
  until [[ $(metric "$1") == "$2" ]]; do
    ((SECONDS < deadline)) || fail "$1 is '$(metric "$1")', not $2"
    kill -0 "$RELAY_PID" 2>/dev/null || fail "relay died"
    sleep 0.2
  done
}

export OUTBOX_RELAY_HTTP_LISTEN=127.0.0.1:0
# the batch below stays open (no adaptive commit): nothing is confirmed
export OUTBOX_RELAY_BATCH_ADAPTIVE=false OUTBOX_RELAY_BATCH_LINGER_MS=60000
export OUTBOX_RELAY_POSTGRES_SLOT_WARN_BYTES=0 # warn on wal_status only
relay_start
addr=$(http_address "$WORK/relay.log")
wait_http "http://$addr/readyz" 200
until_metric 'outbox_relay_slot_wal_status{wal_status="reserved"}' 1
[[ -n $(metric outbox_relay_slot_safe_wal_size_bytes) ]] || fail "no safe_wal_size in /metrics"

sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'k', 'OrderCreated', '{}')"
sql -c "INSERT INTO other (note) SELECT repeat('x', 1000) FROM generate_series(1, 40000)" # ~45 MB of WAL
until_metric 'outbox_relay_slot_wal_status{wal_status="unreserved"}' 1
retained=$(metric outbox_relay_retained_wal_bytes)
((retained > 40000000)) || fail "retained_wal_bytes is $retained, expected above 40 MB"
deadline=$((SECONDS + 10))
until grep -q "replication slot \"$SLOT\" is in danger: wal_status unreserved" "$WORK/relay.log"; do
  ((SECONDS < deadline)) || fail "no warning about the unreserved slot"
  sleep 0.2
done
log "unreserved: warned, retained_wal_bytes=$retained"

psql -X -q "$PGURL" -c "CHECKPOINT"
rc=0
timeout 30 tail --pid="$RELAY_PID" -f /dev/null || fail "the relay did not stop on the lost slot"
wait "$RELAY_PID" || rc=$?
RELAY_PID=
((rc == 79)) || fail "the relay exited $rc on a lost slot, not 79"
grep -q "replication slot \"$SLOT\" is lost (wal_status lost).*--accept-slot-position.*backfill" "$WORK/relay.log" ||
  fail "no line naming the lost slot and the fix"

rc=0
timeout 30 "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >"$WORK/again.log" 2>&1 || rc=$?
((rc == 79)) || fail "a relay started on a lost slot exited $rc, not 79: $(tail -3 "$WORK/again.log")"
grep -q "is lost (wal_status lost)" "$WORK/again.log" || fail "no lost-slot line at start"
log "ok: unreserved warned and shown, lost exits 79 (running and at start)"

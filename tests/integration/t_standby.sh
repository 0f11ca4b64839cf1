#!/usr/bin/env bash
# A second relay with the same name waits as a standby while the first holds the slot,
# exits 0 at once on SIGTERM, and takes over (fencing the first's producer) when the
# slot frees; nothing is lost or duplicated across the hand-over.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
insert() { sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) SELECT 'order', 'k' || g, 'OrderCreated', '{}' FROM generate_series(1, $1) g"; }
wait_log() { # wait_log FILE PATTERN
  local deadline=$((SECONDS + 30))
  until grep -q "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "no '$2' in $1"
    sleep 0.2
  done
}

relay_start
first=$RELAY_PID
insert 100
wait_confirmed "$(current_lsn)" 30

"$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >"$WORK/second.log" 2>&1 &
second=$!
wait_log "$WORK/second.log" "standby: replication slot \"$SLOT\" is in use"
t0=$(date +%s%N)
kill -TERM "$second"
wait "$second" || fail "standby exited $? on SIGTERM"
ms=$((($(date +%s%N) - t0) / 1000000))
((ms < 2000)) || fail "standby took $ms ms to stop"
log "standby stopped in $ms ms"

"$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >"$WORK/third.log" 2>&1 &
third=$!
wait_log "$WORK/third.log" "standby"
insert 100
relay_stop # the first goes; the standby takes the slot
wait_log "$WORK/third.log" "taking over"
insert 100
RELAY_PID=$third
wait_confirmed "$(current_lsn)" 30
relay_stop
cat "$WORK/second.log" "$WORK/third.log" >>"$WORK/relay.log"

consume "it.$ID.order" >"$WORK/records"
n=$(event_ids "$WORK/records" | sort -nu | wc -l)
total=$(wc -l <"$WORK/records")
((n == 300 && total == 300)) || fail "expected 300 distinct records, got $total records, $n distinct"
[[ $first != "$third" ]]
log "ok: standby waited, stopped at once on SIGTERM, took over without loss or duplicates"

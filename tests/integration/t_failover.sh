#!/usr/bin/env bash
# A failover to a lagging asynchronous standby: a real physical standby (pg_basebackup -R)
# is stopped while the primary writes on and the relay publishes; then it is promoted and
# the relay pointed at it. Its history ends before the relay's checkpoint, on another
# timeline, and it has no logical slot (Postgres 15 does not copy them). The relay must
# refuse (exit 79) in every form of that: the slot missing (also with create_slot = true),
# a slot created by hand behind the checkpoint, the server's WAL past the checkpoint again
# but on a timeline that left the checkpoint's before it. --accept-slot-position
# still continues, naming the LSN range it gives up.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
insert() { # insert N KEY: N outbox rows with aggregate id KEY
  sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
          SELECT 'order', '$2', 'OrderCreated', jsonb_build_object('n', g) FROM generate_series(1, $1) g"
}

# expect_refused LABEL PATTERN [args]: the relay, pointed at the promoted standby, exits 79
# with one error line matching PATTERN and naming the fix.
expect_refused() {
  local label=$1 pattern=$2 rc=0
  shift 2
  OUTBOX_RELAY_POSTGRES_CONNINFO=$SURL timeout 60 "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" "$@" \
    >"$WORK/$label.log" 2>&1 || rc=$?
  ((rc == 79)) || fail "$label: exit $rc, expected 79: $(tail -3 "$WORK/$label.log")"
  grep ' error ' "$WORK/$label.log" | grep -Eq -- "$pattern" ||
    fail "$label: no error line matching '$pattern': $(grep ' error ' "$WORK/$label.log")"
  grep -q 'refusing to guess (point postgres.conninfo at the server' "$WORK/$label.log" ||
    fail "$label: the refusal names no fix"
  log "ok: $label: exit 79: $(grep ' error ' "$WORK/$label.log" | cut -c1-220)"
}

relay_start
insert 100 before
wait_confirmed "$(current_lsn)" 60

log "a physical standby of the primary, caught up, then stopped: it lags from here on"
standby_create
lsn=$(current_lsn)
standby_stop

# Enough WAL after the standby's end (other tables write too) that the promoted server's
# own first records stay behind the checkpoint.
insert 199 primary-only
sql -c "INSERT INTO other (note) SELECT repeat('x', 500) FROM generate_series(1, 20000)"
insert 1 primary-only
wait_confirmed "$(current_lsn)" 60
relay_stop
checkpoint=$(checkpoint_end)
log "the relay's checkpoint is at $checkpoint; the standby stopped at $lsn; promoting it"
standby_promote

expect_refused slot-missing "replication slot \"$SLOT\" does not exist on .*timeline 2.* has a checkpoint at $checkpoint \(timeline 1\)"
OUTBOX_RELAY_POSTGRES_CREATE_SLOT=true expect_refused slot-missing-create "does not exist on .* has a checkpoint at $checkpoint"
[[ -z $(ssql -c "SELECT 1 FROM pg_replication_slots WHERE slot_name = '$SLOT'") ]] ||
  fail "create_slot = true created a slot although a checkpoint exists"

ssql -c "SELECT pg_create_logical_replication_slot('$SLOT', 'pgoutput')" >/dev/null
expect_refused behind-wal "checkpoint at $checkpoint \(timeline 1\) is beyond the end of the WAL of .* \(timeline 2\)"

log "the promoted server writes on past the checkpoint's LSN, on its own timeline"
until [[ $(ssql -c "SELECT pg_current_wal_lsn() > '$checkpoint'") == t ]]; do
  ssql -c "INSERT INTO other (note) SELECT repeat('x', 500) FROM generate_series(1, 5000)"
done
expect_refused timeline-switch "left timeline 1 for a new one at [0-9A-F]+/[0-9A-F]+, before relay .*checkpoint at $checkpoint \(timeline 1; the server is now on timeline 2"

log "--accept-slot-position continues on the promoted server, naming what it gives up"
OUTBOX_RELAY_POSTGRES_CONNINFO=$SURL relay_start --accept-slot-position
ssql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
         SELECT 'order', 'after-failover', 'OrderCreated', jsonb_build_object('n', g) FROM generate_series(1, 10) g"
lsn=$(ssql -c "SELECT pg_current_wal_lsn()")
deadline=$((SECONDS + 60))
until [[ $(ssql -c "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = '$SLOT'") == t ]]; do
  ((SECONDS < deadline)) || fail "the relay did not confirm $lsn on the promoted server"
  sleep 0.2
done
relay_stop
grep -Eq 'accept-slot-position: .* events between [0-9A-F]+/[0-9A-F]+ and [0-9A-F]+/[0-9A-F]+ may be MISSING' "$WORK/relay.log" ||
  fail "no warning naming the range given up: $(grep accept "$WORK/relay.log" | head -2)"
got=$(consume "it.$ID.order" | cut -f1 | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')
[[ $got == "after-failover=10 before=100 primary-only=200 " ]] || fail "records by key: $got"
log "ok: 100 + 200 records from the primary, then 10 from the promoted server; nothing silently skipped"

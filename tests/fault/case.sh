#!/usr/bin/env bash
# One run of one fault case: `case.sh CASE [SCALE]`. A writer commits outbox rows in
# transactions of mixed sizes (some rolled back) while the fault is injected; relays run
# under a supervisor that restarts them after any exit, as Kubernetes would. Afterwards a
# read_committed consumer reads the topic from the start. Prints one line:
#   CASE rows=<committed> lost=<n> duplicated=<n> misordered=<n> unexpected=<n> <notes>
# and exits non-zero on any loss, duplicate, misorder, record of no committed row, or
# slot-ahead-of-checkpoint.
CASE=$1
SCALE=${2:-1} # the full matrix runs longer writers
export TEST_NAME="fault_$CASE"
# shellcheck source=tests/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
LOCAL=$ROOT/deploy/local
NOTES=()

setup_db
export OUTBOX_RELAY_BATCH_MAX_EVENTS=500
export OUTBOX_RELAY_KAFKA_TRANSACTION_TIMEOUT_MS=10000
export OUTBOX_RELAY_KAFKA_COMMIT_TIMEOUT_MS=5000
export OUTBOX_RELAY_LOG_LEVEL=info

# Servers are shared: whatever a case did to them is undone on exit.
restore_servers() {
  "$LOCAL/kafka.sh" resume >/dev/null 2>&1 || true
  "$LOCAL/kafka.sh" status >/dev/null 2>&1 || "$LOCAL/kafka.sh" start >/dev/null 2>&1 || true
  "$LOCAL/pg.sh" status >/dev/null 2>&1 || "$LOCAL/pg.sh" start >/dev/null 2>&1 || true
}
trap 'rc=$?; supervisor_stop; restore_servers; cleanup_exit $rc' EXIT
cleanup_exit() { (exit "$1"); cleanup; }

# The supervisor: runs relays one after another (restart after any exit, 1 s later)
# until $WORK/stop exists; the current relay's pid is in $WORK/relay.pid. Extra
# environment for the next start can be put in $WORK/next.env (read once).
supervisor() {
  local n=0 rc
  while [[ ! -e $WORK/stop ]]; do
    n=$((n + 1))
    (
      [[ -f $WORK/next.env ]] && { set -a; source "$WORK/next.env"; set +a; rm -f "$WORK/next.env"; }
      exec "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" $(cat "$WORK/next.args" 2>/dev/null; rm -f "$WORK/next.args")
    ) >>"$WORK/relay.log" 2>&1 &
    echo $! >"$WORK/relay.pid"
    rc=0
    wait $! || rc=$?
    echo "exit $rc" >>"$WORK/exits"
    [[ -e $WORK/stop ]] || sleep 1
  done
}
supervisor_start() {
  rm -f "$WORK/stop"
  supervisor 2>>"$WORK/supervisor.log" &
  SUPERVISOR=$!
}
supervisor_stop() {
  [[ -n ${SUPERVISOR:-} ]] || return 0
  touch "$WORK/stop"
  kill -TERM "$(cat "$WORK/relay.pid" 2>/dev/null)" 2>/dev/null || true
  wait "$SUPERVISOR" 2>/dev/null || true
  SUPERVISOR=
}
relay_pid() { cat "$WORK/relay.pid"; }
# wait_streaming N: until relays have started streaming N times in all (30 s at most).
wait_streaming() {
  local deadline=$((SECONDS + 30))
  until (($(grep -c 'streaming from' "$WORK/relay.log" 2>/dev/null || true) >= $1)); do
    ((SECONDS < deadline)) || fail "no relay started streaming ($1) in 30 s"
    sleep 0.2
  done
}
kill9_relay() { kill -9 "$(relay_pid)" 2>/dev/null || true; }
# kill9_until_done PID MIN MAX: kill -9 the relay every MIN-MAX s while PID (the writer) runs.
kill9_until_done() {
  local kills=0
  while kill -0 "$1" 2>/dev/null; do
    pause "$2" "$3"
    kill9_relay
    kills=$((kills + 1))
  done
  NOTES+=("kills=$kills")
}
pause() { sleep "$(awk -v a="$1" -v b="$2" -v r=$RANDOM 'BEGIN { printf "%.2f", a + (b - a) * r / 32767 }')"; }

# writer SECONDS: mixed transaction sizes, every fifth rolled back, for about SECONDS.
writer() {
  sql -c "
DO \$\$
DECLARE sizes int[] := ARRAY[1, 5, 40, 1, 230, 12, 1, 3, 600, 70];
        i int := 0; n int; t0 timestamptz := clock_timestamp();
BEGIN
  WHILE clock_timestamp() < t0 + interval '$1 seconds' LOOP
    n := sizes[1 + i % array_length(sizes, 1)];
    INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
      SELECT 'order', 'agg-' || ((i * 7 + g) % 23), 'OrderCreated', jsonb_build_object('i', i, 'g', g)
      FROM generate_series(1, n) g;
    IF i % 5 = 4 THEN ROLLBACK; ELSE COMMIT; END IF;
    i := i + 1;
    PERFORM pg_sleep(0.01);
  END LOOP;
END \$\$"
}

# A writer that survives a Postgres restart: reconnects and goes on until its time is up.
writer_resilient() {
  local until=$((SECONDS + $1))
  while ((SECONDS < until)); do
    writer $((until - SECONDS)) 2>/dev/null || sleep 1
  done
}

# failover_pair (F14, Postgres 17+ as PGURL): a streaming standby of the server made by a
# low-level base backup (the Maven builds have no pg_basebackup), with a physical slot,
# hot_standby_feedback and sync_replication_slots; the primary waits for that slot
# (synchronized_standby_slots). The relay and the writer connect to "whichever of the two
# is read-write"; the relay uses a failover slot.
failover_pair() {
  local port pid label
  port=$(sed -E 's#.*:([0-9]+)/[^/]*$#\1#' <<<"$PGURL")
  STANDBY_PORT=$((port + 17))
  pid=$(sql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
  PG_BIN=$(dirname "$(readlink "/proc/$pid/exe")")
  PRIMARY_DATA=$(sql -c "SHOW data_directory")
  STANDBY_DIR=$(mktemp -d /tmp/relay-standby.XXXXXX)
  chown postgres: "$STANDBY_DIR" && chmod 700 "$STANDBY_DIR"
  sql -c "ALTER SYSTEM RESET synchronized_standby_slots" -c "SELECT pg_reload_conf()" >/dev/null
  sql -c "SELECT pg_drop_replication_slot('f14_standby') FROM pg_replication_slots WHERE slot_name = 'f14_standby'" >/dev/null
  sql -c "SELECT pg_create_physical_replication_slot('f14_standby', true)" >/dev/null
  label=$(psql -X -q -At "$DBURL" <<SQL
SELECT pg_backup_start('f14', true) \\g /dev/null
\\! cd "$PRIMARY_DATA" && tar --exclude=./postmaster.pid --exclude=./postmaster.opts --exclude='./pg_wal/*' --exclude='./pg_replslot/*' -cf - . | (cd "$STANDBY_DIR" && tar -xf -)
SELECT labelfile FROM pg_backup_stop(false);
SQL
  )
  printf '%s\n' "$label" >"$STANDBY_DIR/backup_label"
  touch "$STANDBY_DIR/standby.signal"
  cat >>"$STANDBY_DIR/postgresql.auto.conf" <<CONF
primary_conninfo = 'host=127.0.0.1 port=$port user=postgres password=postgres dbname=$DB'
primary_slot_name = 'f14_standby'
hot_standby_feedback = on
sync_replication_slots = on
CONF
  chown -R postgres: "$STANDBY_DIR"
  standby_start
  sql -c "ALTER SYSTEM SET synchronized_standby_slots = 'f14_standby'" -c "SELECT pg_reload_conf()" >/dev/null
  SURL=${DBURL/:$port\//:$STANDBY_PORT/}
  DBURL="host=127.0.0.1,127.0.0.1 port=$port,$STANDBY_PORT dbname=$DB user=postgres password=postgres target_session_attrs=read-write"
  export OUTBOX_RELAY_POSTGRES_CONNINFO=$DBURL OUTBOX_RELAY_POSTGRES_FAILOVER_SLOT=true
}
# wait_synced: until the standby holds a synchronized copy of the relay's slot.
wait_synced() {
  local deadline=$((SECONDS + 60))
  until [[ $(ssql -c "SELECT synced FROM pg_replication_slots WHERE slot_name = '$SLOT'" 2>/dev/null) == t ]]; do
    ((SECONDS < deadline)) || fail "the standby did not synchronize slot $SLOT in 60 s"
    sleep 0.5
  done
  log "the standby holds a synchronized copy of slot $SLOT"
}

run_case() {
  case $CASE in
  F1) # kill -9 the relay at random moments
    supervisor_start
    writer $((12 * SCALE)) &
    kill9_until_done $! 0.3 1.5
    ;;
  F2) # kill -9 between the Kafka commit and the status update
    echo "RELAY_FAILPOINT=after_commit_before_status:$((RANDOM % 5 + 1))" >"$WORK/next.env"
    supervisor_start
    writer $((8 * SCALE)) &
    local w=$!
    for _ in 1 2 3; do
      pause 1.5 3
      echo "RELAY_FAILPOINT=after_commit_before_status:$((RANDOM % 5 + 1))" >"$WORK/next.env"
      kill9_relay
    done
    wait "$w"
    NOTES+=("failpoint_kills=$(grep -c 'failpoint fired' "$WORK/relay.log" || true)")
    ;;
  F3) # kill -9 in the middle of a split large transaction (50,000 rows in one)
    export OUTBOX_RELAY_BATCH_MAX_EVENTS=2000
    echo "RELAY_FAILPOINT=after_split_commit:$((RANDOM % 8 + 2))" >"$WORK/next.env"
    supervisor_start
    sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
            SELECT 'order', 'agg-' || (g % 23), 'OrderCreated', jsonb_build_object('g', g)
            FROM generate_series(1, 50000) g"
    pause 2 4
    kill9_relay # and once more at a random moment
    writer $((4 * SCALE))
    NOTES+=("failpoint_kills=$(grep -c 'failpoint fired' "$WORK/relay.log" || true)")
    NOTES+=("split_resumes=$(grep -c 'streaming from .*checkpoint [0-9A-F]*/[0-9A-F]* ([0-9A-F]*/[0-9A-F]*:[1-9]' "$WORK/relay.log" || true)")
    ;;
  F4) # kill -9 the broker during commits, restart it
    supervisor_start
    writer $((14 * SCALE)) &
    local w=$!
    pause 2 4
    "$LOCAL/kafka.sh" kill
    pause 1 3
    "$LOCAL/kafka.sh" start
    wait "$w"
    ;;
  F5) # broker stopped longer than transaction.timeout.ms (10 s here), then back
    supervisor_start
    writer $((20 * SCALE)) &
    local w=$!
    pause 2 4
    "$LOCAL/kafka.sh" stop
    sleep 13
    "$LOCAL/kafka.sh" start
    wait "$w"
    ;;
  F6) # Postgres stopped with -m immediate, then started
    supervisor_start
    writer_resilient $((12 * SCALE)) &
    local w=$!
    pause 2 4
    "$LOCAL/pg.sh" stop-immediate
    pause 1 3
    "$LOCAL/pg.sh" start
    wait "$w"
    ;;
  F7) # a second relay with the same name mid-run: standby; the first killed later
    supervisor_start
    writer $((12 * SCALE)) &
    local w=$!
    pause 1 3
    "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >>"$WORK/second.log" 2>&1 &
    local second=$!
    pause 2 4
    grep -q 'standby' "$WORK/second.log" || fail "the second relay did not report standby"
    supervisor_stop # the first one goes away (SIGTERM) ...
    pause 0.5 2
    wait "$w"
    local end
    end=$(current_lsn)
    RELAY_PID=$second wait_confirmed "$end" 60 # ... and the second takes over
    grep -q 'taking over' "$WORK/second.log" || fail "the second relay did not take over"
    kill -TERM "$second"
    wait "$second" || fail "the second relay exited $?"
    cat "$WORK/second.log" >>"$WORK/relay.log"
    NOTES+=("takeover=yes")
    ;;
  F8) # ALTER TABLE outbox ADD COLUMN mid-stream
    supervisor_start
    writer $((10 * SCALE)) &
    local w=$!
    pause 2 4
    sql -c "ALTER TABLE outbox ADD COLUMN tenant text DEFAULT 'acme'"
    pause 1 2
    sql -c "ALTER TABLE outbox ADD COLUMN region text"
    wait "$w"
    ;;
  F9) # the broker frozen longer than wal_sender_timeout (5 s here), then resumed
    export OUTBOX_RELAY_POSTGRES_CONNINFO="$DBURL?options=-c%20wal_sender_timeout%3D5s"
    export OUTBOX_RELAY_KAFKA_COMMIT_TIMEOUT_MS=30000
    supervisor_start
    writer $((16 * SCALE)) &
    local w=$!
    pause 2 4
    "$LOCAL/kafka.sh" pause
    sleep 12
    "$LOCAL/kafka.sh" resume
    wait "$w"
    local lost
    lost=$(grep -cE 'replication (connection .* lost|stream .* ended)' "$WORK/relay.log" || true)
    ((lost == 0)) || fail "the replication connection was lost while Kafka was frozen"
    NOTES+=("pg_connection_kept=yes")
    ;;
  F10) # slot dropped and recreated while the relay is down: refusal, then the override
    supervisor_start
    writer $((4 * SCALE))
    wait_confirmed "$(current_lsn)" 60
    supervisor_stop
    sql -c "SELECT pg_drop_replication_slot('$SLOT')" >/dev/null
    sql -c "INSERT INTO other (note) VALUES ('WAL moves on')"
    sql -c "SELECT pg_create_logical_replication_slot('$SLOT', 'pgoutput')" >/dev/null
    local rc=0
    "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >>"$WORK/refused.log" 2>&1 || rc=$?
    ((rc == 79)) || fail "expected exit 79 (refusing to guess), got $rc: $(tail -2 "$WORK/refused.log")"
    grep -q 'refusing to guess' "$WORK/refused.log" || fail "no refusal message"
    echo "--accept-slot-position" >"$WORK/next.args"
    supervisor_start
    writer $((4 * SCALE))
    grep -q 'accept-slot-position: .*MISSING' "$WORK/relay.log" || fail "the override was not logged loudly"
    NOTES+=("refused=79 override=yes")
    ;;
  F11) # failover to a lagging real standby while relays are killed at random: refused
    supervisor_start
    standby_create
    writer $((10 * SCALE)) &
    local w=$! rc
    pause 1 3
    standby_stop # the standby lags from here on; the primary writes on
    kill9_until_done "$w" 0.5 2
    wait_confirmed "$(current_lsn)" 60
    supervisor_stop
    standby_promote
    for attempt in slot-missing slot-by-hand; do
      [[ $attempt == slot-by-hand ]] && ssql -c "SELECT pg_create_logical_replication_slot('$SLOT', 'pgoutput')" >/dev/null
      rc=0
      OUTBOX_RELAY_POSTGRES_CONNINFO=$SURL OUTBOX_RELAY_POSTGRES_CREATE_SLOT=true timeout 60 \
        "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >>"$WORK/refused.log" 2>&1 || rc=$?
      ((rc == 79)) || fail "$attempt: expected exit 79 on the promoted standby, got $rc: $(tail -2 "$WORK/refused.log")"
    done
    (($(grep -c 'refusing to guess' "$WORK/refused.log") == 2)) || fail "no refusal message"
    NOTES+=("refused=79,79")
    ;;
  F13) # a record the broker refuses for good mid-stream (a created_at 9 hours ahead: past
    # message.timestamp.after.max.ms, INVALID_TIMESTAMP), with kill -9s around it
    export OUTBOX_RELAY_DEAD_LETTER_TOPIC=it.$ID.dead
    supervisor_start
    writer $((12 * SCALE)) &
    local w=$!
    pause 1.5 3
    sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload, created_at)
            VALUES ('order', 'agg-refused', 'Refused', '{}', now() + interval '9 hours')" >/dev/null
    kill9_until_done "$w" 0.2 1.5
    ;;
  F12) # another producer's transaction left open on the checkpoint partition (a backfill
    # job killed mid transaction); the relay commits past it, is killed -9 and restarts
    # behind it, again and again
    supervisor_start
    writer $((16 * SCALE)) &
    local w=$! kills=0
    wait_streaming 1
    while kill -0 "$w" 2>/dev/null; do
      [[ -z $HOLD_PID ]] || kill -9 "$HOLD_PID" 2>/dev/null || true
      hold_foreign_txn 5000
      pause 1 3
      kill9_relay
      kills=$((kills + 1))
      wait_streaming $((kills + 1))
    done
    ! grep -q '^exit 79' "$WORK/exits" || fail "a restart refused (exit 79) behind the open transaction"
    NOTES+=("kills=$kills waits=$(grep -c 'waiting for an open transaction' "$WORK/relay.log" || true)")
    ;;
  F14) # Postgres 17 failover slots: the standby is promoted and the primary stopped with
    # -m immediate mid-stream; the relay (and the writer) follow to the new primary
    failover_pair
    supervisor_start
    wait_streaming 1
    wait_synced
    writer_resilient $((12 * SCALE)) &
    local w=$!
    pause 2 6
    standby_ctl promote
    as_pg "$PG_BIN/pg_ctl" -D "$PRIMARY_DATA" -m immediate -w stop >/dev/null
    log "promoted the standby and stopped the primary (-m immediate)"
    wait "$w"
    ! grep -qs '^exit 79' "$WORK/exits" || fail "the relay refused the promoted standby (exit 79)"
    # The drain below waits for the slot on the new primary: the relay streams from it.
    NOTES+=("timeline=$(sql -c "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")")
    NOTES+=("reconnects=$(grep -c 'streaming again' "$WORK/relay.log" || true)")
    ;;
  *) fail "unknown case $CASE" ;;
  esac
}

run_case
check_slot_not_ahead
# Drain: a relay runs until the slot reaches the end of the WAL written.
[[ -z ${SUPERVISOR:-} ]] && supervisor_start
wait_confirmed "$(current_lsn)" 120
check_slot_not_ahead
supervisor_stop

consume "it.$ID.order" >"$WORK/records"
# (F13's refused row goes to the dead-letter topic instead, checked below.)
sql -c "SELECT id FROM outbox WHERE event_type <> 'Refused' ORDER BY id" >"$WORK/expected"
rows=$(wc -l <"$WORK/expected")
verdict "$WORK/records" "$WORK/expected" --per-key-order
if [[ $CASE == F13 ]]; then
  refused=$(sql -c "SELECT id FROM outbox WHERE event_type = 'Refused'")
  dead=$(consume "it.$ID.dead" | event_ids /dev/stdin | tr '\n' ' ')
  [[ $dead == "$refused " ]] || fail "F13: dead-lettered event ids '$dead', expected '$refused ' once"
  NOTES+=("dead_lettered=1 aborts=$(grep -c 'the broker refused the event at' "$WORK/relay.log" || true)")
fi
# How relays ended (the last one by the final SIGTERM): "exits=0" is one clean run.
exits=$(awk '{ print $2 }' "$WORK/exits" 2>/dev/null | sort | uniq -c | awk '{ printf "%s%sx%s", sep, $2, $1; sep = "," }')
echo "$CASE rows=$rows lost=$LOST duplicated=$DUPLICATED misordered=$MISORDERED unexpected=$UNEXPECTED exits=$exits ${NOTES[*]}"
verdict_ok "$CASE"

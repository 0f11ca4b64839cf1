#!/usr/bin/env bash
# A backfill job killed with SIGKILL mid-way (twice), stopped with SIGTERM, fenced by a second
# run of the same job, and run again with the same --job publishes every row of its selection
# exactly once: nothing lost, nothing duplicated, by event_id. It runs beside a `run` daemon on the same database while a writer
# keeps inserting: the job holds exactly the rows committed when it began (none of the
# writer's), and the daemon, whose slot the backfill never touches, still publishes every
# row exactly once.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
conf=$ROOT/etc/outbox-relay.conf
topic=it.$ID.replay
BF_PID=

sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
SELECT 'order', 'agg-' || (g % 101), 'OrderCreated', jsonb_build_object('n', g)
FROM generate_series(1, 100000) g"
sql -c "CREATE TABLE writer_stop (stop bool)"

WRITER_PID=
# On failure the job and the writer end too, before lib.sh's cleanup (which waits for
# children and drops the database); cleanup reads the test's status from $?.
stop_side() {
  [[ -z $BF_PID ]] || kill -9 "$BF_PID" 2>/dev/null || true
  [[ -z $WRITER_PID ]] || kill -9 "$WRITER_PID" 2>/dev/null || true
}
trap 'rc=$?; stop_side; set +e; (exit $rc); cleanup' EXIT

# start_job LOG [args]: the job in the background; returns once it reads the outbox.
start_job() {
  local out=$1
  shift
  "$RELAY_BIN" backfill -c "$conf" --job resume "$@" >"$WORK/$out" 2>&1 &
  BF_PID=$!
  local deadline=$((SECONDS + 30))
  until grep -q "events to publish" "$WORK/$out"; do
    kill -0 "$BF_PID" 2>/dev/null || fail "backfill ended early: $(cat "$WORK/$out")"
    ((SECONDS < deadline)) || fail "backfill did not start: $(cat "$WORK/$out")"
    sleep 0.05
  done
}
committed() { consume "$topic" | wc -l; }

log "the daemon, the job, and a writer (a row per transaction every 10 ms) side by side"
relay_start
start_job run1.log --topic "$topic" --rate 13000
# After the job's snapshot: none of these rows is the job's, whichever snapshot it resumes in.
psql -X -q -v ON_ERROR_STOP=1 "$DBURL" -c "DO \$\$
BEGIN
  LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM writer_stop);
    INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
      VALUES ('order', 'agg-live', 'Live', '{}');
    COMMIT;
    PERFORM pg_sleep(0.01);
  END LOOP;
END \$\$" &
WRITER_PID=$! # psql itself (not a subshell), so that stop_side can end it
sleep 2
kill -9 "$BF_PID"  # mid-transaction: 13,000/s does not line up with the 1 s or 10,000-event commits
wait "$BF_PID" 2>/dev/null || true
BF_PID=
after1=$(committed) || fail "reading $topic failed"
log "SIGKILL after 2 s: $after1 records committed"
((after1 > 0 && after1 < 100000)) || fail "not killed mid-job: $after1 records"

# Another selection for the unfinished job is refused; the job itself is untouched.
rc=0
"$RELAY_BIN" backfill -c "$conf" --job resume --from-id 5 >"$WORK/mismatch.log" 2>&1 || rc=$?
((rc == 64)) || fail "a different selection for an unfinished job: exit $rc: $(cat "$WORK/mismatch.log")"
grep -q "job resume was started with no selection (every row) --topic $topic, not --from-id 5" \
  "$WORK/mismatch.log" || fail "mismatch message: $(cat "$WORK/mismatch.log")"

start_job run2.log --rate 13000
grep -q "resuming job resume after id $after1 " "$WORK/run2.log" || fail "run 2 did not resume after id $after1: $(head -3 "$WORK/run2.log")"
sleep 1
kill -9 "$BF_PID"
wait "$BF_PID" 2>/dev/null || true
BF_PID=
after2=$(committed) || fail "reading $topic failed"
log "SIGKILL again: $after2 records committed"
((after2 > after1 && after2 < 100000)) || fail "run 2 made no progress or finished: $after1 -> $after2"

start_job run3.log --rate 13000
sleep 1
kill -TERM "$BF_PID"
rc=0
wait "$BF_PID" || rc=$?
BF_PID=
((rc == 81)) || fail "SIGTERM: exit $rc, expected 81: $(tail -3 "$WORK/run3.log")"
grep -q "job resume stopped by a signal after id [0-9]*: [0-9]* of 100000 events published" "$WORK/run3.log" ||
  fail "SIGTERM summary: $(tail -3 "$WORK/run3.log")"
after3=$(committed) || fail "reading $topic failed"
grep -q "stopped by a signal after id $after3: $after3 of 100000" "$WORK/run3.log" ||
  fail "SIGTERM did not commit what it had: $after3 records, log: $(tail -1 "$WORK/run3.log")"
log "SIGTERM: exit 81, $after3 records committed"

# Two runs of the job at once: the second fences the first (exit 80) and finishes the job.
start_job run4.log --rate 13000
sleep 1
"$RELAY_BIN" backfill -c "$conf" --job resume >"$WORK/run5.log" 2>&1 || fail "last run exited $?: $(tail -3 "$WORK/run5.log")"
rc=0
wait "$BF_PID" || rc=$?
BF_PID=
((rc == 80)) || fail "the fenced run: exit $rc: $(tail -3 "$WORK/run4.log")"
grep -q "transactional.id relay-$ID/backfill/resume" "$WORK/run4.log" || fail "the fenced run: $(tail -3 "$WORK/run4.log")"
grep -Eq "job resume finished: published [0-9]+ events to topic $topic .*skipped [0-9]+ published by earlier runs" \
  "$WORK/run5.log" || fail "last run: $(tail -2 "$WORK/run5.log")"

consume "$topic" >"$WORK/records" || fail "reading $topic failed"
exactly_once "job resume, ids 1..100000" "$WORK/records" <(seq 1 100000)
grep -q 'outbox_replay=resume' "$WORK/records" || fail "no replay header"
log "ok: 100000 records after 2 kills, a SIGTERM and a fenced run, each id once, none of the writer's"

# The daemon: still streaming its slot, every row (backlog and writer's) exactly once.
sql -c "INSERT INTO writer_stop VALUES (true)"
wait "$WRITER_PID"
WRITER_PID=
live=$(sql -c "SELECT count(*) FROM outbox WHERE event_type = 'Live'")
((live > 50)) || fail "the writer wrote only $live rows"
kill -0 "$RELAY_PID" || fail "the daemon died"
[[ $(sql -c "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()") == 1 ]] ||
  fail "another slot appeared: $(sql -c "SELECT slot_name FROM pg_replication_slots WHERE database = current_database()")"
wait_confirmed "$(current_lsn)" 60
relay_stop
consume "it.$ID.order" >"$WORK/daemon" || fail "reading it.$ID.order failed"
sql -c "SELECT id FROM outbox ORDER BY id" >"$WORK/daemon.expected"
exactly_once "the daemon" "$WORK/daemon" "$WORK/daemon.expected"
grep -q 'outbox_replay' "$WORK/daemon" && fail "the daemon's records carry a replay header"
log "ok: the daemon published all $((100000 + live)) rows once, its slot confirmed to the end"

#!/usr/bin/env bash
# Every wait on Kafka keeps the replication connection alive. With wal_sender_timeout at
# 5 s, the broker is frozen (SIGSTOP) for 8 s just as a row needs a topic the relay has
# not used yet, so the relay waits on metadata, then on creating the topic: the same
# walsender serves the slot before and after (it did not time out), no transaction is
# given up. Then, with the broker frozen again during a commit, the walsender is ended:
# the status update that fails every second is logged once per 10 s with a count. The
# rows arrive exactly once.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
export OUTBOX_RELAY_POSTGRES_CONNINFO="$DBURL?options=-c%20wal_sender_timeout%3D5s"
export OUTBOX_RELAY_KAFKA_COMMIT_TIMEOUT_MS=30000
insert() { sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('$1', 'k', 'Created', '{}')"; }
walsender() { sql -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$SLOT'"; }
resume() { "$ROOT/deploy/local/kafka.sh" resume; }

relay_start
insert order
wait_confirmed "$(current_lsn)" 60
before=$(walsender)
"$ROOT/deploy/local/kafka.sh" pause
trap 'resume; cleanup' EXIT
insert invoice
sleep 8
resume
trap cleanup EXIT
insert invoice
wait_confirmed "$(current_lsn)" 60
after=$(walsender)
[[ -n $before && $before == "$after" ]] ||
  fail "the walsender changed from '$before' to '$after': the replication connection was lost"
grep -E 'given up|connection .* lost|stream .* ended' "$WORK/relay.log" &&
  fail "the relay gave up or lost its connection while Kafka was frozen"
log "broker frozen 8 s during metadata and topic creation: walsender $before kept"

"$ROOT/deploy/local/kafka.sh" pause
trap 'resume; cleanup' EXIT
insert order
sleep 2
sql -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
sleep 16
resume
trap cleanup EXIT
insert order
wait_confirmed "$(current_lsn)" 60
relay_stop
warned=$(grep -c 'warn sending status' "$WORK/relay.log" || true)
held=$(sed -n 's/.*warn .*(\([0-9]*\) more like it since the last one.*/\1/p' "$WORK/relay.log" | paste -sd+ | bc)
((warned >= 1 && warned <= 3 && ${held:-0} >= 8)) ||
  fail "a status update failing every second for 16 s was logged $warned times (${held:-none} counted)"
log "16 s of failing status updates: $warned warnings and $held more counted"

for topic in order invoice; do read_committed "it.$ID.$topic" -f '%s\n' >>"$WORK/records"; done
n=$(wc -l <"$WORK/records")
((n == 5)) || fail "expected 5 records, read $n"
log "ok: connection kept through Kafka waits, repeated warnings counted, 5 records once"
